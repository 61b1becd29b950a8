// Package ledger is hutong's double-entry bookkeeping, without I/O: the
// accounts money moves between, and the journal entries each movement
// makes. Every entry's lines sum to zero; balances are sums of lines. The
// gateway writes an entry in the same transaction as the state change that
// causes it, and keeps cached balances it can rebuild from the lines.
//
// Amounts are int64 fen; a line's Amount is positive for a debit and
// negative for a credit. An account's balance "in its own terms" is the
// sum of its lines times its normal side (+1 for assets and expenses,
// which grow by debits; -1 for liabilities and revenue, which grow by
// credits), so that escrow held for a merchant reads as a positive number.
//
// The money's path:
//
//	paid         Dr clearing:CH  A−F   Dr fees:CH F              Cr escrow:M A
//	refund asked Dr escrow:M R (or payable:M after release)      Cr refunds_in_flight:M R
//	refund done  Dr refunds_in_flight:M R   Cr clearing:CH R−Fr   Cr fees:CH Fr (before release)
//	                                         Cr clearing:CH R−Fr   Cr payable:M Fr (after release)
//	refund failed Dr refunds_in_flight:M R  Cr escrow:M or payable:M R
//	released     Dr escrow:M E   Cr payable:M E−C−Fe   Cr commission C   Cr fees:CH Fe
//	paid out     Dr payable:M P  Cr payouts:M P
//	duplicate    Dr clearing:CH D   Cr duplicates:CH D; refunded: the reverse
//
// where A is the amount paid, F the wallet's fee on it, R a refund and Fr
// the part of the fee the wallet returns with it, E what is left in escrow
// at release, Fe the fee not yet returned, C the platform's commission.
// The merchant bears the wallet's fee (it is recovered at release) and the
// commission; the platform keeps its commission on refunds after release.
package ledger

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Account names.
func Clearing(channel string) string   { return "clearing:" + channel }
func Fees(channel string) string       { return "fees:" + channel }
func Duplicates(channel string) string { return "duplicates:" + channel }
func Escrow(merchant string) string    { return "escrow:" + merchant }
func Payable(merchant string) string   { return "payable:" + merchant }
func InFlight(merchant string) string  { return "refunds_in_flight:" + merchant }
func Payouts(merchant string) string   { return "payouts:" + merchant }

// Commission is the platform's commission revenue.
const Commission = "commission"

// Normal is an account's normal side: +1 for debit-normal accounts (money
// at the wallets, fees paid), -1 for credit-normal ones (what is owed to
// merchants and buyers, what was paid out to merchants, and the platform's
// revenue).
func Normal(account string) int64 {
	kind, _, _ := strings.Cut(account, ":")
	switch kind {
	case "clearing", "fees":
		return 1
	}
	return -1
}

// Platform reports whether account is one of the platform's own accounts
// (a channel's clearing, fees and duplicates, and the commission), which
// every merchant's postings share, rather than one merchant's (escrow,
// payable, refunds in flight, payouts).
func Platform(account string) bool {
	kind, _, _ := strings.Cut(account, ":")
	switch kind {
	case "clearing", "fees", "duplicates", Commission:
		return true
	}
	return false
}

// Line is one account's part of an entry: positive debits, negative credits.
type Line struct {
	Account string `json:"account"`
	Amount  int64  `json:"amount"`
}

// Entry is one movement of money, immutable once written.
type Entry struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	MerchantID string    `json:"merchant_id"`
	PaymentID  string    `json:"payment_id,omitempty"`
	RefundID   string    `json:"refund_id,omitempty"`
	Memo       string    `json:"memo,omitempty"`
	At         time.Time `json:"at"`
	Lines      []Line    `json:"lines"`
}

// Entry kinds.
const (
	KindPaid             = "paid"
	KindRefundRequested  = "refund_requested"
	KindRefundDone       = "refund_done"
	KindRefundFailed     = "refund_failed"
	KindReleased         = "released"
	KindPaidOut          = "paid_out"
	KindDuplicate        = "duplicate_charge"
	KindDuplicateRefund  = "duplicate_refund"
	KindDuplicateFailure = "duplicate_refund_failed"
)

// ErrUnbalanced is an entry whose lines do not sum to zero.
var ErrUnbalanced = errors.New("ledger: the entry's lines do not sum to zero")

// Check reports whether e is well formed: at least two lines, no zero
// line, and a sum of zero.
func (e Entry) Check() error {
	if len(e.Lines) < 2 {
		return fmt.Errorf("ledger: entry %s has %d lines", e.Kind, len(e.Lines))
	}
	var sum int64
	for _, l := range e.Lines {
		if l.Amount == 0 || l.Account == "" {
			return fmt.Errorf("ledger: entry %s has an empty line", e.Kind)
		}
		sum += l.Amount
	}
	if sum != 0 {
		return fmt.Errorf("%w: %s sums to %d", ErrUnbalanced, e.Kind, sum)
	}
	return nil
}

// entry builds an entry, dropping zero lines (a fee of 0 fen).
func entry(kind, merchant, payment, refund string, at time.Time, lines ...Line) Entry {
	e := Entry{Kind: kind, MerchantID: merchant, PaymentID: payment, RefundID: refund, At: at}
	for _, l := range lines {
		if l.Amount != 0 {
			e.Lines = append(e.Lines, l)
		}
	}
	return e
}

// Rate is a share in basis points (1/10000).
type Rate int64

// Of is r of amount in fen, rounded half up to the fen (amounts are
// positive): the rounding both wallets use for their fees, and hutong's for
// commissions.
func (r Rate) Of(amount int64) int64 { return (amount*int64(r) + 5000) / 10000 }

// Paid is the entry of a payment the wallet took: the money is at the
// wallet (less its fee) and held in escrow for the merchant.
func Paid(merchant, channel, payment string, amount, fee int64, at time.Time) Entry {
	return entry(KindPaid, merchant, payment, "", at,
		Line{Clearing(channel), amount - fee}, Line{Fees(channel), fee}, Line{Escrow(merchant), -amount})
}

// RefundRequested takes a refund out of escrow (before release) or out of
// the merchant's payable (after), into refunds in flight.
func RefundRequested(merchant, payment, refund string, amount int64, released bool, at time.Time) Entry {
	from := Escrow(merchant)
	if released {
		from = Payable(merchant)
	}
	return entry(KindRefundRequested, merchant, payment, refund, at, Line{from, amount}, Line{InFlight(merchant), -amount})
}

// RefundDone is the wallet paying the refund back, returning feeBack of
// its fee: to the platform before release, to the merchant (who bore the
// fee) after.
func RefundDone(merchant, channel, payment, refund string, amount, feeBack int64, released bool, at time.Time) Entry {
	back := Fees(channel)
	if released {
		back = Payable(merchant)
	}
	return entry(KindRefundDone, merchant, payment, refund, at,
		Line{InFlight(merchant), amount}, Line{Clearing(channel), -(amount - feeBack)}, Line{back, -feeBack})
}

// RefundFailed puts a refund the wallet refused back where it came from.
func RefundFailed(merchant, payment, refund string, amount int64, released bool, at time.Time) Entry {
	to := Escrow(merchant)
	if released {
		to = Payable(merchant)
	}
	return entry(KindRefundFailed, merchant, payment, refund, at, Line{InFlight(merchant), amount}, Line{to, -amount})
}

// Released moves what is left in escrow to the merchant's payable, less the
// platform's commission and the wallet's fee still borne.
func Released(merchant, channel, payment string, escrow, commission, fee int64, at time.Time) Entry {
	return entry(KindReleased, merchant, payment, "", at,
		Line{Escrow(merchant), escrow}, Line{Payable(merchant), -(escrow - commission - fee)}, Line{Commission, -commission}, Line{Fees(channel), -fee})
}

// PaidOut is a settlement: the merchant's payable paid to its bank. The
// payouts:M account counts, credit-normal, what has been sent to M (money
// that left the platform's accounts at the wallets).
func PaidOut(merchant string, amount int64, batch string, at time.Time) Entry {
	e := entry(KindPaidOut, merchant, "", "", at, Line{Payable(merchant), amount}, Line{Payouts(merchant), -amount})
	e.Memo = batch
	return e
}

// Duplicate is a second payment of an already paid payment, owed back to
// its payer; DuplicateRefunded returns it.
func Duplicate(merchant, channel, payment string, amount int64, at time.Time) Entry {
	return entry(KindDuplicate, merchant, payment, "", at, Line{Clearing(channel), amount}, Line{Duplicates(channel), -amount})
}

// DuplicateRefunded is a duplicate charge paid back.
func DuplicateRefunded(merchant, channel, payment, refund string, amount int64, at time.Time) Entry {
	return entry(KindDuplicateRefund, merchant, payment, refund, at, Line{Duplicates(channel), amount}, Line{Clearing(channel), -amount})
}

// Balances sums entries into balances per account, in the accounts' own
// terms (see Normal).
func Balances(entries []Entry) map[string]int64 {
	out := map[string]int64{}
	for _, e := range entries {
		for _, l := range e.Lines {
			out[l.Account] += l.Amount * Normal(l.Account)
		}
	}
	return out
}
