package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestReconItemResolve: a discrepancy is resolved once with its note, who
// and when; a second resolution changes nothing; an item that is not the
// run's (or not under that key) is ErrNoRows; the items read back with
// their resolutions, and a page of runs counts its resolved items.
func TestReconItemResolve(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		at := time.Date(2024, 9, 6, 1, 2, 3, 456789000, time.UTC)
		for _, id := range []string{"rcn_1", "rcn_2"} {
			if err := pool.ReconRunInsert(ctx, store.ReconRunInsertParams{ID: id, Channel: "wechatpay", Day: "2024-09-05", Status: "done", CreatedAt: at, Data: json.RawMessage(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
		for i, key := range []string{"payment/a", "payment/b"} {
			if err := pool.ReconItemInsert(ctx, store.ReconItemInsertParams{RunID: "rcn_1", Seq: i, Kind: "amount_differs", ObjectID: key, Data: json.RawMessage(`{"key":"` + key + `"}`)}); err != nil {
				t.Fatal(err)
			}
		}
		first := store.ReconItemResolveParams{RunID: "rcn_1", Seq: 1, ItemKey: "payment/b", Note: "钱包次日补单", By: "fin@hutong.test", At: at}
		if stored, err := pool.ReconItemResolve(ctx, first); err != nil || !stored {
			t.Fatalf("resolving: %v %v, want stored", stored, err)
		}
		again := first
		again.Note, again.By = "another note", "admin@hutong.test"
		if stored, err := pool.ReconItemResolve(ctx, again); err != nil || stored {
			t.Fatalf("resolving again: %v %v, want not stored, no error", stored, err)
		}
		for _, bad := range []store.ReconItemResolveParams{
			{RunID: "rcn_1", Seq: 0, ItemKey: "payment/b", Note: "n", By: "x", At: at}, // another item's key
			{RunID: "rcn_1", Seq: 7, ItemKey: "payment/a", Note: "n", By: "x", At: at},
			{RunID: "rcn_2", Seq: 0, ItemKey: "payment/a", Note: "n", By: "x", At: at},
		} {
			if _, err := pool.ReconItemResolve(ctx, bad); !errors.Is(err, store.ErrNoRows) {
				t.Errorf("resolving %+v: %v, want ErrNoRows", bad, err)
			}
		}
		items, err := pool.ReconItemsResolved(ctx, "rcn_1")
		if err != nil || len(items) != 2 {
			t.Fatalf("ReconItemsResolved = %+v, %v", items, err)
		}
		if items[0].Seq != 0 || items[0].ObjectID != "payment/a" || items[0].Kind != "amount_differs" || items[0].Resolution != nil || string(items[0].Data) != `{"key":"payment/a"}` {
			t.Errorf("the open item: %+v", items[0])
		}
		r := items[1].Resolution
		if r == nil || r.Note != "钱包次日补单" || r.By != "fin@hutong.test" || !r.At.Equal(at.Truncate(time.Microsecond)) || r.At.Location() != time.UTC {
			t.Errorf("the resolved item: %+v %+v, want the first resolution", items[1], r)
		}
		if items, err := pool.ReconItemsResolved(ctx, "rcn_2"); err != nil || items == nil || len(items) != 0 {
			t.Errorf("a run without items: %#v %v, want empty", items, err)
		}
		counts, err := pool.ReconResolvedCounts(ctx, "rcn_1", "rcn_2")
		if err != nil || len(counts) != 1 || counts["rcn_1"] != 1 {
			t.Errorf("ReconResolvedCounts = %v, %v", counts, err)
		}
		if counts, err := pool.ReconResolvedCounts(ctx); err != nil || len(counts) != 0 {
			t.Errorf("ReconResolvedCounts of no run = %v, %v", counts, err)
		}
	})
}
