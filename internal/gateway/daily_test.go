package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestScheduleDailyOnce: the daily jobs are queued once however many
// gateways start, and the maintenance job prunes old finished jobs.
func TestScheduleDailyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := &gateway.Service{DB: db}
		ctx := context.Background()
		for range 3 {
			if err := svc.ScheduleDaily(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind IN ('settlement.daily', 'reconcile.daily', 'maintenance.prune')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("%d daily jobs queued, want 3", n)
		}
		old := time.Now().Add(-30 * 24 * time.Hour)
		if _, err := db.ExecContext(ctx, `INSERT INTO jobs (kind, payload, state, run_at, attempts, max_attempts, created_at, finished_at) VALUES ('x', '{}', 'done', $1, 1, 1, $1, $1)`, store.Micros(old)); err != nil {
			t.Fatal(err)
		}
		// The maintenance job, running, queues its successor for tomorrow.
		if _, err := db.ExecContext(ctx, `UPDATE jobs SET state = 'running' WHERE kind = 'maintenance.prune'`); err != nil {
			t.Fatal(err)
		}
		later := &gateway.Service{DB: db, Now: func() time.Time { return time.Now().Add(25 * time.Hour) }}
		if err := later.Prune(ctx, jobs.Job{}); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = 'maintenance.prune' AND state = 'available'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("%d next maintenance runs queued, want 1", n)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = 'x'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatal("an old finished job was kept")
		}
	})
}
