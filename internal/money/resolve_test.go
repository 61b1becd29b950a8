package money_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestResolveReconItem: a discrepancy is resolved only with a note, once,
// by who and when; an item the run lacks is not found.
func TestResolveReconItem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		svc, ctx := e.Svc.MoneyService(), context.Background()
		p := e.Paid(0, "res-1", 1200)
		if st := e.Sandbox.Helper("POST", "/sandbox/v1/bill_faults", map[string]any{"wallet": "wechatpay", "amount_delta": map[string]int64{p.ID: 1}}, nil); st != http.StatusOK {
			t.Fatalf("bill faults: %d", st)
		}
		run, err := svc.Reconcile(ctx, "wechatpay", chinatime.Date(time.Now()), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, items, err := svc.ReconRunItemsResolved(ctx, run.ID)
		if err != nil || len(items) != 1 || items[0].Seq != 0 || items[0].Resolution != nil || items[0].Key != "payment/"+p.ID {
			t.Fatalf("items: %+v %v", items, err)
		}
		rp := money.ResolveParams{RunID: run.ID, Seq: 0, Key: items[0].Key, By: "fin@hutong.test"}
		var fe *payment.FieldError
		if _, err := svc.ResolveReconItem(ctx, rp); !errors.As(err, &fe) || fe.Param != "note" {
			t.Errorf("no note: %v, want a field error on note", err)
		}
		bad := rp
		bad.Seq, bad.Note = 3, "n"
		if _, err := svc.ResolveReconItem(ctx, bad); !errors.Is(err, notfound.Err) {
			t.Errorf("an item the run lacks: %v, want not found", err)
		}
		rp.Note = "  金额差 1 分，钱包已更正  "
		it, err := svc.ResolveReconItem(ctx, rp)
		if err != nil || it.Resolution == nil || it.Resolution.Note != "金额差 1 分，钱包已更正" || it.Resolution.By != "fin@hutong.test" || it.Resolution.At.IsZero() {
			t.Fatalf("resolve: %+v %v", it, err)
		}
		rp.Note, rp.By = "again", "admin@hutong.test"
		if again, err := svc.ResolveReconItem(ctx, rp); !errors.Is(err, money.ErrAlreadyResolved) || again.Resolution.By != "fin@hutong.test" {
			t.Errorf("resolving twice: %+v %v, want the first resolution and ErrAlreadyResolved", again, err)
		}
		if counts, err := svc.ReconResolvedCounts(ctx, run.ID); err != nil || counts[run.ID] != 1 {
			t.Errorf("counts: %v %v", counts, err)
		}
	})
}
