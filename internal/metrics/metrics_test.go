package metrics_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/metrics/metricstest"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestOwnRegistry: hutong's metrics are on a registry of their own, with
// the Go runtime's and the process's collectors; nothing is added to the
// global default registry, which other libraries share.
func TestOwnRegistry(t *testing.T) {
	metrics.CountWebhookDelivery(metrics.Delivered)
	f := metricstest.Scrape(t, metrics.Handler(metrics.Options{}))
	for name, typ := range map[string]string{
		"hutong_webhook_deliveries_total": "COUNTER",
		"go_goroutines":                   "GAUGE",
		"go_gc_duration_seconds":          "SUMMARY",
		"process_cpu_seconds_total":       "COUNTER",
		"process_resident_memory_bytes":   "GAUGE",
	} {
		if got := f.Type(name); got != typ {
			t.Errorf("%s is a %q, want %q", name, got, typ)
		}
	}
	// Outcomes known in advance are there before they happen.
	for _, o := range []string{metrics.BadStatus, metrics.NoAnswer} {
		if len(f.Series("hutong_webhook_deliveries_total", "outcome", o)) != 1 {
			t.Errorf("hutong_webhook_deliveries_total{outcome=%q} is missing", o)
		}
	}
	// Without a database there are no database gauges.
	for _, name := range []string{"hutong_payments", "hutong_job_lag_seconds", "go_sql_open_connections"} {
		if f.Type(name) != "" {
			t.Errorf("%s served without a database", name)
		}
	}
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if strings.HasPrefix(fam.GetName(), "hutong_") {
			t.Errorf("%s is on the default registry", fam.GetName())
		}
	}
}

// TestCountersMove: each recording function moves its metric with the
// labels it names, and the older names move with the new ones.
func TestCountersMove(t *testing.T) {
	h := metrics.Handler(metrics.Options{})
	before := metricstest.Scrape(t, h)
	metrics.CountNotification("alipay", metrics.Accepted, "")
	metrics.CountNotification("alipay", metrics.Duplicate, "")
	metrics.CountNotification("alipay", metrics.Refused, "bad_signature")
	metrics.CountWebhookDelivery(metrics.Delivered)
	metrics.CountWebhookDelivery(metrics.BadStatus)
	metrics.CountWebhookDelivery(metrics.NoAnswer)
	metrics.CountMismatch("alipay", "query", "amount")
	metrics.ObserveWalletCall("alipay", "query", 30*time.Millisecond, false)
	metrics.ObserveWalletCall("alipay", "query", 2*time.Second, true)
	metrics.ObserveRequest("GET /v1/test", 404, 3*time.Millisecond, -time.Millisecond) // own time is never negative
	metrics.SetReconciliationDiscrepancies("alipay", 3)
	metrics.SetOverdue("refund.overdue", 2)
	after := metricstest.Scrape(t, h)
	for _, c := range []struct {
		name   string
		labels []string
		moved  float64
	}{
		{"hutong_notifications_total", []string{"channel", "alipay", "verdict", "accepted"}, 1},
		{"hutong_notifications_total", []string{"channel", "alipay", "verdict", "duplicate"}, 1},
		{"hutong_notifications_total", []string{"channel", "alipay", "verdict", "refused"}, 1},
		{"hutong_notifications_refused_total", []string{"reason", "bad_signature"}, 1},
		{"hutong_notifications_accepted_total", nil, 2},
		{"hutong_webhook_deliveries_total", []string{"outcome", "delivered"}, 1},
		{"hutong_webhook_deliveries_total", []string{"outcome", "bad_status"}, 1},
		{"hutong_webhook_deliveries_total", []string{"outcome", "no_answer"}, 1},
		{"hutong_webhooks_delivered_total", nil, 1},
		{"hutong_webhooks_failed_total", nil, 2},
		{"hutong_wallet_mismatches_total", []string{"channel", "alipay", "source", "query", "field", "amount"}, 1},
		{"hutong_wallet_call_duration_seconds", []string{"wallet", "alipay", "call", "query"}, 2},
		{"hutong_wallet_call_errors_total", []string{"wallet", "alipay", "call", "query"}, 1},
		{"hutong_http_requests_total", []string{"route", "GET /v1/test", "code", "404"}, 1},
		{"hutong_http_request_duration_seconds", []string{"route", "GET /v1/test"}, 1},
		{"hutong_api_own_seconds", []string{"route", "GET /v1/test"}, 1},
	} {
		if got := after.Value(c.name, c.labels...) - before.Value(c.name, c.labels...); got != c.moved {
			t.Errorf("%s%q moved by %v, want %v", c.name, c.labels, got, c.moved)
		}
	}
	if s := after.Sum("hutong_api_own_seconds", "route", "GET /v1/test") - before.Sum("hutong_api_own_seconds", "route", "GET /v1/test"); s != 0 {
		t.Errorf("a negative own time was observed as %v s", s)
	}
	if got := after.Value("hutong_reconciliation_discrepancies", "channel", "alipay"); got != 3 {
		t.Errorf("hutong_reconciliation_discrepancies{channel=alipay} = %v, want 3", got)
	}
	if got := after.Value("hutong_overdue", "event", "refund.overdue"); got != 2 {
		t.Errorf("hutong_overdue{event=refund.overdue} = %v, want 2", got)
	}
	// A histogram's classic buckets are what the text format carries:
	// the 2 s call is in le="2.5" and not in le="1".
	for _, m := range after.Series("hutong_wallet_call_duration_seconds", "wallet", "alipay", "call", "query") {
		for _, b := range m.GetHistogram().GetBucket() {
			if b.GetUpperBound() == 1 && b.GetCumulativeCount() != 1 || b.GetUpperBound() == 2.5 && b.GetCumulativeCount() != 2 {
				t.Errorf("bucket le=%v holds %d", b.GetUpperBound(), b.GetCumulativeCount())
			}
		}
	}
}

// TestJobLagByKind: the lag of each kind is how late its most overdue
// available job is, against the handler's clock; a kind with nothing due,
// or only future jobs, is 0; finished jobs do not count.
func TestJobLagByKind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			for _, j := range []jobs.New{
				{Kind: "late", RunAt: now.Add(-90 * time.Second)},
				{Kind: "late", RunAt: now.Add(-10 * time.Second)},
				{Kind: "future", RunAt: now.Add(time.Hour)},
				{Kind: "done", RunAt: now.Add(-time.Hour)},
			} {
				if _, err := jobs.Enqueue(ctx, tx, j, now); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'done' WHERE kind = 'done'`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		f := metricstest.Scrape(t, metrics.Handler(metrics.Options{DB: db, JobKinds: []string{"idle"}, Now: func() time.Time { return now }}))
		for kind, want := range map[string]float64{"late": 90, "future": 0, "idle": 0} {
			if s := f.Series("hutong_job_lag_seconds", "kind", kind); len(s) != 1 || s[0].GetGauge().GetValue() != want {
				t.Errorf("hutong_job_lag_seconds{kind=%q}: %v, want %v", kind, s, want)
			}
		}
		if s := f.Series("hutong_job_lag_seconds", "kind", "done"); len(s) != 0 {
			t.Errorf("a finished job's kind has a lag: %v", s)
		}
		if s := f.Series("hutong_payments"); len(s) != 0 {
			t.Errorf("payments counted in an empty store: %v", s)
		}
		if len(f.Series("go_sql_open_connections", "db_name", "hutong")) != 1 {
			t.Error("the connection pool's metrics are missing")
		}
	})
}

// TestDatabaseUnreadable: when the database cannot be read the scrape
// still answers with everything else, leaves the database's gauges out
// rather than reporting them wrong, counts the failure and logs it.
func TestDatabaseUnreadable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var logged bytes.Buffer
		h := metrics.Handler(metrics.Options{DB: db, JobKinds: []string{"idle"}, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		before := metricstest.Scrape(t, h)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		after := metricstest.Scrape(t, h)
		if n := after.Value("hutong_metrics_database_errors_total") - before.Value("hutong_metrics_database_errors_total"); n < 1 {
			t.Errorf("hutong_metrics_database_errors_total moved by %v, want at least 1", n)
		}
		for _, name := range []string{"hutong_payments", "hutong_job_lag_seconds"} {
			if after.Type(name) != "" {
				t.Errorf("%s served from an unreadable database", name)
			}
		}
		if after.Type("go_goroutines") != "GAUGE" {
			t.Error("the runtime's metrics are missing when the database fails")
		}
		if !strings.Contains(logged.String(), "metrics: reading the database") || !strings.Contains(logged.String(), "database is closed") {
			t.Errorf("the failure is not logged: %s", logged.String())
		}
	})
}
