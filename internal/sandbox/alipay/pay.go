package alipay

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
)

// PayResult is what the helper API's pay call answers.
type PayResult struct {
	Wallet      string `json:"wallet"`
	User        string `json:"user"`
	SellerID    string `json:"seller_id"`
	OutTradeNo  string `json:"out_trade_no"`
	TradeNo     string `json:"trade_no"`
	TradeStatus string `json:"trade_status"`
	Amount      int64  `json:"amount"`
	// ReturnURL is where a page/wap payment's browser goes next, with the
	// signed synchronous parameters; "" for other trades.
	ReturnURL string `json:"return_url,omitempty"`
}

// isOrderString reports whether code looks like an app pay order string.
func isOrderString(code string) bool {
	return strings.Contains(code, "method=alipay.trade.app.pay") && strings.Contains(code, "sign=")
}

// findByCode resolves a qr_code, a trade_no, a cashier link, or an app
// pay order string (which creates its trade on first sight, as the wallet
// app does when it receives one). Callers hold s.mu.
func (s *Simulator) findByCode(code string) (*Trade, error) {
	code = strings.TrimSpace(code)
	if t := s.byQR[code]; t != nil {
		return t, nil
	}
	if t := s.byTradeNo[code]; t != nil {
		return t, nil
	}
	if u, err := url.Parse(code); err == nil && u.Path == "/phone/alipay/cashier" {
		if t := s.byTradeNo[u.Query().Get("code")]; t != nil {
			return t, nil
		}
	}
	if isOrderString(code) {
		return s.tradeFromOrderString(code)
	}
	return nil, ErrUnknownCode
}

// tradeFromOrderString verifies an order string as the gateway would and
// opens its trade. Callers hold s.mu.
func (s *Simulator) tradeFromOrderString(code string) (*Trade, error) {
	p, err := alipayapi.ParseParams(code, nil)
	if err != nil {
		return nil, fmt.Errorf("order string: %w", err)
	}
	if p.Get("app_id") != s.creds.AppID {
		return nil, fmt.Errorf("order string: app_id %q is not the sandbox app", p.Get("app_id"))
	}
	if alipayapi.Verify(s.appPub, []byte(alipayapi.RequestSignContent(p)), p.Get("sign")) != nil {
		return nil, fmt.Errorf("order string: isv.invalid-signature: the signature does not match the app public key")
	}
	c := &call{params: p, method: p.Get("method"), seller: s.merchants[sandboxPID], notifyURL: p.Get("notify_url"), returnURL: p.Get("return_url")}
	if err := jsonObject(p.Get("biz_content"), &c.biz); err != nil {
		return nil, fmt.Errorf("order string: biz_content is not a JSON object")
	}
	if tok := p.Get("app_auth_token"); tok != "" {
		t, ok := s.tokens[tok]
		if !ok || t.Revoked || s.now().After(t.ExpiresAt) {
			return nil, fmt.Errorf("order string: aop.invalid-app-auth-token")
		}
		c.seller = s.merchants[t.PID]
	}
	t, bad := s.tradeParams(c)
	if bad != nil {
		return nil, fmt.Errorf("order string: %s %s", bad.result.SubCode, bad.result.SubMsg)
	}
	t.Scanned = true
	t, bad = s.openTrade(t)
	if bad != nil {
		return nil, fmt.Errorf("order string: %s %s", bad.result.SubCode, bad.result.SubMsg)
	}
	return t, nil
}

// Pay makes a sandbox user pay the trade behind code. userID "" means the
// buyer the trade names, or the default sandbox user. Any refusal leaves
// the trade as it was.
func (s *Simulator) Pay(code, userID string) (PayResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.findByCode(code)
	if err != nil {
		return PayResult{}, err
	}
	s.expireIfDue(t)
	switch t.Status {
	case StatusTradeSuccess, StatusTradeFinished:
		return PayResult{}, ErrTradePaid
	case StatusTradeClosed:
		if !t.Scanned {
			return PayResult{}, fmt.Errorf("%w: %s", ErrTradeClosed, closedBeforeScan)
		}
		return PayResult{}, ErrTradeClosed
	}
	if t.Buyer != "" {
		if userID != "" && userID != t.Buyer {
			return PayResult{}, fmt.Errorf("%w: %s", ErrWrongPayer, t.Buyer)
		}
		userID = t.Buyer
	}
	if userID == "" {
		userID = s.cfg.Users.Default()
	}
	if err := s.cfg.Users.Debit(userID, Wallet, t.Total); err != nil {
		return PayResult{}, err
	}
	next := *t
	next.Status = StatusTradeSuccess
	next.PaidAt = s.now()
	next.PaidBy = userID
	next.Scanned = true
	if err := s.putTrade(&next); err != nil {
		// The payment was not recorded: give the money back.
		if cerr := s.cfg.Users.Credit(userID, Wallet, t.Total); cerr != nil {
			return PayResult{}, errors.Join(err, cerr)
		}
		return PayResult{}, err
	}
	s.notifyTrade(t, nil)
	return PayResult{
		Wallet: Wallet, User: userID, SellerID: t.SellerID, OutTradeNo: t.OutTradeNo, TradeNo: t.TradeNo,
		TradeStatus: t.Status, Amount: t.Total, ReturnURL: s.returnURL(t),
	}, nil
}

// returnURL is the merchant's return_url with the signed synchronous
// parameters of a page or wap payment. Callers hold s.mu.
func (s *Simulator) returnURL(t *Trade) string {
	if t.ReturnURL == "" || (t.Method != "alipay.trade.page.pay" && t.Method != "alipay.trade.wap.pay") {
		return ""
	}
	u, err := url.Parse(t.ReturnURL)
	if err != nil {
		return ""
	}
	v := url.Values{}
	v.Set("charset", "utf-8")
	v.Set("out_trade_no", t.OutTradeNo)
	v.Set("method", t.Method+".return")
	v.Set("total_amount", alipayapi.FormatYuan(t.Total))
	v.Set("trade_no", t.TradeNo)
	v.Set("auth_app_id", t.AuthAppID)
	v.Set("version", "1.0")
	v.Set("app_id", s.creds.AppID)
	v.Set("seller_id", t.SellerID)
	v.Set("timestamp", chinatime.DateTime(s.now()))
	sig, err := alipayapi.Sign(s.alipayKey, []byte(alipayapi.NotifySignContent(v)))
	if err != nil {
		return ""
	}
	v.Set("sign", sig)
	v.Set("sign_type", "RSA2")
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Finish ends a paid trade's refundable period now (TRADE_FINISHED), as
// Alipay does when the period lapses, and notifies the merchant.
func (s *Simulator) Finish(tradeNo string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.byTradeNo[tradeNo]
	if t == nil {
		return ErrUnknownCode
	}
	if t.Status != StatusTradeSuccess {
		return fmt.Errorf("trade %s is %s; only TRADE_SUCCESS can finish", tradeNo, t.Status)
	}
	next := *t
	next.Status = StatusTradeFinished
	next.FinishedAt = s.now()
	if err := s.putTrade(&next); err != nil {
		return err
	}
	s.notifyTrade(t, nil)
	return nil
}
