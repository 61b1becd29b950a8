// Package sandbox runs hutong's local stand-ins for the wallets: the WeChat
// Pay API v3 (under /v3/), WeChat's web OAuth (/connect/oauth2/authorize,
// /sns/oauth2/access_token), the Alipay OpenAPI, both its gateway
// (/gateway.do) and its v3 (under /v3/alipay/, beside WeChat Pay's), and
// authorization pages (/oauth2/), the phone pages where a person plays the
// buyer (/phone/), and the test-helper API (under /sandbox/v1/) that
// scripted tests and the demo use to play the buyer and to make the wallets
// misbehave on purpose.
//
// Everything lives behind one listener and one data folder. The folder holds
// the journal (every order, refund, notification, user balance and fault
// setting) and credentials.json, the keys a merchant configures its SDK with.
// A sandbox stopped and started on the same folder carries on where it was,
// pending notifications included.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/sandbox/journal"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

// Config of a sandbox.
type Config struct {
	// DataDir holds the journal and credentials.json; created if absent.
	DataDir string
	// BaseURL is the address people and merchants reach the sandbox at,
	// such as http://127.0.0.1:8090. It appears in H5 pay links and bill
	// download URLs.
	BaseURL string
	// TimeScale divides the wallets' real delays (notification retries,
	// refund processing): 60 makes an hour a minute. 0 means 1.
	TimeScale float64
	// NotifyTimeout bounds each notification attempt; the wallets wait 5 s.
	NotifyTimeout time.Duration
	// NoSync skips fsync on each journal write (tests, benchmarks).
	NoSync bool
	Now    func() time.Time
	Logger *slog.Logger
}

// Sandbox is a running set of wallet simulators.
type Sandbox struct {
	cfg       Config
	journal   *journal.Journal
	users     *users.Directory
	faults    *faults.Store
	notifier  *notify.Dispatcher
	wechatpay *wechatpay.Simulator
	alipay    *alipay.Simulator
	handler   http.Handler
}

// CredentialsFile is the name of the merchant credentials file in DataDir.
const CredentialsFile = "credentials.json"

// Credentials is the content of credentials.json: one object per wallet.
type Credentials struct {
	WeChatPay wechatpay.Credentials `json:"wechatpay"`
	Alipay    alipay.Credentials    `json:"alipay"`
}

// Open opens (or creates) the sandbox in cfg.DataDir and writes
// credentials.json. Call Run to start delivering notifications.
func Open(cfg Config) (*Sandbox, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("sandbox: a data folder is required")
	}
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 1
	}
	if cfg.TimeScale < 0 {
		return nil, fmt.Errorf("sandbox: time scale must be positive, got %v", cfg.TimeScale)
	}
	if cfg.NotifyTimeout == 0 {
		cfg.NotifyTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	j, err := journal.Open(filepath.Join(cfg.DataDir, "sandbox.journal"), journal.Options{NoSync: cfg.NoSync})
	if err != nil {
		return nil, err
	}
	sb := &Sandbox{cfg: cfg, journal: j}
	if err := sb.open(); err != nil {
		j.Close()
		return nil, err
	}
	return sb, nil
}

func (sb *Sandbox) open() error {
	cfg := sb.cfg
	var err error
	if sb.users, err = users.Open(sb.journal); err != nil {
		return err
	}
	if sb.faults, err = faults.Open(sb.journal, wechatpay.Wallet, alipay.Wallet); err != nil {
		return err
	}
	sb.notifier, err = notify.New(notify.Config{
		Journal:   sb.journal,
		Client:    &http.Client{Timeout: cfg.NotifyTimeout},
		TimeScale: cfg.TimeScale,
		Faults: func(wallet string) notify.Faults {
			f := sb.faults.Get(wallet)
			return notify.Faults{DropRate: f.NotifyDropRate, DuplicateRate: f.NotifyDuplicateRate, Delay: f.NotifyDelay(), ReorderRate: f.NotifyReorderRate}
		},
		Now:    cfg.Now,
		Logger: cfg.Logger,
	})
	if err != nil {
		return err
	}
	sb.wechatpay, err = wechatpay.New(wechatpay.Config{
		Journal:   sb.journal,
		Users:     sb.users,
		Notifier:  sb.notifier,
		Faults:    sb.faults,
		BaseURL:   cfg.BaseURL,
		TimeScale: cfg.TimeScale,
		Now:       cfg.Now,
		Logger:    cfg.Logger,
	})
	if err != nil {
		return err
	}
	sb.alipay, err = alipay.New(alipay.Config{
		Journal:   sb.journal,
		Users:     sb.users,
		Notifier:  sb.notifier,
		Faults:    sb.faults,
		BaseURL:   cfg.BaseURL,
		TimeScale: cfg.TimeScale,
		Now:       cfg.Now,
		Logger:    cfg.Logger,
	})
	if err != nil {
		return err
	}
	sb.notifier.Register(sb.wechatpay)
	sb.notifier.Register(sb.alipay)
	if err := sb.writeCredentials(); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/v3/", walletV3(sb.wechatpay.Handler(), sb.alipay.V3Handler()))
	oauth := sb.wechatpay.OAuthHandler() // open.weixin.qq.com, api.weixin.qq.com
	mux.Handle("/connect/oauth2/authorize", oauth)
	mux.Handle("/sns/oauth2/access_token", oauth)
	mux.Handle("/sandbox/wechatpay/", sb.wechatpay.PagesHandler()) // sub-merchant applications' sign_url
	alipayHandler := sb.alipay.Handler()
	mux.Handle("/gateway.do", alipayHandler)
	mux.Handle("/sandbox/alipay/", alipayHandler)
	mux.Handle("/oauth2/", alipayHandler) // openauth.alipay.com
	mux.Handle("/phone/", phone.New(phone.Config{
		Wallets: []phone.Wallet{sb.wechatpay.Phone(), sb.alipay.Phone()},
		Users:   sb.users,
		Logger:  cfg.Logger,
	}))
	sb.helperRoutes(mux)
	sb.handler = mux
	return nil
}

// walletV3 sends each /v3/ request to the wallet whose protocol it speaks:
// WeChat Pay API v3 and Alipay OpenAPI v3 both live under /v3/ on their
// own hosts, and the sandbox serves both on one. The Authorization scheme
// tells them apart (ALIPAY-SHA256withRSA, WECHATPAY2-SHA256-RSA2048); a
// request with neither goes by its path, /v3/alipay/… to Alipay, so that
// each wallet answers an unsigned request to its own API with its own
// refusal.
//
// A path prefix (an endpoint of http://127.0.0.1:8090/alipay) would need
// no dispatch, but it would not survive the SDKs' signing: Alipay's Node.js
// SDK signs the path without the endpoint's prefix for a POST and with it
// for a request that has a query (alipay-sdk 4.14.0, #curl), so one prefix
// would break every GET or every POST. With the scheme, an SDK's endpoint
// is the sandbox's address and every path is the real one.
func walletV3(wechatpayV3, alipayV3 http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		switch {
		case strings.HasPrefix(scheme, alipayapi.V3SchemePrefix):
			alipayV3.ServeHTTP(w, r)
		case strings.HasPrefix(scheme, "WECHATPAY2-"):
			wechatpayV3.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/v3/alipay/"):
			alipayV3.ServeHTTP(w, r)
		default:
			wechatpayV3.ServeHTTP(w, r)
		}
	})
}

func (sb *Sandbox) writeCredentials() error {
	b, err := json.MarshalIndent(sb.Credentials(), "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(sb.cfg.DataDir, CredentialsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("sandbox: write credentials: %w", err)
	}
	return os.Rename(tmp, path)
}

// Credentials returns what credentials.json holds.
func (sb *Sandbox) Credentials() Credentials {
	return Credentials{WeChatPay: sb.wechatpay.Credentials(), Alipay: sb.alipay.Credentials()}
}

// Handler serves every wallet and the helper API.
func (sb *Sandbox) Handler() http.Handler { return sb.handler }

// WeChatPay is the WeChat Pay simulator.
func (sb *Sandbox) WeChatPay() *wechatpay.Simulator { return sb.wechatpay }

// Alipay is the Alipay simulator.
func (sb *Sandbox) Alipay() *alipay.Simulator { return sb.alipay }

// Run delivers notifications until ctx ends.
func (sb *Sandbox) Run(ctx context.Context) { sb.notifier.Run(ctx) }

// Close stops the simulators and closes the journal. Stop Run first.
func (sb *Sandbox) Close() error {
	sb.wechatpay.Close()
	return sb.journal.Close()
}

// ReadCredentials reads credentials.json from a sandbox data folder.
func ReadCredentials(dataDir string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(filepath.Join(dataDir, CredentialsFile))
	if err != nil {
		return c, err
	}
	err = json.Unmarshal(b, &c)
	return c, err
}

// Notifications lists every wallet's notifications, oldest first.
func (sb *Sandbox) Notifications() []notify.Notification { return sb.notifier.List("") }
