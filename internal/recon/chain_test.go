package recon

import (
	"errors"
	"testing"
)

// Chain reads each source in turn, skips empty ones, and stops at the
// first error.
func TestChain(t *testing.T) {
	a, b := Row{Kind: "payment", OutTradeNo: "a"}, Row{Kind: "payment", OutTradeNo: "b"}
	got, err := ReadAll(Chain(Rows(nil), Rows([]Row{a}), Rows(nil), Rows([]Row{b})))
	if err != nil || len(got) != 2 || got[0].OutTradeNo != "a" || got[1].OutTradeNo != "b" {
		t.Fatalf("chained %+v, %v", got, err)
	}
	boom := errors.New("boom")
	_, err = ReadAll(Chain(RowSourceFunc(func() (Row, error) { return Row{}, boom }), Rows([]Row{a})))
	if !errors.Is(err, boom) {
		t.Fatalf("a failing source: %v", err)
	}
}
