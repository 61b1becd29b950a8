package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
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

var (
	alertsMu sync.Mutex
	// reconDiscrepancies is the last run's count per channel; overdue
	// counts what the last check found, by event type.
	reconDiscrepancies = map[string]int64{}
	overdue            = map[string]int64{}
)

// AlertGauges reports, for /metrics, the discrepancies of each channel's
// last reconciliation and the overdue refunds and payments of the last
// check.
func AlertGauges() (discrepancies, overdueNow map[string]int64) {
	alertsMu.Lock()
	defer alertsMu.Unlock()
	d, o := make(map[string]int64, len(reconDiscrepancies)), make(map[string]int64, len(overdue))
	for k, v := range reconDiscrepancies {
		d[k] = v
	}
	for k, v := range overdue {
		o[k] = v
	}
	return d, o
}

// alertDiscrepancies raises the platform event of a run that found
// discrepancies, in the transaction that saves it.
func (s *Service) alertDiscrepancies(ctx context.Context, tx *sql.Tx, run ReconRun) error {
	n := run.Summary.Discrepancies()
	alertsMu.Lock()
	reconDiscrepancies[run.Channel] = n
	alertsMu.Unlock()
	if n == 0 {
		return nil
	}
	s.log().Error("reconciliation found discrepancies", "run", run.ID, "channel", run.Channel, "day", run.Day, "discrepancies", n,
		"net_bill", run.Summary.BillNet, "net_books", run.Summary.OurNet)
	return s.publish(ctx, tx, "", EventReconDiscrepancy, run.ID, run)
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
	var shortest time.Duration = defaultNotifyWindow
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
	alertsMu.Lock()
	overdue[EventRefundOverdue], overdue[EventPaymentOverdue] = refunds, payments
	alertsMu.Unlock()
	return s.scheduleHourly(ctx, KindOverdue)
}

// overdueRefunds alerts on pending refunds asked longer ago than their
// wallet's window; it returns how many are overdue.
func (s *Service) overdueRefunds(ctx context.Context, now time.Time, shortest time.Duration) (int64, error) {
	type row struct {
		r          payment.Refund
		merchantID string
		channel    string
		alerted    bool
	}
	var found []row
	rows, err := s.DB.QueryContext(ctx, `SELECT r.data, r.merchant_id, p.data,
			EXISTS (SELECT 1 FROM events e WHERE e.object_id = r.id AND e.type = $2)
		FROM refunds r JOIN payments p ON p.id = r.payment_id
		WHERE r.status = 'pending' AND r.created_at < $1`, store.Micros(now.Add(-shortest)), EventRefundOverdue)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var rdata, pdata string
		var x row
		if err := rows.Scan(&rdata, &x.merchantID, &pdata, &x.alerted); err != nil {
			rows.Close()
			return 0, err
		}
		var p payment.Payment
		if err := json.Unmarshal([]byte(rdata), &x.r); err != nil {
			rows.Close()
			return 0, fmt.Errorf("refund row: %w", err)
		}
		if err := json.Unmarshal([]byte(pdata), &p); err != nil {
			rows.Close()
			return 0, fmt.Errorf("payment row: %w", err)
		}
		x.channel = p.Channel
		found = append(found, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var n int64
	for _, x := range found {
		if x.r.CreatedAt.Add(s.notifyWindow(x.channel)).After(now) {
			continue
		}
		n++
		if x.alerted {
			continue
		}
		s.log().Error("refund overdue: the wallet has not settled it", "refund", x.r.ID, "payment", x.r.PaymentID, "asked", x.r.CreatedAt)
		if err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
			return s.publish(ctx, tx, x.merchantID, EventRefundOverdue, x.r.ID, x.r)
		}); err != nil {
			return n, err
		}
	}
	return n, nil
}

// overduePayments alerts on payments still awaiting their buyer past
// their expiry and their wallet's window.
func (s *Service) overduePayments(ctx context.Context, now time.Time, shortest time.Duration) (int64, error) {
	type row struct {
		p       payment.Payment
		alerted bool
	}
	var found []row
	rows, err := s.DB.QueryContext(ctx, `SELECT p.data, EXISTS (SELECT 1 FROM events e WHERE e.object_id = p.id AND e.type = $2)
		FROM payments p WHERE p.status = $3 AND p.created_at < $1`,
		store.Micros(now.Add(-shortest)), EventPaymentOverdue, payment.StatusRequiresAction)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var data string
		var x row
		if err := rows.Scan(&data, &x.alerted); err != nil {
			rows.Close()
			return 0, err
		}
		if err := json.Unmarshal([]byte(data), &x.p); err != nil {
			rows.Close()
			return 0, fmt.Errorf("payment row: %w", err)
		}
		found = append(found, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var n int64
	for _, x := range found {
		if x.p.ExpiresAt.Add(s.notifyWindow(x.p.Channel)).After(now) {
			continue
		}
		n++
		if x.alerted {
			continue
		}
		s.log().Error("payment overdue: still open at the wallet past its expiry", "payment", x.p.ID, "expired", x.p.ExpiresAt)
		if err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
			return s.publish(ctx, tx, x.p.MerchantID, EventPaymentOverdue, x.p.ID, x.p)
		}); err != nil {
			return n, err
		}
	}
	return n, nil
}
