package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestJobsAdmin: the queue counted by kind and state, dead jobs listed
// newest first and paged, a dead job revived once, and one whose key is
// held by a pending job refused; on both backends.
func TestJobsAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		var ids []int64
		for i, kind := range []string{"refund.execute", "refund.execute", "webhook.deliver"} {
			id, err := pool.JobInsert(ctx, store.JobInsertParams{Kind: kind, Payload: []byte(`{}`), UniqueKey: "k" + string(rune('a'+i)), RunAt: now.Add(time.Duration(i) * time.Minute), MaxAttempts: 1, CreatedAt: now})
			if err != nil || id == 0 {
				t.Fatal(id, err)
			}
			ids = append(ids, id)
		}
		claimed, err := pool.JobsClaim(ctx, store.JobsClaimParams{Worker: "w", Limit: 2, LockedUntil: now.Add(2 * time.Hour), Now: now.Add(time.Hour)})
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		for _, j := range claimed {
			if err := pool.JobFail(ctx, store.JobFailParams{ID: j.ID, LockedBy: "w", FinishedAt: now.Add(time.Hour), Error: "the wallet said no"}); err != nil {
				t.Fatal(err)
			}
		}
		counts, err := pool.JobCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, c := range counts {
			got[c.Kind+"/"+c.State] = c.Count
		}
		if got["refund.execute/dead"] != 2 || got["webhook.deliver/available"] != 1 || len(got) != 2 {
			t.Fatalf("counts %v", got)
		}
		dead, err := pool.JobsDead(ctx, store.JobsDeadParams{Limit: 1})
		if err != nil || len(dead) != 1 || dead[0].ID != ids[1] || dead[0].LastError != "the wallet said no" || dead[0].Attempts != 1 {
			t.Fatalf("first page of dead jobs: %+v %v", dead, err)
		}
		if next, err := pool.JobsDead(ctx, store.JobsDeadParams{Before: dead[0].ID, Limit: 10}); err != nil || len(next) != 1 || next[0].ID != ids[0] {
			t.Fatalf("second page: %+v %v", next, err)
		}
		if err := pool.JobRevive(ctx, store.JobReviveParams{ID: ids[0], At: now.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := pool.JobRevive(ctx, store.JobReviveParams{ID: ids[0], At: now}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("reviving a job that is not dead: %v, want ErrNoRows", err)
		}
		if err := pool.JobRevive(ctx, store.JobReviveParams{ID: ids[2], At: now}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("reviving an available job: %v, want ErrNoRows", err)
		}
		// A pending job with the dead one's key does its work already.
		if id, err := pool.JobInsert(ctx, store.JobInsertParams{Kind: "refund.execute", Payload: []byte(`{}`), UniqueKey: "kb", RunAt: now, MaxAttempts: 1, CreatedAt: now}); err != nil || id == 0 {
			t.Fatal(id, err)
		}
		if err := pool.JobRevive(ctx, store.JobReviveParams{ID: ids[1], At: now}); !store.IsUniqueViolation(err) {
			t.Fatalf("reviving a job whose key is pending: %v, want a unique violation", err)
		}
	})
}
