package phone

import "time"

// Wallet is what a simulated wallet offers the phone pages. The WeChat Pay
// and Alipay simulators each implement it.
type Wallet interface {
	// Name is the wallet's name in the helper API: "wechatpay", "alipay".
	Name() string
	// Title is how the wallet calls itself on screen: "微信支付", "支付宝".
	Title() string
	// UserAgent is the marker the wallet's in-app browser adds to its
	// User-Agent ("MicroMessenger/8.0.50", "AlipayClient/10.6.0"), so that
	// pages opened from a phone can tell which wallet opened them.
	UserAgent() string
	// Recognizes reports whether code (a QR text, prepay id, trade number,
	// order string or pay link) belongs to this wallet, without looking it up.
	Recognizes(code string) bool
	// Lookup finds the order behind code, as the wallet would show it
	// before the buyer confirms. An unknown code is ErrUnknownCode.
	Lookup(code string) (Order, error)
	// Pay makes the sandbox user pay the order behind code. On any
	// refusal the order stays as it was.
	Pay(code, userID string) (Receipt, error)
	// History lists the user's payments in this wallet, newest first.
	History(userID string) []Receipt
}

// Order is an order as a wallet app shows it to the buyer.
type Order struct {
	Wallet      string
	Code        string // what Pay takes for this order
	Merchant    string // merchant display name
	Description string // what is bought
	Amount      int64  // fen
	Payable     bool   // false once paid, closed or expired
	State       string // the wallet's own word: NOTPAY, WAIT_BUYER_PAY, SUCCESS…
	Payer       string // the sandbox user the order names as payer (JSAPI, trade.create), "" if anyone may pay
	// ReturnURL is where the browser goes after paying (the merchant's
	// redirect_url / return_url, signed where the wallet signs it); "" when
	// the payment started elsewhere (a QR code).
	ReturnURL string
	// CancelURL is where the browser goes when the person gives up instead
	// of paying: a bridge call's return_url with the wallet's "cancelled"
	// result; "" for every other order.
	CancelURL string
}

// Bridge is a wallet whose in-app browser lets a page start a payment from
// script (WeixinJSBridge getBrandWCPayRequest, AlipayJSBridge tradePay).
// bridge.js sends such a call to GET /phone/{wallet}/jsapi with the call's
// parameters and return_url; that whole link is then the order's code, so
// Lookup and Pay check the call again and Lookup names the return URLs in
// the Order. A refused call is an error that matches ErrBadCall (or
// ErrUnknownCode for an order that does not exist).
type Bridge interface {
	// FailURL is where the browser goes back after a refused call: the
	// call's return_url with the wallet's failure result, or "" when the
	// link has no usable return_url.
	FailURL(link string) string
}

// Receipt is a completed payment.
type Receipt struct {
	Wallet      string
	TradeNo     string // the wallet's transaction number
	OutTradeNo  string // the merchant's order number
	Merchant    string
	Description string
	Amount      int64 // fen
	PaidAt      time.Time
	User        string
	ReturnURL   string // as in Order
}
