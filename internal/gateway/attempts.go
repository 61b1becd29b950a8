package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// KindAttemptClose closes a wallet order that lost: another attempt paid
// the payment first.
const KindAttemptClose = "attempt.close"

// saveAttempt writes a wallet order; one that is no longer pending takes
// its remaining status polls with it, as a poll of a settled order does
// nothing.
func (s *Service) saveAttempt(ctx context.Context, tx *sql.Tx, a payment.Attempt) error {
	if err := s.DB.In(tx).AttemptSave(ctx, a); err != nil {
		return fmt.Errorf("saving wallet order %s: %w", a.ID, err)
	}
	if a.Status == payment.AttemptPending {
		return nil
	}
	return jobs.CancelPending(ctx, tx, KindPoll, a.ID+"/")
}

// loadAttempt reads a wallet order. Orders made before attempts were kept
// separately carry only their id; their payment fills in the rest.
func (s *Service) loadAttempt(ctx context.Context, q queryer, id string, lock bool) (payment.Attempt, error) {
	a, err := s.executor(q).AttemptGet(ctx, id, lock)
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

// Attempts lists a payment's wallet orders, oldest first.
func (s *Service) Attempts(ctx context.Context, paymentID string) ([]payment.Attempt, error) {
	p, err := s.loadPayment(ctx, s.DB, paymentID, "", false)
	if err != nil {
		return nil, err
	}
	list, err := s.DB.Pool().AttemptList(ctx, paymentID)
	for i := range list {
		list[i] = fillAttempt(list[i], p)
	}
	return list, err
}

// AttemptRequest asks for a new wallet order on a payment whose buyer (or
// someone paying for them) chose a method on the hosted cashier.
type AttemptRequest struct {
	Method string
	Payer  payment.Payer
	// WalletPayer is the payer's id at the wallet, which in-wallet methods
	// need (wechatpay.jsapi: openid; alipay.jsapi: user id).
	WalletPayer string
	// ReturnURL is where the wallet sends the browser back (H5, wap, page).
	ReturnURL string
	ClientIP  string
	Session   string
}

// ErrPaidByOther is an attempt refused because the payment is paid.
var ErrPaidByOther = errors.New("the payment is already paid")

// StartAttempt opens a wallet order for a payment. It is refused once the
// payment is paid, closed or expired, so a second payer is turned away
// before any wallet charges them.
func (s *Service) StartAttempt(ctx context.Context, paymentID string, req AttemptRequest) (payment.Attempt, error) {
	p, err := s.loadPayment(ctx, s.DB, paymentID, "", false)
	if err != nil {
		return payment.Attempt{}, err
	}
	if err := payment.CanAttempt(p, s.now()); err != nil {
		return payment.Attempt{}, attemptRefusal(err)
	}
	ch, ok := channel.MethodWallet(req.Method)
	if !ok {
		return payment.Attempt{}, &payment.FieldError{Param: "method", Message: fmt.Sprintf("%q is not a wallet method", req.Method)}
	}
	acct, ok := s.Accounts[ch]
	if !ok {
		return payment.Attempt{}, ErrMethodNotOpen
	}
	if ok, err := s.contracts().Payable(ctx, p.MerchantID, ch); err != nil {
		return payment.Attempt{}, err
	} else if !ok {
		return payment.Attempt{}, ErrNoContract
	}
	m, err := merchants.Get(ctx, s.DB.Pool(), p.MerchantID)
	if err != nil {
		return payment.Attempt{}, err
	}
	now := s.now()
	a := payment.Attempt{ID: payment.NewID("pa"), PaymentID: p.ID, Method: req.Method, Channel: ch, Status: payment.AttemptPending,
		Payer: req.Payer, Session: req.Session, CreatedAt: now, UpdatedAt: now}
	a.Payer.Wallet = req.WalletPayer
	ip := req.ClientIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	action, err := atWallet(ctx, ch, "prepay", func() (channel.Action, error) {
		return acct.Connector.Prepay(ctx, channel.Prepay{
			OutTradeNo: a.ID, Method: a.Method, Amount: p.Amount, Description: p.Description,
			NotifyURL: s.BaseURL + "/notify/" + ch + "/" + acct.Name, ReturnURL: req.ReturnURL, ExpiresAt: p.ExpiresAt,
			Payer: req.WalletPayer, ClientIP: ip, SubMerchant: s.subMerchant(m, ch),
		})
	})
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrWalletRefused, err)
	}
	a.NextAction = &action
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.loadPayment(ctx, tx, p.ID, "", true)
		if err != nil {
			return err
		}
		if err := payment.CanAttempt(cur, now); err != nil {
			return attemptRefusal(err)
		}
		if err := s.DB.In(tx).AttemptInsert(ctx, a); err != nil {
			return err
		}
		return s.enqueuePolls(ctx, tx, a.ID, p.ExpiresAt, now)
	})
	if err != nil {
		// Paid meanwhile: the order just opened must not take money.
		if errors.Is(err, ErrPaidByOther) {
			if cerr := atWalletErr(ctx, ch, "close", func() error { return acct.Connector.Close(context.WithoutCancel(ctx), a.ID, s.subMerchant(m, ch)) }); cerr != nil {
				// The attempt was never stored: now only its expiry at
				// the wallet ends the order.
				s.log().Warn("closing a wallet order its payment no longer needs", "attempt", a.ID, "channel", ch, "err", cerr)
			}
		}
		return payment.Attempt{}, err
	}
	return a, nil
}

func attemptRefusal(err error) error {
	if errors.Is(err, payment.ErrAlreadyPaid) {
		return ErrPaidByOther
	}
	return err
}

// enqueuePolls schedules the queries that find a wallet order paid even if
// its notification is lost. Only the first is stored now; each query that
// finds the order still pending schedules the next (pollNext), so a
// payment paid at once leaves one job row behind, not one per step.
func (s *Service) enqueuePolls(ctx context.Context, tx *sql.Tx, attemptID string, expiresAt, now time.Time) error {
	return s.enqueuePoll(ctx, tx, pollRef{ID: attemptID, Step: 0, From: now.UnixMicro(), Chained: true}, expiresAt, now)
}

// pollRef is a poll job's payload: the attempt, which step of the schedule
// (counted from From, the attempt's start, in Unix microseconds) this is,
// and whether it schedules its successor. Polls stored before chaining
// carry only the id: their successors are stored already.
type pollRef struct {
	ID      string `json:"id"`
	Step    int    `json:"step,omitempty"`
	From    int64  `json:"from,omitempty"`
	Chained bool   `json:"chained,omitempty"`
}

// enqueuePoll stores poll step r.Step if the schedule has it and it falls
// before the payment expires (expiry closes the order anyway). The unique
// key makes a step stored once even when the poll before it runs twice
// (killed after scheduling, before finishing).
func (s *Service) enqueuePoll(ctx context.Context, tx *sql.Tx, r pollRef, expiresAt, now time.Time) error {
	schedule := s.PollSchedule
	if schedule == nil {
		schedule = DefaultPollSchedule
	}
	if r.Step >= len(schedule) {
		return nil
	}
	at := time.UnixMicro(r.From).UTC().Add(schedule[r.Step])
	if !at.Before(expiresAt) {
		return nil
	}
	_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindPoll, Payload: r, RunAt: at, MaxAttempts: 5,
		UniqueKey: fmt.Sprintf("%s/%d", r.ID, r.Step)}, now)
	return err
}

// countSharePaid credits a paid payment to the share code its buyer came
// through, only if the code is the payment's merchant's (a payment stored
// before share codes were checked at creation may name another's).
func (s *Service) countSharePaid(ctx context.Context, tx *sql.Tx, p payment.Payment) error {
	if p.ShareCode == "" || p.Status != payment.StatusSucceeded {
		return nil
	}
	return s.DB.In(tx).ShareCodeCountPaid(ctx, p)
}
