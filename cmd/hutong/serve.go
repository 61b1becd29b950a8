package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/api"
	chalipay "github.com/hutong-pay/hutong/internal/channel/alipay"
	chwechat "github.com/hutong-pay/hutong/internal/channel/wechatpay"
	"github.com/hutong-pay/hutong/internal/console"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/httpserve"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/sandbox"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/web"
	"github.com/hutong-pay/hutong/internal/webhooks"
	"github.com/hutong-pay/hutong/sandboxhttp"
)

const serveSynopsis = `Runs the payment gateway: the merchant API (/v1/...), the wallets'
notification endpoints (/notify/...), the buyers' pages, /healthz and /readyz;
and, on a listener of its own, /metrics and the Go runtime's profiles
(/debug/pprof/).

--credentials is a JSON file with a "wechatpay" and/or an "alipay" object,
in the layout of the sandbox's credentials.json (see the README). Private
keys are read from it and never logged.

/metrics shows every merchant's counts, and a profile the process's
inner workings, so they are served only on
--metrics-addr (loopback by default; "off" or "" for none), never beside
the API. Webhook endpoints must be public addresses unless
--webhook-allow-private (local development).`

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveSynopsis, stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dsn := fs.String("database", store.DefaultDSN, "database: sqlite:PATH or a postgres:// URL")
	credsPath := fs.String("credentials", "", "required: wallet credentials `FILE` (JSON)")
	baseURL := fs.String("base-url", "", "the `URL` wallets reach this gateway at, for notify_url (default http://ADDR)")
	walletSandbox := fs.String("wallet-sandbox", "", "send wallet calls to the hutong sandbox at `URL` instead of the real wallets")
	lease := fs.Duration("idempotency-lease", api.DefaultIdempotencyLease, "how long a request may run before a retry with its Idempotency-Key runs it again")
	profitSharing := fs.Bool("profit-sharing", false, "settle WeChat Pay service-provider merchants through the wallet's profit sharing (their payments are made with profit sharing)")
	requireContracts := fs.String("require-contracts", "", "comma-separated `channels` that take a merchant's payments only under an active contract (e.g. wechatpay)")
	jobLease := fs.Duration("job-lease", time.Minute, "how long a claimed job is held before another gateway may take it (a crashed gateway's jobs wait this long)")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9090", `listen address of /metrics (Prometheus), apart from the API; "off" or "" for none`)
	allowPrivate := fs.Bool("webhook-allow-private", false, "let webhook endpoints point at loopback and private addresses (local development only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *credsPath == "" {
		return errors.New("serve: --credentials is required (try hutong demo, which needs none)")
	}
	creds, err := readCredentials(*credsPath)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	accounts, err := walletAccounts(ctx, creds, *walletSandbox, *profitSharing)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	metricsLn, err := listenMetrics(*metricsAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("serve: %w", err)
	}
	url := *baseURL
	if url == "" {
		url = "http://" + ln.Addr().String()
	}
	hooks := &webhooks.Service{DB: db, Logger: logger, AllowPrivate: *allowPrivate}
	svc := &gateway.Service{DB: db, Accounts: accounts, BaseURL: url, Logger: logger, JobLease: *jobLease, Webhooks: hooks,
		Onboarding: &onboarding.Service{DB: db, Wallets: gateway.OnboardingWallets(accounts), BaseURL: url, Events: hooks,
			ContractsRequired: requiredChannels(*requireContracts)}}
	svc.Money = &money.Service{DB: db, Logger: logger, Events: hooks, Payments: svc.MoneyPayments(), Wallets: svc.MoneyWallets(),
		ProfitSharing: *profitSharing}
	if err := svc.ScheduleDaily(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hutong gateway listening on %s (%s database)\n", url, db.Dialect)
	if metricsLn != nil {
		fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", metricsLn.Addr())
	}
	return serveGateway(ctx, ln, metricsLn, svc, logger, *lease, *walletSandbox)
}

// listenMetrics opens the metrics listener; "off" or "" opens none.
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" || addr == "off" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	return ln, nil
}

// readCredentials reads a credentials file in the sandbox's
// credentials.json layout.
func readCredentials(path string) (sandbox.Credentials, error) {
	var creds sandbox.Credentials
	raw, err := os.ReadFile(path)
	if err != nil {
		return creds, err
	}
	if err := json.Unmarshal(raw, &creds); err != nil {
		return creds, fmt.Errorf("%s: %w", path, err)
	}
	return creds, nil
}

// checkCredentials refuses credentials that leave out an identity the
// gateway compares every wallet message with (the app and the merchant
// money lands with), naming the missing field: without it, a message the
// wallet signed for someone else could pass for ours.
func checkCredentials(c sandbox.Credentials) error {
	var missing []string
	if w := c.WeChatPay; w != (wechatpay.Credentials{}) {
		for _, f := range []struct{ name, value string }{
			{"mchid", w.MchID}, {"appid", w.AppID}, {"merchant_serial_no", w.MerchantSerialNo}, {"merchant_private_key", w.MerchantPrivateKey},
			{"apiv3_key", w.APIv3Key}, {"platform_public_key_id", w.PlatformPublicKeyID}, {"platform_public_key", w.PlatformPublicKey},
		} {
			if f.value == "" {
				missing = append(missing, "wechatpay."+f.name)
			}
		}
	}
	if a := c.Alipay; a != (alipay.Credentials{}) {
		for _, f := range []struct{ name, value string }{
			{"app_id", a.AppID}, {"seller_id", a.SellerID}, {"app_private_key", a.AppPrivateKey}, {"alipay_public_key", a.AlipayPublicKey},
		} {
			if f.value == "" {
				missing = append(missing, "alipay."+f.name)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the credentials lack %s", strings.Join(missing, ", "))
	}
	return nil
}

// walletAccounts builds a connector per wallet the credentials name. With
// a sandbox URL, wallet calls go there.
func walletAccounts(ctx context.Context, c sandbox.Credentials, sandboxURL string, profitSharing bool) (map[string]gateway.Account, error) {
	var hc *http.Client
	alipayGateway := ""
	if sandboxURL != "" {
		var err error
		if hc, err = sandboxhttp.Client(sandboxURL); err != nil {
			return nil, err
		}
		alipayGateway = sandboxURL + "/gateway.do"
	}
	if err := checkCredentials(c); err != nil {
		return nil, err
	}
	out := map[string]gateway.Account{}
	if w := c.WeChatPay; w.MchID != "" {
		key, err := sandboxkeys.ParsePrivateKey(w.MerchantPrivateKey)
		if err != nil {
			return nil, fmt.Errorf("wechatpay merchant_private_key: %w", err)
		}
		pub, err := sandboxkeys.ParsePublicKey(w.PlatformPublicKey)
		if err != nil {
			return nil, fmt.Errorf("wechatpay platform_public_key: %w", err)
		}
		conn, err := chwechat.New(ctx, chwechat.Config{MchID: w.MchID, AppID: w.AppID, MerchantSerialNo: w.MerchantSerialNo, MerchantPrivateKey: key,
			APIv3Key: w.APIv3Key, PlatformPublicKeyID: w.PlatformPublicKeyID, PlatformPublicKey: pub, HTTPClient: hc,
			AppSecret: w.AppSecret, AuthorizeBase: sandboxURL, ProfitSharing: profitSharing, MerchantName: w.MerchantName})
		if err != nil {
			return nil, err
		}
		out[conn.Channel()] = gateway.Account{Name: "main", Connector: conn}
	}
	if a := c.Alipay; a.AppID != "" {
		conn, err := chalipay.New(chalipay.Config{AppID: a.AppID, SellerID: a.SellerID, AppPrivateKey: a.AppPrivateKey, AlipayPublicKey: a.AlipayPublicKey, Gateway: alipayGateway,
			AuthorizeBase: sandboxURL})
		if err != nil {
			return nil, err
		}
		out[conn.Channel()] = gateway.Account{Name: "main", Connector: conn}
	}
	if len(out) == 0 {
		return nil, errors.New("the credentials name no wallet account")
	}
	return out, nil
}

// serveGateway serves the API (and /metrics on metricsLn, unless nil) and
// runs the job worker until ctx ends, then finishes in-flight requests and
// jobs.
func serveGateway(ctx context.Context, ln, metricsLn net.Listener, svc *gateway.Service, logger *slog.Logger, lease time.Duration, sandboxURL string) error {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	workerCtx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan struct{})
	go func() {
		svc.Worker(fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))).Run(workerCtx)
		close(workerDone)
	}()
	exposuresDone := make(chan struct{})
	go func() { svc.RolloutService().WriteExposures(workerCtx); close(exposuresDone) }()

	metricsDone := make(chan error, 1)
	metricsCtx, stopMetrics := context.WithCancel(ctx)
	if metricsLn != nil {
		go func() { metricsDone <- httpserve.Serve(metricsCtx, metricsLn, metricsListener(svc, logger)) }()
	} else {
		metricsDone <- nil
	}
	h, pages := gatewayStack(svc, logger, lease, sandboxURL)
	go func() { <-ctx.Done(); pages.Shutdown() }()
	err := httpserve.Serve(ctx, ln, gatewayListener(h))
	stopMetrics()
	if merr := <-metricsDone; err == nil && merr != nil {
		err = fmt.Errorf("metrics listener: %w", merr)
	}
	stopWorker()
	<-workerDone
	<-exposuresDone
	return err
}

// gatewayListener bounds the gateway's listener: httpserve's timeouts
// (the cashier's status stream lifts its own) and the API's body limit for
// every route, pages' forms and /notify/ included (the connectors bound
// notifications more tightly still).
func gatewayListener(h http.Handler) httpserve.Config {
	return httpserve.Config{Handler: h, BodyLimit: api.MaxBodyBytes}
}

// metricsListener serves /metrics and the runtime's profiles
// (/debug/pprof/); it reads no bodies.
func metricsListener(svc *gateway.Service, logger *slog.Logger) httpserve.Config {
	return httpserve.Config{Handler: (&api.Server{Svc: svc, Logger: logger}).MetricsHandler(), BodyLimit: 1}
}

// gatewayStack is what the gateway's listener serves: the API and the
// pages, each request logged.
func gatewayStack(svc *gateway.Service, logger *slog.Logger, lease time.Duration, sandboxURL string) (http.Handler, *web.Handler) {
	h, pages := gatewayHandler(svc, logger, lease, sandboxURL)
	return requestLog(h, logger), pages
}

// gatewayHandler is the merchant API with the buyers' hosted pages and the
// console (/console) beside it. With a wallet sandbox, in-wallet pages load the sandbox's stand-ins
// for the wallets' page bridges, and the portal's test payments can be paid by its test buyer.
func gatewayHandler(svc *gateway.Service, logger *slog.Logger, lease time.Duration, sandboxURL string) (http.Handler, *web.Handler) {
	cfg := web.Config{Svc: svc, Rollouts: svc.RolloutService(), Logger: logger}
	if sandboxURL != "" {
		cfg.BridgeScript = sandboxURL + "/phone/static/bridge.js"
		cfg.SandboxPhone = sandboxURL + "/phone/"
	}
	pages := web.New(cfg)
	consCfg := console.Config{Gateway: svc, Accounts: &accounts.Service{DB: svc.DB, Now: svc.Now}, Logger: logger}
	if sandboxURL != "" {
		consCfg.Sandbox = console.SandboxHelper(sandboxURL) // the portal's test payments are paid by its test buyer
	}
	cons := console.New(consCfg)
	return cons.Beside(pages.Beside((&api.Server{Svc: svc, Rollouts: svc.RolloutService(), Logger: logger, IdempotencyLease: lease}).Handler())), pages
}

// requestLog logs each request as JSON with a request id, which it also
// returns in Request-Id.
func requestLog(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		rand.Read(b)
		id := "req_" + hex.EncodeToString(b)
		w.Header().Set("Request-Id", id)
		sw := &statusWriter{ResponseWriter: w, status: 200}
		start := time.Now()
		next.ServeHTTP(sw, r)
		logger.Info("request", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", sw.status, "ms", time.Since(start).Milliseconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

// Flush passes a flush through, for the cashier's status stream.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (the status
// stream lifts its deadlines through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requiredChannels reads --require-contracts.
func requiredChannels(list string) map[string]bool {
	out := map[string]bool{}
	for _, ch := range strings.Split(list, ",") {
		if ch = strings.TrimSpace(ch); ch != "" {
			out[ch] = true
		}
	}
	return out
}
