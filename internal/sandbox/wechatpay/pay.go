package wechatpay

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
)

// PayResult is what the helper API's pay call answers.
type PayResult struct {
	Wallet        string `json:"wallet"`
	User          string `json:"user"`
	MchID         string `json:"mchid"`
	SubMchID      string `json:"sub_mchid,omitempty"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	TradeType     string `json:"trade_type"`
	TradeState    string `json:"trade_state"`
	Amount        int64  `json:"amount"`
}

// findByCode resolves what a payer holds: a code_url, a prepay_id, or an
// h5_url (which carries the prepay_id). Callers hold s.mu.
func (s *Simulator) findByCode(code string) *Order {
	code = strings.TrimSpace(code)
	if o := s.byCode[code]; o != nil {
		return o
	}
	if o := s.byPrepay[code]; o != nil {
		return o
	}
	if u, err := url.Parse(code); err == nil {
		if id := u.Query().Get("prepay_id"); id != "" {
			return s.byPrepay[id]
		}
	}
	return nil
}

// Pay makes a sandbox user pay the order behind code, as if they had scanned
// it or confirmed in the wallet. userID "" means the JSAPI order's payer, or
// the default sandbox user. An unpaid order stays unpaid on any refusal.
func (s *Simulator) Pay(code, userID string) (PayResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.findByCode(code)
	if o == nil {
		return PayResult{}, ErrUnknownCode
	}
	s.expireIfDue(o)
	switch o.State {
	case StateSuccess, StateRefund:
		return PayResult{}, ErrOrderPaid
	case StateClosed:
		return PayResult{}, ErrOrderClosed
	}
	if o.OpenID != "" { // JSAPI: the order names its payer
		u, _ := s.cfg.Users.ByOpenID(o.AppID, o.OpenID)
		if userID != "" && userID != u.ID {
			return PayResult{}, fmt.Errorf("%w: %s", ErrWrongPayer, u.ID)
		}
		userID = u.ID
	}
	if userID == "" {
		userID = s.cfg.Users.Default()
	}
	if err := s.cfg.Users.Debit(userID, Wallet, o.Total); err != nil {
		return PayResult{}, err
	}
	now := s.now()
	next := *o
	next.State = StateSuccess
	next.SuccessTime = now
	next.PaidBy = userID
	next.TransactionID = "4200" + sandboxkeys.Digits(6) + now.In(chinatime.Location).Format("20060102") + sandboxkeys.Digits(10)
	if err := s.putOrder(&next); err != nil {
		// The payment was not recorded: give the money back.
		if cerr := s.cfg.Users.Credit(userID, Wallet, o.Total); cerr != nil {
			return PayResult{}, errors.Join(err, cerr)
		}
		return PayResult{}, err
	}
	s.enqueueNotification(o.NotifyURL, "TRANSACTION.SUCCESS", "支付成功", "transaction", s.transactionJSON(o))
	return PayResult{
		Wallet: Wallet, User: userID, MchID: o.MchID, SubMchID: o.SubMchID, OutTradeNo: o.OutTradeNo,
		TransactionID: o.TransactionID, TradeType: o.TradeType, TradeState: o.State, Amount: o.Total,
	}, nil
}
