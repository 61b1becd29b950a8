// The daily jobs: reconciliation, maintenance, and their scheduling.

package gateway

import (
	"context"
	"database/sql"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/store"
)

// ReconcileDaily reconciles yesterday's bills (a job) and schedules the
// next run.
func (s *Service) ReconcileDaily(ctx context.Context, j jobs.Job) error {
	day := chinatime.Date(s.now().Add(-24 * time.Hour))
	for ch := range s.Accounts {
		if _, err := s.Reconcile(ctx, ch, day, nil); err != nil {
			s.log().Warn("reconciliation failed", "channel", ch, "day", day, "error", err)
		}
	}
	return s.scheduleDaily(ctx, KindReconcileDaily, 10, 30)
}

// scheduleDaily queues a daily job of kind at hh:mm Beijing time, once.
func (s *Service) scheduleDaily(ctx context.Context, kind string, hh, mm int) error {
	now := s.now()
	bj := now.In(chinatime.Location)
	next := time.Date(bj.Year(), bj.Month(), bj.Day(), hh, mm, 0, 0, chinatime.Location)
	if !next.After(now) {
		next = next.Add(24 * time.Hour)
	}
	return s.scheduleAt(ctx, kind, next.UTC(), next.Format(time.DateOnly))
}

// scheduleHourly queues a job of kind at the next full hour, once.
func (s *Service) scheduleHourly(ctx context.Context, kind string) error {
	next := s.now().Truncate(time.Hour).Add(time.Hour)
	return s.scheduleAt(ctx, kind, next, next.Format(time.RFC3339))
}

// scheduleAt queues a recurring job's next run, unless one is waiting.
func (s *Service) scheduleAt(ctx context.Context, kind string, at time.Time, unique string) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		// A run already waiting is enough (the one running now, which
		// schedules its successor, is not waiting); the time as unique key
		// keeps gateways starting together from queueing two.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'available'`, kind).Scan(&n); err != nil || n > 0 {
			return err
		}
		_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: kind, Payload: ref{"recurring"}, RunAt: at, MaxAttempts: 100, UniqueKey: unique}, s.now())
		return err
	})
}

// ScheduleDaily queues the daily settlement (02:00), maintenance (03:00)
// and reconciliation (10:30) jobs, Beijing time, and the hourly check for
// overdue money, if they are not queued yet.
func (s *Service) ScheduleDaily(ctx context.Context) error {
	if err := s.scheduleHourly(ctx, KindOverdue); err != nil {
		return err
	}
	if err := s.scheduleDaily(ctx, KindSettleDaily, 2, 0); err != nil {
		return err
	}
	if err := s.scheduleDaily(ctx, KindPrune, 3, 0); err != nil {
		return err
	}
	return s.scheduleDaily(ctx, KindReconcileDaily, 10, 30)
}

// KindPrune deletes what is no longer needed, daily at 03:00 Beijing time:
// jobs finished more than a week ago and idempotency keys past their 24
// hours. Dead jobs, events and the ledger are kept.
const KindPrune = "maintenance.prune"

// Prune runs the maintenance (a job) and schedules the next run.
func (s *Service) Prune(ctx context.Context, j jobs.Job) error {
	now := s.now()
	n, err := (&jobs.Queue{DB: s.DB, Now: s.Now}).Prune(ctx, now.Add(-7*24*time.Hour))
	if err != nil {
		return err
	}
	res, err := s.DB.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, store.Micros(now.Add(-24*time.Hour)))
	if err != nil {
		return err
	}
	keys, _ := res.RowsAffected()
	s.log().Info("pruned", "jobs", n, "idempotency_keys", keys)
	return s.scheduleDaily(ctx, KindPrune, 3, 0)
}
