package payments

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/audit"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/mismatches"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/walletcall"
)

// A pending wallet order is asked about at its wallet on a schedule
// (PollSchedule), so that a lost notification never loses a payment, and
// an unpaid payment is closed when it expires. Both are due times kept on
// the rows themselves, not jobs: a payment paid before its first query —
// nearly every one — never stores a job for either. EnqueueDue, run by
// every worker at each of its polls, turns what is due into jobs (Poll,
// Expire), whose unique keys make two workers queue each once.

// dueBatch is the most orders, and payments, one EnqueueDue queues.
const dueBatch = 200

// pollRef is a poll job's payload: the wallet order and the step of the
// schedule it is. Polls queued before due times carry From (the order's
// start, Unix microseconds) and Chained (it queues its successor); those
// stored before chaining carry only the id, their successors stored
// already.
type pollRef struct {
	ID      string `json:"id"`
	Step    int    `json:"step,omitempty"`
	From    int64  `json:"from,omitempty"`
	Chained bool   `json:"chained,omitempty"`
	// Due says the job was queued from the order's due time, which the
	// poll moves on to the next step.
	Due bool `json:"due,omitempty"`
}

// pollAt is when step of a's schedule is due, or zero when the schedule
// has no such step before the payment expires (expiry closes the order
// anyway).
func (s *Service) pollAt(a payment.Attempt, step int, expiresAt time.Time) time.Time {
	schedule := s.PollSchedule
	if schedule == nil {
		schedule = DefaultPollSchedule
	}
	if step >= len(schedule) {
		return time.Time{}
	}
	at := a.CreatedAt.Add(schedule[step])
	if !at.Before(expiresAt) {
		return time.Time{}
	}
	return at
}

// EnqueueDue queues a Poll job for each pending wallet order whose query
// is due, and an Expire job for each unpaid payment past its expiry. It
// reads first and writes only when something is due, so an idle gateway's
// workers cost two indexed reads a poll.
func (s *Service) EnqueueDue(ctx context.Context) error {
	now := s.now()
	due := store.DueParams{Now: now, Limit: dueBatch}
	polls, err := s.DB.Pool().AttemptsDue(ctx, due)
	if err != nil {
		return fmt.Errorf("wallet orders due a query: %w", err)
	}
	expired, err := s.DB.Pool().PaymentsDue(ctx, due)
	if err != nil {
		return fmt.Errorf("payments due to expire: %w", err)
	}
	if len(polls) == 0 && len(expired) == 0 {
		return nil
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		x := s.DB.In(tx)
		for _, a := range polls {
			if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindPoll, Payload: pollRef{ID: a.ID, Step: a.Step, Due: true}, MaxAttempts: 5,
				UniqueKey: fmt.Sprintf("%s/%d", a.ID, a.Step)}, now); err != nil {
				return err
			}
			// The job now holds this step; the poll sets the next.
			if err := x.AttemptPollSet(ctx, store.AttemptPollSetParams{ID: a.ID, Step: a.Step}); err != nil {
				return fmt.Errorf("wallet order %s: %w", a.ID, err)
			}
		}
		for _, id := range expired {
			// A payment stays due until its Expire job has closed it; its
			// key makes each pass before that queue nothing.
			if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindExpire, Payload: ref{id}, UniqueKey: id + "/expire"}, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.kick()
	}
	return err
}

// Poll asks the wallet about a pending wallet order (a job), applies what
// it says, and schedules the next query while the order stays pending.
func (s *Service) Poll(ctx context.Context, j jobs.Job) error {
	var r pollRef
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	a, err := loadAttempt(ctx, s.DB.Pool(), r.ID, false)
	if isNotFound(err) {
		return nil
	}
	if err != nil || a.Status != payment.AttemptPending {
		return err
	}
	p, err := loadPayment(ctx, s.DB.Pool(), a.PaymentID, "", false)
	if err != nil {
		return err
	}
	a = fillAttempt(a, p)
	m, err := merchants.Get(ctx, s.DB.Pool(), p.MerchantID)
	if err != nil {
		return err
	}
	if _, ok := s.Accounts[a.Channel]; !ok {
		return nil
	}
	t, seen, err := s.ask(ctx, m, a)
	if err != nil {
		return err
	}
	if seen && (t.State == channel.TradePaid || t.State == channel.TradeRefunded || t.State == channel.TradeClosed) {
		return nil // settled: nothing more to ask
	}
	return s.pollNext(ctx, a, r, p.ExpiresAt)
}

// ask queries a wallet order at its wallet and applies what the wallet
// says, as a query's answer (refused, it is recorded as a mismatch). seen
// is false when the wallet has no such order yet: no buyer has opened it.
func (s *Service) ask(ctx context.Context, m merchant.Merchant, a payment.Attempt) (t channel.Trade, seen bool, err error) {
	acct, ok := s.Accounts[a.Channel]
	if !ok {
		return t, false, ErrMethodNotOpen
	}
	t, err = walletcall.Do(ctx, a.Channel, "query", func() (channel.Trade, error) { return acct.Connector.Query(ctx, a.ID, subMerchant(m, a.Channel)) })
	if errors.Is(err, channel.ErrNotFound) {
		return t, false, nil
	}
	if err != nil {
		return t, false, err
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.applyTrade(ctx, tx, a.Channel, t); err != nil {
			return err
		}
		// An operator's "ask the wallet" (QueryNow) commits its audit
		// record with what the wallet's answer changed.
		return audit.Record(ctx, tx, t)
	})
	s.Refused.Note(ctx, a.Channel, mismatches.SourceQuery, "query:"+a.ID, err)
	return t, true, err
}

// QueryNow asks the wallets about a merchant's payment now, for support
// answering "I paid, why is my order unpaid?": each pending wallet order
// is queried and what the wallet says is applied as a poll's answer is.
// It returns the payment as it then stands.
func (s *Service) QueryNow(ctx context.Context, merchantID, id string) (payment.Payment, error) {
	p, err := s.GetPayment(ctx, merchantID, id)
	if err != nil {
		return p, err
	}
	m, err := merchants.Get(ctx, s.DB.Pool(), p.MerchantID)
	if err != nil {
		return p, err
	}
	attempts, err := s.DB.Pool().AttemptList(ctx, p.ID)
	if err != nil {
		return p, err
	}
	for _, a := range attempts {
		if a.Status != payment.AttemptPending {
			continue
		}
		a = fillAttempt(a, p)
		if _, ok := s.Accounts[a.Channel]; !ok {
			continue
		}
		if _, _, err := s.ask(ctx, m, a); err != nil {
			return p, err
		}
	}
	return s.GetPayment(ctx, merchantID, id)
}

// pollNext schedules the query after r's step on a's row. Polls stored
// before chaining have their successors stored already.
func (s *Service) pollNext(ctx context.Context, a payment.Attempt, r pollRef, expiresAt time.Time) error {
	if !r.Due && !r.Chained {
		return nil
	}
	next := r.Step + 1
	at := s.pollAt(a, next, expiresAt)
	err := s.DB.Pool().AttemptPollSet(ctx, store.AttemptPollSetParams{ID: a.ID, At: at, Step: next})
	if err != nil {
		return fmt.Errorf("scheduling wallet order %s's next query: %w", a.ID, err)
	}
	return nil
}
