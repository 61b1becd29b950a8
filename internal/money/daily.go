package money

import (
	"context"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/jobs"
)

// ReconcileDaily reconciles yesterday's bills of every wallet (a job) and
// schedules the next run. A wallet whose reconciliation fails is logged
// (its run is stored as failed) and the others still run.
func (s *Service) ReconcileDaily(ctx context.Context, j jobs.Job) error {
	day := chinatime.Date(s.now().Add(-24 * time.Hour))
	for ch := range s.Wallets {
		if _, err := s.Reconcile(ctx, ch, day, nil); err != nil {
			s.log().Warn("reconciliation failed", "channel", ch, "day", day, "error", err)
		}
	}
	return queue(s.DB, s.Now).ScheduleDaily(ctx, KindReconcileDaily, 10, 30)
}

// ScheduleDaily queues money's recurring jobs, if they are not queued yet:
// the hourly check for overdue money, the daily settlement at 02:00 and
// the daily reconciliation at 10:30, Beijing time.
func (s *Service) ScheduleDaily(ctx context.Context) error {
	q := queue(s.DB, s.Now)
	if err := q.ScheduleHourly(ctx, KindOverdue); err != nil {
		return err
	}
	if err := q.ScheduleDaily(ctx, KindSettleDaily, 2, 0); err != nil {
		return err
	}
	return q.ScheduleDaily(ctx, KindReconcileDaily, 10, 30)
}
