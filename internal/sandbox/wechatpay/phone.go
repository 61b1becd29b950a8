package wechatpay

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
)

// Phone is the WeChat app of the sandbox phone pages.
func (s *Simulator) Phone() phone.Wallet { return phoneWallet{s} }

type phoneWallet struct{ s *Simulator }

func (phoneWallet) Name() string  { return Wallet }
func (phoneWallet) Title() string { return "微信支付" }
func (phoneWallet) UserAgent() string {
	return "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 XWEB/1200079 MMWEBSDK/20240404 MicroMessenger/8.0.50.2600(0x28003257) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"
}

// Recognizes reports whether code is a WeChat code_url, prepay_id, H5
// pay link or bridge link (getBrandWCPayRequest through bridge.js).
func (phoneWallet) Recognizes(code string) bool {
	code = strings.TrimSpace(code)
	if strings.HasPrefix(code, "weixin://wxpay/bizpayurl?pr=") {
		return true
	}
	if isPrepayID(code) {
		return true
	}
	u, err := url.Parse(code)
	return err == nil && (u.Path == "/phone/wechatpay/h5" && u.Query().Get("prepay_id") != "" || u.Path == bridgePath)
}

// isPrepayID matches the platform's prepay ids: "wx", the time to the
// second (14 digits), then 20 letters or digits.
func isPrepayID(code string) bool {
	if len(code) != 36 || !strings.HasPrefix(code, "wx") {
		return false
	}
	for i := 2; i < len(code); i++ {
		c := code[i]
		digit := '0' <= c && c <= '9'
		if i < 16 && !digit || !digit && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// redirectURL is the merchant's redirect_url of an H5 pay link, which
// WeChat sends the browser to after paying.
func redirectURL(code string) string {
	u, err := url.Parse(strings.TrimSpace(code))
	if err != nil || u.Query().Get("prepay_id") == "" {
		return ""
	}
	r, err := url.Parse(u.Query().Get("redirect_url"))
	if err != nil || (r.Scheme != "http" && r.Scheme != "https") || r.Host == "" {
		return ""
	}
	return r.String()
}

// Lookup finds the order behind code. A bridge link is checked as WeChat
// checks getBrandWCPayRequest (the order is a JSAPI one, paySign verifies);
// its order returns to the calling page with #wechatpay=ok or =cancel.
func (w phoneWallet) Lookup(code string) (phone.Order, error) {
	s := w.s
	call, isCall, err := bridgeLink(code)
	if err != nil {
		return phone.Order{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var o *Order
	returnURL, cancelURL := redirectURL(code), ""
	if isCall {
		if o, err = s.checkBridgeCall(call); err != nil {
			return phone.Order{}, err
		}
		returnURL, cancelURL = phone.WithFragment(call.Return, bridgeOK), phone.WithFragment(call.Return, bridgeCancel)
	} else if o = s.findByCode(code); o == nil {
		return phone.Order{}, phone.ErrUnknownCode
	}
	s.expireIfDue(o)
	view := phone.Order{
		Wallet: Wallet, Code: o.PrepayID, Merchant: s.merchantName(o), Description: o.Desc, Amount: o.Total,
		Payable: o.State == StateNotPay, State: o.State, ReturnURL: returnURL, CancelURL: cancelURL,
	}
	if o.OpenID != "" {
		if u, ok := s.cfg.Users.ByOpenID(o.AppID, o.OpenID); ok {
			view.Payer = u.ID
		}
	}
	return view, nil
}

// merchantName is what the payer sees: the sub-merchant's name in
// service-provider mode. Callers hold s.mu.
func (s *Simulator) merchantName(o *Order) string {
	if sm := s.subs[o.SubMchID]; o.Partner && sm != nil {
		return sm.Name
	}
	return sandboxName
}

func (w phoneWallet) Pay(code, userID string) (phone.Receipt, error) {
	returnURL := redirectURL(code)
	call, isCall, err := bridgeLink(code)
	if err != nil {
		return phone.Receipt{}, err
	}
	if isCall { // the call is checked again: only a verified one pays
		w.s.mu.Lock()
		o, err := w.s.checkBridgeCall(call)
		if err == nil {
			code = o.PrepayID
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
	return s.receipt(s.byTxn[res.TransactionID], returnURL), nil
}

// receipt describes a paid order. Callers hold s.mu.
func (s *Simulator) receipt(o *Order, returnURL string) phone.Receipt {
	return phone.Receipt{
		Wallet: Wallet, TradeNo: o.TransactionID, OutTradeNo: o.OutTradeNo, Merchant: s.merchantName(o),
		Description: o.Desc, Amount: o.Total, PaidAt: o.SuccessTime, User: o.PaidBy, ReturnURL: returnURL,
	}
}

func (w phoneWallet) History(userID string) []phone.Receipt {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []phone.Receipt
	for _, o := range s.orders {
		if o.PaidBy == userID {
			out = append(out, s.receipt(o, ""))
		}
	}
	slices.SortFunc(out, func(a, b phone.Receipt) int { return b.PaidAt.Compare(a.PaidAt) })
	return out
}
