package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/api"
	chalipay "github.com/hutong-pay/hutong/internal/channel/alipay"
	chwechat "github.com/hutong-pay/hutong/internal/channel/wechatpay"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/metrics/metricstest"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/webhook"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

// env is a gateway on a store, wired to an in-process sandbox, with two
// merchants and a webhook receiver.
type env struct {
	t        testing.TB
	sandbox  *sandboxtest.Env
	svc      *gateway.Service
	url      string
	keyA     string // merchant A
	keyB     string // merchant B
	platform string
	merchA   string
	hooks    *receiver
}

type receiver struct {
	mu       sync.Mutex
	secret   string
	got      []webhooks.Event
	rejected int
	seen     int
	done     map[string]bool
	server   *httptest.Server
}

// delivered reports whether payment.succeeded of a payment has arrived.
func (r *receiver) delivered(paymentID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.got[r.seen:] {
		var obj struct{ ID string }
		if err := json.Unmarshal(ev.Data, &obj); err != nil {
			continue // not an object: names no payment
		}
		r.done[obj.ID] = true
	}
	r.seen = len(r.got)
	return r.done[paymentID]
}

func (r *receiver) events() []webhooks.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhooks.Event{}, r.got...)
}

func start(t testing.TB, db *store.DB) *env {
	t.Helper()
	sb := sandboxtest.Start(t)
	wc := sb.Credentials()
	key, _ := sandboxkeys.ParsePrivateKey(wc.MerchantPrivateKey)
	pub, _ := sandboxkeys.ParsePublicKey(wc.PlatformPublicKey)
	wconn, err := chwechat.New(context.Background(), chwechat.Config{MchID: wc.MchID, AppID: wc.AppID, MerchantSerialNo: wc.MerchantSerialNo, MerchantPrivateKey: key,
		APIv3Key: wc.APIv3Key, PlatformPublicKeyID: wc.PlatformPublicKeyID, PlatformPublicKey: pub, HTTPClient: sb.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	ac := sb.Sandbox().Credentials().Alipay
	aconn, err := chalipay.New(chalipay.Config{AppID: ac.AppID, SellerID: ac.SellerID, AppPrivateKey: ac.AppPrivateKey, AlipayPublicKey: ac.AlipayPublicKey, Gateway: sb.URL + "/gateway.do"})
	if err != nil {
		t.Fatal(err)
	}
	svc := &gateway.Service{DB: db, Accounts: map[string]gateway.Account{
		"wechatpay": {Name: "main", Connector: wconn},
		"alipay":    {Name: "main", Connector: aconn},
	}, PollSchedule: []time.Duration{300 * time.Millisecond, time.Second}}
	svc.Webhooks = gatewaytest.PrivateWebhooks(svc)
	srv := httptest.NewServer((&api.Server{Svc: svc}).Handler())
	t.Cleanup(srv.Close)
	svc.BaseURL = srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Worker("test-worker").Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	e := &env{t: t, sandbox: sb, svc: svc, url: srv.URL, hooks: &receiver{done: map[string]bool{}}}
	ma, _ := svc.MerchantService().Create(ctx, merchant.Merchant{Name: "县城超市"})
	mb, _ := svc.MerchantService().Create(ctx, merchant.Merchant{Name: "城市服饰"})
	e.merchA = ma.ID
	_, e.keyA, _ = svc.MerchantService().CreateKey(ctx, ma.ID)
	_, e.keyB, _ = svc.MerchantService().CreateKey(ctx, mb.ID)
	_, e.platform, _ = svc.MerchantService().CreateKey(ctx, "")
	e.hooks.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.hooks.mu.Lock()
		defer e.hooks.mu.Unlock()
		if err := webhook.Verify(e.hooks.secret, r.Header, body, time.Now()); err != nil {
			e.hooks.rejected++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var ev webhooks.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ID != r.Header.Get("webhook-id") {
			e.hooks.rejected++
		}
		e.hooks.got = append(e.hooks.got, ev)
	}))
	t.Cleanup(e.hooks.server.Close)
	var ep webhooks.Endpoint
	e.call("POST", "/v1/webhook_endpoints", e.keyA, map[string]string{"url": e.hooks.server.URL}, &ep, 201)
	e.hooks.secret = ep.Secret
	return e
}

// call sends a request and checks its status; out may be nil.
func (e *env) call(method, path, key string, body any, out any, want int, headers ...string) http.Header {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.url+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.Header
}

type paymentView struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Amount     int64  `json:"amount"`
	Refunded   int64  `json:"amount_refunded"`
	NextAction struct {
		Type   string `json:"type"`
		QRCode string `json:"qr_code"`
		URL    string `json:"url"`
	} `json:"next_action"`
	WalletTradeNo string `json:"wallet_trade_no"`
}

type errorView struct {
	Error struct{ Type, Code, Message, Param string } `json:"error"`
}

func (e *env) waitStatus(key, id, status string) paymentView {
	e.t.Helper()
	var p paymentView
	sandboxtest.Eventually(e.t, 15*time.Second, "payment "+id+" becomes "+status, func() bool {
		e.call("GET", "/v1/payments/"+id, key, nil, &p, 200)
		return p.Status == status
	})
	return p
}

func (e *env) waitEvents(kinds ...string) {
	e.t.Helper()
	sandboxtest.Eventually(e.t, 15*time.Second, "webhooks "+strings.Join(kinds, ", "), func() bool {
		seen := map[string]int{}
		for _, ev := range e.hooks.events() {
			seen[ev.Type]++
		}
		for _, k := range kinds {
			if seen[k] == 0 {
				return false
			}
			seen[k]--
		}
		return true
	})
}

func newPayment(method string, amount int64, order string) map[string]any {
	return map[string]any{"merchant_order_id": order, "amount": amount, "currency": "CNY", "description": "网关测试 · 豆浆油条",
		"method": method, "buyer": map[string]string{"id": "buyer-1", "region_code": "330782", "platform": "ios"}}
}

func TestWeChatLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		var p paymentView
		h := e.call("POST", "/v1/payments", e.keyA, newPayment("wechatpay.native", 2599, "order-1"), &p, 201, "Idempotency-Key", "k1")
		if p.Status != "requires_action" || p.NextAction.Type != "qr_code" || !strings.HasPrefix(p.NextAction.QRCode, "weixin://") || h.Get("Idempotent-Replayed") != "" {
			t.Fatalf("created %+v", p)
		}
		// The same key and body replays; another body is refused.
		var again paymentView
		h = e.call("POST", "/v1/payments", e.keyA, newPayment("wechatpay.native", 2599, "order-1"), &again, 201, "Idempotency-Key", "k1")
		if again.ID != p.ID || h.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %+v", again)
		}
		var ev errorView
		e.call("POST", "/v1/payments", e.keyA, newPayment("wechatpay.native", 1, "order-1"), &ev, 422, "Idempotency-Key", "k1")
		// Without a key, the order id still names the order: the same
		// request gets the same payment, another request is refused.
		var same paymentView
		e.call("POST", "/v1/payments", e.keyA, newPayment("wechatpay.native", 2599, "order-1"), &same, 201)
		if same.ID != p.ID {
			t.Fatalf("the same order made a second payment: %s", same.ID)
		}
		e.call("POST", "/v1/payments", e.keyA, newPayment("wechatpay.native", 2600, "order-1"), &ev, 409)
		if ev.Error.Param != "merchant_order_id" {
			t.Fatalf("duplicate order: %+v", ev)
		}

		e.sandbox.Pay(p.NextAction.QRCode, "buyer-li")
		paid := e.waitStatus(e.keyA, p.ID, "succeeded")
		if !strings.HasPrefix(paid.WalletTradeNo, "4200") {
			t.Fatalf("paid %+v", paid)
		}
		var rf struct{ ID, Status string }
		e.call("POST", "/v1/payments/"+p.ID+"/refunds", e.keyA, map[string]any{"amount": 599, "reason": "仅退款"}, &rf, 201)
		e.call("POST", "/v1/payments/"+p.ID+"/refunds", e.keyA, map[string]any{"amount": 2001}, &ev, 400)
		if ev.Error.Code != "refund_exceeds_payment" {
			t.Fatalf("over-refund: %+v", ev)
		}
		sandboxtest.Eventually(t, 15*time.Second, "refund succeeds", func() bool {
			e.call("GET", "/v1/refunds/"+rf.ID, e.keyA, nil, &rf, 200)
			return rf.Status == "succeeded"
		})
		e.waitEvents("payment.succeeded", "refund.succeeded")
		if e.hooks.rejected != 0 {
			t.Fatal("a webhook failed verification")
		}
		var after paymentView
		e.call("GET", "/v1/payments/"+p.ID, e.keyA, nil, &after, 200)
		if after.Refunded != 599 {
			t.Fatalf("refunded %d", after.Refunded)
		}
	})
}

func TestAlipayLifecycleAndCancel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		var p paymentView
		e.call("POST", "/v1/payments", e.keyA, newPayment("alipay.precreate", 8800, "ali-1"), &p, 201)
		if p.NextAction.Type != "qr_code" || !strings.HasPrefix(p.NextAction.QRCode, "https://qr.alipay.com/") {
			t.Fatalf("created %+v", p)
		}
		if st := e.sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "alipay", "code": p.NextAction.QRCode}, nil); st != 200 {
			t.Fatalf("pay: %d", st)
		}
		e.waitStatus(e.keyA, p.ID, "succeeded")
		var rf struct{ ID, Status string }
		e.call("POST", "/v1/payments/"+p.ID+"/refunds", e.keyA, map[string]any{"amount": 8800}, &rf, 201)
		sandboxtest.Eventually(t, 15*time.Second, "refund succeeds", func() bool {
			e.call("GET", "/v1/refunds/"+rf.ID, e.keyA, nil, &rf, 200)
			return rf.Status == "succeeded"
		})

		// Cancel closes the order at the wallet: the buyer can no longer pay.
		var c paymentView
		e.call("POST", "/v1/payments", e.keyA, newPayment("alipay.precreate", 100, "ali-2"), &c, 201)
		e.call("POST", "/v1/payments/"+c.ID+"/cancel", e.keyA, nil, &c, 200)
		if c.Status != "canceled" {
			t.Fatalf("cancel: %+v", c)
		}
		if st := e.sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "alipay", "code": c.NextAction.QRCode}, nil); st != 409 {
			t.Fatalf("a canceled payment was paid at the wallet: %d", st)
		}
		e.waitEvents("payment.succeeded", "refund.succeeded", "payment.canceled")
	})
}

func TestLostNotificationIsRecoveredByPolling(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		e.sandbox.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "notify_drop_rate": 1}, nil)
		var p paymentView
		e.call("POST", "/v1/payments", e.keyA, newPayment("wechatpay.native", 300, "lost-1"), &p, 201)
		e.sandbox.Pay(p.NextAction.QRCode, "")
		e.waitStatus(e.keyA, p.ID, "succeeded")
	})
}

func TestMerchantsSeeOnlyTheirOwn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		var p paymentView
		e.call("POST", "/v1/payments", e.keyA, newPayment("wechatpay.native", 100, "mine-1"), &p, 201)
		e.call("GET", "/v1/payments/"+p.ID, e.keyB, nil, nil, 404)
		e.call("POST", "/v1/payments/"+p.ID+"/cancel", e.keyB, nil, nil, 404)
		e.call("POST", "/v1/payments/"+p.ID+"/refunds", e.keyB, map[string]any{"amount": 1}, nil, 404)
		var list struct{ Data []paymentView }
		e.call("GET", "/v1/payments", e.keyB, nil, &list, 200)
		if len(list.Data) != 0 {
			t.Fatalf("B listed %d of A's payments", len(list.Data))
		}
		// A platform key acts for the merchant it names.
		e.call("GET", "/v1/payments/"+p.ID, e.platform, nil, nil, 200, "Hutong-Merchant", e.merchA)
		e.call("GET", "/v1/payments/"+p.ID, e.platform, nil, nil, 400)
		e.call("GET", "/v1/payments/"+p.ID, "sk_merchant_forged", nil, nil, 401)
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		for _, tc := range []struct {
			body  string
			want  int
			param string
		}{
			{`{"merchant_order_id":"x","amount":"12","currency":"CNY","description":"d","method":"wechatpay.native","buyer":{"id":"b"}}`, 400, "amount"},
			{`{"merchant_order_id":"x","amount":12,"currency":"CNY","description":"d","method":"wechatpay.native","buyer":{"id":"b"},"colour":"red"}`, 400, "colour"},
			{`{"merchant_order_id":"x","amount":-5,"currency":"CNY","description":"d","method":"wechatpay.native","buyer":{"id":"b"}}`, 400, "amount"},
			{`{"merchant_order_id":"x","amount":0,"currency":"CNY","description":"d","method":"wechatpay.native","buyer":{"id":"b"}}`, 400, "amount"},
			{`{"merchant_order_id":"x'); DROP TABLE payments;--","amount":1,"currency":"CNY","description":"d","method":"wechatpay.native","buyer":{"id":"b"}}`, 400, "merchant_order_id"},
			{`{"merchant_order_id":"x","amount":1,"currency":"CNY","description":"' OR 1=1 --","method":"wechatpay.native","buyer":{"id":"'; DELETE FROM merchants;--"}}`, 201, ""},
			{`{"merchant_order_id":"y",`, 400, ""},
			{`{"merchant_order_id":"z","amount":1,"currency":"CNY","description":"` + strings.Repeat("x", 2<<20) + `"}`, 413, ""},
		} {
			var ev errorView
			e.call("POST", "/v1/payments", e.keyA, tc.body, &ev, tc.want)
			if tc.param != "" && ev.Error.Param != tc.param {
				t.Errorf("%.80s: param %q, want %q (%s)", tc.body, ev.Error.Param, tc.param, ev.Error.Message)
			}
		}
		var list struct{ Data []paymentView }
		e.call("GET", "/v1/payments", e.keyA, nil, &list, 200)
		if len(list.Data) != 1 {
			t.Fatalf("%d payments after bad input, want the 1 valid one", len(list.Data))
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM merchants`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatal("SQL in a field did something")
		}
	})
}

func TestForgedNotificationIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		var p paymentView
		e.call("POST", "/v1/payments", e.keyA, newPayment("alipay.precreate", 100, "forged-1"), &p, 201)
		form := "notify_type=trade_status_sync&out_trade_no=" + p.ID + "&trade_status=TRADE_SUCCESS&total_amount=1.00&trade_no=x&notify_id=1&sign_type=RSA2&sign=AAAA"
		resp, err := http.Post(e.url+"/notify/alipay/main", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "fail" {
			t.Fatalf("forged notification answered %q", b)
		}
		var after paymentView
		e.call("GET", "/v1/payments/"+p.ID, e.keyA, nil, &after, 200)
		if after.Status != "requires_action" {
			t.Fatal("a forged notification paid the payment")
		}
	})
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc, err := io.ReadAll(mustOpen(t, "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range api.Routes {
		method, path, _ := strings.Cut(route, " ")
		i := strings.Index(string(doc), "\n  "+path+":\n")
		if i < 0 {
			t.Errorf("openapi.yaml lacks %s", path)
			continue
		}
		section := string(doc[i+1:])
		if j := strings.Index(section[3:], "\n  /"); j >= 0 {
			section = section[:j+3]
		}
		if !strings.Contains(section, "\n    "+strings.ToLower(method)+":") {
			t.Errorf("openapi.yaml lacks %s", route)
		}
	}
}

// TestMetrics: /metrics is served on its own listener only, and what a
// scraper parses there moves with real actions: a request answered, a
// forged notification refused, a payment paid through the sandbox (its
// notification sent twice: accepted once, then a duplicate), its webhook
// delivered, a wallet call refused; the database's gauges count this
// store's payments.
func TestMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		metricsHandler := (&api.Server{Svc: e.svc}).MetricsHandler()
		before := metricstest.Scrape(t, metricsHandler)

		e.call("GET", "/v1/payments", e.keyA, nil, nil, 200)
		resp, err := http.Post(e.url+"/notify/wechatpay/main", "application/json", strings.NewReader(`{"id":"forged"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Not on the API's listener: the counts span every merchant.
		resp, err = http.Get(e.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("/metrics beside the API: %d, want 404", resp.StatusCode)
		}
		metrics := httptest.NewServer(metricsHandler)
		defer metrics.Close()
		// The runtime's profiles are the operators' too, on this listener
		// only.
		for base, want := range map[string]int{metrics.URL: http.StatusOK, e.url: http.StatusNotFound} {
			resp, err := http.Get(base + "/debug/pprof/goroutine?debug=1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s/debug/pprof/goroutine: %d, want %d", base, resp.StatusCode, want)
			}
		}
		for _, path := range []string{"/v1/payments", "/notify/wechatpay/main", "/healthz"} {
			resp, _ := http.Get(metrics.URL + path)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("the metrics listener answers %s: %d", path, resp.StatusCode)
			}
		}

		// Every WeChat Pay call waits 200 ms and every notification comes
		// twice; Alipay refuses every call.
		const latency = 200 * time.Millisecond
		e.sandbox.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "notify_duplicate_rate": 1, "api_latency_ms": latency.Milliseconds()}, nil)
		e.sandbox.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "alipay", "api_error_rate": 1}, nil)
		var p paymentView
		e.call("POST", "/v1/payments", e.keyA, newPayment("wechatpay.native", 1200, "metrics-1"), &p, 201)
		e.sandbox.Pay(p.NextAction.QRCode, "buyer-li")
		e.waitStatus(e.keyA, p.ID, "succeeded")
		e.waitEvents("payment.succeeded")
		var refused errorView
		e.call("POST", "/v1/payments", e.keyA, newPayment("alipay.precreate", 800, "metrics-2"), &refused, 502)

		var after metricstest.Families
		moved := func(name string, labels ...string) float64 {
			return after.Value(name, labels...) - before.Value(name, labels...)
		}
		// The duplicate arrives after the first notification, and a
		// delivery is counted after the receiver has answered.
		sandboxtest.Eventually(t, 15*time.Second, "the duplicate notification and the delivery are counted", func() bool {
			after = metricstest.ScrapeURL(t, metrics.URL+"/metrics")
			return moved("hutong_notifications_total", "channel", "wechatpay", "verdict", "duplicate") >= 1 &&
				moved("hutong_webhook_deliveries_total", "outcome", "delivered") >= 1
		})

		for name, want := range map[string]struct {
			typ    string
			labels []string
		}{
			"hutong_http_requests_total":           {"COUNTER", []string{"code", "route"}},
			"hutong_http_request_duration_seconds": {"HISTOGRAM", []string{"route"}},
			"hutong_api_own_seconds":               {"HISTOGRAM", []string{"route"}},
			"hutong_wallet_call_duration_seconds":  {"HISTOGRAM", []string{"call", "wallet"}},
			"hutong_wallet_call_errors_total":      {"COUNTER", []string{"call", "wallet"}},
			"hutong_notifications_total":           {"COUNTER", []string{"channel", "verdict"}},
			"hutong_notifications_refused_total":   {"COUNTER", []string{"reason"}},
			"hutong_notifications_accepted_total":  {"COUNTER", nil},
			"hutong_webhook_deliveries_total":      {"COUNTER", []string{"outcome"}},
			"hutong_webhooks_delivered_total":      {"COUNTER", nil},
			"hutong_webhooks_failed_total":         {"COUNTER", nil},
			"hutong_payments":                      {"GAUGE", []string{"method", "status"}},
			"hutong_job_lag_seconds":               {"GAUGE", []string{"kind"}},
			"hutong_metrics_database_errors_total": {"COUNTER", nil},
			"go_goroutines":                        {"GAUGE", nil},
			"process_cpu_seconds_total":            {"COUNTER", nil},
			"go_sql_open_connections":              {"GAUGE", []string{"db_name"}},
		} {
			if typ := after.Type(name); typ != want.typ {
				t.Errorf("%s is a %q, want %q", name, typ, want.typ)
			}
			if got := after.LabelNames(name); !slices.Equal(got, want.labels) {
				t.Errorf("%s has labels %q, want %q", name, got, want.labels)
			}
		}

		for _, c := range []struct {
			name   string
			labels []string
			least  float64
		}{
			{"hutong_http_requests_total", []string{"route", "GET /v1/payments", "code", "200"}, 1},
			{"hutong_http_requests_total", []string{"route", "POST /v1/payments", "code", "201"}, 1},
			{"hutong_http_requests_total", []string{"route", "POST /v1/payments", "code", "502"}, 1},
			{"hutong_http_request_duration_seconds", []string{"route", "POST /v1/payments"}, 2},
			{"hutong_api_own_seconds", []string{"route", "POST /v1/payments"}, 2},
			{"hutong_wallet_call_duration_seconds", []string{"wallet", "wechatpay", "call", "prepay"}, 1},
			{"hutong_wallet_call_duration_seconds", []string{"wallet", "alipay", "call", "prepay"}, 1},
			{"hutong_wallet_call_errors_total", []string{"wallet", "alipay", "call", "prepay"}, 1},
			{"hutong_notifications_total", []string{"channel", "wechatpay", "verdict", "accepted"}, 1},
			{"hutong_notifications_total", []string{"channel", "wechatpay", "verdict", "refused"}, 1},
			{"hutong_notifications_refused_total", []string{"reason", "bad_signature"}, 1},
			{"hutong_notifications_accepted_total", nil, 2},
			{"hutong_webhook_deliveries_total", []string{"outcome", "delivered"}, 1},
			{"hutong_webhooks_delivered_total", nil, 1},
		} {
			if got := moved(c.name, c.labels...); got < c.least {
				t.Errorf("%s%q moved by %v, want at least %v", c.name, c.labels, got, c.least)
			}
		}
		if n := moved("hutong_wallet_call_errors_total", "wallet", "wechatpay"); n != 0 {
			t.Errorf("WeChat Pay calls counted as errors: %v", n)
		}
		// The gateway's own time is the request's less its wallet calls:
		// the WeChat Pay prepay alone waited 200 ms.
		route := []string{"route", "POST /v1/payments"}
		took := after.Sum("hutong_http_request_duration_seconds", route...) - before.Sum("hutong_http_request_duration_seconds", route...)
		own := after.Sum("hutong_api_own_seconds", route...) - before.Sum("hutong_api_own_seconds", route...)
		if took < latency.Seconds() || own > took-latency.Seconds() {
			t.Errorf("POST /v1/payments took %.3f s in all, %.3f s of it hutong's own; want at least %v less", took, own, latency)
		}
		if p50, p99 := api.OwnTime("POST /v1/payments"); p50 <= 0 || p99 < p50 {
			t.Errorf("own time p50 %v, p99 %v", p50, p99)
		}

		// Read from this store at the scrape: its one payment, paid.
		if n := after.Value("hutong_payments"); n != 1 {
			t.Errorf("hutong_payments sums to %v, want this store's 1 payment", n)
		}
		if n := after.Value("hutong_payments", "method", "wechatpay.native", "status", "succeeded"); n != 1 {
			t.Errorf("hutong_payments{method=wechatpay.native,status=succeeded} = %v, want 1", n)
		}
		for _, kind := range []string{gateway.KindPoll, webhooks.KindDeliver, money.KindOverdue} {
			if s := after.Series("hutong_job_lag_seconds", "kind", kind); len(s) != 1 || s[0].GetGauge().GetValue() < 0 {
				t.Errorf("hutong_job_lag_seconds{kind=%q}: %v", kind, s)
			}
		}
		if n := moved("hutong_metrics_database_errors_total"); n != 0 {
			t.Errorf("database reads failed %v times", n)
		}

		for _, path := range []string{"/healthz", "/readyz"} {
			resp, _ := http.Get(e.url + path)
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d", path, resp.StatusCode)
			}
			resp.Body.Close()
		}
	})
}
