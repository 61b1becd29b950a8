package recon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

// randomRows has many duplicate keys, empty strings, zero and non-UTC
// times, so that the encoding and the stable order are both exercised.
func randomRows(seed uint64, n int) []Row {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([]Row, n)
	for i := range rows {
		r := Row{
			Channel:       []string{ChannelWeChatPay, ChannelAlipay}[rng.IntN(2)],
			Kind:          []string{KindPayment, KindRefund}[rng.IntN(2)],
			OutTradeNo:    fmt.Sprintf("T%d", rng.IntN(n/3+1)),
			TransactionID: fmt.Sprintf("%d", i), // tells duplicates apart
			Status:        []string{StatusSuccess, "REVOKED", ""}[rng.IntN(3)],
			Amount:        rng.Int64N(MaxAmount),
			Fee:           rng.Int64N(2000) - 1000,
			Merchant:      "1900000001",
		}
		if r.Kind == KindRefund {
			r.OutRefundNo = fmt.Sprintf("R%d", rng.IntN(4))
			r.RefundID = "5030" + r.TransactionID
		}
		switch rng.IntN(3) {
		case 0: // zero
		case 1:
			r.At = time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC()
		case 2:
			r.At = time.Unix(rng.Int64N(4e9), 0).UTC()
		}
		if rng.IntN(50) == 0 {
			r.OutTradeNo = r.OutTradeNo + "\u00e9\xff" // any bytes but NUL
		}
		rows[i] = r
	}
	return rows
}

func sortedCopy(rows []Row) []Row {
	want := slices.Clone(rows)
	slices.SortStableFunc(want, func(a, b Row) int { return CompareKey(&a, &b) })
	return want
}

func chunkFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestSortRows(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n      int
		opts   SortOptions
		spills bool
	}{
		{0, SortOptions{}, false},
		{1, SortOptions{}, false},
		{5000, SortOptions{}, false},                              // fits in one chunk
		{5000, SortOptions{ChunkBytes: 20_000}, true},             // ~25 chunks
		{5000, SortOptions{ChunkBytes: 4_000, MaxFanIn: 3}, true}, // merges of merges
		{1000, SortOptions{ChunkBytes: 1}, true},                  // a chunk per row
	} {
		t.Run(fmt.Sprintf("%d rows, %d-byte chunks, fan-in %d", c.n, c.opts.ChunkBytes, c.opts.MaxFanIn), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c.opts.TempDir = dir
			rows := randomRows(uint64(c.n), c.n)
			s, err := SortRows(context.Background(), Rows(rows), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if (s.Spilled() > 0) != c.spills {
				t.Fatalf("spilled %d chunks", s.Spilled())
			}
			got, err := ReadAll(s)
			if err != nil {
				t.Fatal(err)
			}
			want := sortedCopy(rows)
			if len(got) != len(want) {
				t.Fatalf("%d rows out, %d in", len(got), len(want))
			}
			for i := range want {
				if !sameRow(got[i], want[i]) {
					t.Fatalf("row %d\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
			if files := chunkFiles(t, dir); len(files) != 0 {
				t.Fatalf("left behind %v", files)
			}
			if _, err := s.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the end: %v", err)
			}
		})
	}
}

// sameRow: a and b are equal, their times as instants (a row read back
// from a chunk file may carry another Location).
func sameRow(a, b Row) bool {
	return a == b || a.At.Equal(b.At) && sameButAt(a, b)
}

func sameButAt(a, b Row) bool {
	a.At, b.At = time.Time{}, time.Time{}
	return a == b
}

func TestSortRowsCloseEarlyAndErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rows := randomRows(7, 2000)
	s, err := SortRows(context.Background(), Rows(rows), SortOptions{ChunkBytes: 10_000, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(chunkFiles(t, dir)) == 0 {
		t.Fatal("no chunk files")
	}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if files := chunkFiles(t, dir); len(files) != 0 {
		t.Fatalf("Close left %v", files)
	}
	if _, err := s.Next(); err == nil {
		t.Fatal("Next after Close")
	}

	// A source's error is returned, and its chunks are removed.
	boom := errors.New("boom")
	i := 0
	_, err = SortRows(context.Background(), RowSourceFunc(func() (Row, error) {
		if i++; i > 1500 {
			return Row{}, boom
		}
		return rows[i-1], nil
	}), SortOptions{ChunkBytes: 10_000, TempDir: dir})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if files := chunkFiles(t, dir); len(files) != 0 {
		t.Fatalf("a failed sort left %v", files)
	}
	// Rows it cannot order are refused.
	for _, bad := range []Row{{Kind: "chargeback", OutTradeNo: "x"}, {Kind: KindPayment, OutTradeNo: "a\x00b"}} {
		if _, err := SortRows(context.Background(), Rows([]Row{bad}), SortOptions{}); err == nil {
			t.Fatalf("sorted %+v", bad)
		}
	}
	// A canceled context stops it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SortRows(ctx, Rows(randomRows(1, 10000)), SortOptions{TempDir: dir}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}
