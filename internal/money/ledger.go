package money

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// DefaultAutoConfirm is how long after payment the buyer's receipt is
// assumed: the escrow is released then unless released before.
const DefaultAutoConfirm = 10 * 24 * time.Hour

// DefaultFeeRate is the wallets' usual fee, 0.60%.
const DefaultFeeRate ledger.Rate = 60

// DefaultCommission is the platform's commission where no merchant or
// category rate is set: 5.00%.
const DefaultCommission ledger.Rate = 500

// EventEscrowReleased is published when a payment's money goes to the
// merchant's payable.
const EventEscrowReleased = "payment.released"

// FeeRate is the wallet's fee on a channel's payments.
func (s *Service) FeeRate(ch string) ledger.Rate {
	if r, ok := s.FeeRates[ch]; ok {
		return r
	}
	return DefaultFeeRate
}

// commissionRate is the merchant's own rate, else its category's, else
// the default. A failed read is an error, never the default: a release
// would otherwise charge the wrong commission for good.
func (s *Service) commissionRate(ctx context.Context, q store.Executor, merchantID string) (ledger.Rate, error) {
	mm, err := q.MerchantMoneyGet(ctx, merchantID)
	switch {
	case errors.Is(err, store.ErrNoRows):
		return DefaultCommission, nil
	case err != nil:
		return 0, fmt.Errorf("reading merchant %s's commission: %w", merchantID, err)
	case mm.Policy.CommissionBPS >= 0:
		return ledger.Rate(mm.Policy.CommissionBPS), nil
	}
	if r, ok := s.CommissionByCategory[mm.Category]; ok {
		return r, nil
	}
	return DefaultCommission, nil
}

// Post writes an entry and updates the cached balances, in tx. A balance
// that must not go negative (escrow and refunds in flight, and payable
// unless the merchant's policy allows) refuses the entry, and the
// caller's transaction rolls back.
func (s *Service) Post(ctx context.Context, tx *sql.Tx, e ledger.Entry) error {
	if err := e.Check(); err != nil {
		return err
	}
	if e.ID == "" {
		e.ID = payment.NewID("le")
	}
	in := s.DB.In(tx)
	if err := in.LedgerEntryInsert(ctx, e); err != nil {
		return err
	}
	deltas := map[string]int64{}
	for _, l := range e.Lines {
		deltas[l.Account] += l.Amount
	}
	// Balance rows are updated (and so locked) in one global order, by
	// account name: two postings over the same accounts then queue for
	// them instead of each holding one the other waits for (a deadlock on
	// PostgreSQL).
	accounts := slices.Sorted(maps.Keys(deltas))
	adds := make([]store.LedgerBalanceAddParams, len(accounts))
	for i, account := range accounts {
		adds[i] = store.LedgerBalanceAddParams{Account: account, Delta: deltas[account], Merchant: e.MerchantID}
	}
	balances, err := in.LedgerBalancesAdd(ctx, adds...)
	if err != nil {
		return err
	}
	for _, account := range accounts {
		if own := balances[account] * ledger.Normal(account); own < 0 {
			kind, merchant, _ := strings.Cut(account, ":")
			switch kind {
			case "escrow", "refunds_in_flight":
				return fmt.Errorf("%w: %s would be %d", ErrNegativeBalance, account, own)
			case "payable":
				mm, err := in.MerchantMoneyGet(ctx, merchant)
				if err != nil {
					return fmt.Errorf("merchant %s's payable policy: %w", merchant, err)
				}
				if !mm.Policy.AllowNegativePayable {
					return &blockedError{err: ErrPayableShort, msg: fmt.Sprintf("merchant %s's payable balance is %d fen; this would take it to %d fen, and the merchant's policy does not allow a negative payable",
						merchant, own-deltas[account]*ledger.Normal(account), own)}
				}
			}
		}
	}
	return nil
}

// paymentRef names the payment a release job works on.
type paymentRef struct {
	ID string `json:"id"`
}

// RecordPaid books a payment that just became paid into escrow, in tx, and
// schedules its release; p is the payment as the caller will save it (its
// Fee and AutoConfirmAt are set here).
func (s *Service) RecordPaid(ctx context.Context, tx *sql.Tx, p *payment.Payment, now time.Time) error {
	p.Fee = s.FeeRate(p.Channel).Of(p.Amount)
	wait := DefaultAutoConfirm
	if s.AutoConfirm > 0 {
		wait = s.AutoConfirm
	}
	p.AutoConfirmAt = p.PaidAt.Add(wait)
	if err := s.Post(ctx, tx, ledger.Paid(p.MerchantID, p.Channel, p.ID, p.Amount, p.Fee, now)); err != nil {
		return err
	}
	_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindEscrowRelease, Payload: paymentRef{p.ID}, RunAt: p.AutoConfirmAt, MaxAttempts: 1000}, now)
	return err
}

// QueueRelease queues a payment's release now, in tx: a release that was
// due while something held it back (a return awaiting its goods).
func (s *Service) QueueRelease(ctx context.Context, tx *sql.Tx, paymentID string, now time.Time) error {
	_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindEscrowRelease, Payload: paymentRef{paymentID}, MaxAttempts: 1000}, now)
	return err
}

// ConfirmReceipt is the buyer confirming they received the goods: the
// payment's escrow is released to the merchant now.
func (s *Service) ConfirmReceipt(ctx context.Context, merchantID, paymentID string) (payment.Payment, error) {
	var out payment.Payment
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.release(ctx, tx, merchantID, paymentID)
		return err
	})
	return out, err
}

// ReleaseEscrow releases at the auto-confirm time (a job); a refund in
// flight makes it come back later.
func (s *Service) ReleaseEscrow(ctx context.Context, j jobs.Job) error {
	var r paymentRef
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		_, err := s.release(ctx, tx, "", r.ID)
		return err
	})
	if errors.Is(err, payment.ErrNotPaid) || errors.Is(err, notfound.Err) {
		return nil
	}
	return err
}

// release moves a paid payment's escrow to the merchant's payable, less
// the platform's commission, and publishes it, in tx: the payment's
// change, its posting and its event commit together.
func (s *Service) release(ctx context.Context, tx *sql.Tx, merchantID, paymentID string) (payment.Payment, error) {
	p, err := s.Payments.LockPayment(ctx, tx, paymentID, merchantID)
	if err != nil {
		return p, err
	}
	if p.Status != payment.StatusSucceeded {
		return p, payment.NotPaid(p, "only a succeeded payment's receipt can be confirmed")
	}
	if !p.ReleasedAt.IsZero() {
		return p, nil // released before
	}
	// A refund in flight, or a return_and_refund awaiting its goods, takes
	// its money from escrow when it settles: releasing first would leave
	// its amount in escrow for ever and make the payable bear it (and the
	// wallet's fee on it) instead.
	in := s.DB.In(tx)
	inFlight, err := firstRefund(ctx, in, p.ID, payment.RefundPending)
	if err != nil {
		return p, err
	}
	if inFlight != "" {
		return p, &blockedError{err: ErrRefundInFlight, msg: fmt.Sprintf("refund %s of payment %s is still at the wallet; confirm receipt after it settles", inFlight, p.ID)}
	}
	awaiting, err := firstRefund(ctx, in, p.ID, payment.RefundAwaitingReturn)
	if err != nil {
		return p, err
	}
	if awaiting != "" {
		return p, &blockedError{err: ErrReturnInProgress, msg: fmt.Sprintf("a return_and_refund refund %s of payment %s awaits the returned goods; confirm receipt after it completes (POST /v1/refunds/%s/return_received, then the wallet's refund) or is canceled (POST /v1/refunds/%s/cancel_return)",
			awaiting, p.ID, awaiting, awaiting)}
	}
	now := s.now()
	escrow := p.Amount - p.Refunded
	fee := p.Fee - p.FeeReturned
	rate, err := s.commissionRate(ctx, in, p.MerchantID)
	if err != nil {
		return p, err
	}
	p.Commission = rate.Of(escrow)
	p.ReleasedAt, p.UpdatedAt = now, now
	if escrow > 0 || fee > 0 {
		if err := s.Post(ctx, tx, ledger.Released(p.MerchantID, p.Channel, p.ID, escrow, p.Commission, fee, now)); err != nil {
			return p, err
		}
	}
	if err := s.Payments.SavePayment(ctx, tx, p); err != nil {
		return p, err
	}
	return p, s.Events.Publish(ctx, tx, p.MerchantID, EventEscrowReleased, p.ID, p)
}

// firstRefund is the id of a payment's oldest merchant refund in status,
// "" if none.
func firstRefund(ctx context.Context, in store.Executor, paymentID, status string) (string, error) {
	id, err := in.RefundFirst(ctx, store.RefundFirstParams{PaymentID: paymentID, Status: status})
	if errors.Is(err, store.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// Balance is one account's balance in its own terms.
type Balance struct {
	Account string `json:"account"`
	Balance int64  `json:"balance"`
}

// Balances lists the cached balances of a merchant's accounts, or of every
// account when merchantID is "".
func (s *Service) Balances(ctx context.Context, merchantID string) ([]Balance, error) {
	var accounts []string
	if merchantID != "" {
		accounts = []string{ledger.Escrow(merchantID), ledger.Payable(merchantID), ledger.InFlight(merchantID), ledger.Payouts(merchantID)}
	}
	raw, err := s.DB.Pool().LedgerBalances(ctx, accounts...)
	if err != nil {
		return nil, err
	}
	out := make([]Balance, len(raw))
	for i, b := range raw {
		out[i] = Balance{Account: b.Account, Balance: b.Raw * ledger.Normal(b.Account)}
	}
	return out, nil
}

// VerifyLedger rebuilds every balance from the lines and compares it with
// the cache, and checks that every entry sums to zero. It returns the
// differences found (none on a healthy ledger).
func (s *Service) VerifyLedger(ctx context.Context) ([]string, error) {
	pool := s.DB.Pool()
	unbalanced, err := pool.LedgerUnbalancedEntries(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify ledger: %w", err)
	}
	balances, err := pool.LedgerBalanceChecks(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify ledger: %w", err)
	}
	var problems []string
	for _, u := range unbalanced {
		problems = append(problems, fmt.Sprintf("entry %s sums to %d", u.EntryID, u.Sum))
	}
	for _, b := range balances {
		if b.Cached != b.Rebuilt {
			problems = append(problems, fmt.Sprintf("%s: cached %d, lines %d", b.Account, b.Cached, b.Rebuilt))
		}
	}
	return problems, nil
}

// EntryFilter narrows the journal.
type EntryFilter struct {
	MerchantID, Account, PaymentID, Kind string
	After                                string // an entry id: entries after it
	Limit                                int
}

// Entries lists journal entries, oldest first.
func (s *Service) Entries(ctx context.Context, f EntryFilter) ([]ledger.Entry, error) {
	// The limit is the caller's: the API asks one more than a page holds
	// to learn whether another page follows.
	if f.Limit <= 0 {
		f.Limit = 100
	}
	out, err := s.DB.Pool().LedgerEntries(ctx, store.LedgerEntriesParams{MerchantID: f.MerchantID, Account: f.Account, PaymentID: f.PaymentID, Kind: f.Kind,
		After: f.After, Limit: f.Limit})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []ledger.Entry{}
	}
	return out, nil
}
