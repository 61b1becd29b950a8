package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/payment"
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

// KindOverdue looks for overdue refunds and payments, hourly.
const KindOverdue = "alerts.overdue"

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
	return s.events().Publish(ctx, tx, "", EventReconDiscrepancy, run.ID, run)
}

// notifyWindow is how long ch's wallet keeps notifying.
func (s *Service) notifyWindow(ch string) time.Duration {
	if w, ok := s.Accounts[ch].Connector.(channel.NotifyWindower); ok {
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
	for ch := range s.Accounts {
		shortest = min(shortest, s.notifyWindow(ch))
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
	return s.scheduleHourly(ctx, KindOverdue)
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
	type pending struct {
		r       payment.Refund
		p       payment.Payment
		alerted bool
	}
	var found []pending
	err := s.eachRow(ctx, `SELECT r.data, p.data, EXISTS (SELECT 1 FROM events e WHERE e.object_id = r.id AND e.type = $2)
		FROM refunds r JOIN payments p ON p.id = r.payment_id
		WHERE r.status = 'pending' AND r.created_at < $1`, []any{store.Micros(now.Add(-shortest)), EventRefundOverdue},
		func(scan func(...any) error) error {
			var rdata, pdata string
			var x pending
			if err := scan(&rdata, &pdata, &x.alerted); err != nil {
				return err
			}
			if err := errors.Join(json.Unmarshal([]byte(rdata), &x.r), json.Unmarshal([]byte(pdata), &x.p)); err != nil {
				return fmt.Errorf("a pending refund does not decode: %w", err)
			}
			found = append(found, x)
			return nil
		})
	if err != nil {
		return 0, err
	}
	items := make([]overdueItem, 0, len(found))
	for _, x := range found {
		_, ch, err := s.refundedOrder(ctx, s.DB, x.p, x.r)
		if err != nil {
			return 0, err
		}
		items = append(items, overdueItem{id: x.r.ID, merchantID: x.p.MerchantID, channel: ch, since: x.r.CreatedAt, object: x.r, alerted: x.alerted})
	}
	return s.raiseOverdue(ctx, now, EventRefundOverdue, items)
}

// overduePayments alerts on payments still awaiting their buyer past
// their expiry and their wallet's window.
func (s *Service) overduePayments(ctx context.Context, now time.Time, shortest time.Duration) (int64, error) {
	var items []overdueItem
	err := s.eachRow(ctx, `SELECT p.data, EXISTS (SELECT 1 FROM events e WHERE e.object_id = p.id AND e.type = $2)
		FROM payments p WHERE p.status = $3 AND p.created_at < $1`,
		[]any{store.Micros(now.Add(-shortest)), EventPaymentOverdue, payment.StatusRequiresAction},
		func(scan func(...any) error) error {
			var data string
			var alerted bool
			if err := scan(&data, &alerted); err != nil {
				return err
			}
			var p payment.Payment
			if err := json.Unmarshal([]byte(data), &p); err != nil {
				return fmt.Errorf("an open payment does not decode: %w", err)
			}
			items = append(items, overdueItem{id: p.ID, merchantID: p.MerchantID, channel: p.Channel, since: p.ExpiresAt, object: p, alerted: alerted})
			return nil
		})
	if err != nil {
		return 0, err
	}
	return s.raiseOverdue(ctx, now, EventPaymentOverdue, items)
}

// raiseOverdue publishes event once for each item past its wallet's
// window, and returns how many are past it.
func (s *Service) raiseOverdue(ctx context.Context, now time.Time, event string, items []overdueItem) (int64, error) {
	var n int64
	for _, x := range items {
		if x.since.Add(s.notifyWindow(x.channel)).After(now) {
			continue
		}
		n++
		if x.alerted {
			continue
		}
		s.log().Error("money overdue: its wallet has not settled it", "event", event, "object", x.id, "since", x.since)
		if err := s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.events().Publish(ctx, tx, x.merchantID, event, x.id, x.object) }); err != nil {
			return n, err
		}
	}
	return n, nil
}

// eachRow runs query and hands each row to fn. The rows hold a
// connection until it returns, so fn reads nothing else from the pool.
func (s *Service) eachRow(ctx context.Context, query string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
