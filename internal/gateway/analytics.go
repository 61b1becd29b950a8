package gateway

import (
	"context"
	"database/sql"
	"time"

	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/store"
)

// KindAnalyticsRefresh brings the analytics rollup up to date
// (store.AnalyticsRefresh), every AnalyticsEvery: the console's reports
// read it, so they are at most that much behind the payments.
const KindAnalyticsRefresh = "analytics.refresh"

// AnalyticsEvery is how often the analytics rollup is refreshed.
const AnalyticsEvery = time.Minute

// RefreshAnalytics refreshes the analytics rollup now, in a transaction
// of its own.
func (s *Service) RefreshAnalytics(ctx context.Context) (store.AnalyticsRefreshed, error) {
	var out store.AnalyticsRefreshed
	start := time.Now()
	err := s.DB.Tx(ctx, func(tx *sql.Tx) (err error) {
		out, err = s.DB.In(tx).AnalyticsRefresh(ctx, s.now())
		return err
	})
	if err == nil {
		s.log().Debug("analytics refreshed", "full", out.Full, "days", out.Days, "buyers", out.Buyers, "took", time.Since(start))
	}
	return out, err
}

// analyticsJob is the recurring job: a refresh, then the next one queued.
func (s *Service) analyticsJob(ctx context.Context, _ jobs.Job) error {
	if _, err := s.RefreshAnalytics(ctx); err != nil {
		return err
	}
	return s.queue().ScheduleEvery(ctx, KindAnalyticsRefresh, AnalyticsEvery)
}
