package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

var ctx = context.Background()

// clock is a settable time for leases and run_at.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2024, 9, 12, 2, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

func enqueue(t *testing.T, db *store.DB, now time.Time, j jobs.New) int64 {
	t.Helper()
	var id int64
	if err := db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = jobs.Enqueue(ctx, tx, j, now)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestEnqueueClaimComplete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		q := &jobs.Queue{DB: db, Now: c.Now}

		// A job enqueued in a transaction that rolls back never exists.
		rollBack := errors.New("roll back")
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: "ghost", Payload: 1}, c.Now()); err != nil {
				return err
			}
			return rollBack
		})
		if !errors.Is(err, rollBack) {
			t.Fatalf("the transaction to roll back: %v", err)
		}
		id := enqueue(t, db, c.Now(), jobs.New{Kind: "expire", Payload: map[string]string{"payment": "pay_1"}})
		later := enqueue(t, db, c.Now(), jobs.New{Kind: "poll", Payload: 2, RunAt: c.Now().Add(time.Minute)})

		got, err := q.Claim(ctx, "w1", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != id || got[0].Kind != "expire" || got[0].Attempt != 1 || string(got[0].Payload) != `{"payment":"pay_1"}` {
			t.Fatalf("claimed %+v", got)
		}
		if again, err := q.Claim(ctx, "w2", 10, time.Minute); err != nil || len(again) != 0 {
			t.Fatalf("a leased job was claimed again: %+v %v", again, err)
		}
		if err := q.Complete(ctx, nil, got[0]); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Minute)
		got, err = q.Claim(ctx, "w1", 10, time.Minute)
		if err != nil || len(got) != 1 || got[0].ID != later {
			t.Fatalf("the delayed job: %+v %v", got, err)
		}
	})
}

func TestUniqueKeyKeepsOnePending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		q := &jobs.Queue{DB: db, Now: c.Now}
		first := enqueue(t, db, c.Now(), jobs.New{Kind: "poll", Payload: 1, UniqueKey: "pay_1"})
		if dup := enqueue(t, db, c.Now(), jobs.New{Kind: "poll", Payload: 1, UniqueKey: "pay_1"}); dup != 0 || first == 0 {
			t.Fatalf("first %d, duplicate %d", first, dup)
		}
		if other := enqueue(t, db, c.Now(), jobs.New{Kind: "expire", Payload: 1, UniqueKey: "pay_1"}); other == 0 {
			t.Fatal("the key is per kind")
		}
		got, err := q.Claim(ctx, "w", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range got {
			if err := q.Complete(ctx, nil, j); err != nil {
				t.Fatal(err)
			}
		}
		if next := enqueue(t, db, c.Now(), jobs.New{Kind: "poll", Payload: 1, UniqueKey: "pay_1"}); next == 0 {
			t.Fatal("a finished job still blocks its key")
		}
	})
}

func TestExpiredLeaseIsClaimedAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		q := &jobs.Queue{DB: db, Now: c.Now}
		enqueue(t, db, c.Now(), jobs.New{Kind: "webhook", Payload: 1})
		first, err := q.Claim(ctx, "dead-worker", 1, 30*time.Second)
		if err != nil || len(first) != 1 {
			t.Fatalf("claim: %+v %v", first, err)
		}
		c.Add(31 * time.Second) // the first worker died holding it
		second, err := q.Claim(ctx, "live-worker", 1, 30*time.Second)
		if err != nil || len(second) != 1 || second[0].Attempt != 2 {
			t.Fatalf("reclaim: %+v %v", second, err)
		}
		if err := q.Complete(ctx, nil, first[0]); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Fatalf("the dead worker finished a job it lost: %v", err)
		}
		if err := q.Complete(ctx, nil, second[0]); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRetryThenDead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		q := &jobs.Queue{DB: db, Now: c.Now}
		enqueue(t, db, c.Now(), jobs.New{Kind: "webhook", Payload: 1, MaxAttempts: 2})
		j, err := q.Claim(ctx, "w", 1, time.Minute)
		if err != nil || len(j) != 1 {
			t.Fatalf("claim: %+v %v", j, err)
		}
		if err := q.Retry(ctx, j[0], errors.New("503 from the merchant"), c.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, err := q.Claim(ctx, "w", 1, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("claimed before its retry time: %+v %v", got, err)
		}
		c.Add(10 * time.Second)
		j, err = q.Claim(ctx, "w", 1, time.Minute)
		if err != nil || len(j) != 1 || j[0].Attempt != 2 {
			t.Fatalf("retry: %+v %v", j, err)
		}
		if err := q.Retry(ctx, j[0], errors.New("503 again"), c.Now()); err != nil {
			t.Fatal(err)
		}
		var state, lastErr string
		if err := db.QueryRow(`SELECT state, last_error FROM jobs WHERE id = $1`, j[0].ID).Scan(&state, &lastErr); err != nil {
			t.Fatal(err)
		}
		if state != "dead" || lastErr != "503 again" {
			t.Fatalf("after max attempts: %s %q", state, lastErr)
		}
	})
}

// TestWorkersNeverShareAJob runs four workers, each with its own
// connection pool as separate gateway processes would have, over one
// database: every job runs exactly once and never on two workers at once.
func TestWorkersNeverShareAJob(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		const n = 200
		setup, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer setup.Close()
		for i := range n {
			enqueue(t, setup, time.Now(), jobs.New{Kind: "work", Payload: i})
		}
		var mu sync.Mutex
		runs := map[int64]int{}
		running := map[int64]bool{}
		var overlap atomic.Bool
		handler := func(ctx context.Context, j jobs.Job) error {
			mu.Lock()
			if running[j.ID] {
				overlap.Store(true)
			}
			running[j.ID] = true
			runs[j.ID]++
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			delete(running, j.ID)
			mu.Unlock()
			return nil
		}
		wctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range 4 {
			db, err := store.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			w := &jobs.Worker{Queue: &jobs.Queue{DB: db}, ID: fmt.Sprintf("worker-%d", i), Handlers: map[string]jobs.Handler{"work": handler},
				Poll: 5 * time.Millisecond, Lease: time.Minute, Concurrency: 4}
			wg.Add(1)
			go func() { defer wg.Done(); w.Run(wctx) }()
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			var done int
			if err := setup.QueryRow(`SELECT COUNT(*) FROM jobs WHERE state = 'done'`).Scan(&done); err != nil {
				t.Fatal(err)
			}
			if done == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d jobs done after a minute", done, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		wg.Wait()
		if overlap.Load() {
			t.Fatal("two workers ran one job at once")
		}
		for id, k := range runs {
			if k != 1 {
				t.Fatalf("job %d ran %d times", id, k)
			}
		}
		if len(runs) != n {
			t.Fatalf("%d jobs ran, want %d", len(runs), n)
		}
	})
}

func TestWorkerRetriesFailuresAndSurvivesPanics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		enqueue(t, db, time.Now(), jobs.New{Kind: "flaky", Payload: 1})
		enqueue(t, db, time.Now(), jobs.New{Kind: "panics", Payload: 1, MaxAttempts: 1})
		var tries atomic.Int32
		w := &jobs.Worker{Queue: &jobs.Queue{DB: db}, ID: "w", Poll: 5 * time.Millisecond,
			Backoff: func(int) time.Duration { return 0 },
			Handlers: map[string]jobs.Handler{
				"flaky": func(ctx context.Context, j jobs.Job) error {
					if tries.Add(1) < 3 {
						return errors.New("not yet")
					}
					return nil
				},
				"panics": func(ctx context.Context, j jobs.Job) error { panic("bad job") },
			}}
		wctx, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		go w.Run(wctx)
		for {
			var done, dead int
			if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE state = 'done'`).Scan(&done); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE state = 'dead'`).Scan(&dead); err != nil {
				t.Fatal(err)
			}
			if done == 1 && dead == 1 {
				break
			}
			if wctx.Err() != nil {
				t.Fatalf("done %d, dead %d", done, dead)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		if tries.Load() != 3 {
			t.Fatalf("the flaky job ran %d times, want 3", tries.Load())
		}
	})
}

func TestPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2024, 9, 5, 0, 0, 0, 0, time.UTC)
		q := &jobs.Queue{DB: db, Now: func() time.Time { return now }}
		for range 3 {
			err := db.Tx(ctx, func(tx *sql.Tx) error {
				_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: "k", Payload: struct{}{}, RunAt: now}, now)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		js, err := q.Claim(ctx, "w", 3, time.Minute)
		if err != nil || len(js) != 3 {
			t.Fatalf("claim: %d %v", len(js), err)
		}
		for _, j := range js[:2] {
			if err := q.Complete(ctx, nil, j); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(8 * 24 * time.Hour)
		n, err := q.Prune(ctx, now.Add(-7*24*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want the 2 done jobs", n, err)
		}
		var left int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 1 {
			t.Fatalf("%d jobs left, want the running one", left)
		}
	})
}

// TestWorkerClaimsAgainWhenASlotFrees: a backlog larger than the worker's
// concurrency is worked through without waiting for polls (here an hour
// apart), each finished job making room for the next claim.
func TestWorkerClaimsAgainWhenASlotFrees(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const backlog = 40
		for i := range backlog {
			enqueue(t, db, time.Now(), jobs.New{Kind: "work", Payload: i})
		}
		var ran atomic.Int32
		w := &jobs.Worker{Queue: &jobs.Queue{DB: db}, ID: "w", Poll: time.Hour, Concurrency: 3,
			Handlers: map[string]jobs.Handler{"work": func(ctx context.Context, j jobs.Job) error { ran.Add(1); return nil }}}
		wctx, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		done := make(chan struct{})
		go func() { w.Run(wctx); close(done) }()
		for ran.Load() < backlog && wctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		stop()
		<-done
		if n := ran.Load(); n != backlog {
			t.Fatalf("%d of %d jobs ran with polls an hour apart: the worker waited for a poll to claim again", n, backlog)
		}
	})
}

// TestCancelPending deletes the jobs of a kind not yet started whose key
// begins with the prefix, and only those.
func TestCancelPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Now()
		for _, j := range []jobs.New{
			{Kind: "poll", UniqueKey: "att_1/0", Payload: 1},
			{Kind: "poll", UniqueKey: "att_1/1", Payload: 1},
			{Kind: "poll", UniqueKey: "att_10/0", Payload: 1}, // another order whose id att_1 begins
			{Kind: "poll", UniqueKey: "att_2/0", Payload: 1},
			{Kind: "other", UniqueKey: "att_1/0", Payload: 1},
		} {
			enqueue(t, db, now, j)
		}
		if err := db.Tx(ctx, func(tx *sql.Tx) error { return jobs.CancelPending(ctx, tx, "poll", "att_1/") }); err != nil {
			t.Fatal(err)
		}
		left, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (string, error) {
			var k, key string
			err := rows.Scan(&k, &key)
			return k + " " + key, err
		}, `SELECT kind, unique_key FROM jobs ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(left) != "[poll att_10/0 poll att_2/0 other att_1/0]" {
			t.Fatalf("jobs left: %v", left)
		}
		if err := db.Tx(ctx, func(tx *sql.Tx) error { return jobs.CancelPending(ctx, tx, "poll", "") }); err == nil {
			t.Fatal("an empty prefix cancelled")
		}
	})
}

// TestCompleteWith commits a handler's effect and its job's completion in
// one transaction: both, or (when the effect fails) neither, and the job
// is retried.
func TestCompleteWith(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if _, err := db.Exec(`CREATE TABLE effects (job BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		ok := enqueue(t, db, time.Now(), jobs.New{Kind: "effect", Payload: true})
		failing := enqueue(t, db, time.Now(), jobs.New{Kind: "effect", Payload: false, MaxAttempts: 1})
		w := &jobs.Worker{Queue: &jobs.Queue{DB: db}, ID: "w", Poll: 5 * time.Millisecond,
			Handlers: map[string]jobs.Handler{"effect": func(ctx context.Context, j jobs.Job) error {
				return jobs.CompleteWith(ctx, db, func(tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO effects (job) VALUES ($1)`, j.ID); err != nil {
						return err
					}
					if string(j.Payload) == "false" {
						return errors.New("the effect failed")
					}
					return nil
				})
			}}}
		wctx, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		done := make(chan struct{})
		go func() { w.Run(wctx); close(done) }()
		state := func(id int64) string {
			var s string
			if err := db.QueryRow(`SELECT state FROM jobs WHERE id = $1`, id).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		for (state(ok) != "done" || state(failing) != "dead") && wctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		<-done
		if state(ok) != "done" || state(failing) != "dead" {
			t.Fatalf("jobs: %s and %s, want done and dead", state(ok), state(failing))
		}
		effects, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (id int64, err error) { return id, rows.Scan(&id) }, `SELECT job FROM effects`)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(effects) != fmt.Sprint([]int64{ok}) {
			t.Fatalf("effects %v, want only job %d's", effects, ok)
		}
		if err := jobs.CompleteWith(ctx, db, func(*sql.Tx) error { return nil }); err == nil {
			t.Fatal("CompleteWith outside a handler did not refuse")
		}
	})
}

// TestTickQueuesWhatBecameDue: a worker runs its Tick at each poll, so
// what a Tick queues is worked without anyone waking it; a failing Tick
// is tried again at the next poll.
func TestTickQueuesWhatBecameDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var ticks, ran atomic.Int32
		done := make(chan struct{})
		w := &jobs.Worker{Queue: &jobs.Queue{DB: db}, ID: "w", Poll: 5 * time.Millisecond,
			Tick: func(ctx context.Context) error {
				switch ticks.Add(1) {
				case 1:
					return errors.New("the database went away")
				case 2:
					return db.Tx(ctx, func(tx *sql.Tx) error {
						_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: "due", Payload: 1, UniqueKey: "due/1"}, time.Now())
						return err
					})
				}
				return nil
			},
			Handlers: map[string]jobs.Handler{"due": func(ctx context.Context, j jobs.Job) error {
				if ran.Add(1) == 1 {
					close(done)
				}
				return nil
			}}}
		wctx, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		finished := make(chan struct{})
		go func() { w.Run(wctx); close(finished) }()
		select {
		case <-done:
		case <-wctx.Done():
			t.Fatalf("the job a Tick queued never ran (%d ticks)", ticks.Load())
		}
		stop()
		<-finished
		if ran.Load() != 1 || ticks.Load() < 2 {
			t.Fatalf("%d ticks, the job ran %d times; want at least 2 ticks and one run", ticks.Load(), ran.Load())
		}
	})
}
