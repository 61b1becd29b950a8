package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// jobState reads a job's state and worker, which no method returns.
func jobState(t *testing.T, db *store.DB, id int64) string {
	t.Helper()
	var state string
	var lockedBy sql.NullString
	if err := db.QueryRowContext(context.Background(), `SELECT state, locked_by FROM jobs WHERE id = $1`, id).Scan(&state, &lockedBy); err != nil {
		t.Fatalf("job %d: %v", id, err)
	}
	if lockedBy.Valid {
		return state + " by " + lockedBy.String
	}
	return state
}

func insertJob(t *testing.T, e store.Executor, p store.JobInsertParams) int64 {
	t.Helper()
	if p.Payload == nil {
		p.Payload = []byte(`{}`)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 3
	}
	id, err := e.JobInsert(context.Background(), p)
	if err != nil {
		t.Fatalf("JobInsert %+v: %v", p, err)
	}
	return id
}

// TestJobInsert: a job is inserted with its payload; a unique key keeps
// one available or running job per kind and is free again once the job is
// done; a job inserted in a transaction that rolls back never exists.
func TestJobInsert(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 12, 2, 0, 0, 0, time.UTC)

		first := insertJob(t, pool, store.JobInsertParams{Kind: "poll", Payload: []byte(`{"id":"att_1"}`), UniqueKey: "att_1/0", RunAt: now, CreatedAt: now})
		if first == 0 {
			t.Fatal("the first job with its key was refused")
		}
		if dup := insertJob(t, pool, store.JobInsertParams{Kind: "poll", UniqueKey: "att_1/0", RunAt: now, CreatedAt: now}); dup != 0 {
			t.Fatalf("a second available job with the key was inserted as %d", dup)
		}
		if other := insertJob(t, pool, store.JobInsertParams{Kind: "expire", UniqueKey: "att_1/0", RunAt: now, CreatedAt: now}); other == 0 {
			t.Fatal("the key was taken across kinds")
		}
		a := insertJob(t, pool, store.JobInsertParams{Kind: "plain", RunAt: now.Add(time.Hour), CreatedAt: now})
		b := insertJob(t, pool, store.JobInsertParams{Kind: "plain", RunAt: now.Add(time.Hour), CreatedAt: now})
		if a == 0 || b == 0 || a == b {
			t.Fatalf("jobs without a key: %d and %d", a, b)
		}

		got, err := pool.JobsClaim(ctx, store.JobsClaimParams{Worker: "w", Limit: 10, Now: now, LockedUntil: now.Add(time.Minute)})
		if err != nil || len(got) != 2 {
			t.Fatalf("claim: %+v, %v", got, err)
		}
		if got[0].ID != first || string(got[0].Payload) != `{"id":"att_1"}` || !got[0].RunAt.Equal(now) || got[0].Kind != "poll" || got[0].MaxAttempts != 3 {
			t.Fatalf("the claimed job: %+v", got[0])
		}
		if dup := insertJob(t, pool, store.JobInsertParams{Kind: "poll", UniqueKey: "att_1/0", RunAt: now, CreatedAt: now}); dup != 0 {
			t.Fatalf("a job with the key of a running one was inserted as %d", dup)
		}
		if err := pool.JobComplete(ctx, store.JobCompleteParams{ID: first, LockedBy: "w", FinishedAt: now}); err != nil {
			t.Fatal(err)
		}
		if next := insertJob(t, pool, store.JobInsertParams{Kind: "poll", UniqueKey: "att_1/0", RunAt: now, CreatedAt: now}); next == 0 {
			t.Fatal("a done job still holds its key")
		}

		rollBack := errors.New("roll back")
		var ghost int64
		err = db.Tx(ctx, func(tx *sql.Tx) error {
			var err error
			if ghost, err = store.JobsIn(tx).JobInsert(ctx, store.JobInsertParams{Kind: "ghost", Payload: []byte(`1`), RunAt: now, MaxAttempts: 1, CreatedAt: now}); err != nil {
				return err
			}
			return rollBack
		})
		if !errors.Is(err, rollBack) || ghost == 0 {
			t.Fatalf("the transaction to roll back: %v (job %d)", err, ghost)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = 'ghost'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d jobs of a rolled back transaction (%v)", n, err)
		}
	})
}

// TestJobsCancelPending: the available jobs of a kind whose key begins
// with the prefix go; a running or done one, another kind's, and a key
// that only begins with the same characters (att_10 beside att_1/) stay.
func TestJobsCancelPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 12, 2, 0, 0, 0, time.UTC)
		later := now.Add(time.Minute)

		running := insertJob(t, pool, store.JobInsertParams{Kind: "poll", UniqueKey: "att_1/0", RunAt: now, CreatedAt: now})
		done := insertJob(t, pool, store.JobInsertParams{Kind: "poll", UniqueKey: "att_1/d", RunAt: now, CreatedAt: now})
		claimed, err := pool.JobsClaim(ctx, store.JobsClaimParams{Worker: "w", Limit: 2, Now: now, LockedUntil: later})
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %+v, %v", claimed, err)
		}
		if err := pool.JobComplete(ctx, store.JobCompleteParams{ID: done, LockedBy: "w", FinishedAt: now}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []store.JobInsertParams{
			{Kind: "poll", UniqueKey: "att_1/1"},
			{Kind: "poll", UniqueKey: "att_1/2"},
			{Kind: "poll", UniqueKey: "att_10/0"},
			{Kind: "poll", UniqueKey: "att_2/0"},
			{Kind: "expire", UniqueKey: "att_1/0"},
		} {
			p.RunAt, p.CreatedAt = later, now
			insertJob(t, pool, p)
		}

		var n int64
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			var err error
			n, err = store.JobsIn(tx).JobsCancelPending(ctx, store.JobsCancelPendingParams{Kind: "poll", KeyPrefix: "att_1/"})
			return err
		}); err != nil || n != 2 {
			t.Fatalf("cancelled %d (%v), want 2", n, err)
		}
		left, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (string, error) {
			var kind, key, state string
			err := rows.Scan(&kind, &key, &state)
			return kind + " " + key + " " + state, err
		}, `SELECT kind, unique_key, state FROM jobs ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		want := "[poll att_1/0 running poll att_1/d done poll att_10/0 available poll att_2/0 available expire att_1/0 available]"
		if fmt.Sprint(left) != want {
			t.Fatalf("jobs left: %v\nwant %s", left, want)
		}
		if jobState(t, db, running) != "running by w" {
			t.Fatalf("the running job: %s", jobState(t, db, running))
		}
		for _, prefix := range []string{"", "att_\u00e9"} {
			if _, err := pool.JobsCancelPending(ctx, store.JobsCancelPendingParams{Kind: "poll", KeyPrefix: prefix}); err == nil {
				t.Fatalf("the prefix %q cancelled", prefix)
			}
		}
	})
}

// TestJobsClaim: a claim takes due jobs oldest first, at most Limit, and
// counts an attempt on each; a leased job is not claimed again until its
// lease has run out, then it is, by another worker.
func TestJobsClaim(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 12, 2, 0, 0, 0, time.UTC)
		// Inserted newest first: the claim orders by run_at, not id.
		var ids []int64
		for i := range 3 {
			ids = append(ids, insertJob(t, pool, store.JobInsertParams{Kind: "k", RunAt: now.Add(-time.Duration(i) * time.Second), CreatedAt: now}))
		}
		future := insertJob(t, pool, store.JobInsertParams{Kind: "k", RunAt: now.Add(time.Second), CreatedAt: now})
		lease := store.JobsClaimParams{Worker: "w1", Limit: 2, Now: now, LockedUntil: now.Add(30 * time.Second)}

		got, err := pool.JobsClaim(ctx, lease)
		if err != nil || len(got) != 2 {
			t.Fatalf("claim of 2: %+v, %v", got, err)
		}
		got2 := map[int64]bool{}
		for _, j := range got {
			if j.Attempt != 1 || j.LockedBy != "w1" {
				t.Fatalf("a claimed job: %+v", j)
			}
			got2[j.ID] = true
		}
		if !got2[ids[2]] || !got2[ids[1]] {
			t.Fatalf("claimed %+v, want the two oldest due, %d and %d", got, ids[2], ids[1])
		}

		lease.Worker, lease.Limit = "w2", 10
		got, err = pool.JobsClaim(ctx, lease)
		if err != nil || len(got) != 1 || got[0].ID != ids[0] {
			t.Fatalf("the second claim: %+v, %v; want only job %d", got, err, ids[0])
		}
		if got, err := pool.JobsClaim(ctx, lease); err != nil || len(got) != 0 {
			t.Fatalf("leased jobs claimed again: %+v, %v", got, err)
		}

		// At the instant the lease ends it still holds; just after, the
		// jobs (and the one now due) go to whoever claims.
		lease.Worker, lease.Now = "w3", now.Add(30*time.Second)
		lease.LockedUntil = lease.Now.Add(30 * time.Second)
		got, err = pool.JobsClaim(ctx, lease)
		if err != nil || len(got) != 1 || got[0].ID != future {
			t.Fatalf("at the lease's end: %+v, %v; want only job %d", got, err, future)
		}
		lease.Now = lease.Now.Add(time.Microsecond)
		got, err = pool.JobsClaim(ctx, lease)
		if err != nil || len(got) != 3 {
			t.Fatalf("after the lease: %+v, %v", got, err)
		}
		for _, j := range got {
			if j.Attempt != 2 || j.LockedBy != "w3" || jobState(t, db, j.ID) != "running by w3" {
				t.Fatalf("a job claimed again: %+v (%s)", j, jobState(t, db, j.ID))
			}
		}
		if err := pool.JobComplete(ctx, store.JobCompleteParams{ID: ids[0], LockedBy: "w2", FinishedAt: lease.Now}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("completion by the worker whose lease ran out: %v, want ErrNoRows", err)
		}
	})
}

// TestJobFinish: a job is completed, retried or failed only by the worker
// holding it and only while it runs; a retry keeps its attempts and waits
// for its time; a failed job is dead and never claimed again.
func TestJobFinish(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 12, 2, 0, 0, 0, time.UTC)
		claim := func(at time.Time) []store.JobRow {
			t.Helper()
			got, err := pool.JobsClaim(ctx, store.JobsClaimParams{Worker: "w", Limit: 10, Now: at, LockedUntil: at.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		a := insertJob(t, pool, store.JobInsertParams{Kind: "k", RunAt: now, CreatedAt: now, MaxAttempts: 2})
		if got := claim(now); len(got) != 1 || got[0].ID != a {
			t.Fatalf("claim: %+v", got)
		}
		for name, err := range map[string]error{
			"complete":  pool.JobComplete(ctx, store.JobCompleteParams{ID: a, LockedBy: "other", FinishedAt: now}),
			"retry":     pool.JobRetry(ctx, store.JobRetryParams{ID: a, LockedBy: "other", RunAt: now, Error: "x"}),
			"fail":      pool.JobFail(ctx, store.JobFailParams{ID: a, LockedBy: "other", FinishedAt: now, Error: "x"}),
			"a missing": pool.JobComplete(ctx, store.JobCompleteParams{ID: a + 1000, LockedBy: "w", FinishedAt: now}),
		} {
			if !errors.Is(err, store.ErrNoRows) {
				t.Fatalf("%s by a worker that does not hold the job: %v, want ErrNoRows", name, err)
			}
		}
		if s := jobState(t, db, a); s != "running by w" {
			t.Fatalf("after refused finishes: %s", s)
		}

		retryAt := now.Add(time.Hour)
		if err := pool.JobRetry(ctx, store.JobRetryParams{ID: a, LockedBy: "w", RunAt: retryAt, Error: "the wallet timed out"}); err != nil {
			t.Fatal(err)
		}
		if err := pool.JobRetry(ctx, store.JobRetryParams{ID: a, LockedBy: "w", RunAt: retryAt, Error: "again"}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("a retry of an available job: %v, want ErrNoRows", err)
		}
		if n, err := pool.JobsAvailable(ctx, "k"); err != nil || n != 1 {
			t.Fatalf("JobsAvailable = %d, %v", n, err)
		}
		if got := claim(retryAt.Add(-time.Microsecond)); len(got) != 0 {
			t.Fatalf("a retried job claimed before its time: %+v", got)
		}
		got := claim(retryAt)
		if len(got) != 1 || got[0].Attempt != 2 || !got[0].RunAt.Equal(retryAt) {
			t.Fatalf("the retried job: %+v", got)
		}
		if n, err := pool.JobsAvailable(ctx, "k"); err != nil || n != 0 {
			t.Fatalf("JobsAvailable of a running job = %d, %v", n, err)
		}
		if err := pool.JobFail(ctx, store.JobFailParams{ID: a, LockedBy: "w", FinishedAt: retryAt, Error: "the wallet timed out twice"}); err != nil {
			t.Fatal(err)
		}
		var lastErr string
		if err := db.QueryRowContext(ctx, `SELECT last_error FROM jobs WHERE id = $1`, a).Scan(&lastErr); err != nil || lastErr != "the wallet timed out twice" || jobState(t, db, a) != "dead" {
			t.Fatalf("the failed job: %s, %q (%v)", jobState(t, db, a), lastErr, err)
		}
		if got := claim(retryAt.Add(24 * time.Hour)); len(got) != 0 {
			t.Fatalf("a dead job claimed: %+v", got)
		}
		if err := pool.JobComplete(ctx, store.JobCompleteParams{ID: a, LockedBy: "w", FinishedAt: retryAt}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("completing a dead job: %v, want ErrNoRows", err)
		}

		// A completion in a transaction commits with it, or not at all.
		b := insertJob(t, pool, store.JobInsertParams{Kind: "k", RunAt: now, CreatedAt: now})
		if got := claim(retryAt); len(got) != 1 || got[0].ID != b {
			t.Fatalf("claim: %+v", got)
		}
		rollBack := errors.New("roll back")
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			if err := db.In(tx).JobComplete(ctx, store.JobCompleteParams{ID: b, LockedBy: "w", FinishedAt: retryAt}); err != nil {
				return err
			}
			return rollBack
		}); !errors.Is(err, rollBack) {
			t.Fatalf("the transaction to roll back: %v", err)
		}
		if s := jobState(t, db, b); s != "running by w" {
			t.Fatalf("a completion rolled back: %s", s)
		}
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			return db.In(tx).JobComplete(ctx, store.JobCompleteParams{ID: b, LockedBy: "w", FinishedAt: retryAt})
		}); err != nil || jobState(t, db, b) != "done" {
			t.Fatalf("a completion committed: %s, %v", jobState(t, db, b), err)
		}
	})
}

// TestJobsPrune: only jobs done before the cutoff go; dead ones, and
// those done since, stay.
func TestJobsPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 12, 2, 0, 0, 0, time.UTC)
		cutoff := now.Add(-7 * 24 * time.Hour)
		finish := map[string]func(id int64, at time.Time) error{
			"done": func(id int64, at time.Time) error {
				return pool.JobComplete(ctx, store.JobCompleteParams{ID: id, LockedBy: "w", FinishedAt: at})
			},
			"dead": func(id int64, at time.Time) error {
				return pool.JobFail(ctx, store.JobFailParams{ID: id, LockedBy: "w", FinishedAt: at, Error: "x"})
			},
		}
		ids := map[string]int64{}
		for _, c := range []struct {
			name, how string
			at        time.Time
		}{{"old done", "done", cutoff.Add(-time.Second)}, {"new done", "done", cutoff}, {"old dead", "dead", cutoff.Add(-time.Hour)}} {
			id := insertJob(t, pool, store.JobInsertParams{Kind: "k", RunAt: c.at, CreatedAt: c.at})
			if got, err := pool.JobsClaim(ctx, store.JobsClaimParams{Worker: "w", Limit: 1, Now: c.at, LockedUntil: c.at.Add(time.Minute)}); err != nil || len(got) != 1 || got[0].ID != id {
				t.Fatalf("claim %s: %+v, %v", c.name, got, err)
			}
			if err := finish[c.how](id, c.at); err != nil {
				t.Fatal(err)
			}
			ids[c.name] = id
		}
		ids["available"] = insertJob(t, pool, store.JobInsertParams{Kind: "k", RunAt: now, CreatedAt: cutoff.Add(-time.Hour)})

		if n, err := pool.JobsPrune(ctx, cutoff); err != nil || n != 1 {
			t.Fatalf("JobsPrune = %d, %v; want 1", n, err)
		}
		left, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (id int64, err error) { return id, rows.Scan(&id) }, `SELECT id FROM jobs ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{ids["new done"], ids["old dead"], ids["available"]}; fmt.Sprint(left) != fmt.Sprint(want) {
			t.Fatalf("jobs left %v, want %v", left, want)
		}
	})
}

// TestJobsClaimConcurrently: claimers on separate connections, in as many
// goroutines as processes would run, never hold one job at once, and
// between them claim every job. On PostgreSQL this is SKIP LOCKED at
// work; on SQLite, the single writer.
func TestJobsClaimConcurrently(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2024, 9, 12, 2, 0, 0, 0, time.UTC)
		const jobs, claimers = 200, 8
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			for range jobs {
				if _, err := store.JobsIn(tx).JobInsert(ctx, store.JobInsertParams{Kind: "k", Payload: []byte(`{}`), RunAt: now, MaxAttempts: 1, CreatedAt: now}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		claimedBy := map[int64]string{}
		var wg sync.WaitGroup
		errs := make(chan error, claimers)
		for c := range claimers {
			worker := fmt.Sprintf("w%d", c)
			wg.Go(func() {
				for {
					got, err := db.Pool().JobsClaim(ctx, store.JobsClaimParams{Worker: worker, Limit: 3, Now: now, LockedUntil: now.Add(time.Hour)})
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					if len(got) > 3 {
						errs <- fmt.Errorf("%s claimed %d jobs, more than its limit of 3", worker, len(got))
						return
					}
					mu.Lock()
					for _, j := range got {
						if other, ok := claimedBy[j.ID]; ok {
							mu.Unlock()
							errs <- fmt.Errorf("job %d claimed by %s and %s", j.ID, other, worker)
							return
						}
						claimedBy[j.ID] = worker
					}
					mu.Unlock()
					for _, j := range got {
						if err := db.Pool().JobComplete(ctx, store.JobCompleteParams{ID: j.ID, LockedBy: worker, FinishedAt: now}); err != nil {
							errs <- fmt.Errorf("job %d completed by its holder %s: %w", j.ID, worker, err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if len(claimedBy) != jobs {
			t.Fatalf("%d jobs claimed, want %d", len(claimedBy), jobs)
		}
		var done int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE state = 'done'`).Scan(&done); err != nil || done != jobs {
			t.Fatalf("%d jobs done (%v), want %d", done, err, jobs)
		}
	})
}
