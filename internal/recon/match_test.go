package recon

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func pay(no string, amount, fee int64) Row {
	return Row{Channel: ChannelWeChatPay, Kind: KindPayment, OutTradeNo: no, TransactionID: "42" + no, Status: StatusSuccess, Amount: amount, Fee: fee, Merchant: "1900000001"}
}

func refund(no, orn string, amount, fee int64) Row {
	r := pay(no, amount, fee)
	r.Kind, r.OutRefundNo, r.RefundID = KindRefund, orn, "50"+orn
	return r
}

func with(r Row, f func(*Row)) Row { f(&r); return r }

type outcome struct {
	kind ResultKind
	key  string
}

func matchAll(t *testing.T, bill, ours []Row) ([]outcome, []Result, Summary) {
	t.Helper()
	var got []outcome
	var res []Result
	sum, err := Match(context.Background(), Rows(bill), Rows(ours), func(r Result) error {
		k := r.Bill.Key()
		if r.Kind == MissingWallet {
			k = r.Ours.Key()
		}
		got = append(got, outcome{r.Kind, k})
		res = append(res, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, res, sum
}

func TestMatchKinds(t *testing.T) {
	t.Parallel()
	p := pay("N1", 1000, 6)
	r := refund("N1", "N1-R1", 300, -2)
	for _, c := range []struct {
		name       string
		bill, ours []Row
		want       []outcome
	}{
		{"matched", []Row{p, r}, []Row{p, r}, []outcome{{Matched, "payment/N1"}, {Matched, "refund/N1/N1-R1"}}},
		{"missing ours", []Row{p, r}, []Row{p}, []outcome{{Matched, "payment/N1"}, {MissingOurs, "refund/N1/N1-R1"}}},
		{"missing wallet", []Row{r}, []Row{p, r}, []outcome{{MissingWallet, "payment/N1"}, {Matched, "refund/N1/N1-R1"}}},
		{"amount differs", []Row{with(p, func(r *Row) { r.Amount++ })}, []Row{p}, []outcome{{AmountDiffers, "payment/N1"}}},
		{"status differs", []Row{p, with(r, func(r *Row) { r.Status = "PROCESSING" })}, []Row{p, r}, []outcome{{Matched, "payment/N1"}, {StatusDiffers, "refund/N1/N1-R1"}}},
		{"fee differs", []Row{with(p, func(r *Row) { r.Fee = 5 })}, []Row{p}, []outcome{{FeeDiffers, "payment/N1"}}},
		{"amount before status before fee", []Row{with(p, func(r *Row) { r.Amount, r.Status, r.Fee = 1, "REVOKED", 0 })}, []Row{p},
			[]outcome{{AmountDiffers, "payment/N1"}}},
		{"status before fee", []Row{with(p, func(r *Row) { r.Status, r.Fee = "REVOKED", 0 })}, []Row{p}, []outcome{{StatusDiffers, "payment/N1"}}},
		{"time, transaction id and channel are not compared",
			[]Row{with(p, func(r *Row) { r.At, r.TransactionID, r.Channel = time.Now(), "x", "z" })}, []Row{p},
			[]outcome{{Matched, "payment/N1"}}},
		{"a row credited to another merchant is not ours, whatever else agrees",
			[]Row{with(p, func(r *Row) { r.Merchant = "1900000002" })}, []Row{with(p, func(r *Row) { r.Merchant = "1900000001" })},
			[]outcome{{MerchantDiffers, "payment/N1"}}},
		{"merchant before amount", []Row{with(p, func(r *Row) { r.Merchant, r.Amount = "1900000002", 1 })}, []Row{with(p, func(r *Row) { r.Merchant = "1900000001" })},
			[]outcome{{MerchantDiffers, "payment/N1"}}},
		{"a refund is not its payment", []Row{p}, []Row{with(p, func(r *Row) { r.Kind = KindRefund })},
			[]outcome{{MissingOurs, "payment/N1"}, {MissingWallet, "refund/N1/"}}},
		{"the same refund number on two trades", []Row{refund("A", "R1", 1, 0), refund("B", "R1", 1, 0)}, []Row{refund("B", "R1", 1, 0)},
			[]outcome{{MissingOurs, "refund/A/R1"}, {Matched, "refund/B/R1"}}},
		{"a duplicate in the bill", []Row{p, p}, []Row{p}, []outcome{{Matched, "payment/N1"}, {MissingOurs, "payment/N1"}}},
		{"a duplicate in ours", []Row{p}, []Row{p, p}, []outcome{{Matched, "payment/N1"}, {MissingWallet, "payment/N1"}}},
		{"both empty", nil, nil, nil},
		{"bill empty", nil, []Row{p, r}, []outcome{{MissingWallet, "payment/N1"}, {MissingWallet, "refund/N1/N1-R1"}}},
		{"ours empty", []Row{p, r}, nil, []outcome{{MissingOurs, "payment/N1"}, {MissingOurs, "refund/N1/N1-R1"}}},
		{"interleaved",
			[]Row{pay("A", 1, 0), pay("C", 1, 0), pay("E", 1, 0), refund("A", "1", 1, 0)},
			[]Row{pay("B", 1, 0), pay("C", 1, 0), pay("D", 1, 0), refund("A", "1", 1, 0), refund("Z", "1", 1, 0)},
			[]outcome{{MissingOurs, "payment/A"}, {MissingWallet, "payment/B"}, {Matched, "payment/C"}, {MissingWallet, "payment/D"},
				{MissingOurs, "payment/E"}, {Matched, "refund/A/1"}, {MissingWallet, "refund/Z/1"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, res, sum := matchAll(t, c.bill, c.ours)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got  %v\nwant %v", got, c.want)
			}
			var counted int64
			for _, k := range []ResultKind{Matched, MissingOurs, MissingWallet, AmountDiffers, StatusDiffers, FeeDiffers, MerchantDiffers} {
				counted += sum.Count(k)
			}
			if counted != int64(len(c.want)) || sum.BillRows != int64(len(c.bill)) || sum.OurRows != int64(len(c.ours)) {
				t.Fatalf("summary %+v", sum)
			}
			for _, r := range res { // both rows, or the zero Row on the missing side
				switch r.Kind {
				case MissingOurs:
					if r.Ours != (Row{}) || r.Bill.Kind == "" {
						t.Fatalf("%+v", r)
					}
				case MissingWallet:
					if r.Bill != (Row{}) || r.Ours.Kind == "" {
						t.Fatalf("%+v", r)
					}
				default:
					if CompareKey(&r.Bill, &r.Ours) != 0 {
						t.Fatalf("%+v", r)
					}
				}
			}
		})
	}
}

func TestMatchSummaryTotals(t *testing.T) {
	t.Parallel()
	_, _, sum := matchAll(t, []Row{pay("A", 1000, 6), refund("A", "1", 300, -2)}, []Row{pay("A", 1000, 6), pay("B", 50, 0)})
	if sum.BillNet != 700 || sum.OurNet != 1050 || sum.BillFees != 4 || sum.OurFees != 6 || sum.Discrepancies() != 2 {
		t.Fatalf("%+v", sum)
	}
}

func TestMatchRefusesUnsortedInput(t *testing.T) {
	t.Parallel()
	_, err := Match(context.Background(), Rows([]Row{pay("B", 1, 0), pay("A", 1, 0)}), Rows(nil), func(Result) error { return nil })
	var ns *NotSortedError
	if !errors.As(err, &ns) || ns.Side != "bill" || ns.Row != 2 || ns.Key != "payment/A" || ns.Prev != "payment/B" {
		t.Fatalf("got %v", err)
	}
	_, err = Match(context.Background(), Rows(nil), Rows([]Row{refund("A", "1", 1, 0), pay("A", 1, 0)}), func(Result) error { return nil })
	if !errors.As(err, &ns) || ns.Side != "ours" {
		t.Fatalf("got %v", err)
	}
}

func TestMatchStops(t *testing.T) {
	t.Parallel()
	rows := []Row{pay("A", 1, 0), pay("B", 1, 0), pay("C", 1, 0)}
	stop := errors.New("stop")
	n := 0
	_, err := Match(context.Background(), Rows(rows), Rows(rows), func(Result) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("emit error: %v after %d", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Match(ctx, Rows(rows), Rows(rows), func(Result) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	broken := errors.New("disk on fire")
	if _, err := Match(context.Background(), Rows(rows), RowSourceFunc(func() (Row, error) { return Row{}, broken }), func(Result) error { return nil }); !errors.Is(err, broken) {
		t.Fatalf("source error: %v", err)
	}
}

// Reconcile sorts unsorted sides first, with chunks spilled to disk.
func TestReconcile(t *testing.T) {
	t.Parallel()
	const n = 5000
	var bill, ours []Row
	for i := n - 1; i >= 0; i-- {
		g := synthRow(ChannelWeChatPay, i, n)
		bill = append(bill, g.Row)
	}
	for i := 0; i < n; i++ {
		r := synthRow(ChannelWeChatPay, (i*7)%n, n).Row
		switch i % 1000 {
		case 1:
			continue
		case 2:
			r.Fee++
		}
		ours = append(ours, r)
	}
	sum, err := Reconcile(context.Background(), Rows(bill), Rows(ours), SortOptions{ChunkBytes: 50_000, TempDir: t.TempDir()}, func(Result) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Matched != n-10 || sum.MissingOurs != 5 || sum.FeeDiffers != 5 || sum.Discrepancies() != 10 {
		t.Fatalf("%+v", sum)
	}
	// A failing side is named.
	_, err = Reconcile(context.Background(), Rows(bill), Rows([]Row{{Kind: "x"}}), SortOptions{}, func(Result) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "our books") || !strings.Contains(err.Error(), "kind") {
		t.Fatalf("got %v", err)
	}
}
