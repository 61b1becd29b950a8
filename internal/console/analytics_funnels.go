package console

import (
	"context"

	"github.com/hutong-pay/hutong/internal/store"
)

// funnelReports are the reports of how buyers get from the cashier to a
// paid order, and where they fail.
func (h *Handler) funnelReports(ctx context.Context, ap store.AnalyticsParams) ([]report, error) {
	return nil, nil
}
