package ledger

import (
	"testing"
	"time"
)

var at = time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)

func TestLifecycleBalances(t *testing.T) {
	fee := Rate(60).Of(10000) // 0.6% of ¥100.00 = 60 fen
	entries := []Entry{
		Paid("m1", "wechatpay", "p1", 10000, fee, at),
		RefundRequested("m1", "p1", "r1", 3000, false, at),
	}
	back := Rate(60).Of(3000) // the fee the wallet returns with a refund
	entries = append(entries, RefundDone("m1", "wechatpay", "p1", "r1", 3000, back, false, at))
	commission := Rate(500).Of(7000)
	entries = append(entries, Released("m1", "wechatpay", "p1", 7000, commission, fee-back, at))
	entries = append(entries, RefundRequested("m1", "p1", "r2", 1000, true, at))
	back2 := Rate(60).Of(1000)
	entries = append(entries, RefundDone("m1", "wechatpay", "p1", "r2", 1000, back2, true, at))
	payable := 7000 - commission - (fee - back) - 1000 + back2
	entries = append(entries, PaidOut("m1", payable, "batch-1", at))
	for _, e := range entries {
		if err := e.Check(); err != nil {
			t.Fatal(err)
		}
	}
	b := Balances(entries)
	want := map[string]int64{Escrow("m1"): 0, Payable("m1"): 0, InFlight("m1"): 0, Commission: 350, Payouts("m1"): payable,
		Clearing("wechatpay"): 10000 - fee - (3000 - back) - (1000 - back2), Fees("wechatpay"): 0}
	for acct, v := range want {
		if b[acct] != v {
			t.Errorf("%s = %d, want %d", acct, b[acct], v)
		}
	}
}

func TestRounding(t *testing.T) {
	for _, c := range []struct {
		r      Rate
		amount int64
		want   int64
	}{{60, 100, 1}, {60, 83, 0}, {60, 84, 1}, {600, 25, 2}, {500, 9999, 500}, {0, 100, 0}} {
		if got := c.r.Of(c.amount); got != c.want {
			t.Errorf("%d bps of %d = %d, want %d", c.r, c.amount, got, c.want)
		}
	}
}
