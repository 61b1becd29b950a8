// The gateway's maintenance, and the scheduling of every recurring job.

package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/jobs"
)

// queue is the gateway's job queue.
func (s *Service) queue() *jobs.Queue { return &jobs.Queue{DB: s.DB, Now: s.Now} }

// ScheduleDaily queues the recurring jobs if they are not queued yet:
// money's (the hourly check for overdue money, settlement at 02:00,
// reconciliation at 10:30), the analytics rollup's refresh every minute,
// and the maintenance at 03:00, Beijing time.
func (s *Service) ScheduleDaily(ctx context.Context) error {
	if err := s.MoneyService().ScheduleDaily(ctx); err != nil {
		return err
	}
	if err := s.queue().ScheduleEvery(ctx, KindAnalyticsRefresh, AnalyticsEvery); err != nil {
		return err
	}
	return s.queue().ScheduleDaily(ctx, KindPrune, 3, 0)
}

// KindPrune deletes what is no longer needed, daily at 03:00 Beijing time:
// jobs finished more than a week ago and idempotency keys past their 24
// hours. Dead jobs, events and the ledger are kept.
const KindPrune = "maintenance.prune"

// Prune runs the maintenance (a job) and schedules the next run.
func (s *Service) Prune(ctx context.Context, j jobs.Job) error {
	now := s.now()
	n, err := s.queue().Prune(ctx, now.Add(-7*24*time.Hour))
	if err != nil {
		return err
	}
	keys, err := s.DB.Pool().IdempotencyKeysPrune(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return fmt.Errorf("pruning idempotency keys: %w", err)
	}
	s.log().Info("pruned", "jobs", n, "idempotency_keys", keys)
	return s.queue().ScheduleDaily(ctx, KindPrune, 3, 0)
}
