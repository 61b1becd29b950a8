package payments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/mismatches"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

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
		s.Refused.Note(r.Context(), ch, mismatches.SourceNotification, n.ID, err)
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
			if err := s.Refunds.Settle(ctx, tx, ch, *n.Refund); err != nil {
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

// applyTrade applies a verified wallet fact from channel ch to its wallet
// order and payment in tx, if everything it names is what was sent.
func (s *Service) applyTrade(ctx context.Context, tx *sql.Tx, ch string, t channel.Trade) error {
	a, err := loadAttempt(ctx, s.DB.In(tx), t.OutTradeNo, false)
	if err != nil {
		return err
	}
	p, err := loadPayment(ctx, s.DB.In(tx), a.PaymentID, "", true)
	if err != nil {
		return err
	}
	// Re-read the attempt under the payment's lock: every change of an
	// attempt holds its payment's row.
	if a, err = loadAttempt(ctx, s.DB.In(tx), t.OutTradeNo, false); err != nil {
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
		// The payment keeps the rollout cohort its buyer was in for the
		// paid method, for reports that compare cohorts. Exposures are
		// looked up to now, not to the wallet's paid time, which is whole
		// seconds and would miss an exposure written the same second.
		r, err := s.DB.In(tx).PaymentCohort(ctx, store.PaymentCohortParams{MerchantID: p.MerchantID, BuyerID: p.Buyer.ID, Method: c.Payment.PaidMethod, At: now})
		if err != nil && !errors.Is(err, store.ErrNoRows) {
			return err
		}
		c.Payment.Rollout = r
		// The money arrived: book it into escrow in this transaction.
		if err := s.Books.RecordPaid(ctx, tx, &c.Payment, now); err != nil {
			return err
		}
	}
	if c.Changed {
		if err := s.SavePayment(ctx, tx, c.Payment); err != nil {
			return err
		}
		if err := countSharePaid(ctx, s.DB.In(tx), c.Payment); err != nil {
			return err
		}
		if c.Payment.Status == payment.StatusSucceeded {
			// Open pay-for-me requests end: the one that paid, and any other.
			if err := s.DB.In(tx).PayForMePaid(ctx, p.ID, c.Attempt.Payer.PayForMe); err != nil {
				return err
			}
		}
		if err := s.Events.Publish(ctx, tx, p.MerchantID, c.Event, p.ID, c.Payment); err != nil {
			return err
		}
	}
	if c.CloseOthers {
		if err := s.closeOtherAttempts(ctx, tx, p.ID, a.ID, now); err != nil {
			return err
		}
	}
	if c.Duplicate {
		if err := s.Books.Post(ctx, tx, ledger.Duplicate(p.MerchantID, c.Attempt.Channel, p.ID, p.Amount, now)); err != nil {
			return err
		}
		return s.Refunds.StartDuplicate(ctx, tx, p, c.Attempt, now)
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

// The rows a wallet's word changes, read and written here so that the
// path of a notification reads top to bottom in this file. The other
// paths (create, attempts, cancel, refunds, money) use the same helpers.

// expect is the identity every wallet message about m's payments on ch
// must name.
func (s *Service) expect(m merchant.Merchant, ch string) (channel.Identity, error) {
	acct, ok := s.Accounts[ch]
	if !ok {
		return channel.Identity{}, ErrMethodNotOpen
	}
	w := m.Wallets[ch]
	return acct.Connector.Expect(w.SubMerchant, w.Seller), nil
}

// LockPayment reads a payment (of merchantID, unless it is "") and locks
// its row for tx: every change of a payment, its wallet orders and its
// refunds holds that lock.
func (s *Service) LockPayment(ctx context.Context, tx *sql.Tx, id, merchantID string) (payment.Payment, error) {
	return loadPayment(ctx, s.DB.In(tx), id, merchantID, true)
}

// loadPayment reads a payment (of merchant, unless merchantID is "") in
// q, the database or a transaction that locks the row.
func loadPayment(ctx context.Context, q store.Executor, id, merchantID string, lock bool) (payment.Payment, error) {
	p, err := q.PaymentGet(ctx, store.PaymentGetParams{ID: id, MerchantID: merchantID, Lock: lock})
	if errors.Is(err, store.ErrNoRows) {
		return payment.Payment{}, notFound("payment", id, merchantID)
	}
	return p, err
}

// SavePayment writes a payment in tx. A paid or canceled payment is no
// longer due to expire: the due query (PaymentsDue) reads only unpaid
// ones, so nothing else need change.
func (s *Service) SavePayment(ctx context.Context, tx *sql.Tx, p payment.Payment) error {
	if err := s.DB.In(tx).PaymentSave(ctx, p); err != nil {
		return fmt.Errorf("saving payment %s: %w", p.ID, err)
	}
	return nil
}

// saveAttempt writes a wallet order. One no longer pending is not queried
// again: the due query (AttemptsDue) reads only pending orders.
func (s *Service) saveAttempt(ctx context.Context, tx *sql.Tx, a payment.Attempt) error {
	if err := s.DB.In(tx).AttemptSave(ctx, a); err != nil {
		return fmt.Errorf("saving wallet order %s: %w", a.ID, err)
	}
	return nil
}

// loadAttempt reads a wallet order. Orders made before attempts were kept
// separately carry only their id; their payment fills in the rest.
func loadAttempt(ctx context.Context, q store.Executor, id string, lock bool) (payment.Attempt, error) {
	a, err := q.AttemptGet(ctx, id, lock)
	if errors.Is(err, store.ErrNoRows) {
		return a, notFound("wallet order", id, "")
	}
	return a, err
}

// fillAttempt completes an attempt stored before attempts had their own
// data.
func fillAttempt(a payment.Attempt, p payment.Payment) payment.Attempt {
	return payment.FillAttempt(a, p)
}

// countSharePaid credits a paid payment to the share code its buyer came
// through, only if the code is the payment's merchant's (a payment stored
// before share codes were checked at creation may name another's).
func countSharePaid(ctx context.Context, x store.Executor, p payment.Payment) error {
	if p.ShareCode == "" || p.Status != payment.StatusSucceeded {
		return nil
	}
	return x.ShareCodeCountPaid(ctx, p)
}
