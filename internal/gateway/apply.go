package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// applyTrade applies a verified wallet fact from channel ch to its wallet
// order and payment in tx, if everything it names is what was sent.
func (s *Service) applyTrade(ctx context.Context, tx *sql.Tx, ch string, t channel.Trade) error {
	a, err := s.loadAttempt(ctx, tx, t.OutTradeNo, false)
	if err != nil {
		return err
	}
	p, err := s.loadPayment(ctx, tx, a.PaymentID, "", true)
	if err != nil {
		return err
	}
	// Re-read the attempt under the payment's lock: every change of an
	// attempt holds its payment's row.
	if a, err = s.loadAttempt(ctx, tx, t.OutTradeNo, false); err != nil {
		return err
	}
	a = fillAttempt(a, p)
	if a.Channel != ch {
		return &payment.MismatchError{Payment: p.ID, Field: payment.FieldChannel, Want: a.Channel, Got: ch}
	}
	m, err := merchants.Get(ctx, s.DB.In(tx), p.MerchantID)
	if err != nil {
		return err
	}
	want, err := s.expect(m, a.Channel)
	if err != nil {
		return err
	}
	now := s.now()
	c, err := payment.ApplyAttemptTrade(p, a, t, want, now)
	if err != nil {
		return err
	}
	if c.AttemptChanged {
		if err := s.saveAttempt(ctx, tx, c.Attempt); err != nil {
			return err
		}
	}
	if c.Changed && c.Event == payment.EventSucceeded {
		// Where the buyer stood in the paid method's rollout, for comparing
		// cohorts; exposures up to now, as the wallet's paid time is whole
		// seconds. None found leaves the payment without one.
		r, err := s.DB.In(tx).PaymentCohort(ctx, store.PaymentCohortParams{MerchantID: p.MerchantID, BuyerID: p.Buyer.ID, Method: c.Payment.PaidMethod, At: now})
		if err != nil && !errors.Is(err, store.ErrNoRows) {
			return err
		}
		c.Payment.Rollout = r
		// The money arrived: book it into escrow in this transaction.
		if err := s.books().RecordPaid(ctx, tx, &c.Payment, now); err != nil {
			return err
		}
	}
	if c.Changed {
		if err := s.savePayment(ctx, tx, c.Payment); err != nil {
			return err
		}
		if err := s.countSharePaid(ctx, tx, c.Payment); err != nil {
			return err
		}
		if c.Payment.Status == payment.StatusSucceeded {
			// Open pay-for-me requests end: the one that paid, and any other.
			if err := s.DB.In(tx).PayForMePaid(ctx, p.ID, c.Attempt.Payer.PayForMe); err != nil {
				return err
			}
		}
		if err := s.events().Publish(ctx, tx, p.MerchantID, c.Event, p.ID, c.Payment); err != nil {
			return err
		}
	}
	if c.CloseOthers {
		if err := s.closeOtherAttempts(ctx, tx, p.ID, a.ID, now); err != nil {
			return err
		}
	}
	if c.Duplicate {
		if err := s.books().Post(ctx, tx, ledger.Duplicate(p.MerchantID, c.Attempt.Channel, p.ID, p.Amount, now)); err != nil {
			return err
		}
		return s.refundDuplicate(ctx, tx, p, c.Attempt, now)
	}
	return nil
}

// closeOtherAttempts queues the closing of a paid payment's other wallet
// orders, so that no one else can pay them.
func (s *Service) closeOtherAttempts(ctx context.Context, tx *sql.Tx, paymentID, paidID string, now time.Time) error {
	ids, err := s.DB.In(tx).AttemptIDsPendingBesides(ctx, paymentID, paidID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindAttemptClose, Payload: ref{id}, MaxAttempts: 10}, now); err != nil {
			return err
		}
	}
	return nil
}

// refundDuplicate returns a second payer's money in full: the payment was
// already paid by another wallet order.
func (s *Service) refundDuplicate(ctx context.Context, tx *sql.Tx, p payment.Payment, a payment.Attempt, now time.Time) error {
	r := payment.Refund{ID: payment.NewID("re"), PaymentID: p.ID, Amount: p.Amount, Reason: "duplicate charge: the payment was already paid",
		Kind: payment.RefundDuplicateCharge, Attempt: a.ID, Status: payment.RefundPending, CreatedAt: now, UpdatedAt: now}
	if err := s.saveRefund(ctx, tx, p.MerchantID, r, true); err != nil {
		return err
	}
	if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindRefundExecute, Payload: ref{r.ID}, MaxAttempts: refundMaxAttempts}, now); err != nil {
		return err
	}
	return s.events().Publish(ctx, tx, p.MerchantID, payment.EventDuplicateCharge, p.ID, map[string]any{
		"payment_id": p.ID, "attempt": a, "refund_id": r.ID, "amount": p.Amount,
	})
}

// CloseAttempt closes a wallet order that lost to another (a job). A wallet
// that says the order is paid makes it a duplicate, refunded.
func (s *Service) CloseAttempt(ctx context.Context, j jobs.Job) error {
	var r ref
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	a, err := s.loadAttempt(ctx, s.DB, r.ID, false)
	if err != nil || a.Status != payment.AttemptPending {
		return nil
	}
	p, err := s.loadPayment(ctx, s.DB, a.PaymentID, "", false)
	if err != nil {
		return err
	}
	_, err = s.closeAttempt(ctx, p, fillAttempt(a, p))
	return err
}

// closeAttempt closes one wallet order. It reports paid when the wallet
// refused because the order is paid, after applying that fact.
func (s *Service) closeAttempt(ctx context.Context, p payment.Payment, a payment.Attempt) (paid bool, err error) {
	m, err := merchants.Get(ctx, s.DB.Pool(), p.MerchantID)
	if err != nil {
		return false, err
	}
	acct, ok := s.Accounts[a.Channel]
	if !ok {
		return false, ErrMethodNotOpen
	}
	conn, sub := acct.Connector, s.subMerchant(m, a.Channel)
	err = atWalletErr(ctx, a.Channel, "close", func() error { return conn.Close(ctx, a.ID, sub) })
	if err != nil && !errors.Is(err, channel.ErrNotFound) {
		// The wallet refuses to close a paid order: learn that it is paid.
		t, qerr := atWallet(ctx, a.Channel, "query", func() (channel.Trade, error) { return conn.Query(ctx, a.ID, sub) })
		if qerr == nil && (t.State == channel.TradePaid || t.State == channel.TradeRefunded) {
			err := s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.applyTrade(ctx, tx, a.Channel, t) })
			s.noteMismatch(ctx, a.Channel, sourceQuery, "query:"+a.ID, err)
			return err == nil, err
		}
		return false, fmt.Errorf("%w: %w", ErrWalletRefused, err)
	}
	return false, s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.loadPayment(ctx, tx, p.ID, "", true); err != nil {
			return err
		}
		cur, err := s.loadAttempt(ctx, tx, a.ID, false)
		if err != nil || cur.Status != payment.AttemptPending {
			return err
		}
		cur = fillAttempt(cur, p)
		cur.Status = payment.AttemptClosed
		cur.NextAction = nil
		cur.UpdatedAt = s.now()
		return s.saveAttempt(ctx, tx, cur)
	})
}

// HandleNotification serves /notify/{channel}/{account}: verify, check,
// apply exactly once, and answer the wallet the way it expects. A refused
// notification changes nothing and is answered so the wallet retries (a
// forgery's retries are refused again).
func (s *Service) HandleNotification(w http.ResponseWriter, r *http.Request) {
	ch, name := r.PathValue("channel"), r.PathValue("account")
	acct, ok := s.Accounts[ch]
	if !ok || acct.Name != name {
		http.Error(w, "unknown wallet account", http.StatusNotFound)
		return
	}
	n, err := acct.Connector.ParseNotification(r)
	duplicate := false
	if err == nil {
		duplicate, err = s.applyNotification(r.Context(), ch, n)
		s.noteMismatch(r.Context(), ch, sourceNotification, n.ID, err)
	}
	switch {
	case err != nil:
		reason := refusalReason(err)
		s.log().Warn("notification refused", "channel", ch, "account", name, "reason", reason, "error", err.Error())
		metrics.CountNotification(ch, metrics.Refused, reason)
	case duplicate:
		metrics.CountNotification(ch, metrics.Duplicate, "")
	default:
		metrics.CountNotification(ch, metrics.Accepted, "")
		s.kick() // its webhooks are due now
	}
	acct.Connector.Acknowledge(w, err)
}

// applyNotification applies a verified notification once; duplicate says
// its event was applied before (a wallet's retry), so nothing changed.
func (s *Service) applyNotification(ctx context.Context, ch string, n channel.Notification) (duplicate bool, err error) {
	object := ""
	if n.Trade != nil {
		object = n.Trade.OutTradeNo
	}
	if n.Refund != nil {
		object = n.Refund.OutRefundNo
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		first, err := s.DB.In(tx).WalletEventFirst(ctx, store.WalletEventParams{Channel: ch, EventID: n.ID, ObjectID: object, ReceivedAt: s.now()})
		if err != nil {
			return err
		}
		if duplicate = !first; duplicate {
			return nil // applied before: a wallet retry or a duplicate
		}
		if n.Refund != nil {
			if err := s.settleRefund(ctx, tx, ch, *n.Refund); err != nil {
				return fmt.Errorf("refund %s: %w", n.Refund.OutRefundNo, err)
			}
		}
		if n.Trade != nil {
			if err := s.applyTrade(ctx, tx, ch, *n.Trade); err != nil {
				return fmt.Errorf("payment %s: %w", n.Trade.OutTradeNo, err)
			}
		}
		return nil
	})
	// A duplicate's transaction may still fail to commit: then it is not
	// one, and the error says so.
	return duplicate && err == nil, err
}

// Poll asks the wallet about a pending wallet order (a job).
func (s *Service) Poll(ctx context.Context, j jobs.Job) error {
	var r pollRef
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	a, err := s.loadAttempt(ctx, s.DB, r.ID, false)
	if isNotFound(err) {
		return nil
	}
	if err != nil || a.Status != payment.AttemptPending {
		return err
	}
	p, err := s.loadPayment(ctx, s.DB, a.PaymentID, "", false)
	if err != nil {
		return err
	}
	a = fillAttempt(a, p)
	m, err := merchants.Get(ctx, s.DB.Pool(), p.MerchantID)
	if err != nil {
		return err
	}
	acct, ok := s.Accounts[a.Channel]
	if !ok {
		return nil
	}
	t, err := atWallet(ctx, a.Channel, "query", func() (channel.Trade, error) { return acct.Connector.Query(ctx, a.ID, s.subMerchant(m, a.Channel)) })
	if errors.Is(err, channel.ErrNotFound) {
		return s.pollNext(ctx, r, p.ExpiresAt) // not yet seen by a buyer
	}
	if err != nil {
		return err
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.applyTrade(ctx, tx, a.Channel, t) })
	s.noteMismatch(ctx, a.Channel, sourceQuery, "query:"+a.ID, err)
	if err != nil {
		return err
	}
	return s.pollNext(ctx, r, p.ExpiresAt)
}

// pollNext schedules the poll after r, unless r predates chaining. A poll
// whose order turned out paid schedules one more that finds it settled and
// ends the chain; that costs a row, not a wallet call.
func (s *Service) pollNext(ctx context.Context, r pollRef, expiresAt time.Time) error {
	if !r.Chained {
		return nil
	}
	r.Step++
	return s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.enqueuePoll(ctx, tx, r, expiresAt, s.now()) })
}

// isNotFound tells a row that is not there (a job about an object since
// removed: nothing to do) from a failure to read it (retry).
func isNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// Expire closes an unpaid payment at its wallets when it expires (a job).
func (s *Service) Expire(ctx context.Context, j jobs.Job) error {
	var r ref
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	p, err := s.loadPayment(ctx, s.DB, r.ID, "", false)
	if isNotFound(err) {
		return nil
	}
	if err != nil || p.Status != payment.StatusRequiresAction {
		return err
	}
	_, err = s.cancel(ctx, p)
	if errors.Is(err, ErrAlreadyPaid) {
		return nil
	}
	return err
}

// CancelPayment closes a merchant's unpaid payment, at the wallets too.
func (s *Service) CancelPayment(ctx context.Context, merchantID, id string) (payment.Payment, error) {
	p, err := s.GetPayment(ctx, merchantID, id)
	if err != nil {
		return p, err
	}
	return s.cancel(ctx, p)
}

func (s *Service) cancel(ctx context.Context, p payment.Payment) (payment.Payment, error) {
	if p.Status == payment.StatusCanceled {
		return p, nil
	}
	if p.Status == payment.StatusSucceeded {
		return p, ErrAlreadyPaid
	}
	attempts, err := s.Attempts(ctx, p.ID)
	if err != nil {
		return p, err
	}
	for _, a := range attempts {
		if a.Status != payment.AttemptPending {
			continue
		}
		paid, err := s.closeAttempt(ctx, p, a)
		if err != nil {
			return p, err
		}
		if paid {
			if cur, err := s.loadPayment(ctx, s.DB, p.ID, "", false); err == nil && cur.Status == payment.StatusSucceeded {
				return cur, ErrAlreadyPaid
			}
		}
	}
	var out payment.Payment
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.loadPayment(ctx, tx, p.ID, "", true)
		if err != nil {
			return err
		}
		c, err := payment.Cancel(cur, s.now())
		if err != nil {
			return err
		}
		out = c.Payment
		if !c.Changed {
			return nil
		}
		if err := s.savePayment(ctx, tx, c.Payment); err != nil {
			return err
		}
		if err := s.DB.In(tx).PayForMeExpire(ctx, p.ID); err != nil {
			return err
		}
		return s.events().Publish(ctx, tx, cur.MerchantID, c.Event, cur.ID, c.Payment)
	})
	return out, err
}

// refusalReason sorts why a notification was refused, for metrics.
func refusalReason(err error) string {
	var me *payment.MismatchError
	switch {
	case errors.As(err, &me):
		return "mismatch_" + strings.ReplaceAll(me.Field, " ", "_")
	case errors.Is(err, ErrNotFound):
		return "unknown_order"
	case errors.Is(err, channel.ErrUnverified):
		return "bad_signature"
	}
	return "other"
}
