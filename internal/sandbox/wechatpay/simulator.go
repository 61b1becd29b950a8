// Package wechatpay simulates the WeChat Pay API v3 closely enough that the
// official SDKs talk to it unchanged: the same paths, bodies, status codes,
// error codes and signatures, in direct-merchant and service-provider mode.
//
// The simulator authenticates every request as the platform does (signature
// over method, target and body; timestamp within five minutes; the merchant's
// certificate serial), signs every answer with the platform key (certificate
// mode or public-key mode), and sends encrypted, signed notifications through
// the sandbox's notify.Dispatcher on the platform's retry schedule.
//
// State (orders, refunds) is kept in memory and written through to the
// sandbox journal, so it survives a restart.
package wechatpay

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/sandbox/journal"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

// Wallet is this wallet's name in the sandbox's helper API, faults and users'
// balances.
const Wallet = "wechatpay"

// Signing modes: which platform key signs answers when the request does not
// say (by its Wechatpay-Serial header) which one it trusts, and which signs
// notifications.
const (
	SigningPublicKey   = "public_key"
	SigningCertificate = "certificate"
)

// Trade states.
const (
	StateNotPay  = "NOTPAY"
	StateSuccess = "SUCCESS"
	StateRefund  = "REFUND"
	StateClosed  = "CLOSED"
)

// Trade types.
const (
	TradeNative = "NATIVE"
	TradeJSAPI  = "JSAPI"
	TradeApp    = "APP"
	TradeH5     = "MWEB"
)

// Refund statuses.
const (
	RefundProcessing = "PROCESSING"
	RefundSuccess    = "SUCCESS"
)

// NotifySchedule is WeChat Pay's published retry schedule for notifications:
// 15 retries over about 24 hours after the first attempt.
var NotifySchedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute,
	10 * time.Minute, 20 * time.Minute, 30 * time.Minute, 30 * time.Minute,
	30 * time.Minute, 60 * time.Minute, 3 * time.Hour, 3 * time.Hour,
	3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// RefundDelay is how long a refund stays PROCESSING at real speed.
const RefundDelay = 10 * time.Second

// Order is one transaction, in either mode.
type Order struct {
	Key        string    `json:"key"`
	Partner    bool      `json:"partner"`
	MchID      string    `json:"mchid"` // mchid, or sp_mchid in partner mode
	AppID      string    `json:"appid"` // appid, or sp_appid
	SubMchID   string    `json:"sub_mchid,omitempty"`
	SubAppID   string    `json:"sub_appid,omitempty"`
	OutTradeNo string    `json:"out_trade_no"`
	TradeType  string    `json:"trade_type"`
	Desc       string    `json:"description"`
	Attach     string    `json:"attach,omitempty"`
	NotifyURL  string    `json:"notify_url"`
	GoodsTag   string    `json:"goods_tag,omitempty"`
	TimeExpire time.Time `json:"time_expire,omitzero"`
	Total      int64     `json:"total"`
	Currency   string    `json:"currency"`
	// OpenID is the payer named at prepay (JSAPI): openid or sp_openid.
	OpenID    string `json:"openid,omitempty"`
	SubOpenID string `json:"sub_openid,omitempty"`
	// Fingerprint identifies the prepay request's content, to tell a retry
	// from a reuse of the out_trade_no.
	Fingerprint string          `json:"fingerprint"`
	SceneInfo   json.RawMessage `json:"scene_info,omitempty"`

	PrepayID      string    `json:"prepay_id"`
	CodeURL       string    `json:"code_url,omitempty"`
	H5URL         string    `json:"h5_url,omitempty"`
	State         string    `json:"trade_state"`
	CreatedAt     time.Time `json:"created_at"`
	TransactionID string    `json:"transaction_id,omitempty"`
	SuccessTime   time.Time `json:"success_time,omitzero"`
	PaidBy        string    `json:"paid_by,omitempty"` // sandbox user id
	ClosedAt      time.Time `json:"closed_at,omitzero"`
	// Refunded is the sum of refunds not failed, so concurrent refunds can
	// never promise more than was paid.
	Refunded int64 `json:"refunded"`
	// Profit sharing (profitsharing.go): the payment was made with
	// settle_info.profit_sharing, so its money stays frozen until shared
	// (Shared, reserved before a sharing order is stored) or unfrozen to
	// the sub-merchant (Unfrozen, once; SharingDone then).
	ProfitSharing bool  `json:"profit_sharing,omitempty"`
	Shared        int64 `json:"shared,omitempty"`
	Unfrozen      int64 `json:"unfrozen,omitempty"`
	SharingDone   bool  `json:"sharing_done,omitempty"`
}

// Refund is one refund of an order.
type Refund struct {
	Key           string    `json:"key"`
	MchID         string    `json:"mchid"`
	SubMchID      string    `json:"sub_mchid,omitempty"`
	OutRefundNo   string    `json:"out_refund_no"`
	RefundID      string    `json:"refund_id"`
	OrderKey      string    `json:"order_key"`
	TransactionID string    `json:"transaction_id"`
	OutTradeNo    string    `json:"out_trade_no"`
	Reason        string    `json:"reason,omitempty"`
	NotifyURL     string    `json:"notify_url,omitempty"`
	Amount        int64     `json:"refund"`
	Total         int64     `json:"total"`
	Currency      string    `json:"currency"`
	FundsAccount  string    `json:"funds_account,omitempty"`
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	SettleAt      time.Time `json:"settle_at"`
	SuccessTime   time.Time `json:"success_time,omitzero"`
	Fingerprint   string    `json:"fingerprint"`
}

// SubMerchant is a merchant a service provider acts for.
type SubMerchant struct {
	SubMchID     string `json:"sub_mchid"`
	SpMchID      string `json:"sp_mchid"`
	SubAppID     string `json:"sub_appid"`
	SubAppSecret string `json:"sub_app_secret"` // the SubAppID's official account's, for web OAuth
	Name         string `json:"name"`
}

// settings are the simulator's durable knobs.
type settings struct {
	Signing string `json:"signing"`
}

const (
	kindCredentials = "wechatpay.credentials"
	kindSecrets     = "wechatpay.secrets"
	kindSubMerchant = "wechatpay.submerchant"
	kindOrder       = "wechatpay.order"
	kindRefund      = "wechatpay.refund"
	kindSettings    = "wechatpay.settings"
	kindOAuthCode   = "wechatpay.oauthcode"
)

// Config wires a Simulator into a sandbox.
type Config struct {
	Journal  *journal.Journal
	Users    *users.Directory
	Notifier *notify.Dispatcher
	Faults   *faults.Store
	// BaseURL is where people and merchants reach this sandbox
	// (http://127.0.0.1:8090); it prefixes H5 pay pages and bill downloads.
	BaseURL   string
	TimeScale float64
	Now       func() time.Time
	Logger    *slog.Logger
}

// Simulator is the WeChat Pay API v3 of the sandbox.
type Simulator struct {
	cfg   Config
	creds Credentials
	keys  *keyring
	mux   *http.ServeMux

	mu        sync.Mutex
	settings  settings
	subs      map[string]*SubMerchant
	orders    map[string]*Order
	byTxn     map[string]*Order
	byPrepay  map[string]*Order
	byCode    map[string]*Order
	refunds   map[string]*Refund
	refundIDs map[string]*Refund
	timers    map[string]*time.Timer
	bills     map[string][]byte // download token → file, while the token lives
	billFault faults.Bill       // changes to the bills built (bill_faults.go)
	codes     map[string]*oauthCode
	// Sub-merchant applications, by sp_mchid|business_code and by id, and
	// the review settings, by business_code ("*" for the default).
	applyments   map[string]*Applyment
	applymentIDs map[int64]*Applyment
	outcomes     map[string]ApplymentOutcome
	ps           profitSharing // profitsharing.go
	closed       bool
}

// The sandbox merchant's identity; a fixed, obviously-test mchid keeps
// configuration files stable across sandboxes.
const (
	sandboxMchID = "1900000001"
	sandboxAppID = "wxd678efh567hg6787"
	sandboxName  = "hutong 沙箱商户"
)

// seedSubMerchants are the sandbox merchant's sub-merchants in
// service-provider mode.
var seedSubMerchants = []SubMerchant{
	{SubMchID: "1900000109", SpMchID: sandboxMchID, SubAppID: "wx8888888888888888", Name: "沙箱特约商户 · 县城超市"},
	{SubMchID: "1900000110", SpMchID: sandboxMchID, SubAppID: "wx9999999999999999", Name: "沙箱特约商户 · 城市服饰"},
}

// New loads the simulator's state from the journal, creating the merchant,
// its keys and sub-merchants on first start.
func New(cfg Config) (*Simulator, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TimeScale <= 0 {
		cfg.TimeScale = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Simulator{
		cfg:       cfg,
		settings:  settings{Signing: SigningPublicKey},
		subs:      map[string]*SubMerchant{},
		orders:    map[string]*Order{},
		byTxn:     map[string]*Order{},
		byPrepay:  map[string]*Order{},
		byCode:    map[string]*Order{},
		refunds:   map[string]*Refund{},
		refundIDs: map[string]*Refund{},
		timers:    map[string]*time.Timer{},
		bills:     map[string][]byte{},
		codes:     map[string]*oauthCode{},

		applyments:   map[string]*Applyment{},
		applymentIDs: map[int64]*Applyment{},
		outcomes:     map[string]ApplymentOutcome{},
	}
	j := cfg.Journal
	var sec secrets
	ok, err := j.Get(kindCredentials, sandboxMchID, &s.creds)
	if err != nil {
		return nil, err
	}
	if ok {
		if _, err := j.Get(kindSecrets, sandboxMchID, &sec); err != nil {
			return nil, err
		}
	} else {
		s.creds, sec, err = generateCredentials(sandboxMchID, sandboxAppID, sandboxName)
		if err != nil {
			return nil, fmt.Errorf("wechatpay: generate keys: %w", err)
		}
		if err := j.Put(kindSecrets, sandboxMchID, sec); err != nil {
			return nil, err
		}
		if err := j.Put(kindCredentials, sandboxMchID, s.creds); err != nil {
			return nil, err
		}
		for _, sm := range seedSubMerchants {
			sm.SubAppSecret = randomHex(32)
			if err := j.Put(kindSubMerchant, sm.SubMchID, sm); err != nil {
				return nil, err
			}
		}
	}
	if s.creds.AppSecret == "" { // a data folder from before AppSecrets
		s.creds.AppSecret = randomHex(32)
		if err := j.Put(kindCredentials, sandboxMchID, s.creds); err != nil {
			return nil, err
		}
	}
	if s.keys, err = s.creds.keyring(sec); err != nil {
		return nil, fmt.Errorf("wechatpay: keys: %w", err)
	}
	if _, err := j.Get(kindSettings, "settings", &s.settings); err != nil {
		return nil, err
	}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("wechatpay: load: %w", err)
	}
	if err := s.loadApplyments(); err != nil {
		return nil, fmt.Errorf("wechatpay: load applyments: %w", err)
	}
	if err := s.loadProfitSharing(); err != nil {
		return nil, fmt.Errorf("wechatpay: load profit sharing: %w", err)
	}
	s.routes()
	return s, nil
}

func (s *Simulator) load() error {
	j := s.cfg.Journal
	err := j.Each(kindSubMerchant, func(_ string, raw json.RawMessage) error {
		var sm SubMerchant
		if err := json.Unmarshal(raw, &sm); err != nil {
			return err
		}
		if sm.SubAppSecret == "" && sm.SubAppID != "" { // from before AppSecrets
			sm.SubAppSecret = randomHex(32)
			if err := j.Put(kindSubMerchant, sm.SubMchID, sm); err != nil {
				return err
			}
		}
		s.subs[sm.SubMchID] = &sm
		return nil
	})
	if err != nil {
		return err
	}
	err = j.Each(kindOAuthCode, func(_ string, raw json.RawMessage) error {
		var c oauthCode
		if err := json.Unmarshal(raw, &c); err != nil {
			return err
		}
		s.codes[c.Code] = &c
		return nil
	})
	if err != nil {
		return err
	}
	err = j.Each(kindOrder, func(_ string, raw json.RawMessage) error {
		var o Order
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		s.index(&o)
		return nil
	})
	if err != nil {
		return err
	}
	return j.Each(kindRefund, func(_ string, raw json.RawMessage) error {
		var r Refund
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		s.refunds[r.Key] = &r
		s.refundIDs[r.RefundID] = &r
		if r.Status == RefundProcessing {
			s.scheduleRefund(&r)
		}
		return nil
	})
}

func (s *Simulator) index(o *Order) {
	s.orders[o.Key] = o
	s.byPrepay[o.PrepayID] = o
	if o.CodeURL != "" {
		s.byCode[o.CodeURL] = o
	}
	if o.TransactionID != "" {
		s.byTxn[o.TransactionID] = o
	}
}

// Credentials returns the merchant's credentials, as written to
// credentials.json.
func (s *Simulator) Credentials() Credentials { return s.creds }

// SubMerchants lists the sandbox merchant's sub-merchants, those of
// applications approved by now included.
func (s *Simulator) SubMerchants() []SubMerchant {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceApplyments()
	out := make([]SubMerchant, 0, len(s.subs))
	for _, sm := range s.subs {
		out = append(out, *sm)
	}
	slices.SortFunc(out, func(a, b SubMerchant) int { return strings.Compare(a.SubMchID, b.SubMchID) })
	return out
}

// Signing returns the signing mode.
func (s *Simulator) Signing() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings.Signing
}

// SetSigning chooses the signing mode.
func (s *Simulator) SetSigning(mode string) error {
	if mode != SigningPublicKey && mode != SigningCertificate {
		return fmt.Errorf("signing mode must be %q or %q, got %q", SigningPublicKey, SigningCertificate, mode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.settings
	next.Signing = mode
	if err := s.cfg.Journal.Put(kindSettings, "settings", next); err != nil {
		return err
	}
	s.settings = next
	return nil
}

// Close stops the refund timers. The journal stays the sandbox's to close.
func (s *Simulator) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, t := range s.timers {
		t.Stop()
	}
}

func (s *Simulator) now() time.Time { return s.cfg.Now().UTC() }

func (s *Simulator) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.cfg.TimeScale)
}

// putOrder persists o and, only if that worked, makes it the live state.
// Callers hold s.mu and pass a modified copy.
func (s *Simulator) putOrder(o *Order) error {
	if err := s.cfg.Journal.Put(kindOrder, o.Key, o); err != nil {
		return err
	}
	if old, ok := s.orders[o.Key]; ok {
		*old = *o
		s.index(old)
		return nil
	}
	s.index(o)
	return nil
}

func (s *Simulator) putRefund(r *Refund) error {
	if err := s.cfg.Journal.Put(kindRefund, r.Key, r); err != nil {
		return err
	}
	if old, ok := s.refunds[r.Key]; ok {
		*old = *r
		return nil
	}
	s.refunds[r.Key] = r
	s.refundIDs[r.RefundID] = r
	return nil
}

// expireIfDue closes an unpaid order whose time_expire has passed. Callers
// hold s.mu.
func (s *Simulator) expireIfDue(o *Order) {
	if o.State != StateNotPay || o.TimeExpire.IsZero() || s.now().Before(o.TimeExpire) {
		return
	}
	next := *o
	next.State = StateClosed
	next.ClosedAt = o.TimeExpire
	if err := s.putOrder(&next); err != nil {
		s.cfg.Logger.Error("wechatpay: expire order", "key", o.Key, "err", err)
	}
}

func orderKey(mchid, subMchID, outTradeNo string) string {
	return mchid + "|" + subMchID + "|" + outTradeNo
}

func refundKey(mchid, subMchID, outRefundNo string) string {
	return mchid + "|" + subMchID + "|" + outRefundNo
}

// Errors of the helper API's pay call.
var (
	ErrUnknownCode = errors.New("no WeChat Pay order has this code")
	ErrOrderPaid   = errors.New("the order is already paid")
	ErrOrderClosed = errors.New("the order is closed")
	ErrWrongPayer  = errors.New("this JSAPI order names another payer")
)

// Users is the directory of sandbox payers this wallet debits.
func (s *Simulator) Users() *users.Directory { return s.cfg.Users }

// OrderCount is the number of orders the sandbox holds.
func (s *Simulator) OrderCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orders)
}

// Snapshot is a copy of every order and refund, in the order they were
// made: the wallet's truth, for a test that audits a merchant's books
// against it.
func (s *Simulator) Snapshot() ([]Order, []Refund) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orders := make([]Order, 0, len(s.orders))
	for _, o := range s.orders {
		orders = append(orders, *o)
	}
	refunds := make([]Refund, 0, len(s.refunds))
	for _, r := range s.refunds {
		refunds = append(refunds, *r)
	}
	slices.SortFunc(orders, func(a, b Order) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.Key, b.Key)) })
	slices.SortFunc(refunds, func(a, b Refund) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.Key, b.Key)) })
	return orders, refunds
}
