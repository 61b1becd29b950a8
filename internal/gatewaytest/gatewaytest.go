// Package gatewaytest starts a whole hutong for tests: an in-process wallet
// sandbox, a gateway on the given store with both wallets' connectors
// pointed at it, the merchant API and the buyers' pages on one test server,
// two merchants, and a platform key. Tests drive it over HTTP as merchants
// and buyers would.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/api"
	chalipay "github.com/hutong-pay/hutong/internal/channel/alipay"
	chwechat "github.com/hutong-pay/hutong/internal/channel/wechatpay"
	"github.com/hutong-pay/hutong/internal/console"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/web"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

// Env is a running gateway with its sandbox.
type Env struct {
	T       testing.TB
	Sandbox *sandboxtest.Env
	Svc     *gateway.Service
	// Accounts keeps the console's users and sessions, and its audit log.
	Accounts *accounts.Service
	URL      string // the gateway: API, pages and console
	Platform string // a platform key
	// Merchants are the merchants (by default two), each with its own key.
	Merchants []merchant.Merchant
	Keys      []string

	workerOnce sync.Once
	stopWorker func()
}

// Options adjust the environment.
type Options struct {
	// NoWorker leaves the job worker stopped until StartWorker: a test can
	// hold back polls, closes and refunds.
	NoWorker bool
	// Merchants to create; nil means two, a county shop and a city shop.
	Merchants []merchant.Merchant
	// ContractsRequired names the channels that need an active contract.
	ContractsRequired map[string]bool
	// AutoConfirm releases escrow this long after payment (0: 10 days).
	AutoConfirm time.Duration
	// ProfitSharing makes WeChat Pay partner payments with profit sharing
	// and settles them through it.
	ProfitSharing bool
}

// Handler is the gateway's HTTP face, as `hutong serve` mounts it: the
// merchant API, the buyers' pages and the console beside it.
func Handler(svc *gateway.Service, acc *accounts.Service, sandboxURL string) http.Handler {
	pages := web.New(web.Config{Svc: svc, Rollouts: svc.RolloutService(), BridgeScript: sandboxURL + "/phone/static/bridge.js", SandboxPhone: sandboxURL + "/phone/", EventPoll: 50 * time.Millisecond})
	cons := console.New(console.Config{Gateway: svc, Accounts: acc, Sandbox: console.SandboxHelper(sandboxURL)})
	return cons.Beside(pages.Beside((&api.Server{Svc: svc, Rollouts: svc.RolloutService()}).Handler()))
}

// Start runs a gateway on db (migrated) with a fresh sandbox.
func Start(t testing.TB, db *store.DB, opts Options) *Env {
	t.Helper()
	sb := sandboxtest.Start(t)
	wc := sb.Credentials()
	key, _ := sandboxkeys.ParsePrivateKey(wc.MerchantPrivateKey)
	pub, _ := sandboxkeys.ParsePublicKey(wc.PlatformPublicKey)
	wconn, err := chwechat.New(context.Background(), chwechat.Config{MchID: wc.MchID, AppID: wc.AppID, MerchantSerialNo: wc.MerchantSerialNo, MerchantPrivateKey: key,
		APIv3Key: wc.APIv3Key, PlatformPublicKeyID: wc.PlatformPublicKeyID, PlatformPublicKey: pub, HTTPClient: sb.HTTPClient(),
		AppSecret: wc.AppSecret, AuthorizeBase: sb.URL, ProfitSharing: opts.ProfitSharing})
	if err != nil {
		t.Fatal(err)
	}
	ac := sb.Sandbox().Credentials().Alipay
	aconn, err := chalipay.New(chalipay.Config{AppID: ac.AppID, SellerID: ac.SellerID, AppPrivateKey: ac.AppPrivateKey, AlipayPublicKey: ac.AlipayPublicKey,
		Gateway: sb.URL + "/gateway.do", AuthorizeBase: sb.URL})
	if err != nil {
		t.Fatal(err)
	}
	svc := &gateway.Service{DB: db, Accounts: map[string]gateway.Account{
		wconn.Channel(): {Name: "main", Connector: wconn},
		aconn.Channel(): {Name: "main", Connector: aconn},
	}, PollSchedule: []time.Duration{300 * time.Millisecond, time.Second}, JobLease: 10 * time.Second}
	svc.Webhooks = PrivateWebhooks(svc)
	svc.Money = Money(svc, opts)
	// The address is known before the handler, so the gateway's pages and
	// notify URLs name it.
	srv := httptest.NewUnstartedServer(nil)
	svc.BaseURL = "http://" + srv.Listener.Addr().String()
	svc.Onboarding = &onboarding.Service{DB: db, Now: clockOf(svc), Wallets: gateway.OnboardingWallets(svc.Accounts), BaseURL: svc.BaseURL,
		Events: svc.Webhooks, ContractsRequired: opts.ContractsRequired, Poll: 100 * time.Millisecond}
	acc := &accounts.Service{DB: db, Now: clockOf(svc)}
	srv.Config.Handler = Handler(svc, acc, sb.URL)
	srv.Start()
	// Browsers may still hold event streams open when the test ends.
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	e := &Env{T: t, Sandbox: sb, Svc: svc, Accounts: acc, URL: srv.URL}
	ctx := context.Background()
	merchants := opts.Merchants
	if merchants == nil {
		merchants = []merchant.Merchant{{Name: "县城超市 County Mart"}, {Name: "城市服饰 City Wear"}}
	}
	for _, m := range merchants {
		m, err := svc.MerchantService().Create(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		_, key, err := svc.MerchantService().CreateKey(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		e.Merchants = append(e.Merchants, m)
		e.Keys = append(e.Keys, key)
	}
	if _, e.Platform, err = svc.MerchantService().CreateKey(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if !opts.NoWorker {
		e.StartWorker()
	}
	t.Cleanup(func() {
		if e.stopWorker != nil {
			e.stopWorker()
		}
	})
	return e
}

// PrivateWebhooks is a webhooks service for svc in tests: it delivers to
// the test's own loopback receivers, and stamps events with svc's clock,
// which tests move.
func PrivateWebhooks(svc *gateway.Service) *webhooks.Service {
	return &webhooks.Service{DB: svc.DB, AllowPrivate: true, Now: clockOf(svc)}
}

// clockOf reads svc's clock at each call, so a service beside the gateway
// keeps its time when a test moves the gateway's.
func clockOf(svc *gateway.Service) func() time.Time {
	return func() time.Time {
		if svc.Now != nil {
			return svc.Now()
		}
		return time.Now()
	}
}

// Money is the money service of svc in tests: with opts' auto-confirm
// and profit sharing, stamping with svc's clock, which tests move.
func Money(svc *gateway.Service, opts Options) *money.Service {
	return &money.Service{DB: svc.DB, Events: svc.WebhookService(), Payments: svc.MoneyPayments(), Wallets: svc.MoneyWallets(),
		AutoConfirm: opts.AutoConfirm, ProfitSharing: opts.ProfitSharing, Now: clockOf(svc)}
}

// StartWorker runs the gateway's jobs (once).
func (e *Env) StartWorker() {
	e.workerOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { e.Svc.Worker("test-worker").Run(ctx); close(done) }()
		written := make(chan struct{})
		go func() { e.Svc.RolloutService().WriteExposures(ctx); close(written) }()
		e.stopWorker = func() { cancel(); <-done; <-written }
	})
}

// Call makes an API request with key and decodes the answer into out (if
// not nil); it returns the status code.
func (e *Env) Call(key, method, path string, in, out any) int {
	e.T.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.URL+path, body)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Hutong-Actor", "test operator")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.T.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, raw, err)
		}
	}
	return res.StatusCode
}

// Client is the Go client acting for merchant i with its own key.
func (e *Env) Client(i int) *client.Client { return client.New(e.URL, e.Keys[i]) }

// Eventually waits up to 15 s for cond, failing the test with what.
func (e *Env) Eventually(what string, cond func() bool) {
	e.T.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.T.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Status reads a payment's status.
func (e *Env) Status(merchant int, paymentID string) string {
	p, err := e.Client(merchant).GetPayment(context.Background(), paymentID)
	if err != nil {
		e.T.Fatalf("get payment %s: %v", paymentID, err)
	}
	return p.Status
}
