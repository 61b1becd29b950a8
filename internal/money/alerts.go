package money

import (
	"context"
	"database/sql"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/store"
)

// Alerts: the books and a wallet disagreeing, or money whose outcome a
// wallet should long have told, raise an event (to the merchant's
// webhooks, or the platform's for reconciliation) and a metric, besides a
// log line, so that someone looks.
const (
	// EventReconDiscrepancy is a platform event: a reconciliation run
	// found rows that do not match (its data is the run).
	EventReconDiscrepancy = "reconciliation.discrepancy"
	// EventRefundOverdue: a refund still pending after its wallet's
	// notification window.
	EventRefundOverdue = "refund.overdue"
	// EventPaymentOverdue: a payment still awaiting its buyer after its
	// expiry and its wallet's notification window: closing it at the
	// wallet has not succeeded.
	EventPaymentOverdue = "payment.overdue"
)

// defaultNotifyWindow is the window of a connector that does not say.
const defaultNotifyWindow = 25 * time.Hour

// alertDiscrepancies raises the platform event of a run that found
// discrepancies, in the transaction that saves it.
func (s *Service) alertDiscrepancies(ctx context.Context, tx *sql.Tx, run ReconRun) error {
	n := run.Summary.Discrepancies()
	metrics.SetReconciliationDiscrepancies(run.Channel, n)
	if n == 0 {
		return nil
	}
	s.log().Error("reconciliation found discrepancies", "run", run.ID, "channel", run.Channel, "day", run.Day, "discrepancies", n,
		"net_bill", run.Summary.BillNet, "net_books", run.Summary.OurNet)
	return s.Events.Publish(ctx, tx, "", EventReconDiscrepancy, run.ID, run)
}

// notifyWindow is how long a wallet keeps notifying.
func notifyWindow(wallet Wallet) time.Duration {
	if w, ok := wallet.(channel.NotifyWindower); ok {
		return w.NotifyWindow()
	}
	return defaultNotifyWindow
}

// CheckOverdue raises refund.overdue and payment.overdue, once per object,
// for money still unsettled past its wallet's notification window (a
// job), and schedules the next check in an hour.
func (s *Service) CheckOverdue(ctx context.Context, j jobs.Job) error {
	now := s.now()
	shortest := defaultNotifyWindow
	for _, w := range s.Wallets {
		shortest = min(shortest, notifyWindow(w))
	}
	refunds, err := s.overdueRefunds(ctx, now, shortest)
	if err != nil {
		return err
	}
	payments, err := s.overduePayments(ctx, now, shortest)
	if err != nil {
		return err
	}
	metrics.SetOverdue(EventRefundOverdue, refunds)
	metrics.SetOverdue(EventPaymentOverdue, payments)
	return queue(s.DB, s.Now).ScheduleHourly(ctx, KindOverdue)
}

// overdueItem is money whose outcome its wallet should have told by now.
type overdueItem struct {
	id, merchantID, channel string
	since                   time.Time // the refund asked, the payment expired
	object                  any       // the event's data
	alerted                 bool      // an event was raised before
}

// overdueRefunds alerts on pending refunds asked longer ago than their
// wallet's window; it returns how many are overdue.
func (s *Service) overdueRefunds(ctx context.Context, now time.Time, shortest time.Duration) (int64, error) {
	found, err := s.DB.Pool().RefundsPending(ctx, store.OverdueParams{Before: now.Add(-shortest), Event: EventRefundOverdue})
	if err != nil {
		return 0, err
	}
	items := make([]overdueItem, 0, len(found))
	for _, x := range found {
		_, ch, err := s.Payments.RefundedOrder(ctx, x.Payment, x.Refund)
		if err != nil {
			return 0, err
		}
		items = append(items, overdueItem{id: x.Refund.ID, merchantID: x.Payment.MerchantID, channel: ch, since: x.Refund.CreatedAt, object: x.Refund, alerted: x.Alerted})
	}
	return s.raiseOverdue(ctx, now, EventRefundOverdue, items)
}

// overduePayments alerts on payments still awaiting their buyer past
// their expiry and their wallet's window.
func (s *Service) overduePayments(ctx context.Context, now time.Time, shortest time.Duration) (int64, error) {
	found, err := s.DB.Pool().PaymentsOpen(ctx, store.OverdueParams{Before: now.Add(-shortest), Event: EventPaymentOverdue})
	if err != nil {
		return 0, err
	}
	items := make([]overdueItem, 0, len(found))
	for _, x := range found {
		p := x.Payment
		items = append(items, overdueItem{id: p.ID, merchantID: p.MerchantID, channel: p.Channel, since: p.ExpiresAt, object: p, alerted: x.Alerted})
	}
	return s.raiseOverdue(ctx, now, EventPaymentOverdue, items)
}

// raiseOverdue publishes event once for each item past its wallet's
// window, and returns how many are past it.
func (s *Service) raiseOverdue(ctx context.Context, now time.Time, event string, items []overdueItem) (int64, error) {
	var n int64
	for _, x := range items {
		if x.since.Add(notifyWindow(s.Wallets[x.channel])).After(now) {
			continue
		}
		n++
		if x.alerted {
			continue
		}
		s.log().Error("money overdue: its wallet has not settled it", "event", event, "object", x.id, "since", x.since)
		if err := s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.Events.Publish(ctx, tx, x.merchantID, event, x.id, x.object) }); err != nil {
			return n, err
		}
	}
	return n, nil
}
