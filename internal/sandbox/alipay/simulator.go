// Package alipay simulates the Alipay OpenAPI in RSA2 public-key mode, both
// the classic gateway (/gateway.do) and OpenAPI v3 (/v3/alipay/…), closely
// enough that github.com/smartwalle/alipay/v3 and the official SDKs talk to
// it unchanged: the same methods, parameters, answer objects, codes and
// signatures.
//
// Every request is checked as the gateway checks it: on gateway.do,
// app_id, timestamp, charset, sign_type, the RSA2 signature over the
// sorted raw parameters and app_auth_token; on v3, the Authorization
// header's signature over the exact request, its timestamp and nonce, and
// the alipay-app-auth-token header (v3.go). Both become one call that the
// same methods answer, on the same trades. Every answer is signed with the
// sandbox's Alipay key: on gateway.do over the exact text of its response
// object, on v3 over the body in headers. Payments and refunds send signed
// form notifications, whichever protocol made the trade, through the
// sandbox's notify.Dispatcher on Alipay's retry schedule.
//
// State lives in memory and is written through to the sandbox journal.
package alipay

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/sandbox/journal"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

// Wallet is this wallet's name in the helper API, faults and balances.
const Wallet = "alipay"

// Trade statuses.
const (
	StatusWaitBuyerPay  = "WAIT_BUYER_PAY"
	StatusTradeSuccess  = "TRADE_SUCCESS"
	StatusTradeClosed   = "TRADE_CLOSED"
	StatusTradeFinished = "TRADE_FINISHED"
)

// NotifySchedule is Alipay's retry schedule for notifications: 7 retries,
// 8 attempts over about 25 hours.
var NotifySchedule = []time.Duration{
	4 * time.Minute, 10 * time.Minute, 10 * time.Minute, time.Hour,
	2 * time.Hour, 6 * time.Hour, 15 * time.Hour,
}

// Credentials is the "alipay" object of credentials.json.
type Credentials struct {
	AppID string `json:"app_id"`
	// SellerID is the app's own merchant (its PID): the seller_id of the
	// trades made without an app_auth_token.
	SellerID        string `json:"seller_id"`
	AppPrivateKey   string `json:"app_private_key"`
	AppPublicKey    string `json:"app_public_key"`
	AlipayPublicKey string `json:"alipay_public_key"`
}

type secrets struct {
	AlipayPrivateKey string `json:"alipay_private_key"`
	BillTokenKey     string `json:"bill_token_key"`
}

// Merchant is a seller: the sandbox app's own merchant, or one that has
// authorized the app (app_auth_token).
type Merchant struct {
	PID   string `json:"pid"` // 2088…, the seller_id
	AppID string `json:"app_id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Trade is one Alipay trade.
type Trade struct {
	Key         string    `json:"key"`
	SellerID    string    `json:"seller_id"`
	AuthAppID   string    `json:"auth_app_id"`
	Method      string    `json:"method"`
	ProductCode string    `json:"product_code,omitempty"`
	OutTradeNo  string    `json:"out_trade_no"`
	TradeNo     string    `json:"trade_no"`
	Subject     string    `json:"subject"`
	Body        string    `json:"body,omitempty"`
	Total       int64     `json:"total"`
	TimeExpire  time.Time `json:"time_expire,omitzero"`
	NotifyURL   string    `json:"notify_url,omitempty"`
	ReturnURL   string    `json:"return_url,omitempty"`
	Passback    string    `json:"passback_params,omitempty"`
	Buyer       string    `json:"buyer,omitempty"` // sandbox user named at create
	QRCode      string    `json:"qr_code,omitempty"`
	Fingerprint string    `json:"fingerprint"`
	// Scanned is whether a buyer has opened the trade. Alipay answers
	// ACQ.TRADE_NOT_EXIST for a precreated trade until its code is scanned.
	Scanned    bool      `json:"scanned"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	PaidAt     time.Time `json:"paid_at,omitzero"`
	ClosedAt   time.Time `json:"closed_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	PaidBy     string    `json:"paid_by,omitempty"`
	Refunded   int64     `json:"refunded"`
}

// Refund is one refund request of a trade.
type Refund struct {
	Key          string    `json:"key"`
	TradeKey     string    `json:"trade_key"`
	OutRequestNo string    `json:"out_request_no"`
	Amount       int64     `json:"amount"`
	Reason       string    `json:"reason,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// AuthCode is an app_auth_code a merchant's authorization produced.
type AuthCode struct {
	Code      string    `json:"code"`
	PID       string    `json:"pid"`
	AppID     string    `json:"app_id"`
	ExpiresAt time.Time `json:"expires_at"`
	Used      bool      `json:"used"`
	// The review of the authorization: Outcome ("" is approved) decided
	// at DecideAt (zero: at once).
	Outcome  string    `json:"outcome,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	DecideAt time.Time `json:"decide_at,omitzero"`
}

// AuthToken is an app_auth_token: the app acting for a merchant.
type AuthToken struct {
	Token        string    `json:"app_auth_token"`
	RefreshToken string    `json:"app_refresh_token"`
	PID          string    `json:"user_id"`
	AuthAppID    string    `json:"auth_app_id"`
	ExpiresAt    time.Time `json:"expires_at"`
	Revoked      bool      `json:"revoked,omitempty"`
}

const (
	kindCredentials = "alipay.credentials"
	kindSecrets     = "alipay.secrets"
	kindMerchant    = "alipay.merchant"
	kindTrade       = "alipay.trade"
	kindRefund      = "alipay.refund"
	kindAuthCode    = "alipay.authcode"
	kindAuthToken   = "alipay.authtoken"
)

// Config wires a Simulator into a sandbox.
type Config struct {
	Journal   *journal.Journal
	Users     *users.Directory
	Notifier  *notify.Dispatcher
	Faults    *faults.Store
	BaseURL   string
	TimeScale float64
	Now       func() time.Time
	Logger    *slog.Logger
}

// Simulator is the Alipay gateway of the sandbox.
type Simulator struct {
	cfg       Config
	creds     Credentials
	appPub    *rsa.PublicKey
	alipayKey *rsa.PrivateKey
	billToken sandboxkeys.Token

	mu        sync.Mutex
	merchants map[string]*Merchant
	trades    map[string]*Trade
	byTradeNo map[string]*Trade
	byQR      map[string]*Trade
	refunds   map[string]*Refund
	codes     map[string]*AuthCode
	tokens    map[string]*AuthToken
	refreshes map[string]*AuthToken
	userCodes map[string]*userAuthCode
	// authOutcomes are the authorization reviews, by merchant PID ("*"
	// for the default).
	authOutcomes map[string]AuthOutcome
	billFault    faults.Bill // changes to the bills built (bill_faults.go)

	nonces nonceBook // of v3 requests (v3.go)
}

// The sandbox app and its own merchant.
const (
	sandboxAppID = "2021004100000001"
	sandboxPID   = "2088621000000001"
)

var seedMerchants = []Merchant{
	{PID: sandboxPID, AppID: sandboxAppID, Name: "hutong 沙箱商家", Email: "merchant@sandbox.hutong.dev"},
	{PID: "2088621000000002", AppID: "2021004100000002", Name: "县城超市", Email: "county@sandbox.hutong.dev"},
	{PID: "2088621000000003", AppID: "2021004100000003", Name: "城市服饰", Email: "city@sandbox.hutong.dev"},
}

// New loads the simulator, creating the app's keys and the merchants on
// first start.
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
		merchants: map[string]*Merchant{},
		trades:    map[string]*Trade{},
		byTradeNo: map[string]*Trade{},
		byQR:      map[string]*Trade{},
		refunds:   map[string]*Refund{},
		codes:     map[string]*AuthCode{},
		tokens:    map[string]*AuthToken{},
		refreshes: map[string]*AuthToken{},
		userCodes: map[string]*userAuthCode{},

		authOutcomes: map[string]AuthOutcome{},
	}
	j := cfg.Journal
	var sec secrets
	ok, err := j.Get(kindCredentials, sandboxAppID, &s.creds)
	if err != nil {
		return nil, err
	}
	if ok {
		if _, err := j.Get(kindSecrets, sandboxAppID, &sec); err != nil {
			return nil, err
		}
		// Data folders made before credentials named the seller.
		s.creds.SellerID = sandboxPID
	} else {
		if s.creds, sec, err = generate(); err != nil {
			return nil, fmt.Errorf("alipay: generate keys: %w", err)
		}
		if err := j.Put(kindSecrets, sandboxAppID, sec); err != nil {
			return nil, err
		}
		if err := j.Put(kindCredentials, sandboxAppID, s.creds); err != nil {
			return nil, err
		}
		for _, m := range seedMerchants {
			if err := j.Put(kindMerchant, m.PID, m); err != nil {
				return nil, err
			}
		}
	}
	if s.appPub, err = sandboxkeys.ParsePublicKey(s.creds.AppPublicKey); err != nil {
		return nil, fmt.Errorf("alipay: app public key: %w", err)
	}
	if s.alipayKey, err = sandboxkeys.ParsePrivateKey(sec.AlipayPrivateKey); err != nil {
		return nil, fmt.Errorf("alipay: alipay key: %w", err)
	}
	s.billToken = sandboxkeys.Token{Key: []byte(sec.BillTokenKey)}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("alipay: load: %w", err)
	}
	return s, nil
}

func loadKind[T any](j *journal.Journal, kind string, fn func(*T)) error {
	return j.Each(kind, func(_ string, raw json.RawMessage) error {
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			return err
		}
		fn(v)
		return nil
	})
}

func (s *Simulator) load() error {
	j := s.cfg.Journal
	return errors.Join(
		loadKind(j, kindMerchant, func(m *Merchant) { s.merchants[m.PID] = m }),
		loadKind(j, kindTrade, func(t *Trade) { s.index(t) }),
		loadKind(j, kindRefund, func(r *Refund) { s.refunds[r.Key] = r }),
		loadKind(j, kindAuthCode, func(c *AuthCode) { s.codes[c.Code] = c }),
		loadKind(j, kindAuthToken, func(t *AuthToken) { s.tokens[t.Token] = t; s.refreshes[t.RefreshToken] = t }),
		loadKind(j, kindUserCode, func(c *userAuthCode) { s.userCodes[c.Code] = c }),
		j.Each(kindAuthOutcome, func(key string, raw json.RawMessage) error {
			var o AuthOutcome
			if err := json.Unmarshal(raw, &o); err != nil {
				return err
			}
			s.authOutcomes[key] = o
			return nil
		}),
	)
}

func (s *Simulator) index(t *Trade) {
	s.trades[t.Key] = t
	s.byTradeNo[t.TradeNo] = t
	if t.QRCode != "" {
		s.byQR[t.QRCode] = t
	}
}

// putTrade persists t (a modified copy) and then makes it live. Callers
// hold s.mu.
func (s *Simulator) putTrade(t *Trade) error {
	if err := s.cfg.Journal.Put(kindTrade, t.Key, t); err != nil {
		return err
	}
	if old, ok := s.trades[t.Key]; ok {
		*old = *t
		s.index(old)
	} else {
		s.index(t)
	}
	return nil
}

// Credentials returns the app's credentials, as in credentials.json.
func (s *Simulator) Credentials() Credentials { return s.creds }

// Merchants lists the sellers: the app's own first, then those that can
// authorize it.
func (s *Simulator) Merchants() []Merchant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Merchant, 0, len(s.merchants))
	for _, m := range s.merchants {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Merchant) int { return strings.Compare(a.PID, b.PID) })
	return out
}

// Users is the directory of payers.
func (s *Simulator) Users() *users.Directory { return s.cfg.Users }

func (s *Simulator) now() time.Time { return s.cfg.Now().UTC() }

func tradeKey(sellerID, outTradeNo string) string { return sellerID + "|" + outTradeNo }

// expireIfDue closes an unpaid trade past its expiry. Callers hold s.mu.
func (s *Simulator) expireIfDue(t *Trade) {
	if t.Status != StatusWaitBuyerPay || t.TimeExpire.IsZero() || s.now().Before(t.TimeExpire) {
		return
	}
	next := *t
	next.Status = StatusTradeClosed
	next.ClosedAt = t.TimeExpire
	if err := s.putTrade(&next); err != nil {
		s.cfg.Logger.Error("alipay: expire trade", "key", t.Key, "err", err)
	}
}

// BuyerID is a sandbox user's Alipay user id: 2088 and 12 digits.
func BuyerID(userID string) string {
	sum := sha256.Sum256([]byte("alipay-user\x00" + userID))
	n := new(big.Int).SetBytes(sum[:8])
	return fmt.Sprintf("2088%012d", n.Mod(n, big.NewInt(1e12)).Int64())
}

// BuyerOpenID is a sandbox user's open id under an app.
func BuyerOpenID(userID, appID string) string {
	sum := sha256.Sum256([]byte("alipay-openid\x00" + appID + "\x00" + userID))
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 46)
	b[0] = '0'
	for i := 1; i < len(b); i++ {
		b[i] = alphabet[int(sum[i%32]^byte(i*7))%len(alphabet)]
	}
	return string(b)
}

// LogonID is the masked account Alipay shows merchants: 186****0142.
func LogonID(userID string) string {
	id := BuyerID(userID)
	return "186****" + id[len(id)-4:]
}

// userByBuyer finds the sandbox user behind a buyer_id or buyer_open_id.
func (s *Simulator) userByBuyer(buyerID, openID, appID string) (users.User, bool) {
	for _, u := range s.cfg.Users.List() {
		if (buyerID != "" && BuyerID(u.ID) == buyerID) || (openID != "" && BuyerOpenID(u.ID, appID) == openID) {
			return u, true
		}
	}
	return users.User{}, false
}

func generate() (Credentials, secrets, error) {
	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Credentials{}, secrets{}, err
	}
	alipayKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Credentials{}, secrets{}, err
	}
	return Credentials{
			AppID:           sandboxAppID,
			SellerID:        sandboxPID,
			AppPrivateKey:   sandboxkeys.PrivatePEM(appKey),
			AppPublicKey:    sandboxkeys.PublicPEM(&appKey.PublicKey),
			AlipayPublicKey: sandboxkeys.PublicPEM(&alipayKey.PublicKey),
		}, secrets{
			AlipayPrivateKey: sandboxkeys.PrivatePEM(alipayKey),
			BillTokenKey:     sandboxkeys.Digits(32),
		}, nil
}

func randomLower(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Errors of the helper API's pay call.
var (
	ErrUnknownCode = errors.New("no Alipay trade has this code")
	ErrTradePaid   = errors.New("the trade is already paid")
	ErrTradeClosed = errors.New("the trade is closed")
	ErrWrongPayer  = errors.New("this trade names another buyer")
)

// TradeCount is the number of trades the sandbox holds.
func (s *Simulator) TradeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.trades)
}

// Snapshot is a copy of every trade and refund, in the order they were
// made: the wallet's truth, for a test that audits a merchant's books
// against it. Alipay refunds succeed as they are made.
func (s *Simulator) Snapshot() ([]Trade, []Refund) {
	s.mu.Lock()
	defer s.mu.Unlock()
	trades := make([]Trade, 0, len(s.trades))
	for _, t := range s.trades {
		trades = append(trades, *t)
	}
	refunds := make([]Refund, 0, len(s.refunds))
	for _, r := range s.refunds {
		refunds = append(refunds, *r)
	}
	slices.SortFunc(trades, func(a, b Trade) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.Key, b.Key)) })
	slices.SortFunc(refunds, func(a, b Refund) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.Key, b.Key)) })
	return trades, refunds
}
