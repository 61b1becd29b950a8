package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/web"
)

// post sends a form to pages from the TCP peer peer ("203.0.113.5:4000").
func post(t *testing.T, pages http.Handler, peer, path string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.RemoteAddr = peer
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	pages.ServeHTTP(w, req)
	return w
}

// tooMany checks a 429 with a whole number of seconds in Retry-After and a
// page saying so.
func tooMany(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != http.StatusTooManyRequests || err != nil || secs < 1 || !strings.Contains(w.Body.String(), "操作太频繁") {
		t.Fatalf("%s: %d, Retry-After %q, want 429 with whole seconds:\n%s", what, w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
}

// TestStorePayRateLimits: a merchant's static store code creates a payment
// for each anonymous POST, so a client gets a burst and then 429 with
// Retry-After; another client has its own bucket, but the merchant's
// bucket caps them together; a refused POST creates no payment.
func TestStorePayRateLimits(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{NoWorker: true})
	pages := web.New(web.Config{Svc: e.Svc, Limits: map[string]web.Limits{
		web.LimitStorePay: {Client: web.Limit{PerSecond: 0.01, Burst: 3}, Merchant: web.Limit{PerSecond: 0.01, Burst: 5}},
	}})
	m, other := e.Merchants[0].ID, e.Merchants[1].ID
	count := func(merchant string) int {
		var n int
		if err := e.Svc.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM payments WHERE merchant_id = $1`, merchant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	pay := func(peer, merchant string) *httptest.ResponseRecorder {
		return post(t, pages, peer, "/m/"+merchant, url.Values{"amount": {"1.00"}})
	}
	for i := range 3 {
		if w := pay("203.0.113.5:4000", m); w.Code != http.StatusSeeOther {
			t.Fatalf("POST %d of the burst: %d %s", i+1, w.Code, w.Body)
		}
	}
	tooMany(t, pay("203.0.113.5:4001", m), "the 4th POST of one client")
	if n := count(m); n != 3 {
		t.Fatalf("%d payments after a refused POST, want 3", n)
	}
	// Another client is not held back by the first one's burst…
	for i := range 2 {
		if w := pay("[2001:db8::1]:4000", m); w.Code != http.StatusSeeOther {
			t.Fatalf("another client's POST %d: %d", i+1, w.Code)
		}
	}
	// …but the merchant's limit caps the sum (5), before this client's
	// own (3) is reached; the same /64 is one client.
	tooMany(t, pay("[2001:db8::2]:4000", m), "a POST over the merchant's limit")
	if n := count(m); n != 5 {
		t.Fatalf("%d payments, want 5", n)
	}
	// Another merchant's store has its own limit.
	if w := pay("198.51.100.7:4000", other); w.Code != http.StatusSeeOther {
		t.Fatalf("another merchant's store: %d", w.Code)
	}
}

// TestAnonymousActionsRateLimited: choosing a method (which opens a wallet
// order), feedback and share-code resolves are refused alike, changing
// nothing.
func TestAnonymousActionsRateLimited(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{NoWorker: true})
	one := web.Limits{Client: web.Limit{PerSecond: 0.01, Burst: 1}, Merchant: web.Limit{PerSecond: 0.01, Burst: 10}}
	pages := web.New(web.Config{Svc: e.Svc, Limits: map[string]web.Limits{web.LimitAttempt: one, web.LimitFeedback: one, web.LimitShareResolve: one}})
	ctx := context.Background()
	p := cashierPayment(t, e, 0, "cashier", "o-limits")
	rows := func(table, col, id string) int {
		var n int
		if err := e.Svc.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+col+` = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const peer = "203.0.113.9:5000"
	if w := post(t, pages, peer, "/pay/"+p.ID+"/attempts", url.Values{"method": {"wechatpay.native"}}, "User-Agent", desktopUA); w.Code != http.StatusSeeOther {
		t.Fatalf("the first choice: %d %s", w.Code, w.Body)
	}
	tooMany(t, post(t, pages, peer, "/pay/"+p.ID+"/attempts", url.Values{"method": {"alipay.precreate"}}, "User-Agent", desktopUA), "a second choice")
	if n := rows("payment_attempts", "payment_id", p.ID); n != 1 {
		t.Fatalf("%d attempts after a refused choice, want 1", n)
	}

	sc, err := e.Client(0).CreateShareCode(ctx, client.ShareCodeParams{Target: "payment", TargetID: p.ID, Source: "wechat_group"})
	if err != nil {
		t.Fatal(err)
	}
	if w := post(t, pages, peer, "/s/", url.Values{"text": {sc.Message}}); w.Code != http.StatusSeeOther {
		t.Fatalf("a first resolve: %d", w.Code)
	}
	tooMany(t, post(t, pages, peer, "/s/", url.Values{"text": {sc.Message}}), "a second resolve")
	var resolves int
	if err := e.Svc.DB.QueryRowContext(ctx, `SELECT resolves FROM share_codes WHERE id = $1`, sc.ID).Scan(&resolves); err != nil || resolves != 1 {
		t.Fatalf("the code counts %d resolves (%v), want 1", resolves, err)
	}

	// Feedback comes after paying.
	if st := payAtSandbox(t, e, "wechatpay", qrOf(attempts(t, e, 0, p.ID)[0]), ""); st != http.StatusOK {
		t.Fatalf("sandbox pay: %d", st)
	}
	e.StartWorker()
	e.Eventually("paid", func() bool { return e.Status(0, p.ID) == "succeeded" })
	if w := post(t, pages, peer, "/feedback/"+p.ID, url.Values{"rating": {"5"}}); w.Code != http.StatusOK {
		t.Fatalf("a first feedback: %d", w.Code)
	}
	tooMany(t, post(t, pages, peer, "/feedback/"+p.ID, url.Values{"rating": {"1"}}), "a second feedback")
	if n := rows("feedback", "payment_id", p.ID); n != 1 {
		t.Fatalf("%d feedback rows after a refused one, want 1", n)
	}
}

// TestForwardedForOnlyFromTrustedProxies: X-Forwarded-For names the client
// only when the TCP peer is a configured proxy; otherwise a client could
// give every request a new address and never be limited.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{NoWorker: true})
	limit := map[string]web.Limits{web.LimitStorePay: {Client: web.Limit{PerSecond: 0.01, Burst: 1}, Merchant: web.Limit{PerSecond: 1, Burst: 100}}}
	m := e.Merchants[0].ID
	form := url.Values{"amount": {"1.00"}}

	// No trusted proxy: the header is the client's own word, ignored.
	direct := web.New(web.Config{Svc: e.Svc, Limits: limit})
	if w := post(t, direct, "203.0.113.5:1", "/m/"+m, form, "X-Forwarded-For", "1.1.1.1"); w.Code != http.StatusSeeOther {
		t.Fatalf("first: %d", w.Code)
	}
	tooMany(t, post(t, direct, "203.0.113.5:1", "/m/"+m, form, "X-Forwarded-For", "2.2.2.2"), "a new X-Forwarded-For from an untrusted peer")

	// Behind a trusted proxy, the address it appended is the client; what
	// the client wrote to the left of it is not.
	proxied := web.New(web.Config{Svc: e.Svc, Limits: limit, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if w := post(t, proxied, "10.0.0.2:1", "/m/"+m, form, "X-Forwarded-For", "9.9.9.9, 198.51.100.1"); w.Code != http.StatusSeeOther {
		t.Fatalf("a client behind the proxy: %d", w.Code)
	}
	tooMany(t, post(t, proxied, "10.0.0.2:1", "/m/"+m, form, "X-Forwarded-For", "8.8.8.8, 198.51.100.1"), "the same client, another forged entry")
	if w := post(t, proxied, "10.0.0.2:1", "/m/"+m, form, "X-Forwarded-For", "198.51.100.2"); w.Code != http.StatusSeeOther {
		t.Fatalf("another client behind the proxy: %d", w.Code)
	}
}
