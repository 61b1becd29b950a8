package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/webhook"
)

// TestWebhookMethods: events stored and paged within their merchant,
// endpoints added, listed without secrets and deleted, a delivery read
// with its endpoint, and attempts recorded once, on both backends.
func TestWebhookMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		seedMerchants(t, db, now, "m_a")
		var evs []webhook.Event
		for i, typ := range []string{"payment.succeeded", "refund.succeeded", "payment.succeeded"} {
			ev := webhook.Event{ID: payment.NewID("evt"), Type: typ, MerchantID: "m_a", Created: now.Add(time.Duration(i) * time.Second), Data: json.RawMessage(`{"id":"pay_1"}`)}
			if err := pool.EventInsert(ctx, ev, "pay_1"); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		page, err := pool.EventList(ctx, store.EventListParams{MerchantID: "m_a", Type: "payment.succeeded", Limit: 1})
		if err != nil || len(page) != 1 || page[0].ID != evs[2].ID || string(page[0].Data) != `{"id":"pay_1"}` {
			t.Fatalf("newest payment.succeeded: %+v, %v", page, err)
		}
		page, err = pool.EventList(ctx, store.EventListParams{MerchantID: "m_a", After: evs[2].ID, Limit: 5})
		if err != nil || len(page) != 2 || page[0].ID != evs[1].ID {
			t.Fatalf("after the newest: %+v, %v", page, err)
		}
		for merchantID, want := range map[string]bool{"m_a": true, "m_b": false} {
			if ok, err := pool.EventExists(ctx, merchantID, evs[0].ID); err != nil || ok != want {
				t.Fatalf("EventExists(%s) = %v, %v", merchantID, ok, err)
			}
		}

		eps := []webhook.Endpoint{{ID: "we_1", URL: "https://shop.example/hooks", Secret: webhook.NewSecret(), Created: now},
			{ID: "we_2", URL: "https://shop.example/other", Secret: webhook.NewSecret(), Created: now.Add(time.Second)}}
		for _, ep := range eps {
			if err := pool.EndpointInsert(ctx, "m_a", ep); err != nil {
				t.Fatal(err)
			}
		}
		if err := pool.EndpointDelete(ctx, "m_a", "we_2", now); err != nil {
			t.Fatal(err)
		}
		if err := pool.EndpointDelete(ctx, "m_a", "we_2", now); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("deleting twice: %v, want ErrNoRows", err)
		}
		list, err := pool.EndpointList(ctx, "m_a")
		if err != nil || len(list) != 1 || list[0].ID != "we_1" || list[0].Secret != "" {
			t.Fatalf("EndpointList = %+v, %v", list, err)
		}
		if ids, err := pool.EndpointIDs(ctx, "m_a"); err != nil || len(ids) != 1 || ids[0] != "we_1" {
			t.Fatalf("EndpointIDs = %v, %v", ids, err)
		}
		if list, err := pool.EndpointList(ctx, "m_b"); err != nil || list == nil || len(list) != 0 {
			t.Fatalf("a merchant without endpoints: %#v, %v", list, err)
		}
		d, err := pool.DeliveryGet(ctx, evs[0].ID, "we_1")
		if err != nil || d.URL != eps[0].URL || d.Secret != eps[0].Secret || d.Deleted {
			t.Fatalf("DeliveryGet = %+v, %v", d, err)
		}
		var body webhook.Event
		if err := json.Unmarshal([]byte(d.Body), &body); err != nil || body.ID != evs[0].ID {
			t.Fatalf("the delivered body: %s (%v)", d.Body, err)
		}
		if d, err := pool.DeliveryGet(ctx, evs[0].ID, "we_2"); err != nil || !d.Deleted {
			t.Fatalf("delivery to a deleted endpoint: %+v, %v", d, err)
		}
		if _, err := pool.DeliveryGet(ctx, "evt_missing", "we_1"); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("an unknown event: %v, want ErrNoRows", err)
		}
		a := store.WebhookAttempt{EventID: evs[0].ID, EndpointID: "we_1", Attempt: 1, At: now, StatusCode: 500, Error: "the endpoint answered 500", Duration: 12 * time.Millisecond}
		for range 2 {
			if err := pool.WebhookAttemptRecord(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_attempts`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d attempts recorded (%v), want 1", n, err)
		}
	})
}

// TestReportMethods: the counts /metrics reads, and the schema version.
func TestReportMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		seedMerchants(t, db, now, "m_a")
		for i := range 3 {
			p := payment.New("m_a", payment.Request{MerchantOrderID: string(rune('a' + i)), Amount: 100, Currency: "CNY", Description: "豆浆", Method: "alipay.precreate"}, now)
			if err := pool.PaymentInsert(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		counts, err := pool.PaymentCounts(ctx)
		if err != nil || len(counts) != 1 || counts[0] != (store.PaymentCount{Method: "alipay.precreate", Status: payment.StatusRequiresAction, N: 3}) {
			t.Fatalf("PaymentCounts = %+v, %v", counts, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO jobs (kind, payload, run_at, max_attempts, created_at) VALUES ('k', '{}', $1, 1, $1), ('k', '{}', $2, 1, $1)`,
			store.Micros(now), store.Micros(now.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		due, err := pool.JobsOldestDue(ctx)
		if err != nil || len(due) != 1 || !due["k"].Equal(now) {
			t.Fatalf("JobsOldestDue = %v, %v", due, err)
		}
		if v, err := pool.SchemaVersion(ctx); err != nil || v < 12 {
			t.Fatalf("SchemaVersion = %d, %v", v, err)
		}
		if db.Dialect == store.Postgres {
			// The server's test database holds this test's schema at least.
			tables, err := store.PostgresTables(ctx, os.Getenv(storetest.EnvPostgres))
			if err != nil || !slices.ContainsFunc(tables, func(name string) bool { return strings.HasSuffix(name, ".payments") }) {
				t.Fatalf("PostgresTables = %d tables, %v; want a payments table among them", len(tables), err)
			}
		}
	})
}
