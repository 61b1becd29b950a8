package webhooks_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/metrics/metricstest"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/webhook"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

// newMerchant stores a merchant row, which endpoints refer to, and returns
// its id: the service needs no gateway, only the tables it owns and that
// one.
func newMerchant(t *testing.T, db *store.DB) string {
	t.Helper()
	id := payment.NewID("mch")
	if _, err := db.ExecContext(context.Background(), `INSERT INTO merchants (id, name, created_at) VALUES ($1, $2, $3)`,
		id, "shop", store.Micros(time.Now())); err != nil {
		t.Fatal(err)
	}
	return id
}

func count(t *testing.T, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// publish publishes an event in a transaction of its own and returns its
// id, the newest of the merchant's.
func publish(t *testing.T, svc *webhooks.Service, merchantID, typ string) string {
	t.Helper()
	ctx := context.Background()
	if err := svc.DB.Tx(ctx, func(tx *sql.Tx) error {
		return svc.Publish(ctx, tx, merchantID, typ, "pay_x", map[string]string{"id": "pay_x"})
	}); err != nil {
		t.Fatal(err)
	}
	events, err := svc.ListEvents(ctx, merchantID, typ, "", 1)
	if err != nil || len(events) != 1 {
		t.Fatalf("ListEvents after Publish: %v, %v", events, err)
	}
	return events[0].ID
}

// hookEvent stores an event of merchant m and returns a delivery job of it
// to endpoint ep.
func hookEvent(t *testing.T, db *store.DB, merchantID, endpointID string) jobs.Job {
	t.Helper()
	id := payment.NewID("evt")
	ev := webhooks.Event{ID: id, Type: "payment.succeeded", MerchantID: merchantID, Created: time.Now(), Data: json.RawMessage(`{}`)}
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), `INSERT INTO events (id, merchant_id, type, object_id, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, merchantID, ev.Type, "pay_x", string(body), store.Micros(time.Now())); err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(map[string]string{"event": id, "endpoint": endpointID})
	if err != nil {
		t.Fatal(err)
	}
	return jobs.Job{Kind: webhooks.KindDeliver, Payload: payload, Attempt: 1, MaxAttempts: 2}
}

// TestEndpointAddressPolicy: by default an endpoint on a non-public
// address is refused with an error naming the address and the flag, and
// nothing is stored; with AllowPrivate it is accepted. A URL with a
// password is refused either way.
func TestEndpointAddressPolicy(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		strict := &webhooks.Service{DB: db}
		m := newMerchant(t, db)
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
			_, err := strict.CreateEndpoint(ctx, m, raw)
			var fe *payment.FieldError
			if !errors.As(err, &fe) || fe.Param != "url" || !strings.Contains(err.Error(), want) {
				t.Errorf("CreateEndpoint(%s) = %v, want a url error saying %q", raw, err, want)
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM webhook_endpoints`); n != 0 {
			t.Fatalf("%d endpoints stored by refused requests", n)
		}

		dev := &webhooks.Service{DB: db, AllowPrivate: true}
		for _, raw := range []string{"http://127.0.0.1:8080/hooks", "http://localhost:3000/", "http://[::1]/"} {
			if _, err := dev.CreateEndpoint(ctx, m, raw); err != nil {
				t.Errorf("with AllowPrivate, CreateEndpoint(%s) = %v", raw, err)
			}
		}
		if _, err := dev.CreateEndpoint(ctx, m, "https://user:secret@example.com/hooks"); err == nil {
			t.Error("with AllowPrivate, a URL with a password is accepted")
		}
		if n := count(t, db, `SELECT COUNT(*) FROM webhook_endpoints`); n != 3 {
			t.Fatalf("%d endpoints stored, want 3", n)
		}
	})
}

// TestPublishQueuesADeliveryPerEndpoint: an event commits with one
// delivery job per current endpoint of its merchant (none for a deleted
// endpoint, none for another merchant's), or not at all when its
// transaction rolls back; a resend queues them again.
func TestPublishQueuesADeliveryPerEndpoint(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := &webhooks.Service{DB: db, AllowPrivate: true}
		m, other := newMerchant(t, db), newMerchant(t, db)
		var eps []webhooks.Endpoint
		for _, mch := range []string{m, m, other} {
			ep, err := svc.CreateEndpoint(ctx, mch, "http://127.0.0.1:9/hooks")
			if err != nil {
				t.Fatal(err)
			}
			eps = append(eps, ep)
		}
		if err := svc.DeleteEndpoint(ctx, m, eps[1].ID); err != nil {
			t.Fatal(err)
		}
		deliveries := func() int {
			return count(t, db, `SELECT COUNT(*) FROM jobs WHERE kind = $1`, webhooks.KindDeliver)
		}

		rollback := errors.New("the change failed")
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if err := svc.Publish(ctx, tx, m, "payment.succeeded", "pay_x", struct{}{}); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("rolled-back Publish: %v", err)
		}
		if n, d := count(t, db, `SELECT COUNT(*) FROM events`), deliveries(); n != 0 || d != 0 {
			t.Fatalf("a rolled-back Publish left %d events and %d deliveries", n, d)
		}

		id := publish(t, svc, m, "payment.succeeded")
		if d := deliveries(); d != 1 {
			t.Fatalf("%d deliveries queued, want 1 (the merchant's one current endpoint)", d)
		}
		if err := svc.ResendEvent(ctx, m, id); err != nil {
			t.Fatal(err)
		}
		if d := deliveries(); d != 2 {
			t.Fatalf("%d deliveries after a resend, want 2", d)
		}
		// Another merchant's event is answered as one that does not exist.
		var nf *notfound.Error
		if err := svc.ResendEvent(ctx, other, id); !errors.As(err, &nf) || nf.ID != id || !errors.Is(err, notfound.Err) {
			t.Errorf("resending another merchant's event: %v, want a not-found naming %s", err, id)
		}
		if err := svc.DeleteEndpoint(ctx, m, eps[1].ID); !errors.As(err, &nf) {
			t.Errorf("deleting a deleted endpoint: %v, want a not-found", err)
		}
		if err := svc.DeleteEndpoint(ctx, m, eps[2].ID); !errors.As(err, &nf) {
			t.Errorf("deleting another merchant's endpoint: %v, want a not-found", err)
		}
		list, err := svc.ListEndpoints(ctx, m)
		if err != nil || len(list) != 1 || list[0].ID != eps[0].ID || list[0].Secret != "" {
			t.Errorf("ListEndpoints = %+v, %v; want the one current endpoint, without its secret", list, err)
		}
	})
}

// TestListEventsPages: events come newest first, filtered by type, and a
// page starts right after its cursor; a cursor of another merchant's is a
// not-found on starting_after.
func TestListEventsPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		svc := &webhooks.Service{DB: db, Now: func() time.Time { at = at.Add(time.Second); return at }}
		m, other := newMerchant(t, db), newMerchant(t, db)
		var ids []string
		for i := range 5 {
			ids = append(ids, publish(t, svc, m, fmt.Sprintf("t%d", i%2)))
		}
		foreign := publish(t, svc, other, "t0")
		var got []string
		after := ""
		for {
			page, err := svc.ListEvents(ctx, m, "", after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, ev := range page {
				got = append(got, ev.ID)
			}
			after = page[len(page)-1].ID
		}
		if want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pages = %v, want %v", got, want)
		}
		odd, err := svc.ListEvents(ctx, m, "t1", "", 10)
		if err != nil || len(odd) != 2 || odd[0].ID != ids[3] || odd[1].ID != ids[1] {
			t.Errorf("type t1 = %v, %v; want %s, %s", odd, err, ids[3], ids[1])
		}
		var nf *notfound.Error
		if _, err := svc.ListEvents(ctx, m, "", foreign, 10); !errors.As(err, &nf) || nf.Param != "starting_after" {
			t.Errorf("a cursor of another merchant's: %v, want a not-found on starting_after", err)
		}
		if empty, err := svc.ListEvents(ctx, newMerchant(t, db), "", "", 10); err != nil || empty == nil || len(empty) != 0 {
			t.Errorf("no events = %#v, %v; want an empty, non-nil list", empty, err)
		}
	})
}

// TestDeliveryThroughTheWorker: a job run by a worker posts the event,
// signed with the endpoint's secret, and the attempt's record commits with
// the job's completion; a failing endpoint's job is retried on Backoff.
func TestDeliveryThroughTheWorker(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := &webhooks.Service{DB: db, AllowPrivate: true}
		m := newMerchant(t, db)
		type received struct {
			body   []byte
			header http.Header
		}
		got := make(chan received, 4)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Error(err)
			}
			got <- received{body, r.Header.Clone()}
		}))
		defer srv.Close()
		broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
		defer broken.Close()
		ep, err := svc.CreateEndpoint(ctx, m, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		bad, err := svc.CreateEndpoint(ctx, m, broken.URL)
		if err != nil {
			t.Fatal(err)
		}
		id := publish(t, svc, m, "payment.succeeded")

		wctx, stop := context.WithCancel(ctx)
		w := &jobs.Worker{Queue: &jobs.Queue{DB: db}, ID: "test",
			Handlers: map[string]jobs.Handler{webhooks.KindDeliver: svc.Deliver},
			Backoffs: map[string]func(int) time.Duration{webhooks.KindDeliver: webhooks.Backoff},
			Poll:     10 * time.Millisecond}
		done := make(chan struct{})
		go func() { defer close(done); w.Run(wctx) }()
		defer func() { stop(); <-done }()

		var r received
		select {
		case r = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("nothing delivered in 10 s")
		}
		if err := webhook.Verify(ep.Secret, r.header, r.body, time.Now()); err != nil {
			t.Errorf("the delivery does not verify with the endpoint's secret: %v", err)
		}
		var ev webhooks.Event
		if err := json.Unmarshal(r.body, &ev); err != nil || ev.ID != id || r.header.Get("webhook-id") != id {
			t.Errorf("delivered %s (webhook-id %q), %v; want event %s", r.body, r.header.Get("webhook-id"), err, id)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			ok := count(t, db, `SELECT COUNT(*) FROM webhook_attempts WHERE endpoint_id = $1 AND status_code = 200`, ep.ID)
			failed := count(t, db, `SELECT COUNT(*) FROM webhook_attempts WHERE endpoint_id = $1 AND status_code = 502`, bad.ID)
			done := count(t, db, `SELECT COUNT(*) FROM jobs WHERE kind = $1 AND payload LIKE $2 AND state = 'done'`, webhooks.KindDeliver, "%"+ep.ID+"%")
			retried := count(t, db, `SELECT COUNT(*) FROM jobs WHERE kind = $1 AND payload LIKE $2 AND state = 'available' AND attempts = 1`, webhooks.KindDeliver, "%"+bad.ID+"%")
			if ok == 1 && done == 1 && failed == 1 && retried == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("attempts recorded: %d delivered (%d jobs done), %d failed (%d jobs to retry); want 1 (1), 1 (1)", ok, done, failed, retried)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestDeliveryChecksTheDialledAddress: an endpoint that passed the
// registration check but reaches a loopback address when delivered (a name
// rebound to 127.0.0.1, or a gateway restarted without AllowPrivate) is
// refused when the delivery connects; the refusal is a failed attempt,
// recorded, and the server is never reached.
func TestDeliveryChecksTheDialledAddress(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		defer srv.Close()
		dev := &webhooks.Service{DB: db, AllowPrivate: true}
		m := newMerchant(t, db)
		// Two endpoints on the loopback server: by address, and by a name that
		// resolves to it when dialled.
		byIP, err := dev.CreateEndpoint(ctx, m, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		byName, err := dev.CreateEndpoint(ctx, m, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
		if err != nil {
			t.Fatal(err)
		}
		strict := &webhooks.Service{DB: db}
		for _, ep := range []webhooks.Endpoint{byIP, byName} {
			job := hookEvent(t, db, m, ep.ID)
			err := strict.Deliver(ctx, job)
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
			if err := dev.Deliver(ctx, hookEvent(t, db, m, ep.ID)); err != nil {
				t.Errorf("with AllowPrivate, delivery to %s: %v", ep.URL, err)
			}
		}
		if n := hits.Load(); n != 2 {
			t.Errorf("the server was reached %d times, want 2 (the allowed deliveries)", n)
		}
	})
}

// TestDeliveryDoesNotFollowRedirects: a 3xx is a failed delivery (retried
// on the schedule), and its Location is never requested.
func TestDeliveryDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var followed atomic.Bool
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
		defer target.Close()
		for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL, code)
			}))
			defer srv.Close()
			for _, svc := range []*webhooks.Service{{DB: db, AllowPrivate: true}, {DB: db, HTTPClient: &http.Client{}}} {
				m := newMerchant(t, db)
				ep, err := svc.CreateEndpoint(ctx, m, srv.URL)
				if err != nil {
					// The HTTPClient service checks addresses at registration.
					ep = webhooks.Endpoint{ID: payment.NewID("we")}
					if _, err := db.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, secret, created_at) VALUES ($1, $2, $3, $4, $5)`,
						ep.ID, m, srv.URL, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", store.Micros(time.Now())); err != nil {
						t.Fatal(err)
					}
				}
				err = svc.Deliver(ctx, hookEvent(t, db, m, ep.ID))
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("answered %d", code)) {
					t.Errorf("a %d answer: %v, want a failed delivery", code, err)
				}
			}
		}
		if followed.Load() {
			t.Error("a redirect was followed")
		}
	})
}

// TestOutcomesCounted: each delivery attempt is counted by its outcome: a
// 2xx answer delivered, any other answer bad_status, no answer at all
// (nothing listening) no_answer.
func TestOutcomesCounted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := &webhooks.Service{DB: db, AllowPrivate: true}
		m := newMerchant(t, db)
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
			ep, err := svc.CreateEndpoint(ctx, m, c.url)
			if err != nil {
				t.Fatal(err)
			}
			before := metricstest.Scrape(t, h)
			err = svc.Deliver(ctx, hookEvent(t, db, m, ep.ID))
			if (err == nil) != (c.outcome == metrics.Delivered) {
				t.Errorf("delivery to %s (%s): %v", c.url, c.outcome, err)
			}
			after := metricstest.Scrape(t, h)
			if n := after.Value("hutong_webhook_deliveries_total", "outcome", c.outcome) - before.Value("hutong_webhook_deliveries_total", "outcome", c.outcome); n < 1 {
				t.Errorf("hutong_webhook_deliveries_total{outcome=%q} moved by %v", c.outcome, n)
			}
		}
	})
}

// TestBackoff follows webhook.Schedule, then waits three hours.
func TestBackoff(t *testing.T) {
	t.Parallel()
	for i, want := range webhook.Schedule {
		if got := webhooks.Backoff(i + 1); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, want)
		}
	}
	if got := webhooks.Backoff(len(webhook.Schedule) + 1); got != 3*time.Hour {
		t.Errorf("Backoff past the schedule = %v, want 3h", got)
	}
}
