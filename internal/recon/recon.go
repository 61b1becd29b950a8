// Package recon reconciles the wallets' daily bills with hutong's books.
//
// It streams: a bill is read one row at a time (NewWeChatTradeBill,
// NewAlipayBill), both sides are put in key order with bounded memory
// (SortRows: an external merge sort), and Match merge-joins the two sorted
// streams into one Result per row. Nothing holds a whole bill in memory, so
// a million-row bill reconciles in well under 200 MB.
//
// # Money
//
// Amounts are int64 fen, parsed from the bills' yuan strings exactly, never
// through floating point. Row.Amount is the amount of the order or of the
// refund asked for (WeChat 订单金额 / 申请退款金额, Alipay 订单金额), always
// positive: the Kind says which way the money went.
//
// Fees are the channel's fee as a cost to the merchant: positive on a
// payment (charged), negative on a refund (given back), zero if none. The
// bills may write fees with sub-fen precision (WeChat writes five decimals,
// and up to six are accepted): a row's Fee is rounded to the fen half to
// even (banker's rounding), so that over a million rows the rounding does
// not drift one way. The bills' fee totals are checked against the exact,
// unrounded sum of the rows' fees (kept in 1/10000 fen), so rounding never
// makes a consistent bill look inconsistent. The sandbox's fees are whole
// fen, so no rounding happens on its bills.
//
// # Keys and order
//
// A row is identified by its key (Kind, OutTradeNo, OutRefundNo): a payment
// by its out_trade_no (OutRefundNo empty), a refund by its order's
// out_trade_no and its own out_refund_no (Alipay's out_request_no, which is
// unique only within its trade). Streams given to Match are sorted by that
// key: Kind first ("payment" before "refund"), then OutTradeNo, then
// OutRefundNo, each compared bytewise. CompareKey is that order.
//
// # Times
//
// The bills write Beijing time (UTC+8); Row.At is the same instant in UTC:
// when the payment succeeded or the refund was made.
package recon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Channels, as Row.Channel names them.
const (
	ChannelWeChatPay = "wechatpay"
	ChannelAlipay    = "alipay"
)

// Row kinds.
const (
	KindPayment = "payment"
	KindRefund  = "refund"
)

// StatusSuccess is the status of a successful payment or refund. WeChat
// bills write other statuses too (REVOKED, PROCESSING…); Alipay's bill lists
// only completed business, so its rows are all StatusSuccess.
const StatusSuccess = "SUCCESS"

// MaxAmount is the largest amount a bill row may carry: 100,000,000.00
// yuan (Alipay's limit; WeChat's is lower), in fen. A million such rows
// still sum without overflow.
const MaxAmount int64 = 100_000_000_00

// Row is one line of a bill, or one entry of hutong's books, in the form
// both sides are compared in.
//
// Its JSON names are the API's snake case (out_trade_no…).
type Row struct {
	Channel string `json:"channel"` // ChannelWeChatPay or ChannelAlipay
	// OutTradeNo is the merchant's order number (hutong's attempt id).
	OutTradeNo string `json:"out_trade_no"`
	// TransactionID is the wallet's order number (WeChat transaction_id,
	// Alipay trade_no).
	TransactionID string `json:"transaction_id,omitempty"`
	// OutRefundNo is the merchant's refund number (Alipay out_request_no);
	// empty on payments.
	OutRefundNo string `json:"out_refund_no,omitempty"`
	// RefundID is the wallet's refund number (WeChat refund_id); empty on
	// payments and on Alipay, which has none.
	RefundID string `json:"refund_id,omitempty"`
	Kind     string `json:"kind"` // KindPayment or KindRefund
	// Status is the payment's trade state or the refund's status, as the
	// wallet writes it (SUCCESS, REVOKED, PROCESSING…).
	Status string `json:"status"`
	// Amount is the order's or the refund's amount in fen, positive.
	Amount int64 `json:"amount"`
	// Fee is the fee charged (positive) or given back (negative), in fen,
	// rounded half to even from the bill's sub-fen precision.
	Fee int64 `json:"fee"`
	// At is when the payment succeeded or the refund was made, in UTC.
	At time.Time `json:"at"`
	// Merchant is the account the bill belongs to: WeChat's 特约商户号 (the
	// sub-merchant) if any, else 商户号; Alipay's PID (2088…).
	Merchant string `json:"merchant,omitempty"`
}

// legacyRow is Row as it was stored before it had JSON names.
type legacyRow struct {
	Channel, OutTradeNo, TransactionID, OutRefundNo, RefundID, Kind, Status string
	Amount, Fee                                                             int64
	At                                                                      time.Time
	Merchant                                                                string
}

// UnmarshalJSON reads the snake-case names, or the Go names of rows stored
// before them (a reconciliation's items).
func (r *Row) UnmarshalJSON(b []byte) error {
	type plain Row
	if bytes.Contains(b, []byte(`"OutTradeNo"`)) {
		var l legacyRow
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*r = Row(l)
		return nil
	}
	return json.Unmarshal(b, (*plain)(r))
}

// CompareKey orders rows by (Kind, OutTradeNo, OutRefundNo), the order Match
// expects.
func CompareKey(a, b *Row) int {
	if a.Kind != b.Kind {
		return strings.Compare(a.Kind, b.Kind)
	}
	if c := strings.Compare(a.OutTradeNo, b.OutTradeNo); c != 0 {
		return c
	}
	return strings.Compare(a.OutRefundNo, b.OutRefundNo)
}

// Key is the row's key as text, for messages: "payment/N123",
// "refund/N123/N123-R1".
func (r *Row) Key() string {
	if r.Kind == KindRefund || r.OutRefundNo != "" {
		return r.Kind + "/" + r.OutTradeNo + "/" + r.OutRefundNo
	}
	return r.Kind + "/" + r.OutTradeNo
}

// RowSource is a stream of rows. Next returns io.EOF after the last row;
// any other error ends the stream.
type RowSource interface {
	Next() (Row, error)
}

// RowSourceFunc adapts a function to RowSource, such as a database cursor.
type RowSourceFunc func() (Row, error)

// Next calls f.
func (f RowSourceFunc) Next() (Row, error) { return f() }

// Rows is a RowSource over a slice (tests, small books).
func Rows(rows []Row) RowSource {
	i := 0
	return RowSourceFunc(func() (Row, error) {
		if i == len(rows) {
			return Row{}, io.EOF
		}
		i++
		return rows[i-1], nil
	})
}

// Chain is the rows of each source in turn: several bills of one day (an
// account's own and those of merchants that authorized it) read as one.
func Chain(sources ...RowSource) RowSource {
	return RowSourceFunc(func() (Row, error) {
		for len(sources) > 0 {
			r, err := sources[0].Next()
			if !errors.Is(err, io.EOF) {
				return r, err
			}
			sources = sources[1:]
		}
		return Row{}, io.EOF
	})
}

// ReadAll drains a RowSource into a slice (tests, small bills).
func ReadAll(src RowSource) ([]Row, error) {
	var out []Row
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

// Progress reports how far a bill has been read: rows parsed so far, and
// bytes consumed out of bytesTotal (-1 if unknown). For a WeChat bill the
// bytes are the file's as given (compressed, if gzip); for an Alipay zip,
// the detail file's compressed bytes. A parser calls it at most every
// 100 ms while reading, and once more when the bill has been read to its
// end, so a progress bar can reach 100%.
type Progress func(rowsDone int64, bytesDone, bytesTotal int64)

// Option adjusts a bill parser.
type Option func(*options)

type options struct {
	progress   Progress
	bytesTotal int64
}

// WithProgress reports the parser's progress to p. bytesTotal is the
// WeChat bill's size; 0 lets the parser find it out where the reader can
// tell (an *os.File, a bytes.Reader…), else it is -1. NewAlipayBill knows
// its own total.
func WithProgress(p Progress, bytesTotal int64) Option {
	return func(o *options) { o.progress, o.bytesTotal = p, bytesTotal }
}

// progressInterval is the shortest time between two Progress calls.
const progressInterval = 100 * time.Millisecond

// progressor throttles Progress calls.
type progressor struct {
	fn    Progress
	total int64
	done  func() int64
	last  time.Time
}

func newProgressor(o options, done func() int64) progressor {
	return progressor{fn: o.progress, total: o.bytesTotal, done: done, last: time.Now()}
}

// tick is called for each row; it looks at the clock every 256 rows.
func (p *progressor) tick(rows int64) {
	if p.fn == nil || rows&255 != 0 {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= progressInterval {
		p.last = now
		p.fn(rows, p.done(), p.total)
	}
}

// finish reports the end of the bill.
func (p *progressor) finish(rows int64) {
	if p.fn != nil {
		p.fn(rows, p.done(), p.total)
		p.fn = nil
	}
}

// Errors a parser's error wraps, for errors.Is.
var (
	// ErrMalformed: a line does not have the bill's layout.
	ErrMalformed = errors.New("malformed bill")
	// ErrSummaryMismatch: the bill's totals do not match its rows.
	ErrSummaryMismatch = errors.New("bill totals do not match its rows")
	// ErrTruncated: the bill ends before its summary.
	ErrTruncated = errors.New("bill is truncated")
)

// ParseError is a malformed row or a summary that does not add up. A bill
// that fails to parse must not be reconciled: rows already returned were
// well-formed, but the bill as a whole is not trustworthy.
type ParseError struct {
	Bill  string // "wechatpay trade bill", "alipay bill 2088…_业务明细.csv"
	Line  int64  // 1-based line of the file, 0 if none
	Field string // the column as the bill names it, "" for the whole line
	Value string // the offending text, shortened
	Msg   string
	Err   error // ErrMalformed, ErrSummaryMismatch or ErrTruncated
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.Bill)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ", field %s", e.Field)
	}
	if e.Value != "" || e.Field != "" {
		fmt.Fprintf(&b, " %q", e.Value)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// shorten keeps error values readable.
func shorten(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
