package alipay

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
)

// Phone is the Alipay app of the sandbox phone pages.
func (s *Simulator) Phone() phone.Wallet { return phoneWallet{s} }

type phoneWallet struct{ s *Simulator }

func (phoneWallet) Name() string  { return Wallet }
func (phoneWallet) Title() string { return "支付宝" }
func (phoneWallet) UserAgent() string {
	return "Mozilla/5.0 (Linux; U; Android 14; zh-CN; Pixel 8 Build/AP2A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 AlipayClient/10.6.0.8000 Language/zh-Hans"
}

// Recognizes reports whether code is an Alipay QR, trade number, order
// string, sandbox cashier link or bridge link (tradePay through bridge.js).
func (phoneWallet) Recognizes(code string) bool {
	code = strings.TrimSpace(code)
	if strings.HasPrefix(code, "https://qr.alipay.com/") || isOrderString(code) {
		return true
	}
	if len(code) == 28 && code[8:13] == "22001" && strings.Trim(code, "0123456789") == "" {
		return true
	}
	u, err := url.Parse(code)
	return err == nil && (u.Path == "/phone/alipay/cashier" && u.Query().Get("code") != "" || u.Path == bridgePath)
}

// Lookup is the buyer scanning: from now on the trade exists for queries.
// A bridge link's trade returns to the calling page with #alipay=9000 or
// #alipay=6001.
func (w phoneWallet) Lookup(code string) (phone.Order, error) {
	s := w.s
	call, isCall, err := bridgeLink(code)
	if err != nil {
		return phone.Order{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var t *Trade
	if isCall {
		t, err = s.checkBridgeCall(call)
	} else {
		t, err = s.findByCode(code)
	}
	if errors.Is(err, ErrUnknownCode) {
		return phone.Order{}, phone.ErrUnknownCode
	}
	if err != nil {
		return phone.Order{}, err
	}
	s.expireIfDue(t)
	if t.Status == StatusTradeClosed && !t.Scanned {
		// Closed before anyone scanned it: refused, and still no trade.
		return phone.Order{}, phone.Refuse(ErrTradeClosed, "%s", closedBeforeScan)
	}
	if !t.Scanned {
		next := *t
		next.Scanned = true
		if err := s.putTrade(&next); err != nil {
			return phone.Order{}, err
		}
	}
	s.expireIfDue(t)
	o := phone.Order{
		Wallet: Wallet, Code: t.TradeNo, Description: t.Subject, Amount: t.Total,
		Payable: t.Status == StatusWaitBuyerPay, State: t.Status, Payer: t.Buyer,
		ReturnURL: s.returnURL(t),
	}
	if isCall {
		o.ReturnURL, o.CancelURL = phone.WithFragment(call.Return, bridgeOK), phone.WithFragment(call.Return, bridgeCancel)
	}
	if m := s.merchants[t.SellerID]; m != nil {
		o.Merchant = m.Name
	}
	return o, nil
}

func (w phoneWallet) Pay(code, userID string) (phone.Receipt, error) {
	call, isCall, err := bridgeLink(code)
	if err != nil {
		return phone.Receipt{}, err
	}
	returnURL := ""
	if isCall { // the call is checked again: only a tradePay of trade.create pays
		w.s.mu.Lock()
		t, err := w.s.checkBridgeCall(call)
		if err == nil {
			code = t.TradeNo
		}
		w.s.mu.Unlock()
		if err != nil {
			return phone.Receipt{}, err
		}
		returnURL = phone.WithFragment(call.Return, bridgeOK)
	}
	res, err := w.s.Pay(code, userID)
	if errors.Is(err, ErrUnknownCode) {
		return phone.Receipt{}, phone.ErrUnknownCode
	}
	if err != nil {
		return phone.Receipt{}, err
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if returnURL == "" {
		returnURL = res.ReturnURL
	}
	return s.receipt(s.byTradeNo[res.TradeNo], returnURL), nil
}

// receipt describes a paid trade. Callers hold s.mu.
func (s *Simulator) receipt(t *Trade, returnURL string) phone.Receipt {
	r := phone.Receipt{
		Wallet: Wallet, TradeNo: t.TradeNo, OutTradeNo: t.OutTradeNo, Description: t.Subject,
		Amount: t.Total, PaidAt: t.PaidAt, User: t.PaidBy, ReturnURL: returnURL,
	}
	if m := s.merchants[t.SellerID]; m != nil {
		r.Merchant = m.Name
	}
	return r
}

func (w phoneWallet) History(userID string) []phone.Receipt {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []phone.Receipt
	for _, t := range s.trades {
		if t.PaidBy == userID {
			out = append(out, s.receipt(t, ""))
		}
	}
	slices.SortFunc(out, func(a, b phone.Receipt) int { return b.PaidAt.Compare(a.PaidAt) })
	return out
}
