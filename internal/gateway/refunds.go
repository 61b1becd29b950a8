package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/idempotency"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// CreateRefund reserves a refund on a merchant's payment and books it, in
// one transaction that holds the payment's row: concurrent refunds never
// exceed what was paid. A refund_only goes to the wallet at once; a
// return_and_refund waits for ReturnReceived. After release the merchant's
// payable bears the refund, and it is refused if that would go negative
// where the merchant's policy does not allow it.
func (s *Service) CreateRefund(ctx context.Context, merchantID, paymentID string, amount int64, reason, kind string) (payment.Refund, error) {
	if kind == "" {
		kind = payment.RefundOnly
	}
	if kind != payment.RefundOnly && kind != payment.RefundWithReturn {
		return payment.Refund{}, &payment.FieldError{Param: "kind", Message: "must be refund_only or return_and_refund"}
	}
	var r payment.Refund
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		p, err := s.loadPayment(ctx, tx, paymentID, merchantID, true)
		if err != nil {
			return err
		}
		next, refund, err := payment.ReserveRefund(p, amount, reason, s.now())
		if err != nil {
			return err
		}
		refund.Kind = kind
		r = refund
		if err := s.savePayment(ctx, tx, next); err != nil {
			return err
		}
		if kind == payment.RefundWithReturn {
			r.Status = payment.RefundAwaitingReturn
			if err := s.saveRefund(ctx, tx, merchantID, r, true); err != nil {
				return err
			}
		} else {
			if err := s.saveRefund(ctx, tx, merchantID, r, true); err != nil {
				return err
			}
			if err := s.startRefund(ctx, tx, p, r); err != nil {
				return err
			}
		}
		return idempotency.CommitAnswer(ctx, tx, http.StatusCreated, r)
	})
	if err == nil {
		s.kick()
	}
	return r, err
}

// startRefund books a refund into refunds in flight and queues its
// execution at the wallet, in tx.
func (s *Service) startRefund(ctx context.Context, tx *sql.Tx, p payment.Payment, r payment.Refund) error {
	if err := s.books().Post(ctx, tx, ledger.RefundRequested(p.MerchantID, p.ID, r.ID, r.Amount, r.AfterRelease, s.now())); err != nil {
		return err
	}
	_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindRefundExecute, Payload: ref{r.ID}, MaxAttempts: refundMaxAttempts}, s.now())
	return err
}

// A refund's job keeps asking while the wallets keep notifying (about a
// day): every 2 s more at first, up to a minute, then every 5 minutes.
// Past that the refund is reported overdue (CheckOverdue).
const refundMaxAttempts = 400

func refundBackoff(attempt int) time.Duration {
	if attempt >= 30 {
		return 5 * time.Minute
	}
	return min(time.Duration(attempt)*2*time.Second, time.Minute)
}

// ReturnReceived is the merchant saying the returned goods arrived: the
// return_and_refund goes to the wallet now.
func (s *Service) ReturnReceived(ctx context.Context, merchantID, refundID string) (payment.Refund, error) {
	var out payment.Refund
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		r, _, err := s.loadRefund(ctx, tx, refundID, merchantID, false)
		if err != nil {
			return err
		}
		p, err := s.loadPayment(ctx, tx, r.PaymentID, merchantID, true)
		if err != nil {
			return err
		}
		if r, _, err = s.loadRefund(ctx, tx, refundID, merchantID, true); err != nil {
			return err
		}
		if r.Status != payment.RefundAwaitingReturn {
			return ErrNotAwaitingReturn
		}
		// The money comes from where it is now.
		r.AfterRelease = !p.ReleasedAt.IsZero()
		r.Status, r.UpdatedAt = payment.RefundPending, s.now()
		if err := s.saveRefund(ctx, tx, merchantID, r, false); err != nil {
			return err
		}
		out = r
		return s.startRefund(ctx, tx, p, r)
	})
	if err == nil {
		s.kick()
	}
	return out, err
}

// CancelReturn is the merchant saying a return_and_refund's goods will not
// come back: the refund is canceled without asking the wallet, its claim
// goes back to the payment, and refund.canceled is published. The payment's
// escrow may then be released; if its auto-confirm time has passed (its
// release job may have given up while the return blocked it), a release is
// queued now.
func (s *Service) CancelReturn(ctx context.Context, merchantID, refundID, reason string) (payment.Refund, error) {
	var out payment.Refund
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		r, _, err := s.loadRefund(ctx, tx, refundID, merchantID, false)
		if err != nil {
			return err
		}
		p, err := s.loadPayment(ctx, tx, r.PaymentID, merchantID, true)
		if err != nil {
			return err
		}
		if r, _, err = s.loadRefund(ctx, tx, refundID, merchantID, true); err != nil {
			return err
		}
		now := s.now()
		next, canceled, ok := payment.CancelReturn(p, r, reason, now)
		if !ok {
			return ErrNotAwaitingReturn
		}
		if err := s.savePayment(ctx, tx, next); err != nil {
			return err
		}
		if err := s.saveRefund(ctx, tx, merchantID, canceled, false); err != nil {
			return err
		}
		if err := s.events().Publish(ctx, tx, merchantID, payment.EventRefundCanceled, canceled.ID, canceled); err != nil {
			return err
		}
		if next.Status == payment.StatusSucceeded && next.ReleasedAt.IsZero() && !next.AutoConfirmAt.After(now) {
			if err := s.books().QueueRelease(ctx, tx, next.ID, now); err != nil {
				return err
			}
		}
		out = canceled
		return nil
	})
	if err == nil {
		s.kick()
	}
	return out, err
}

// saveRefund writes a refund's row, a new one if insert.
func (s *Service) saveRefund(ctx context.Context, tx *sql.Tx, merchantID string, r payment.Refund, insert bool) error {
	if err := s.DB.In(tx).RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: merchantID, Insert: insert}); err != nil {
		return fmt.Errorf("saving refund %s: %w", r.ID, err)
	}
	return nil
}

func (s *Service) loadRefund(ctx context.Context, q queryer, id, merchantID string, lock bool) (payment.Refund, string, error) {
	r, mid, err := s.executor(q).RefundGet(ctx, store.RefundGetParams{ID: id, MerchantID: merchantID, Lock: lock})
	if errors.Is(err, store.ErrNoRows) {
		return r, "", notFound("refund", id, merchantID)
	}
	return r, mid, err
}

// ListRefunds pages a merchant's payment's refunds, oldest first: those
// after the refund after ("" for the first), at most limit. Duplicate-charge
// returns are listed too (kind duplicate_charge).
func (s *Service) ListRefunds(ctx context.Context, merchantID, paymentID, after string, limit int) ([]payment.Refund, error) {
	if _, err := s.GetPayment(ctx, merchantID, paymentID); err != nil {
		return nil, err
	}
	return s.DB.Pool().RefundList(ctx, store.RefundListParams{MerchantID: merchantID, PaymentID: paymentID, After: after, Limit: limit})
}

// GetRefund reads a merchant's refund.
func (s *Service) GetRefund(ctx context.Context, merchantID, id string) (payment.Refund, error) {
	r, _, err := s.loadRefund(ctx, s.DB, id, merchantID, false)
	return r, err
}

// errRefundPending makes the job come back later: the wallet is still
// processing (WeChat Pay refunds take seconds to minutes).
var errRefundPending = errors.New("the wallet is still processing the refund")

// ExecuteRefund asks the wallet to refund (a job). Only the wallet's word
// settles a refund: its answer, its refund query or its notification. A
// call that fails without a final refusal leaves the outcome unknown, and
// the refund pending: the job comes back, asks the wallet about the
// refund first (an earlier call, or one cut off by a crash, may have made
// it), and only then asks again with the same refund number, which the
// wallets treat as the same refund.
func (s *Service) ExecuteRefund(ctx context.Context, j jobs.Job) error {
	var rf ref
	if err := json.Unmarshal(j.Payload, &rf); err != nil {
		return fmt.Errorf("refund job payload: %w", err)
	}
	r, merchantID, err := s.loadRefund(ctx, s.DB, rf.ID, "", false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Status != payment.RefundPending {
		return nil // settled, or waiting for the returned goods
	}
	p, err := s.loadPayment(ctx, s.DB, r.PaymentID, "", false)
	if err != nil {
		return err
	}
	m, err := merchants.Get(ctx, s.DB.Pool(), merchantID)
	if err != nil {
		return err
	}
	order, ch, err := s.refundedOrder(ctx, s.DB, p, r)
	if err != nil {
		return err
	}
	acct, ok := s.Accounts[ch]
	if !ok {
		return ErrMethodNotOpen
	}
	sub := s.subMerchant(m, ch)
	if j.Attempt > 1 {
		res, err := atWallet(ctx, ch, "query_refund", func() (channel.Refund, error) { return acct.Connector.QueryRefund(ctx, order, r.ID, sub) })
		switch {
		case err == nil:
			return s.refundOutcome(ctx, ch, r, res)
		case !errors.Is(err, channel.ErrNotFound):
			return fmt.Errorf("refund %s: asking the wallet about it: %w", r.ID, err)
		}
		// The wallet has no such refund: ask for it (again).
	}
	res, err := atWallet(ctx, ch, "refund", func() (channel.Refund, error) {
		return acct.Connector.Refund(ctx, channel.RefundRequest{
			OutTradeNo: order, OutRefundNo: r.ID, Amount: r.Amount, Total: p.Amount, Reason: r.Reason,
			NotifyURL: s.BaseURL + "/notify/" + ch + "/" + acct.Name, SubMerchant: sub,
		})
	})
	var we *channel.WalletError
	switch {
	case errors.As(err, &we) && we.Final:
		s.log().Warn("the wallet refused a refund", "refund", r.ID, "code", we.Code, "message", we.Message)
		res = channel.Refund{OutTradeNo: order, OutRefundNo: r.ID, Amount: r.Amount, State: channel.RefundFailed}
	case err != nil:
		return fmt.Errorf("refund %s: outcome unknown, the wallet is asked again: %w", r.ID, err)
	}
	return s.refundOutcome(ctx, ch, r, res)
}

// refundedOrder is the wallet order a refund of p goes to, and its
// channel: the payment's own, or the attempt the refund names (a duplicate
// charge's second wallet order).
func (s *Service) refundedOrder(ctx context.Context, q queryer, p payment.Payment, r payment.Refund) (order, ch string, err error) {
	if r.Attempt == "" {
		return p.WalletOrderNo(), p.Channel, nil
	}
	a, err := s.loadAttempt(ctx, q, r.Attempt, false)
	if err != nil {
		return "", "", fmt.Errorf("refund %s's wallet order %s: %w", r.ID, r.Attempt, err)
	}
	return a.ID, fillAttempt(a, p).Channel, nil
}

// refundOutcome settles a refund on the wallet's word, or has its job come
// back while the wallet is still processing it.
func (s *Service) refundOutcome(ctx context.Context, ch string, r payment.Refund, res channel.Refund) error {
	if res.State == channel.RefundPending {
		return errRefundPending
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.settleRefund(ctx, tx, ch, res) })
	s.noteMismatch(ctx, ch, sourceRefundAnswer, "refund:"+r.ID, err)
	return err
}

// settleRefund applies a wallet's final word on a refund, once, if it is
// about this refund as it was sent to ch: the refund number, the refunded
// order, the amount and every identity it names (payment.MatchRefund).
func (s *Service) settleRefund(ctx context.Context, tx *sql.Tx, ch string, res channel.Refund) error {
	// The row lock makes a second settlement of the same refund (its job
	// and its notification racing, on two gateways) wait and then see the
	// first one's result.
	r, merchantID, err := s.loadRefund(ctx, tx, res.OutRefundNo, "", true)
	if err != nil {
		return err
	}
	p, err := s.loadPayment(ctx, tx, r.PaymentID, "", true)
	if err != nil {
		return err
	}
	order, orderChannel, err := s.refundedOrder(ctx, tx, p, r)
	if err != nil {
		return err
	}
	if orderChannel != ch {
		return &payment.MismatchError{Payment: p.ID, Field: payment.FieldChannel, Want: orderChannel, Got: ch}
	}
	m, err := merchants.Get(ctx, s.DB.In(tx), merchantID)
	if err != nil {
		return err
	}
	want, err := s.expect(m, ch)
	if err != nil {
		return err
	}
	if err := payment.MatchRefund(p, r, order, p.Amount, want, res); err != nil {
		return err
	}
	if res.State == channel.RefundPending || r.Status != payment.RefundPending {
		return nil
	}
	now := s.now()
	ok := res.State == channel.RefundSucceeded
	np, nr, event := payment.SettleRefund(p, r, ok, now)
	if ok {
		nr.SucceededAt = now
		if !res.SucceededAt.IsZero() {
			nr.SucceededAt = res.SucceededAt
		}
	}
	if err := s.bookRefund(ctx, tx, &np, &nr, ok, now); err != nil {
		return err
	}
	if err := s.savePayment(ctx, tx, np); err != nil {
		return err
	}
	if err := s.saveRefund(ctx, tx, merchantID, nr, false); err != nil {
		return err
	}
	return s.events().Publish(ctx, tx, merchantID, event, nr.ID, nr)
}

// bookRefund writes the journal entry of a refund's outcome: the money
// back to the buyer with the wallet's fee share returned, or the refund
// put back where it came from. A duplicate charge's refund leaves the
// duplicates account.
func (s *Service) bookRefund(ctx context.Context, tx *sql.Tx, p *payment.Payment, r *payment.Refund, ok bool, now time.Time) error {
	if r.Kind == payment.RefundDuplicateCharge {
		if !ok {
			return nil // still owed to the second payer; retried by hand
		}
		a, err := s.loadAttempt(ctx, tx, r.Attempt, false)
		if err != nil {
			return err
		}
		return s.books().Post(ctx, tx, ledger.DuplicateRefunded(p.MerchantID, fillAttempt(a, *p).Channel, p.ID, r.ID, r.Amount, now))
	}
	if !ok {
		return s.books().Post(ctx, tx, ledger.RefundFailed(p.MerchantID, p.ID, r.ID, r.Amount, r.AfterRelease, now))
	}
	// The wallet returns its fee on the refunded part; the last refund
	// takes what is left of it.
	others, err := s.merchantRefunds(ctx, tx, p.ID, r.ID, payment.RefundPending, payment.RefundAwaitingReturn)
	if err != nil {
		return err
	}
	last := p.Refunded == p.Amount && others == 0
	r.FeeBack = min(s.books().FeeRate(p.Channel).Of(r.Amount), p.Fee-p.FeeReturned)
	if last {
		r.FeeBack = p.Fee - p.FeeReturned
	}
	p.FeeReturned += r.FeeBack
	return s.books().Post(ctx, tx, ledger.RefundDone(p.MerchantID, p.Channel, p.ID, r.ID, r.Amount, r.FeeBack, r.AfterRelease, now))
}

// merchantRefunds counts a payment's refunds (the merchant's, not
// duplicate-charge returns) in the given states, other than except.
func (s *Service) merchantRefunds(ctx context.Context, tx *sql.Tx, paymentID, except string, states ...string) (int, error) {
	all, err := s.DB.In(tx).RefundsOf(ctx, paymentID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range all {
		if r.ID != except && r.Kind != payment.RefundDuplicateCharge && slices.Contains(states, r.Status) {
			n++
		}
	}
	return n, nil
}
