package store

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/ledger"
)

// LedgerEntryInsert writes a journal entry and its lines, numbered in
// order, in two statements whatever the number of lines. It does not touch
// the cached balances (LedgerBalancesAdd) nor check that the entry sums to
// zero (ledger.Entry.Check): the caller does both in the same transaction.
func (e Executor) LedgerEntryInsert(ctx context.Context, en ledger.Entry) error {
	if _, err := e.q.ExecContext(ctx, `INSERT INTO ledger_entries (id, kind, merchant_id, payment_id, refund_id, memo, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		en.ID, en.Kind, en.MerchantID, en.PaymentID, en.RefundID, en.Memo, Micros(en.At)); err != nil {
		return fmt.Errorf("ledger entry %s: %w", en.ID, err)
	}
	if len(en.Lines) == 0 {
		return nil
	}
	values := make([]string, len(en.Lines))
	args := make([]any, 0, 4*len(en.Lines))
	for i, l := range en.Lines {
		values[i] = fmt.Sprintf("($%d, $%d, $%d, $%d)", 4*i+1, 4*i+2, 4*i+3, 4*i+4)
		args = append(args, en.ID, i, l.Account, l.Amount)
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO ledger_lines (entry_id, line, account, amount) VALUES `+strings.Join(values, ", "), args...); err != nil {
		return fmt.Errorf("ledger entry %s's %d lines: %w", en.ID, len(en.Lines), err)
	}
	return nil
}

// BalanceSlots is how many rows a platform account's cached balance is
// kept in (see LedgerBalancesAdd).
const BalanceSlots = 64

// BalanceSlot is the row of account's cached balance that a posting for
// merchant updates: one of BalanceSlots, picked by a hash of the merchant,
// for a platform account (ledger.Platform); 0, the account's one row, for
// a merchant's own.
func BalanceSlot(account, merchant string) int {
	if !ledger.Platform(account) {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(merchant))
	return int(h.Sum32() % BalanceSlots)
}

// LedgerBalanceAddParams is a change of one account's cached balance, in
// the ledger's raw sign (debits positive), by a posting for Merchant.
type LedgerBalanceAddParams struct {
	Account  string
	Delta    int64
	Merchant string
}

// LedgerBalancesAdd adds to accounts' cached balances (creating each at
// its delta) in one statement and returns the new raw balances of the
// merchants' accounts by account. Each account may be named once. The rows
// are written, and on PostgreSQL locked until the transaction ends, in the
// order given: callers add in one global order of accounts, so two
// postings over the same accounts queue rather than deadlock.
//
// Every posting, whoever's money it moves, updates a platform account (a
// channel's clearing and fees, the commission), and a row lock held to
// the commit would make every posting of every merchant wait for the one
// before it. So a platform account's balance is kept in BalanceSlots rows
// and a posting updates only its merchant's (BalanceSlot): postings for
// merchants in different slots never wait for each other, and one
// merchant's postings, which queue for that merchant's escrow anyway, keep
// to one slot. An account's balance is the sum of its rows (LedgerBalances,
// LedgerBalanceGet); since the sum is not what a platform row holds, no
// platform account is in the map returned, and a rule on a platform
// account's balance must read it whole.
func (e Executor) LedgerBalancesAdd(ctx context.Context, adds ...LedgerBalanceAddParams) (map[string]int64, error) {
	if len(adds) == 0 {
		return map[string]int64{}, nil
	}
	values := make([]string, len(adds))
	args := make([]any, 0, 3*len(adds))
	names := make([]string, len(adds))
	merchantAccounts := 0
	for i, a := range adds {
		// Checked here, before any row is written: the statement would
		// otherwise fail on PostgreSQL but, on SQLite, add both deltas.
		if slices.Contains(names[:i], a.Account) {
			return nil, fmt.Errorf("balances: account %s named twice", a.Account)
		}
		values[i] = fmt.Sprintf("($%d, $%d, $%d)", 3*i+1, 3*i+2, 3*i+3)
		args = append(args, a.Account, BalanceSlot(a.Account, a.Merchant), a.Delta)
		names[i] = a.Account
		if !ledger.Platform(a.Account) {
			merchantAccounts++
		}
	}
	// RETURNING's rows come in no promised order: each names its account.
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (b LedgerBalance, err error) {
		return b, rows.Scan(&b.Account, &b.Raw)
	}, `INSERT INTO ledger_balances (account, slot, balance) VALUES `+strings.Join(values, ", ")+`
		ON CONFLICT (account, slot) DO UPDATE SET balance = ledger_balances.balance + excluded.balance RETURNING account, balance`, args...)
	if err != nil {
		return nil, fmt.Errorf("balances of %s: %w", strings.Join(names, ", "), err)
	}
	if len(out) != len(adds) {
		return nil, fmt.Errorf("balances of %s: %d rows came back for %d accounts", strings.Join(names, ", "), len(out), len(adds))
	}
	raw := make(map[string]int64, merchantAccounts)
	for _, b := range out {
		if !ledger.Platform(b.Account) {
			raw[b.Account] = b.Raw
		}
	}
	return raw, nil
}

// LedgerBalanceGetParams names an account whose cached balance is read,
// locked for the rest of the transaction when Lock (on PostgreSQL; SQLite's
// writers are serialized already).
type LedgerBalanceGetParams struct {
	Account string
	Lock    bool
}

// LedgerBalanceGet reads an account's cached raw balance, the sum of its
// rows; ErrNoRows if nothing was ever posted to it. Lock locks every row
// the account has (a platform account's slots, in slot order): a rule on
// a platform account's balance stops every posting to it while it holds
// them.
func (e Executor) LedgerBalanceGet(ctx context.Context, p LedgerBalanceGetParams) (int64, error) {
	// FOR UPDATE cannot lock an aggregate's rows: the rows are read and
	// summed here.
	parts, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (raw int64, err error) {
		return raw, rows.Scan(&raw)
	}, `SELECT balance FROM ledger_balances WHERE account = $1 ORDER BY slot`+e.forUpdate(p.Lock), p.Account)
	if err != nil {
		return 0, fmt.Errorf("balance of %s: %w", p.Account, err)
	}
	if len(parts) == 0 {
		return 0, fmt.Errorf("balance of %s: %w", p.Account, ErrNoRows)
	}
	var raw int64
	for _, part := range parts {
		raw += part
	}
	return raw, nil
}

// LedgerBalance is one account's cached balance, raw (debits positive).
type LedgerBalance struct {
	Account string
	Raw     int64
}

// LedgerBalances lists the cached balances of the named accounts, or of
// every account when none is named, by account: each the sum of the
// account's rows.
func (e Executor) LedgerBalances(ctx context.Context, accounts ...string) ([]LedgerBalance, error) {
	query := `SELECT account, SUM(balance) FROM ledger_balances`
	var args []any
	if len(accounts) > 0 {
		var marks string
		marks, args = inList(accounts)
		query += ` WHERE account IN (` + marks + `)`
	}
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (b LedgerBalance, err error) {
		return b, rows.Scan(&b.Account, &b.Raw)
	}, query+` GROUP BY account ORDER BY account`, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger balances: %w", err)
	}
	return out, nil
}

// LedgerUnbalanced is an entry whose lines do not sum to zero.
type LedgerUnbalanced struct {
	EntryID string
	Sum     int64
}

// LedgerUnbalancedEntries lists the entries whose lines do not sum to
// zero: none, on a healthy ledger.
func (e Executor) LedgerUnbalancedEntries(ctx context.Context) ([]LedgerUnbalanced, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (u LedgerUnbalanced, err error) {
		return u, rows.Scan(&u.EntryID, &u.Sum)
	}, `SELECT entry_id, SUM(amount) FROM ledger_lines GROUP BY entry_id HAVING SUM(amount) <> 0 ORDER BY entry_id`)
	if err != nil {
		return nil, fmt.Errorf("unbalanced ledger entries: %w", err)
	}
	return out, nil
}

// LedgerBalanceCheck is an account's cached balance beside the sum of its
// lines.
type LedgerBalanceCheck struct {
	Account         string
	Cached, Rebuilt int64
}

// LedgerBalanceChecks lists every account that has a cached balance or
// lines, with both sums (the cached one over all the account's rows).
func (e Executor) LedgerBalanceChecks(ctx context.Context) ([]LedgerBalanceCheck, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (c LedgerBalanceCheck, err error) {
		return c, rows.Scan(&c.Account, &c.Cached, &c.Rebuilt)
	}, `SELECT COALESCE(b.account, l.account), COALESCE(b.balance, 0), COALESCE(l.total, 0)
		FROM (SELECT account, SUM(balance) AS balance FROM ledger_balances GROUP BY account) b
		FULL OUTER JOIN (SELECT account, SUM(amount) AS total FROM ledger_lines GROUP BY account) l ON l.account = b.account`)
	if err != nil {
		return nil, fmt.Errorf("ledger balance checks: %w", err)
	}
	return out, nil
}

// LedgerEntriesParams selects journal entries: an empty field selects any.
// After is an entry id (the previous page's last); Limit is required.
type LedgerEntriesParams struct {
	MerchantID, Account, PaymentID, Kind string
	After                                string
	Limit                                int
}

// LedgerEntries lists journal entries with their lines, oldest first. An
// After that names no entry of MerchantID (when set) is a *notfound.Error.
func (e Executor) LedgerEntries(ctx context.Context, p LedgerEntriesParams) ([]ledger.Entry, error) {
	query := `SELECT e.id, e.kind, e.merchant_id, e.payment_id, e.refund_id, e.memo, e.at FROM ledger_entries e WHERE 1 = 1`
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		query += fmt.Sprintf(" AND "+cond, len(args))
	}
	if p.MerchantID != "" {
		add("e.merchant_id = $%d", p.MerchantID)
	}
	if p.PaymentID != "" {
		add("e.payment_id = $%d", p.PaymentID)
	}
	if p.Kind != "" {
		add("e.kind = $%d", p.Kind)
	}
	if p.Account != "" {
		add("e.id IN (SELECT entry_id FROM ledger_lines WHERE account = $%d)", p.Account)
	}
	query, args, err := Keyset{Table: "ledger_entries e", Time: "e.at", ID: "e.id", Object: "ledger entry",
		Scope: "($2 = '' OR e.merchant_id = $2)", ScopeArgs: []any{p.MerchantID}}.Page(ctx, e.q, p.After, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	args = append(args, p.Limit)
	query += fmt.Sprintf(" ORDER BY e.at, e.id LIMIT $%d", len(args))
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (en ledger.Entry, err error) {
		var at int64
		err = rows.Scan(&en.ID, &en.Kind, &en.MerchantID, &en.PaymentID, &en.RefundID, &en.Memo, &at)
		en.At = Time(at)
		return en, err
	}, query, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger entries: %w", err)
	}
	index := map[string]int{}
	for i, en := range out {
		index[en.ID] = i
	}
	// The page's lines in one query per 500 entries, not one per entry.
	for start := 0; start < len(out); start += 500 {
		batch := out[start:min(start+500, len(out))]
		ids := make([]any, len(batch))
		marks := make([]string, len(batch))
		for i, en := range batch {
			ids[i], marks[i] = en.ID, fmt.Sprintf("$%d", i+1)
		}
		type line struct {
			entry string
			ledger.Line
		}
		lines, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (l line, err error) {
			return l, rows.Scan(&l.entry, &l.Account, &l.Amount)
		}, `SELECT entry_id, account, amount FROM ledger_lines WHERE entry_id IN (`+strings.Join(marks, ", ")+`) ORDER BY entry_id, line`, ids...)
		if err != nil {
			return nil, fmt.Errorf("ledger entries' lines: %w", err)
		}
		for _, l := range lines {
			out[index[l.entry]].Lines = append(out[index[l.entry]].Lines, l.Line)
		}
	}
	return out, nil
}

// LedgerAccountSumParams names an account and an instant.
type LedgerAccountSumParams struct {
	Account string
	Before  time.Time
}

// LedgerAccountSum is the raw sum of an account's lines in entries before
// an instant: its balance then.
func (e Executor) LedgerAccountSum(ctx context.Context, p LedgerAccountSumParams) (int64, error) {
	var sum int64
	if err := e.q.QueryRowContext(ctx, `SELECT COALESCE(SUM(l.amount), 0) FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
		WHERE l.account = $1 AND e.at < $2`, p.Account, Micros(p.Before)).Scan(&sum); err != nil {
		return 0, fmt.Errorf("sum of %s before %s: %w", p.Account, p.Before, err)
	}
	return sum, nil
}

// LedgerAccountLinesParams names an account and a period [From, To).
type LedgerAccountLinesParams struct {
	Account  string
	From, To time.Time
}

// LedgerAccountLine is one line of an account with its entry's facts;
// Amount is raw.
type LedgerAccountLine struct {
	EntryID   string
	At        time.Time
	Kind      string
	PaymentID string
	RefundID  string
	Memo      string
	Amount    int64
}

// LedgerAccountLines lists an account's lines in entries of [From, To), in
// the order they were booked.
func (e Executor) LedgerAccountLines(ctx context.Context, p LedgerAccountLinesParams) ([]LedgerAccountLine, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (l LedgerAccountLine, err error) {
		var at int64
		err = rows.Scan(&l.EntryID, &at, &l.Kind, &l.PaymentID, &l.RefundID, &l.Memo, &l.Amount)
		l.At = Time(at)
		return l, err
	}, `SELECT e.id, e.at, e.kind, e.payment_id, e.refund_id, e.memo, l.amount FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
		WHERE l.account = $1 AND e.at >= $2 AND e.at < $3 ORDER BY e.at, e.id, l.line`, p.Account, Micros(p.From), Micros(p.To))
	if err != nil {
		return nil, fmt.Errorf("lines of %s: %w", p.Account, err)
	}
	return out, nil
}
