// Package channel is the contract between hutong's gateway and the wallets:
// a Connector per wallet account turns hutong's payments and refunds into
// the wallet's own calls, and the wallet's notifications back into verified
// facts. The wallet-specific code lives in channel/wechatpay and
// channel/alipay, each built on the wallet's official or most-used SDK.
//
// A Connector only reports what the wallet said; it never decides that a
// payment is paid. The gateway checks every reported fact (merchant, order
// number, amount, currency) against its own payment before applying it.
package channel

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/hutong-pay/hutong/internal/recon"
)

// Methods, as DESIGN §3 names them.
const (
	WeChatNative = "wechatpay.native"
	WeChatJSAPI  = "wechatpay.jsapi"
	WeChatH5     = "wechatpay.h5"
	WeChatApp    = "wechatpay.app"
	AlipayQR     = "alipay.precreate"
	AlipayJSAPI  = "alipay.jsapi"
	AlipayWap    = "alipay.wap"
	AlipayPage   = "alipay.page"
	AlipayApp    = "alipay.app"
)

// Prepay asks a wallet to open a payment.
type Prepay struct {
	OutTradeNo  string // hutong's payment id, the wallet's out_trade_no
	Method      string
	Amount      int64 // fen
	Description string
	NotifyURL   string
	ReturnURL   string    // browser flows
	ExpiresAt   time.Time // zero: the wallet's default
	Payer       string    // wechatpay.jsapi: openid; alipay.jsapi: buyer_id or buyer_open_id
	ClientIP    string    // wechatpay.h5
	// SubMerchant acts for another merchant: WeChat's sub_mchid in
	// service-provider mode, Alipay's app_auth_token.
	SubMerchant string
}

// Action is what the buyer's side does next.
type Action struct {
	Type   string            `json:"type"` // qr_code, redirect, wallet_sdk
	QRCode string            `json:"qr_code,omitempty"`
	URL    string            `json:"url,omitempty"`
	Params map[string]string `json:"params,omitempty"`
}

// Trade states, as hutong reads the wallets' own.
const (
	TradePending  = "pending"  // NOTPAY, WAIT_BUYER_PAY
	TradePaid     = "paid"     // SUCCESS, TRADE_SUCCESS, TRADE_FINISHED
	TradeRefunded = "refunded" // REFUND (WeChat: paid, then some refund)
	TradeClosed   = "closed"   // CLOSED, TRADE_CLOSED
)

// Identity is whom a wallet message says it is for. A signature proves
// only which wallet sent a message, not that it concerns this gateway's
// payment: a message the wallet signed for another app or merchant is
// just as valid. So the gateway compares every identity a message names
// with the one it expects (Connector.Expect) and refuses a difference.
// Connectors fill in what the message names and leave the rest empty; a
// notification that lacks an identity the wallet always sends is refused
// by its connector.
type Identity struct {
	App         string // WeChat Pay appid (sp_appid in partner mode), Alipay app_id
	Merchant    string // WeChat Pay mchid (sp_mchid in partner mode), Alipay seller_id
	SubMerchant string // WeChat Pay sub_mchid (partner mode)
}

// Trade is a wallet's word on a payment.
type Trade struct {
	Identity
	OutTradeNo    string
	TransactionID string
	State         string
	Amount        int64 // fen
	Currency      string
	PaidAt        time.Time
	Payer         string // openid or buyer id
}

// RefundRequest asks a wallet to refund part or all of a payment.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string
	Amount      int64
	Total       int64
	Reason      string
	NotifyURL   string
	SubMerchant string
}

// Refund states.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
)

// Refund is a wallet's word on a refund.
type Refund struct {
	Identity
	OutTradeNo  string // the refunded wallet order
	OutRefundNo string
	RefundID    string
	State       string
	Amount      int64 // fen: this refund's, or with Cumulative all refunds' of the order so far
	// Cumulative says Amount is the order's total refunded so far (Alipay's
	// notifications carry refund_fee so), not this refund's own amount.
	Cumulative bool
	Total      int64 // fen: the refunded order's amount, 0 when not named
	// SucceededAt is when the wallet completed the refund, zero when the
	// message does not say: the time its bill files the refund under.
	SucceededAt time.Time
}

// Notification is a verified wallet message.
type Notification struct {
	ID     string // the wallet's event id, stable across retries
	Trade  *Trade
	Refund *Refund
}

// Connector is one wallet account.
type Connector interface {
	Channel() string
	// Expect is the identity every message about a payment must name: the
	// account's own, or, for a payment made for a sub-merchant (sub: the
	// sub_mchid or app_auth_token), the sub-merchant's; seller is the
	// wallet user id of a merchant that authorized the app (Alipay).
	Expect(sub, seller string) Identity
	Prepay(ctx context.Context, p Prepay) (Action, error)
	Query(ctx context.Context, outTradeNo, subMerchant string) (Trade, error)
	Close(ctx context.Context, outTradeNo, subMerchant string) error
	Refund(ctx context.Context, r RefundRequest) (Refund, error)
	QueryRefund(ctx context.Context, outTradeNo, outRefundNo, subMerchant string) (Refund, error)
	// ParseNotification verifies a notification request (signature,
	// timestamp window, decryption) and reads it. Any failure is an error
	// and nothing is returned.
	ParseNotification(r *http.Request) (Notification, error)
	// Acknowledge answers the wallet the way it expects: err nil accepts
	// the notification, otherwise it asks for a retry.
	Acknowledge(w http.ResponseWriter, err error)
}

// NotifyWindower is a connector that says how long its wallet keeps
// notifying an outcome (WeChat Pay 15 times over about 24 hours, Alipay 8
// times over about 25): a payment or refund still unsettled after that is
// one the wallet will not tell hutong about by itself.
type NotifyWindower interface {
	NotifyWindow() time.Duration
}

// ErrNotFound is a wallet saying it does not know the order or refund.
var ErrNotFound = errors.New("channel: the wallet does not know this order")

// ErrUnverified is a notification whose signature (or envelope) the
// wallet's SDK did not accept: it may not be from the wallet at all.
var ErrUnverified = errors.New("channel: notification not verified")

// WalletError is a refusal the wallet returned, with its own code.
type WalletError struct {
	Status  int
	Code    string
	Message string
	// Final says the wallet refused the request for good and did nothing
	// (a business refusal such as a refund larger than what is left, an
	// order that cannot be refunded). Otherwise the outcome is unknown (a
	// system error, a busy or rate-limited wallet): the request may have
	// taken effect, so its object is asked about and the same request sent
	// again, which the wallets make idempotent by its number.
	Final bool
}

func (e *WalletError) Error() string { return "wallet refused: " + e.Code + ": " + e.Message }

// BuyerIdentifier is a connector that can learn who is paying inside its
// wallet's app, which the in-wallet methods (wechatpay.jsapi,
// alipay.jsapi) need: the page sends the browser to AuthorizeURL, the
// wallet sends it back to redirectURI with a one-time code, and BuyerID
// trades the code for the payer's id (openid, Alipay user id).
type BuyerIdentifier interface {
	AuthorizeURL(redirectURI, state string) string
	BuyerID(ctx context.Context, code string) (string, error)
}

// Onboarder is a connector that can sign a merchant up with its wallet:
// WeChat Pay's sub-merchant application, Alipay's merchant authorization.
type Onboarder interface {
	SubmitMerchant(ctx context.Context, a MerchantApplication) (Onboarding, error)
	// QueryMerchant asks about a submission by its reference: the
	// business_code (WeChat) or the authorization code (Alipay).
	QueryMerchant(ctx context.Context, ref string) (Onboarding, error)
}

// MerchantApplication is what a wallet's onboarding asks of a merchant.
type MerchantApplication struct {
	Ref               string // business_code: the platform's unique id of this application
	Name              string
	ShortName         string
	LicenseNumber     string
	LegalPerson       string
	ContactName       string
	ContactPhone      string
	ContactEmail      string
	ServicePhone      string
	BankAccountName   string
	BankAccountNumber string
	AuthCode          string // Alipay: the app_auth_code the merchant's authorization returned
}

// Onboarding states, as hutong reads the wallets' own.
const (
	OnboardingSubmitted = "submitted"
	OnboardingReviewing = "reviewing"
	OnboardingRejected  = "rejected"
	OnboardingNeedsInfo = "needs_info"
	OnboardingActive    = "active"
)

// Onboarding is a wallet's word on a merchant's submission.
type Onboarding struct {
	Ref         string
	State       string
	WalletState string // the wallet's own word (APPLYMENT_STATE_…)
	SubMerchant string // sub_mchid or app_auth_token, once active
	// Seller is the wallet user id of an authorizing merchant (Alipay's
	// user_id): the seller_id its trades' messages name.
	Seller  string
	Reason  string
	SignURL string
}

// BillDownloader is a connector that can fetch its wallet's daily trade
// bill (a Beijing date, 2006-01-02), writing the file as the wallet serves
// it: WeChat Pay's trade bill CSV (gzip), Alipay's zip of GBK CSVs.
type BillDownloader interface {
	DownloadBill(ctx context.Context, day string, w io.Writer) error
	// ReadBill reads a file DownloadBill or DownloadMerchantBill wrote,
	// in the wallet's format, as rows reconciliation matches.
	ReadBill(file *io.SectionReader, opts ...recon.Option) (recon.RowSource, error)
}

// MerchantBillDownloader is a connector whose account also collects for
// merchants that authorized it (Alipay's app_auth_token): their trades are
// in each merchant's own bill, not in DownloadBill's, so reconciling the
// channel reads one bill per authorized merchant too.
type MerchantBillDownloader interface {
	DownloadMerchantBill(ctx context.Context, day, subMerchant string, w io.Writer) error
}

// ProfitSharer is a connector that can settle a service-provider merchant's
// payment through the wallet's profit sharing: the platform's commission to
// the platform's own account, the rest unfrozen to the sub-merchant.
type ProfitSharer interface {
	ShareProfit(ctx context.Context, s ProfitShare) (ProfitShareResult, error)
}

// ProfitShare asks to settle one paid payment made for a sub-merchant.
type ProfitShare struct {
	SubMerchant   string
	TransactionID string // the wallet's transaction id of the payment
	OutOrderNo    string // hutong's id of this settlement; the same again is the same settlement
	// PlatformAmount is the fen to the platform's own account; 0 unfreezes
	// everything to the sub-merchant.
	PlatformAmount int64
	Description    string
}

// Profit share states.
const (
	ProfitShareProcessing = "processing"
	ProfitShareFinished   = "finished"
)

// ProfitShareResult is the wallet's word on a profit share.
type ProfitShareResult struct {
	OrderID        string
	State          string // processing, finished
	PlatformAmount int64  // fen shared to the platform
	Unfrozen       int64  // fen unfrozen to the sub-merchant
}

// Account is a wallet account payments of one channel go through: its
// connector, and the name that routes the wallet's notifications to it
// (the {account} of /notify/{channel}/{account}).
type Account struct {
	Name      string
	Connector Connector
}

// NotifyURL is where the wallet of channel ch notifies about this
// account's orders and refunds, under a gateway reached at baseURL.
func (a Account) NotifyURL(baseURL, ch string) string {
	return baseURL + "/notify/" + ch + "/" + a.Name
}
