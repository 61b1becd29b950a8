// Package refunds returns buyers' money: a merchant's refund of either
// kind (refund_only at once, return_and_refund once the goods are back),
// and the automatic return of a duplicate charge. A refund is reserved
// against its payment under the payment's row lock, executed at the wallet
// by a job that asks before it asks again, and settled only on the
// wallet's word (its answer, its refund query or its notification), once.
package refunds

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/hutong-pay/hutong/internal/audit"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/idempotency"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/mismatches"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/walletcall"
)

// Service keeps refunds.
type Service struct {
	DB *store.DB
	// Accounts are the wallet accounts by channel, the payments service's
	// own map: a refund goes to the account its payment was paid through.
	Accounts map[string]channel.Account
	// BaseURL is where wallets reach this gateway's /notify/ endpoints.
	BaseURL  string
	Now      clock.Func
	Logger   *slog.Logger
	Payments Payments
	Books    Books
	Events   Publisher
	Refused  Refused
	// Wake tells this process's job worker that a refund's job is due now;
	// nil leaves it to the worker's next poll.
	Wake func()
}

// Payments is what refunds ask of the payments service: a payment read,
// or locked in a refund's transaction and saved there.
type Payments interface {
	GetPayment(ctx context.Context, merchantID, id string) (payment.Payment, error)
	LockPayment(ctx context.Context, tx *sql.Tx, id, merchantID string) (payment.Payment, error)
	SavePayment(ctx context.Context, tx *sql.Tx, p payment.Payment) error
}

// Books is what refunds ask of the money service: to post a refund's
// journal entries in the refund's own transaction.
type Books interface {
	Post(ctx context.Context, tx *sql.Tx, e ledger.Entry) error
	QueueRelease(ctx context.Context, tx *sql.Tx, paymentID string, now time.Time) error
	FeeRate(ch string) ledger.Rate
}

// Publisher stores an event, with its deliveries, in the transaction of
// the change it reports.
type Publisher interface {
	Publish(ctx context.Context, tx *sql.Tx, merchantID, typ, objectID string, object any) error
}

// Refused records a wallet message refused for naming what hutong did not
// send (mismatches.Recorder).
type Refused interface {
	Note(ctx context.Context, ch, source, messageID string, err error)
}

// KindExecute is the job that asks the wallet to refund.
const KindExecute = "refund.execute"

// Errors the API maps to answers.
var (
	ErrNotAwaitingReturn = errors.New("the refund is not waiting for a returned item")
	ErrMethodNotOpen     = errors.New("no wallet account is configured for this method")
)

func (s *Service) now() time.Time { return s.Now.Now() }

func (s *Service) kick() {
	if s.Wake != nil {
		s.Wake()
	}
}

// ref names the object a job works on.
type ref struct {
	ID string `json:"id"`
}

// expect is the identity every wallet message about m's refunds on ch
// must name.
func (s *Service) expect(m merchant.Merchant, ch string) (channel.Identity, error) {
	acct, ok := s.Accounts[ch]
	if !ok {
		return channel.Identity{}, ErrMethodNotOpen
	}
	w := m.Wallets[ch]
	return acct.Connector.Expect(w.SubMerchant, w.Seller), nil
}

// attempt reads the wallet order a refund names, completed from its
// payment when it was stored before attempts had their own data.
func attempt(ctx context.Context, q store.Executor, id string, p payment.Payment) (payment.Attempt, error) {
	a, err := q.AttemptGet(ctx, id, false)
	if errors.Is(err, store.ErrNoRows) {
		return a, notfound.ByID("wallet order", id, "")
	}
	if err != nil {
		return a, err
	}
	return payment.FillAttempt(a, p), nil
}

// CreateRefund reserves a refund on a merchant's payment and books it, in
// one transaction that holds the payment's row: concurrent refunds never
// exceed what was paid. A refund_only goes to the wallet at once; a
// return_and_refund waits for ReturnReceived. After release the merchant's
// payable bears the refund, and it is refused if that would go negative
// where the merchant's policy does not allow it.
func (s *Service) Create(ctx context.Context, merchantID, paymentID string, amount int64, reason, kind string) (payment.Refund, error) {
	if kind == "" {
		kind = payment.RefundOnly
	}
	if kind != payment.RefundOnly && kind != payment.RefundWithReturn {
		return payment.Refund{}, &payment.FieldError{Param: "kind", Message: "must be refund_only or return_and_refund"}
	}
	var r payment.Refund
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		p, err := s.Payments.LockPayment(ctx, tx, paymentID, merchantID)
		if err != nil {
			return err
		}
		next, refund, err := payment.ReserveRefund(p, amount, reason, s.now())
		if err != nil {
			return err
		}
		refund.Kind = kind
		r = refund
		if err := s.Payments.SavePayment(ctx, tx, next); err != nil {
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
		// An operator's refund commits with its audit record.
		if err := audit.Record(ctx, tx, r); err != nil {
			return err
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
	if err := s.Books.Post(ctx, tx, ledger.RefundRequested(p.MerchantID, p.ID, r.ID, r.Amount, r.AfterRelease, s.now())); err != nil {
		return err
	}
	_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindExecute, Payload: ref{r.ID}, MaxAttempts: refundMaxAttempts}, s.now())
	return err
}

// StartDuplicate returns a second payer's money in full, in tx: payment p
// was already paid when wallet order a was paid too. The refund goes to a,
// and duplicate_charge is published.
func (s *Service) StartDuplicate(ctx context.Context, tx *sql.Tx, p payment.Payment, a payment.Attempt, now time.Time) error {
	r := payment.Refund{ID: payment.NewID("re"), PaymentID: p.ID, Amount: p.Amount, Reason: "duplicate charge: the payment was already paid",
		Kind: payment.RefundDuplicateCharge, Attempt: a.ID, Status: payment.RefundPending, CreatedAt: now, UpdatedAt: now}
	if err := s.saveRefund(ctx, tx, p.MerchantID, r, true); err != nil {
		return err
	}
	if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindExecute, Payload: ref{r.ID}, MaxAttempts: refundMaxAttempts}, now); err != nil {
		return err
	}
	return s.Events.Publish(ctx, tx, p.MerchantID, payment.EventDuplicateCharge, p.ID, map[string]any{
		"payment_id": p.ID, "attempt": a, "refund_id": r.ID, "amount": p.Amount,
	})
}

// A refund's job keeps asking while the wallets keep notifying (about a
// day): every 2 s more at first, up to a minute, then every 5 minutes.
// Past that the refund is reported overdue (CheckOverdue).
const refundMaxAttempts = 400

// Backoff is how long a refund's job waits before its next attempt.
func Backoff(attempt int) time.Duration {
	if attempt >= 30 {
		return 5 * time.Minute
	}
	return min(time.Duration(attempt)*2*time.Second, time.Minute)
}

// lockRefund reads a merchant's refund and its payment under the payment's
// row lock, which every change of a refund holds, reading the refund
// again under it.
func (s *Service) lockRefund(ctx context.Context, tx *sql.Tx, refundID, merchantID string) (payment.Refund, payment.Payment, error) {
	r, _, err := s.loadRefund(ctx, s.DB.In(tx), refundID, merchantID, false)
	if err != nil {
		return r, payment.Payment{}, err
	}
	p, err := s.Payments.LockPayment(ctx, tx, r.PaymentID, merchantID)
	if err != nil {
		return r, p, err
	}
	r, _, err = s.loadRefund(ctx, s.DB.In(tx), refundID, merchantID, true)
	return r, p, err
}

// ReturnReceived is the merchant saying the returned goods arrived: the
// return_and_refund goes to the wallet now.
func (s *Service) ReturnReceived(ctx context.Context, merchantID, refundID string) (payment.Refund, error) {
	var out payment.Refund
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		r, p, err := s.lockRefund(ctx, tx, refundID, merchantID)
		if err != nil {
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
		r, p, err := s.lockRefund(ctx, tx, refundID, merchantID)
		if err != nil {
			return err
		}
		now := s.now()
		next, canceled, ok := payment.CancelReturn(p, r, reason, now)
		if !ok {
			return ErrNotAwaitingReturn
		}
		if err := s.Payments.SavePayment(ctx, tx, next); err != nil {
			return err
		}
		if err := s.saveRefund(ctx, tx, merchantID, canceled, false); err != nil {
			return err
		}
		if err := s.Events.Publish(ctx, tx, merchantID, payment.EventRefundCanceled, canceled.ID, canceled); err != nil {
			return err
		}
		if next.Status == payment.StatusSucceeded && next.ReleasedAt.IsZero() && !next.AutoConfirmAt.After(now) {
			if err := s.Books.QueueRelease(ctx, tx, next.ID, now); err != nil {
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

func (s *Service) loadRefund(ctx context.Context, q store.Executor, id, merchantID string, lock bool) (payment.Refund, string, error) {
	r, mid, err := q.RefundGet(ctx, store.RefundGetParams{ID: id, MerchantID: merchantID, Lock: lock})
	if errors.Is(err, store.ErrNoRows) {
		return r, "", notfound.ByID("refund", id, merchantID)
	}
	return r, mid, err
}

// ListRefunds pages a merchant's payment's refunds, oldest first: those
// after the refund after ("" for the first), at most limit. Duplicate-charge
// returns are listed too (kind duplicate_charge).
func (s *Service) List(ctx context.Context, merchantID, paymentID, after string, limit int) ([]payment.Refund, error) {
	if _, err := s.Payments.GetPayment(ctx, merchantID, paymentID); err != nil {
		return nil, err
	}
	return s.DB.Pool().RefundList(ctx, store.RefundListParams{MerchantID: merchantID, PaymentID: paymentID, After: after, Limit: limit})
}

// GetRefund reads a merchant's refund.
func (s *Service) Get(ctx context.Context, merchantID, id string) (payment.Refund, error) {
	r, _, err := s.loadRefund(ctx, s.DB.Pool(), id, merchantID, false)
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
func (s *Service) Execute(ctx context.Context, j jobs.Job) error {
	var rf ref
	if err := json.Unmarshal(j.Payload, &rf); err != nil {
		return fmt.Errorf("refund job payload: %w", err)
	}
	r, merchantID, err := s.loadRefund(ctx, s.DB.Pool(), rf.ID, "", false)
	if errors.Is(err, notfound.Err) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Status != payment.RefundPending {
		return nil // settled, or waiting for the returned goods
	}
	p, err := s.Payments.GetPayment(ctx, "", r.PaymentID)
	if err != nil {
		return err
	}
	m, err := merchants.Get(ctx, s.DB.Pool(), merchantID)
	if err != nil {
		return err
	}
	order, ch, err := s.RefundedOrder(ctx, s.DB.Pool(), p, r)
	if err != nil {
		return err
	}
	acct, ok := s.Accounts[ch]
	if !ok {
		return ErrMethodNotOpen
	}
	sub := m.Wallets[ch].SubMerchant
	if j.Attempt > 1 {
		res, err := walletcall.Do(ctx, ch, "query_refund", func() (channel.Refund, error) { return acct.Connector.QueryRefund(ctx, order, r.ID, sub) })
		switch {
		case err == nil:
			return s.refundOutcome(ctx, ch, r, res)
		case !errors.Is(err, channel.ErrNotFound):
			return fmt.Errorf("refund %s: asking the wallet about it: %w", r.ID, err)
		}
		// The wallet has no such refund: ask for it (again).
	}
	res, err := walletcall.Do(ctx, ch, "refund", func() (channel.Refund, error) {
		return acct.Connector.Refund(ctx, channel.RefundRequest{
			OutTradeNo: order, OutRefundNo: r.ID, Amount: r.Amount, Total: p.Amount, Reason: r.Reason,
			NotifyURL: acct.NotifyURL(s.BaseURL, ch), SubMerchant: sub,
		})
	})
	var we *channel.WalletError
	switch {
	case errors.As(err, &we) && we.Final:
		clock.Logger(s.Logger).Warn("the wallet refused a refund", "refund", r.ID, "code", we.Code, "message", we.Message)
		res = channel.Refund{OutTradeNo: order, OutRefundNo: r.ID, Amount: r.Amount, State: channel.RefundFailed}
	case err != nil:
		return fmt.Errorf("refund %s: outcome unknown, the wallet is asked again: %w", r.ID, err)
	}
	return s.refundOutcome(ctx, ch, r, res)
}

// refundedOrder is the wallet order a refund of p goes to, and its
// channel: the payment's own, or the attempt the refund names (a duplicate
// charge's second wallet order).
func (s *Service) RefundedOrder(ctx context.Context, q store.Executor, p payment.Payment, r payment.Refund) (order, ch string, err error) {
	if r.Attempt == "" {
		return p.WalletOrderNo(), p.Channel, nil
	}
	a, err := attempt(ctx, q, r.Attempt, p)
	if err != nil {
		return "", "", fmt.Errorf("refund %s's wallet order %s: %w", r.ID, r.Attempt, err)
	}
	return a.ID, a.Channel, nil
}

// refundOutcome settles a refund on the wallet's word, or has its job come
// back while the wallet is still processing it.
func (s *Service) refundOutcome(ctx context.Context, ch string, r payment.Refund, res channel.Refund) error {
	if res.State == channel.RefundPending {
		return errRefundPending
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.Settle(ctx, tx, ch, res) })
	s.Refused.Note(ctx, ch, mismatches.SourceRefundAnswer, "refund:"+r.ID, err)
	return err
}

// settleRefund applies a wallet's final word on a refund, once, if it is
// about this refund as it was sent to ch: the refund number, the refunded
// order, the amount and every identity it names (payment.MatchRefund).
func (s *Service) Settle(ctx context.Context, tx *sql.Tx, ch string, res channel.Refund) error {
	// The row lock makes a second settlement of the same refund (its job
	// and its notification racing, on two gateways) wait and then see the
	// first one's result.
	r, merchantID, err := s.loadRefund(ctx, s.DB.In(tx), res.OutRefundNo, "", true)
	if err != nil {
		return err
	}
	p, err := s.Payments.LockPayment(ctx, tx, r.PaymentID, "")
	if err != nil {
		return err
	}
	order, orderChannel, err := s.RefundedOrder(ctx, s.DB.In(tx), p, r)
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
	if err := s.Payments.SavePayment(ctx, tx, np); err != nil {
		return err
	}
	if err := s.saveRefund(ctx, tx, merchantID, nr, false); err != nil {
		return err
	}
	return s.Events.Publish(ctx, tx, merchantID, event, nr.ID, nr)
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
		a, err := attempt(ctx, s.DB.In(tx), r.Attempt, *p)
		if err != nil {
			return err
		}
		return s.Books.Post(ctx, tx, ledger.DuplicateRefunded(p.MerchantID, a.Channel, p.ID, r.ID, r.Amount, now))
	}
	if !ok {
		return s.Books.Post(ctx, tx, ledger.RefundFailed(p.MerchantID, p.ID, r.ID, r.Amount, r.AfterRelease, now))
	}
	// The wallet returns its fee on the refunded part; the last refund
	// takes what is left of it.
	others, err := s.merchantRefunds(ctx, tx, p.ID, r.ID, payment.RefundPending, payment.RefundAwaitingReturn)
	if err != nil {
		return err
	}
	last := p.Refunded == p.Amount && others == 0
	r.FeeBack = min(s.Books.FeeRate(p.Channel).Of(r.Amount), p.Fee-p.FeeReturned)
	if last {
		r.FeeBack = p.Fee - p.FeeReturned
	}
	p.FeeReturned += r.FeeBack
	return s.Books.Post(ctx, tx, ledger.RefundDone(p.MerchantID, p.Channel, p.ID, r.ID, r.Amount, r.FeeBack, r.AfterRelease, now))
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
