package recon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ResultKind is what Match found for a key.
type ResultKind string

// Result kinds. When a pair differs in several ways, the first of amount,
// status, fee is reported: a wrong amount usually drags the fee along.
const (
	Matched       ResultKind = "matched"        // both sides agree
	MissingOurs   ResultKind = "missing_ours"   // in the bill, not in our books
	MissingWallet ResultKind = "missing_wallet" // in our books, not in the bill
	AmountDiffers ResultKind = "amount_differs"
	StatusDiffers ResultKind = "status_differs"
	FeeDiffers    ResultKind = "fee_differs"
	// MerchantDiffers is a bill row credited to another wallet merchant
	// than the one the order was made for: never matched, whatever else
	// agrees.
	MerchantDiffers ResultKind = "merchant_differs"
)

// Result is one key's outcome. Bill is the zero Row for MissingWallet,
// Ours the zero Row for MissingOurs.
type Result struct {
	Kind ResultKind
	Bill Row
	Ours Row
}

// Summary counts a reconciliation. Its JSON names are the API's snake
// case, the counts of results named as the results are (missing_ours…).
type Summary struct {
	BillRows        int64 `json:"bill_rows"`
	OurRows         int64 `json:"our_rows"`
	Matched         int64 `json:"matched"`
	MissingOurs     int64 `json:"missing_ours"`
	MissingWallet   int64 `json:"missing_wallet"`
	AmountDiffers   int64 `json:"amount_differs"`
	StatusDiffers   int64 `json:"status_differs"`
	FeeDiffers      int64 `json:"fee_differs"`
	MerchantDiffers int64 `json:"merchant_differs"`
	// Net amounts (payments minus refunds) and fees of each side, fen.
	BillNet  int64 `json:"bill_net"`
	OurNet   int64 `json:"our_net"`
	BillFees int64 `json:"bill_fees"`
	OurFees  int64 `json:"our_fees"`
}

// legacySummary is Summary as it was stored before it had JSON names
// (BillRows, OurRows…): runs saved then still read back whole.
type legacySummary struct {
	BillRows, OurRows, Matched, MissingOurs, MissingWallet, AmountDiffers, StatusDiffers, FeeDiffers, MerchantDiffers int64
	BillNet, OurNet, BillFees, OurFees                                                                                int64
}

// UnmarshalJSON reads the snake-case names, or the Go names of summaries
// stored before them.
func (s *Summary) UnmarshalJSON(b []byte) error {
	type plain Summary
	if bytes.Contains(b, []byte(`"BillRows"`)) {
		var l legacySummary
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*s = Summary(l)
		return nil
	}
	return json.Unmarshal(b, (*plain)(s))
}

// Discrepancies is every result that is not Matched.
func (s Summary) Discrepancies() int64 {
	return s.MissingOurs + s.MissingWallet + s.AmountDiffers + s.StatusDiffers + s.FeeDiffers + s.MerchantDiffers
}

// Count is the number of results of a kind.
func (s Summary) Count(k ResultKind) int64 {
	switch k {
	case Matched:
		return s.Matched
	case MissingOurs:
		return s.MissingOurs
	case MissingWallet:
		return s.MissingWallet
	case AmountDiffers:
		return s.AmountDiffers
	case StatusDiffers:
		return s.StatusDiffers
	case FeeDiffers:
		return s.FeeDiffers
	case MerchantDiffers:
		return s.MerchantDiffers
	}
	return 0
}

func (s *Summary) add(k ResultKind) {
	switch k {
	case Matched:
		s.Matched++
	case MissingOurs:
		s.MissingOurs++
	case MissingWallet:
		s.MissingWallet++
	case AmountDiffers:
		s.AmountDiffers++
	case StatusDiffers:
		s.StatusDiffers++
	case FeeDiffers:
		s.FeeDiffers++
	case MerchantDiffers:
		s.MerchantDiffers++
	}
}

// NotSortedError is Match's error when a side is not in key order.
type NotSortedError struct {
	Side      string // "bill" or "ours"
	Row       int64  // 1-based position in that stream
	Key, Prev string
}

func (e *NotSortedError) Error() string {
	return fmt.Sprintf("recon: the %s stream is not sorted: row %d has key %s after %s (use SortRows)", e.Side, e.Row, e.Key, e.Prev)
}

// side is one sorted input of Match.
type side struct {
	name string
	src  RowSource
	row  Row
	ok   bool
	n    int64
	net  int64
	fees int64
}

func (s *side) advance() error {
	prev := s.row
	r, err := s.src.Next()
	if errors.Is(err, io.EOF) {
		s.ok = false
		return nil
	}
	if err != nil {
		return fmt.Errorf("recon: reading %s: %w", s.name, err)
	}
	s.n++
	if s.n > 1 && CompareKey(&r, &prev) < 0 {
		return &NotSortedError{Side: s.name, Row: s.n, Key: r.Key(), Prev: prev.Key()}
	}
	s.row, s.ok = r, true
	if r.Kind == KindRefund {
		s.net -= r.Amount
	} else {
		s.net += r.Amount
	}
	s.fees += r.Fee
	return nil
}

// Match merge-joins two streams sorted by key (CompareKey; see SortRows)
// and calls emit once per key: Matched or a discrepancy, with both rows.
// Two rows of one side with the same key are paired in turn with the other
// side's; an unpaired one is missing from the other side. Match stops at the
// first error of a source, of emit, or of ctx, and when a side is out of
// order (*NotSortedError). At and TransactionID are not compared: the key,
// Amount, Status and Fee are.
func Match(ctx context.Context, bill, ours RowSource, emit func(Result) error) (Summary, error) {
	b := &side{name: "bill", src: bill}
	o := &side{name: "ours", src: ours}
	var sum Summary
	finish := func(err error) (Summary, error) {
		sum.BillRows, sum.OurRows = b.n, o.n
		sum.BillNet, sum.OurNet, sum.BillFees, sum.OurFees = b.net, o.net, b.fees, o.fees
		return sum, err
	}
	if err := b.advance(); err != nil {
		return finish(err)
	}
	if err := o.advance(); err != nil {
		return finish(err)
	}
	for n := 0; b.ok || o.ok; n++ {
		if n&4095 == 0 && ctx.Err() != nil {
			return finish(ctx.Err())
		}
		var res Result
		var advB, advO bool
		switch c := compareSides(b, o); {
		case c < 0:
			res, advB = Result{Kind: MissingOurs, Bill: b.row}, true
		case c > 0:
			res, advO = Result{Kind: MissingWallet, Ours: o.row}, true
		default:
			res, advB, advO = Result{Kind: classify(&b.row, &o.row), Bill: b.row, Ours: o.row}, true, true
		}
		sum.add(res.Kind)
		if err := emit(res); err != nil {
			return finish(err)
		}
		if advB {
			if err := b.advance(); err != nil {
				return finish(err)
			}
		}
		if advO {
			if err := o.advance(); err != nil {
				return finish(err)
			}
		}
	}
	return finish(nil)
}

// compareSides orders the current rows; an ended side comes last.
func compareSides(b, o *side) int {
	switch {
	case !o.ok:
		return -1
	case !b.ok:
		return 1
	}
	return CompareKey(&b.row, &o.row)
}

func classify(bill, ours *Row) ResultKind {
	switch {
	case ours.Merchant != "" && bill.Merchant != ours.Merchant:
		return MerchantDiffers
	case bill.Amount != ours.Amount:
		return AmountDiffers
	case bill.Status != ours.Status:
		return StatusDiffers
	case bill.Fee != ours.Fee:
		return FeeDiffers
	}
	return Matched
}

// Reconcile sorts both sides (concurrently, each within opts' memory) and
// matches them. It is SortRows twice and Match.
func Reconcile(ctx context.Context, bill, ours RowSource, opts SortOptions, emit func(Result) error) (Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		sortedO *SortedRows
		errO    error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sortedO, errO = SortRows(ctx, ours, opts)
		if errO != nil {
			cancel()
		}
	}()
	sortedB, errB := SortRows(ctx, bill, opts)
	if errB != nil {
		cancel()
	}
	wg.Wait()
	if sortedB != nil {
		defer sortedB.Close()
	}
	if sortedO != nil {
		defer sortedO.Close()
	}
	// One side's failure cancels the other: report the cause.
	switch {
	case errB != nil && !(errO != nil && errors.Is(errB, context.Canceled)):
		return Summary{}, fmt.Errorf("recon: the bill: %w", errB)
	case errO != nil:
		return Summary{}, fmt.Errorf("recon: our books: %w", errO)
	}
	return Match(ctx, sortedB, sortedO, emit)
}
