package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/metrics/metricstest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

func countEndpoints(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM webhook_endpoints`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWebhookEndpointAddressPolicy: by default an endpoint on a non-public
// address is refused with an error naming the address and the flag, and
// nothing is stored; with WebhookAllowPrivate it is accepted. A URL with a
// password is refused either way.
func TestWebhookEndpointAddressPolicy(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	ctx := context.Background()
	strict := &gateway.Service{DB: db}
	m, err := strict.CreateMerchant(ctx, gateway.Merchant{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]string{
		"http://127.0.0.1:8080/hooks":              "url: points to a loopback address (127.0.0.1); hutong delivers webhooks only to public addresses unless started with --webhook-allow-private",
		"http://10.0.0.5/hooks":                    "private address (10.0.0.5); hutong delivers webhooks only to public addresses",
		"http://169.254.169.254/latest/meta-data/": "cloud metadata address (169.254.169.254)",
		"http://100.100.100.200/latest/meta-data/": "cloud metadata address (100.100.100.200)",
		"http://[::1]/":                            "loopback address (::1)",
		"http://[::ffff:127.0.0.1]/":               "loopback",
		"http://2130706433/":                       "loopback address (2130706433 is 127.0.0.1)",
		"http://0177.0.0.1/":                       "loopback",
		"http://0x7f.1/":                           "loopback",
		"http://127.1/":                            "loopback",
		"http://localhost:3000/":                   "the local machine (localhost)",
		"http://100.64.0.1/":                       "carrier-grade NAT",
		"https://user:secret@example.com/hooks":    "user name or password",
		"ftp://example.com/":                       "absolute http(s) URL",
	} {
		_, err := strict.CreateEndpoint(ctx, m.ID, raw)
		var fe *payment.FieldError
		if !errors.As(err, &fe) || fe.Param != "url" || !strings.Contains(err.Error(), want) {
			t.Errorf("CreateEndpoint(%s) = %v, want a url error saying %q", raw, err, want)
		}
	}
	if n := countEndpoints(t, db); n != 0 {
		t.Fatalf("%d endpoints stored by refused requests", n)
	}

	dev := &gateway.Service{DB: db, WebhookAllowPrivate: true}
	for _, raw := range []string{"http://127.0.0.1:8080/hooks", "http://localhost:3000/", "http://[::1]/"} {
		if _, err := dev.CreateEndpoint(ctx, m.ID, raw); err != nil {
			t.Errorf("with WebhookAllowPrivate, CreateEndpoint(%s) = %v", raw, err)
		}
	}
	if _, err := dev.CreateEndpoint(ctx, m.ID, "https://user:secret@example.com/hooks"); err == nil {
		t.Error("with WebhookAllowPrivate, a URL with a password is accepted")
	}
	if n := countEndpoints(t, db); n != 3 {
		t.Fatalf("%d endpoints stored, want 3", n)
	}
}

// hookEvent stores an event of merchant m and returns a delivery job of it
// to endpoint ep.
func hookEvent(t *testing.T, db *store.DB, merchantID, endpointID string) jobs.Job {
	t.Helper()
	id := payment.NewID("evt")
	ev := gateway.Event{ID: id, Type: "payment.succeeded", MerchantID: merchantID, Created: time.Now(), Data: json.RawMessage(`{}`)}
	body, _ := json.Marshal(ev)
	if _, err := db.ExecContext(context.Background(), `INSERT INTO events (id, merchant_id, type, object_id, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, merchantID, ev.Type, "pay_x", string(body), store.Micros(time.Now())); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]string{"event": id, "endpoint": endpointID})
	return jobs.Job{Kind: gateway.KindWebhook, Payload: payload, Attempt: 1, MaxAttempts: 2}
}

// TestWebhookDeliveryChecksTheDialledAddress: an endpoint that passed the
// registration check but reaches a loopback address when delivered (a name
// rebound to 127.0.0.1, or a gateway restarted without
// WebhookAllowPrivate) is refused when the delivery connects; the refusal
// is a failed attempt, recorded, and the server is never reached.
func TestWebhookDeliveryChecksTheDialledAddress(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	ctx := context.Background()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	dev := &gateway.Service{DB: db, WebhookAllowPrivate: true}
	m, _ := dev.CreateMerchant(ctx, gateway.Merchant{Name: "shop"})
	// Two endpoints on the loopback server: by address, and by a name that
	// resolves to it when dialled.
	byIP, err := dev.CreateEndpoint(ctx, m.ID, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	byName, err := dev.CreateEndpoint(ctx, m.ID, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	if err != nil {
		t.Fatal(err)
	}
	strict := &gateway.Service{DB: db}
	for _, ep := range []gateway.Endpoint{byIP, byName} {
		job := hookEvent(t, db, m.ID, ep.ID)
		err := strict.DeliverWebhook(ctx, job)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("delivery to %s: %v, want a loopback refusal", ep.URL, err)
		}
		var msg string
		if err := db.QueryRowContext(ctx, `SELECT error FROM webhook_attempts WHERE endpoint_id = $1`, ep.ID).Scan(&msg); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msg, "127.0.0.1 is a loopback address") {
			t.Errorf("recorded attempt says %q", msg)
		}
		// The same delivery is allowed for local development.
		if err := dev.DeliverWebhook(ctx, hookEvent(t, db, m.ID, ep.ID)); err != nil {
			t.Errorf("with WebhookAllowPrivate, delivery to %s: %v", ep.URL, err)
		}
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("the server was reached %d times, want 2 (the allowed deliveries)", n)
	}
}

// TestWebhookDeliveryDoesNotFollowRedirects: a 3xx is a failed delivery
// (retried on the schedule), and its Location is never requested.
func TestWebhookDeliveryDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	ctx := context.Background()
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
	defer target.Close()
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL, code)
		}))
		defer srv.Close()
		for _, svc := range []*gateway.Service{{DB: db, WebhookAllowPrivate: true}, {DB: db, HTTPClient: &http.Client{}}} {
			m, _ := svc.CreateMerchant(ctx, gateway.Merchant{Name: "shop"})
			ep, err := svc.CreateEndpoint(ctx, m.ID, srv.URL)
			if err != nil {
				// The HTTPClient service checks addresses at registration.
				ep = gateway.Endpoint{ID: payment.NewID("we")}
				if _, err := db.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, secret, created_at) VALUES ($1, $2, $3, $4, $5)`,
					ep.ID, m.ID, srv.URL, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", store.Micros(time.Now())); err != nil {
					t.Fatal(err)
				}
			}
			err = svc.DeliverWebhook(ctx, hookEvent(t, db, m.ID, ep.ID))
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("answered %d", code)) {
				t.Errorf("a %d answer: %v, want a failed delivery", code, err)
			}
		}
	}
	if followed.Load() {
		t.Error("a redirect was followed")
	}
}

// TestWebhookOutcomesCounted: each delivery attempt is counted by its
// outcome: a 2xx answer delivered, any other answer bad_status, no answer
// at all (nothing listening) no_answer.
func TestWebhookOutcomesCounted(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	ctx := context.Background()
	svc := &gateway.Service{DB: db, WebhookAllowPrivate: true}
	m, err := svc.CreateMerchant(ctx, gateway.Merchant{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer broken.Close()
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	gone.Close()
	h := metrics.Handler(metrics.Options{})
	for _, c := range []struct {
		url, outcome string
	}{{ok.URL, metrics.Delivered}, {broken.URL, metrics.BadStatus}, {gone.URL, metrics.NoAnswer}} {
		ep, err := svc.CreateEndpoint(ctx, m.ID, c.url)
		if err != nil {
			t.Fatal(err)
		}
		before := metricstest.Scrape(t, h)
		err = svc.DeliverWebhook(ctx, hookEvent(t, db, m.ID, ep.ID))
		if (err == nil) != (c.outcome == metrics.Delivered) {
			t.Errorf("delivery to %s (%s): %v", c.url, c.outcome, err)
		}
		after := metricstest.Scrape(t, h)
		if n := after.Value("hutong_webhook_deliveries_total", "outcome", c.outcome) - before.Value("hutong_webhook_deliveries_total", "outcome", c.outcome); n < 1 {
			t.Errorf("hutong_webhook_deliveries_total{outcome=%q} moved by %v", c.outcome, n)
		}
	}
}
