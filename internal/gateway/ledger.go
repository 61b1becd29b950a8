package gateway

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

// KindEscrowRelease releases a paid payment's escrow at its auto-confirm
// time.
const KindEscrowRelease = "escrow.release"

// Errors of the money rules.
var (
	ErrNegativeBalance   = errors.New("the entry would make a balance negative")
	ErrRefundInFlight    = errors.New("a refund of this payment is still at the wallet; release after it settles")
	ErrPayableShort      = errors.New("the merchant's payable balance is less than the refund, and its policy does not allow it to go negative")
	ErrNotAwaitingReturn = errors.New("the refund is not waiting for a returned item")
	// ErrReturnInProgress is a release asked while a return_and_refund
	// waits for the goods: the refund will take its money from escrow, so
	// the escrow stays until the return is received.
	ErrReturnInProgress = errors.New("a return_and_refund refund awaits the returned goods; release after it completes")
)

// blockedError is a refusal that names the objects involved; it is its
// sentinel to errors.Is.
type blockedError struct {
	msg string
	err error
}

func (e *blockedError) Error() string { return e.msg }
func (e *blockedError) Unwrap() error { return e.err }

// firstRefund is the id of a payment's oldest refund in status (the
// merchant's, not a duplicate charge's), "" if none.
func firstRefund(ctx context.Context, tx *sql.Tx, paymentID, status string) (string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, data FROM refunds WHERE payment_id = $1 AND status = $2 ORDER BY created_at, id`, paymentID, status)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			return "", err
		}
		var r payment.Refund
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			return "", fmt.Errorf("refund %s does not decode: %w", id, err)
		}
		if r.Kind != payment.RefundDuplicateCharge {
			return id, nil
		}
	}
	return "", rows.Err()
}

func (s *Service) autoConfirm() time.Duration {
	if s.AutoConfirm > 0 {
		return s.AutoConfirm
	}
	return DefaultAutoConfirm
}

func (s *Service) feeRate(ch string) ledger.Rate {
	if r, ok := s.FeeRates[ch]; ok {
		return r
	}
	return DefaultFeeRate
}

// commissionRate is the merchant's own rate, else its category's, else
// the default. A failed read is an error, never the default: a release
// would otherwise charge the wrong commission for good.
func (s *Service) commissionRate(ctx context.Context, q queryer, merchantID string) (ledger.Rate, error) {
	var bps int64
	var category string
	err := q.QueryRowContext(ctx, `SELECT commission_bps, category FROM merchants WHERE id = $1`, merchantID).Scan(&bps, &category)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return DefaultCommission, nil
	case err != nil:
		return 0, fmt.Errorf("reading merchant %s's commission: %w", merchantID, err)
	case bps >= 0:
		return ledger.Rate(bps), nil
	}
	if r, ok := s.CommissionByCategory[category]; ok {
		return r, nil
	}
	return DefaultCommission, nil
}

// post writes an entry and updates the cached balances, in tx. A balance
// that must not go negative (escrow, and payable unless the merchant's
// policy allows) refuses the entry, and the caller's transaction rolls
// back.
func (s *Service) post(ctx context.Context, tx *sql.Tx, e ledger.Entry) error {
	if err := e.Check(); err != nil {
		return err
	}
	if e.ID == "" {
		e.ID = payment.NewID("le")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_entries (id, kind, merchant_id, payment_id, refund_id, memo, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.ID, e.Kind, e.MerchantID, e.PaymentID, e.RefundID, e.Memo, store.Micros(e.At)); err != nil {
		return err
	}
	deltas := map[string]int64{}
	for i, l := range e.Lines {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_lines (entry_id, line, account, amount) VALUES ($1, $2, $3, $4)`, e.ID, i, l.Account, l.Amount); err != nil {
			return err
		}
		deltas[l.Account] += l.Amount
	}
	// Balance rows are updated (and so locked) in one global order, by
	// account name: two postings over the same accounts then queue for
	// them instead of each holding one the other waits for (a deadlock on
	// PostgreSQL).
	for _, account := range slices.Sorted(maps.Keys(deltas)) {
		var raw int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO ledger_balances (account, balance) VALUES ($1, $2)
			ON CONFLICT (account) DO UPDATE SET balance = ledger_balances.balance + excluded.balance RETURNING balance`, account, deltas[account]).Scan(&raw); err != nil {
			return err
		}
		if own := raw * ledger.Normal(account); own < 0 {
			kind, merchant, _ := strings.Cut(account, ":")
			switch kind {
			case "escrow", "refunds_in_flight":
				return fmt.Errorf("%w: %s would be %d", ErrNegativeBalance, account, own)
			case "payable":
				var allowed int
				if err := tx.QueryRowContext(ctx, `SELECT allow_negative_payable FROM merchants WHERE id = $1`, merchant).Scan(&allowed); err != nil {
					return fmt.Errorf("merchant %s's payable policy: %w", merchant, err)
				}
				if allowed == 0 {
					return &blockedError{err: ErrPayableShort, msg: fmt.Sprintf("merchant %s's payable balance is %d fen; this would take it to %d fen, and the merchant's policy does not allow a negative payable",
						merchant, own-deltas[account]*ledger.Normal(account), own)}
				}
			}
		}
	}
	return nil
}

// recordPaid books a payment that just became paid, and schedules its
// release; p is the payment as it will be saved (its Fee is set here).
func (s *Service) recordPaid(ctx context.Context, tx *sql.Tx, p *payment.Payment, now time.Time) error {
	p.Fee = s.feeRate(p.Channel).Of(p.Amount)
	p.AutoConfirmAt = p.PaidAt.Add(s.autoConfirm())
	if err := s.post(ctx, tx, ledger.Paid(p.MerchantID, p.Channel, p.ID, p.Amount, p.Fee, now)); err != nil {
		return err
	}
	_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindEscrowRelease, Payload: ref{p.ID}, RunAt: p.AutoConfirmAt, MaxAttempts: 1000}, now)
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
	var r ref
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		_, err := s.release(ctx, tx, "", r.ID)
		return err
	})
	if errors.Is(err, payment.ErrNotPaid) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func (s *Service) release(ctx context.Context, tx *sql.Tx, merchantID, paymentID string) (payment.Payment, error) {
	p, err := s.loadPayment(ctx, tx, paymentID, merchantID, true)
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
	inFlight, err := firstRefund(ctx, tx, p.ID, payment.RefundPending)
	if err != nil {
		return p, err
	}
	if inFlight != "" {
		return p, &blockedError{err: ErrRefundInFlight, msg: fmt.Sprintf("refund %s of payment %s is still at the wallet; confirm receipt after it settles", inFlight, p.ID)}
	}
	awaiting, err := firstRefund(ctx, tx, p.ID, payment.RefundAwaitingReturn)
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
	rate, err := s.commissionRate(ctx, tx, p.MerchantID)
	if err != nil {
		return p, err
	}
	p.Commission = rate.Of(escrow)
	p.ReleasedAt, p.UpdatedAt = now, now
	if escrow > 0 || fee > 0 {
		if err := s.post(ctx, tx, ledger.Released(p.MerchantID, p.Channel, p.ID, escrow, p.Commission, fee, now)); err != nil {
			return p, err
		}
	}
	if err := s.savePayment(ctx, tx, p); err != nil {
		return p, err
	}
	return p, s.events().Publish(ctx, tx, p.MerchantID, EventEscrowReleased, p.ID, p)
}

// EventEscrowReleased is published when a payment's money goes to the
// merchant's payable.
const EventEscrowReleased = "payment.released"

// Balance is one account's balance in its own terms.
type Balance struct {
	Account string `json:"account"`
	Balance int64  `json:"balance"`
}

// Balances lists the cached balances of a merchant's accounts, or of every
// account when merchantID is "".
func (s *Service) Balances(ctx context.Context, merchantID string) ([]Balance, error) {
	query := `SELECT account, balance FROM ledger_balances ORDER BY account`
	var args []any
	if merchantID != "" {
		query = `SELECT account, balance FROM ledger_balances WHERE account IN ($1, $2, $3, $4) ORDER BY account`
		args = []any{ledger.Escrow(merchantID), ledger.Payable(merchantID), ledger.InFlight(merchantID), ledger.Payouts(merchantID)}
	}
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Balance{}
	for rows.Next() {
		var b Balance
		if err := rows.Scan(&b.Account, &b.Balance); err != nil {
			return nil, err
		}
		b.Balance *= ledger.Normal(b.Account)
		out = append(out, b)
	}
	return out, rows.Err()
}

// VerifyLedger rebuilds every balance from the lines and compares it with
// the cache, and checks that every entry sums to zero. It returns the
// differences found (none on a healthy ledger).
func (s *Service) VerifyLedger(ctx context.Context) ([]string, error) {
	unbalanced, err := store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (string, error) {
		var id string
		var sum int64
		err := rows.Scan(&id, &sum)
		return fmt.Sprintf("entry %s sums to %d", id, sum), err
	}, `SELECT entry_id, SUM(amount) FROM ledger_lines GROUP BY entry_id HAVING SUM(amount) <> 0`)
	if err != nil {
		return nil, fmt.Errorf("verify ledger: entries: %w", err)
	}
	type balance struct {
		account         string
		cached, rebuilt int64
	}
	balances, err := store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (b balance, err error) {
		return b, rows.Scan(&b.account, &b.cached, &b.rebuilt)
	}, `SELECT COALESCE(b.account, l.account), COALESCE(b.balance, 0), COALESCE(l.total, 0)
		FROM ledger_balances b FULL OUTER JOIN (SELECT account, SUM(amount) AS total FROM ledger_lines GROUP BY account) l ON l.account = b.account`)
	if err != nil {
		return nil, fmt.Errorf("verify ledger: balances: %w", err)
	}
	problems := unbalanced
	for _, b := range balances {
		if b.cached != b.rebuilt {
			problems = append(problems, fmt.Sprintf("%s: cached %d, lines %d", b.account, b.cached, b.rebuilt))
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
	query := `SELECT e.id, e.kind, e.merchant_id, e.payment_id, e.refund_id, e.memo, e.at FROM ledger_entries e WHERE 1 = 1`
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		query += fmt.Sprintf(" AND "+cond, len(args))
	}
	if f.MerchantID != "" {
		add("e.merchant_id = $%d", f.MerchantID)
	}
	if f.PaymentID != "" {
		add("e.payment_id = $%d", f.PaymentID)
	}
	if f.Kind != "" {
		add("e.kind = $%d", f.Kind)
	}
	if f.Account != "" {
		add("e.id IN (SELECT entry_id FROM ledger_lines WHERE account = $%d)", f.Account)
	}
	query, args, err := store.Keyset{Table: "ledger_entries e", Time: "e.at", ID: "e.id", Object: "ledger entry",
		Scope: "($2 = '' OR e.merchant_id = $2)", ScopeArgs: []any{f.MerchantID}}.Page(ctx, s.DB, f.After, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	// The limit is the caller's: the API asks one more than a page holds
	// to learn whether another page follows.
	if f.Limit <= 0 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	query += fmt.Sprintf(" ORDER BY e.at, e.id LIMIT $%d", len(args))
	out, err := store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (e ledger.Entry, err error) {
		var at int64
		err = rows.Scan(&e.ID, &e.Kind, &e.MerchantID, &e.PaymentID, &e.RefundID, &e.Memo, &at)
		e.At = store.Time(at)
		return e, err
	}, query, args...)
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	for i, e := range out {
		index[e.ID] = i
	}
	// The page's lines in one query, not one per entry.
	for start := 0; start < len(out); start += 500 {
		batch := out[start:min(start+500, len(out))]
		ids := make([]any, len(batch))
		marks := make([]string, len(batch))
		for i, e := range batch {
			ids[i], marks[i] = e.ID, fmt.Sprintf("$%d", i+1)
		}
		type line struct {
			entry string
			ledger.Line
		}
		lines, err := store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (l line, err error) {
			return l, rows.Scan(&l.entry, &l.Account, &l.Amount)
		}, `SELECT entry_id, account, amount FROM ledger_lines WHERE entry_id IN (`+strings.Join(marks, ", ")+`) ORDER BY entry_id, line`, ids...)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			out[index[l.entry]].Lines = append(out[index[l.entry]].Lines, l.Line)
		}
	}
	if out == nil {
		out = []ledger.Entry{}
	}
	return out, nil
}
