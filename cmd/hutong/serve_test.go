package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/httpserve"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// testTimeout stands for the listener's timeouts in these tests: the
// production bounds with seconds made milliseconds.
const testTimeout = 300 * time.Millisecond

// testGateway runs the gateway's listener as serve does (the same handler
// stack, body limit and metrics listener) with every timeout testTimeout,
// on a gateway whose WeChat Pay account is a sandbox.
type testGateway struct {
	svc      *gateway.Service
	url      string
	addr     string
	metrics  string
	merchant merchant.Merchant
}

func startTestGateway(t *testing.T) *testGateway {
	t.Helper()
	sb := sandboxtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	accounts, err := walletAccounts(ctx, sb.Sandbox().Credentials(), sb.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := listenMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	g := &testGateway{addr: ln.Addr().String(), url: "http://" + ln.Addr().String(), metrics: "http://" + mln.Addr().String()}
	g.svc = &gateway.Service{DB: storetest.SQLite(t), Accounts: accounts, BaseURL: g.url, Logger: logger}
	if g.merchant, err = g.svc.MerchantService().Create(ctx, merchant.Merchant{Name: "县城超市"}); err != nil {
		t.Fatal(err)
	}
	h, pages := gatewayStack(g.svc, logger, 0, sb.URL)
	cfg := gatewayListener(h)
	cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout = testTimeout, testTimeout, testTimeout, testTimeout
	served := make(chan error, 2)
	go func() { served <- httpserve.Serve(ctx, ln, cfg) }()
	go func() { served <- httpserve.Serve(ctx, mln, metricsListener(g.svc, logger)) }()
	t.Cleanup(func() {
		pages.Shutdown()
		cancel()
		for range 2 {
			if err := <-served; err != nil {
				t.Errorf("serving: %v", err)
			}
		}
	})
	return g
}

func (g *testGateway) payment(t *testing.T, orderID string) payment.Payment {
	t.Helper()
	p, err := g.svc.PaymentService().CreatePayment(context.Background(), g.merchant, payment.Request{MerchantOrderID: orderID, Amount: 100, Currency: "CNY",
		Description: "豆浆", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b1"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func get(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		t.Fatalf("GET %s: reading the answer: %v", url, err)
	}
	return res.StatusCode
}

// TestStalledNotificationIsCutOff: a client that announces a 4 KB body on
// the internet-facing /notify/ endpoint and sends one byte loses its
// connection within the read timeout, and the gateway answers others
// meanwhile and afterwards.
func TestStalledNotificationIsCutOff(t *testing.T) {
	g := startTestGateway(t)
	const stalledClients = 20
	held := make(chan time.Duration, stalledClients)
	for range stalledClients {
		go func() {
			c, err := net.Dial("tcp", g.addr)
			if err != nil {
				held <- -1
				return
			}
			defer c.Close()
			start := time.Now()
			if _, err := fmt.Fprintf(c, "POST /notify/wechatpay/main HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{", g.addr); err != nil {
				held <- -1
				return
			}
			if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				held <- -1
				return
			}
			// Until the gateway hangs up (an end or a reset); our own
			// deadline passing means it never did.
			if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				held <- -1
				return
			}
			held <- time.Since(start)
		}()
	}
	// Meanwhile the gateway answers.
	for range 5 {
		if st := get(t, g.url+"/healthz"); st != 200 {
			t.Fatalf("/healthz while stalled: %d", st)
		}
		time.Sleep(testTimeout / 5)
	}
	for range stalledClients {
		d := <-held
		if d < 0 || d > testTimeout+time.Second {
			t.Fatalf("a stalled notification held its connection %v (-1: it could not be sent or was never hung up); the read timeout is %v", d, testTimeout)
		}
	}
	if st := get(t, g.url+"/healthz"); st != 200 {
		t.Fatalf("/healthz after: %d", st)
	}
	// A whole notification is still read and answered (refused: unsigned).
	res, err := http.Post(g.url+"/notify/wechatpay/main", "application/json", strings.NewReader(`{"id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusOK || res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("an unsigned notification: %d", res.StatusCode)
	}
}

// TestBodyLimitOnEveryRoute: a body over 1 MiB is cut off on routes that
// set no limit of their own (the store code's form, which net/http alone
// would read up to 10 MB of), so the request makes nothing.
func TestBodyLimitOnEveryRoute(t *testing.T) {
	g := startTestGateway(t)
	for size, want := range map[int]int{2 << 20: 0, 1 << 10: 1} {
		body := "amount=1.00&note=" + strings.Repeat("x", size)
		req, _ := http.NewRequest("POST", g.url+"/m/"+g.merchant.ID, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", g.url)
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := hc.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		// The gateway may cut an oversized form off mid-send, failing the
		// request or its answer; the small one must go through.
		if err != nil && want == 1 {
			t.Fatalf("a form of %d bytes: %v", len(body), err)
		}
		var n int
		if err := g.svc.DB.QueryRow(`SELECT COUNT(*) FROM payments WHERE merchant_id = $1`, g.merchant.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("after a form of %d bytes: %d payments, want %d", len(body), n, want)
		}
		if _, err := g.svc.DB.Exec(`DELETE FROM payments`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatusStreamOutlivesTimeouts: the cashier's status stream (server-
// sent events) lifts its deadlines, so it is flushed at once and still
// delivers a change long after the read and write timeouts.
func TestStatusStreamOutlivesTimeouts(t *testing.T) {
	g := startTestGateway(t)
	p := g.payment(t, "stream-1")
	res, err := http.Get(g.url + "/pay/" + p.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := make(chan string, 10)
	go func(stream io.Reader) {
		sc := bufio.NewScanner(stream)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- data
			}
		}
		close(events)
	}(res.Body)
	next := func(within time.Duration) string {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("the stream was closed")
			}
			return e
		case <-time.After(within):
			t.Fatalf("no event within %v", within)
		}
		return ""
	}
	if e := next(2 * time.Second); !strings.Contains(e, "requires_action") {
		t.Fatalf("first event %s", e)
	}
	time.Sleep(4 * testTimeout)
	if _, err := g.svc.PaymentService().CancelPayment(context.Background(), g.merchant.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	if e := next(5 * time.Second); !strings.Contains(e, "canceled") {
		t.Fatalf("event after the cancel %s", e)
	}
}

// TestMetricsOnItsOwnListener: /metrics is not served beside the API (it
// shows every merchant's counts) but on the metrics listener, which serves
// nothing else; /v1 and /notify are unaffected.
func TestMetricsOnItsOwnListener(t *testing.T) {
	g := startTestGateway(t)
	if st := get(t, g.url+"/metrics"); st != http.StatusNotFound {
		t.Fatalf("/metrics on the gateway's listener: %d, want 404", st)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/payments": 401} {
		if st := get(t, g.url+path); st != want {
			t.Errorf("%s: %d, want %d", path, st, want)
		}
	}
	res, err := http.Post(g.url+"/notify/wechatpay/main", "application/json", strings.NewReader(`{"id":"forged"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = http.Get(g.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// The database's gauges are there (a store with no payments yet has no
	// hutong_payments series; every job kind has a lag).
	for _, want := range []string{"hutong_notifications_refused_total", "hutong_job_lag_seconds", "go_sql_open_connections"} {
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("the metrics listener: %d, lacks %s:\n%s", res.StatusCode, want, body)
		}
	}
	for _, path := range []string{"/healthz", "/v1/payments", "/pay/x"} {
		if st := get(t, g.metrics+path); st != http.StatusNotFound {
			t.Errorf("the metrics listener answers %s: %d", path, st)
		}
	}
}

func TestListenMetrics(t *testing.T) {
	for _, off := range []string{"", "off"} {
		if ln, err := listenMetrics(off); ln != nil || err != nil {
			t.Errorf("%q: %v %v", off, ln, err)
		}
	}
	if _, err := listenMetrics("127.0.0.1:bad"); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("a bad address: %v", err)
	}
}

// TestServeHelpNamesEveryFlag: serve --help lists the listener flags, and
// the synopsis shows them.
func TestServeHelpNamesEveryFlag(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"serve", "--help"}, io.Discard, &out); err == nil {
		t.Fatal("--help ran serve")
	}
	for _, flag := range []string{"metrics-addr", "webhook-allow-private"} {
		if !strings.Contains(out.String(), "  -"+flag) || !strings.Contains(serveSynopsis, "--"+flag) {
			t.Errorf("serve --help or its synopsis lacks %s:\n%s", flag, out.String())
		}
	}
}

// TestSandboxListenerBounds: the sandbox's listener takes 1 MiB of body,
// and the phone pages' picture uploads up to 6 MiB.
func TestSandboxListenerBounds(t *testing.T) {
	cfg := sandboxListener(http.NotFoundHandler())
	if cfg.BodyLimit != 1<<20 {
		t.Errorf("body limit %d", cfg.BodyLimit)
	}
	for path, want := range map[string]int64{"/phone/u/buyer-wang/scan": 6 << 20, "/sandbox/v1/pay": 0, "/v3/pay/transactions/native": 0} {
		if got := cfg.BodyLimitFor(&http.Request{URL: &url.URL{Path: path}}); got != want {
			t.Errorf("%s: %d, want %d", path, got, want)
		}
	}
}
