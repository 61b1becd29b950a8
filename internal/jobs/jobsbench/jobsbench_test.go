package jobsbench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// writers is how many goroutines enqueue at once (the goal's 8 concurrent
// workers).
const writers = 8

// The two jobs of an operation, shared by both queues: a job due now and
// one due in an hour, unique by (id, step) as a payment's poll steps are.
type nowArgs struct {
	I int `json:"i"`
}

func (nowArgs) Kind() string { return "bench_now" }

type laterArgs struct {
	I    int `json:"i"`
	Step int `json:"step"`
}

func (laterArgs) Kind() string { return "bench_later" }

// recorder keeps, per operation, when its transaction began and committed
// and when the worker started its due-now job.
type recorder struct {
	begin, commit, start []atomic.Int64 // Unix ns
	handled              atomic.Int64
}

func newRecorder(n int) *recorder {
	return &recorder{begin: make([]atomic.Int64, n), commit: make([]atomic.Int64, n), start: make([]atomic.Int64, n)}
}

func (r *recorder) started(i int) bool {
	if i < 0 || i >= len(r.start) {
		return false
	}
	return r.start[i].CompareAndSwap(0, time.Now().UnixNano())
}

// harness is one queue on one store, its workers running.
type harness struct {
	// op runs operation i: one transaction, a state row and two jobs.
	op func(ctx context.Context, i int) error
	// enqueueLater enqueues operation i's future job again, in its own
	// transaction, and says whether a job was stored.
	enqueueLater func(ctx context.Context, i int) (bool, error)
	// count answers a SELECT COUNT(*) in the queue's own words.
	count func(ctx context.Context, query string) (int, error)
	// pendingNow counts due-now jobs not yet completed; waitingLater the
	// future jobs waiting.
	pendingNow, waitingLater string
	stop                     func()
}

type variant struct {
	name  string
	store string // "sqlite" or "postgres"
	open  func(tb testing.TB, rec *recorder) *harness
}

// riverConf is the River client configuration a variant runs with.
type riverConf struct {
	// FetchCooldown and FetchPollInterval: zero keeps River's defaults
	// (100 ms and 1 s).
	cooldown, poll time.Duration
	maxWorkers     int
}

// riverConf is River tuned to wake as quickly as hutong's worker does
// (hutong polls every 100 ms and is woken by its own process's commits):
// River's defaults are a 100 ms fetch cooldown, which caps a queue at one
// fetch per 100 ms, and a 1 s poll.
var riverConfig = riverConf{cooldown: 10 * time.Millisecond, poll: 100 * time.Millisecond, maxWorkers: 100}

var variants = []variant{
	{"sqlite/hutong", "sqlite", func(tb testing.TB, rec *recorder) *harness { return hutongHarness(tb, openSQLite(tb), 8, rec) }},
	{"sqlite/hutong-c100", "sqlite", func(tb testing.TB, rec *recorder) *harness { return hutongHarness(tb, openSQLite(tb), 100, rec) }},
	{"sqlite/river", "sqlite", func(tb testing.TB, rec *recorder) *harness {
		db := openSQLite(tb)
		return riverSQLHarness(tb, db, riversqlite.New(db.DB), riverConfig, rec)
	}},
	{"postgres/hutong", "postgres", func(tb testing.TB, rec *recorder) *harness {
		db, _ := openPostgres(tb)
		return hutongHarness(tb, db, 8, rec)
	}},
	{"postgres/hutong-c100", "postgres", func(tb testing.TB, rec *recorder) *harness {
		db, _ := openPostgres(tb)
		return hutongHarness(tb, db, 100, rec)
	}},
	{"postgres/river", "postgres", func(tb testing.TB, rec *recorder) *harness {
		db, dsn := openPostgres(tb)
		return riverSQLHarness(tb, db, riverdatabasesql.NewWithPgxListener(db.DB, listenerPool(tb, dsn)), riverConfig, rec)
	}},
	{"postgres/river-pgxv5", "postgres", func(tb testing.TB, rec *recorder) *harness {
		_, dsn := openPostgres(tb)
		return riverPgxHarness(tb, dsn, riverConfig, rec)
	}},
}

const stateDDL = `CREATE TABLE bench_state (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, updated_at BIGINT NOT NULL)`

func openSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "bench.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Exec(stateDDL); err != nil {
		tb.Fatal(err)
	}
	return db
}

// openPostgres opens hutong's store in a fresh schema (dropped at cleanup),
// or skips when HUTONG_TEST_POSTGRES is not set.
func openPostgres(tb testing.TB) (*store.DB, string) {
	tb.Helper()
	dsn := storetest.PostgresDSN(tb)
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Exec(stateDDL); err != nil {
		tb.Fatal(err)
	}
	return db, dsn
}

// listenerPool is the pgx pool River takes its LISTEN connection from.
func listenerPool(tb testing.TB, dsn string) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// handle is the work of a due-now job: one small UPDATE of its state row.
func handle(ctx context.Context, rec *recorder, i int, update func(ctx context.Context, i int, now int64) error) error {
	first := rec.started(i)
	if err := update(ctx, i, time.Now().UnixMicro()); err != nil {
		return err
	}
	if first {
		rec.handled.Add(1)
	}
	return nil
}

const (
	insertState = `INSERT INTO bench_state (id, n, updated_at) VALUES ($1, 0, $2)`
	updateState = `UPDATE bench_state SET n = n + 1, updated_at = $2 WHERE id = $1`
)

// hutongHarness runs internal/jobs as the gateway configures it
// (gateway.Service.Worker): poll 100 ms, lease 1 min, conc jobs at once (the
// gateway runs 8), and a wake-up from the process that enqueued a job due
// now.
func hutongHarness(tb testing.TB, db *store.DB, conc int, rec *recorder) *harness {
	tb.Helper()
	update := func(ctx context.Context, i int, now int64) error {
		_, err := db.ExecContext(ctx, updateState, i, now)
		return err
	}
	wake := make(chan struct{}, 1)
	w := &jobs.Worker{
		Queue: &jobs.Queue{DB: db},
		ID:    "bench",
		Handlers: map[string]jobs.Handler{
			nowArgs{}.Kind(): func(ctx context.Context, j jobs.Job) error {
				var a nowArgs
				if err := json.Unmarshal(j.Payload, &a); err != nil {
					return err
				}
				return handle(ctx, rec, a.I, update)
			},
			laterArgs{}.Kind(): func(context.Context, jobs.Job) error { return nil },
		},
		Poll:        100 * time.Millisecond,
		Lease:       time.Minute,
		Concurrency: conc,
		Logger:      logger(),
		Wake:        wake,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	later := func(ctx context.Context, tx *sql.Tx, i int, now time.Time) (int64, error) {
		return jobs.Enqueue(ctx, tx, jobs.New{Kind: laterArgs{}.Kind(), Payload: laterArgs{I: i}, RunAt: now.Add(time.Hour),
			UniqueKey: fmt.Sprintf("%d/0", i)}, now)
	}
	return &harness{
		op: func(ctx context.Context, i int) error {
			rec.begin[i].Store(time.Now().UnixNano())
			err := db.Tx(ctx, func(tx *sql.Tx) error {
				now := time.Now().UTC()
				if _, err := tx.ExecContext(ctx, insertState, i, now.UnixMicro()); err != nil {
					return err
				}
				if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: nowArgs{}.Kind(), Payload: nowArgs{I: i}}, now); err != nil {
					return err
				}
				_, err := later(ctx, tx, i, now)
				return err
			})
			if err != nil {
				return err
			}
			rec.commit[i].Store(time.Now().UnixNano())
			select {
			case wake <- struct{}{}:
			default:
			}
			return nil
		},
		enqueueLater: func(ctx context.Context, i int) (bool, error) {
			var id int64
			err := db.Tx(ctx, func(tx *sql.Tx) error {
				var err error
				id, err = later(ctx, tx, i, time.Now().UTC())
				return err
			})
			return id != 0, err
		},
		count:        sqlCount(db.DB),
		pendingNow:   `SELECT COUNT(*) FROM jobs WHERE kind = 'bench_now' AND state <> 'done'`,
		waitingLater: `SELECT COUNT(*) FROM jobs WHERE kind = 'bench_later' AND state = 'available'`,
		stop:         func() { cancel(); <-done },
	}
}

func sqlCount(db *sql.DB) func(ctx context.Context, query string) (int, error) {
	return func(ctx context.Context, query string) (int, error) {
		var n int
		err := db.QueryRowContext(ctx, query).Scan(&n)
		return n, err
	}
}

type nowWorker struct {
	river.WorkerDefaults[nowArgs]
	do func(ctx context.Context, i int) error
}

func (w *nowWorker) Work(ctx context.Context, j *river.Job[nowArgs]) error {
	return w.do(ctx, j.Args.I)
}

type laterWorker struct {
	river.WorkerDefaults[laterArgs]
}

func (laterWorker) Work(context.Context, *river.Job[laterArgs]) error { return nil }

// txFuncs is how a River harness speaks to its store in transactions of
// type TTx (*sql.Tx for riversqlite and riverdatabasesql, pgx.Tx for
// riverpgxv5).
type txFuncs[TTx any] struct {
	begin    func(ctx context.Context) (TTx, error)
	commit   func(ctx context.Context, tx TTx) error
	rollback func(ctx context.Context, tx TTx) error
	exec     func(ctx context.Context, tx TTx, query string, args ...any) error
	update   func(ctx context.Context, i int, now int64) error
	count    func(ctx context.Context, query string) (int, error)
}

func riverSQLHarness(tb testing.TB, db *store.DB, driver riverdriver.Driver[*sql.Tx], conf riverConf, rec *recorder) *harness {
	tb.Helper()
	return riverHarness(tb, driver, conf, rec, txFuncs[*sql.Tx]{
		begin:    func(ctx context.Context) (*sql.Tx, error) { return db.BeginTx(ctx, nil) },
		commit:   func(_ context.Context, tx *sql.Tx) error { return tx.Commit() },
		rollback: func(_ context.Context, tx *sql.Tx) error { return tx.Rollback() },
		exec: func(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
			_, err := tx.ExecContext(ctx, query, args...)
			return err
		},
		update: func(ctx context.Context, i int, now int64) error {
			_, err := db.ExecContext(ctx, updateState, i, now)
			return err
		},
		count: sqlCount(db.DB),
	})
}

// riverPgxHarness runs River on its native driver, a pgx pool of its own
// (as many connections as hutong's PostgreSQL pool).
func riverPgxHarness(tb testing.TB, dsn string, conf riverConf, rec *recorder) *harness {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return riverHarness(tb, riverpgxv5.New(pool), conf, rec, txFuncs[pgx.Tx]{
		begin:    func(ctx context.Context) (pgx.Tx, error) { return pool.Begin(ctx) },
		commit:   func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) },
		rollback: func(ctx context.Context, tx pgx.Tx) error { return tx.Rollback(ctx) },
		exec: func(ctx context.Context, tx pgx.Tx, query string, args ...any) error {
			_, err := tx.Exec(ctx, query, args...)
			return err
		},
		update: func(ctx context.Context, i int, now int64) error {
			_, err := pool.Exec(ctx, updateState, i, now)
			return err
		},
		count: func(ctx context.Context, query string) (int, error) {
			var n int
			err := pool.QueryRow(ctx, query).Scan(&n)
			return n, err
		},
	})
}

// riverHarness migrates River's tables with rivermigrate and starts a
// client on the default queue.
func riverHarness[TTx any](tb testing.TB, driver riverdriver.Driver[TTx], conf riverConf, rec *recorder, f txFuncs[TTx]) *harness {
	tb.Helper()
	ctx := context.Background()
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: logger()})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		tb.Fatalf("rivermigrate: %v", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &nowWorker{do: func(ctx context.Context, i int) error { return handle(ctx, rec, i, f.update) }})
	river.AddWorker(workers, laterWorker{})
	client, err := river.NewClient(driver, &river.Config{
		FetchCooldown:     conf.cooldown,
		FetchPollInterval: conf.poll,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: conf.maxWorkers}},
		Workers:           workers,
		Logger:            logger(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	laterOpts := func(now time.Time) *river.InsertOpts {
		return &river.InsertOpts{ScheduledAt: now.Add(time.Hour), UniqueOpts: river.UniqueOpts{ByArgs: true}}
	}
	inTx := func(ctx context.Context, fn func(tx TTx) error) error {
		tx, err := f.begin(ctx)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return errors.Join(err, f.rollback(ctx, tx))
		}
		return f.commit(ctx, tx)
	}
	return &harness{
		op: func(ctx context.Context, i int) error {
			rec.begin[i].Store(time.Now().UnixNano())
			err := inTx(ctx, func(tx TTx) error {
				now := time.Now().UTC()
				if err := f.exec(ctx, tx, insertState, i, now.UnixMicro()); err != nil {
					return err
				}
				if _, err := client.InsertTx(ctx, tx, nowArgs{I: i}, nil); err != nil {
					return err
				}
				_, err := client.InsertTx(ctx, tx, laterArgs{I: i}, laterOpts(now))
				return err
			})
			if err != nil {
				return err
			}
			rec.commit[i].Store(time.Now().UnixNano())
			return nil
		},
		enqueueLater: func(ctx context.Context, i int) (bool, error) {
			var stored bool
			err := inTx(ctx, func(tx TTx) error {
				res, err := client.InsertTx(ctx, tx, laterArgs{I: i}, laterOpts(time.Now().UTC()))
				if err == nil {
					stored = !res.UniqueSkippedAsDuplicate
				}
				return err
			})
			return stored, err
		},
		count:        f.count,
		pendingNow:   `SELECT COUNT(*) FROM river_job WHERE kind = 'bench_now' AND state <> 'completed'`,
		waitingLater: `SELECT COUNT(*) FROM river_job WHERE kind = 'bench_later' AND state = 'scheduled'`,
		stop: func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := client.Stop(sctx); err != nil {
				tb.Errorf("river: stop: %v", err)
			}
		},
	}
}

// runOps runs operations 0..n-1 from conc goroutines, as fast as they go,
// or, with every > 0, operation i not before i×every from the start.
func runOps(ctx context.Context, h *harness, n, conc int, every time.Duration) error {
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, conc)
	for g := range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if every > 0 {
					time.Sleep(time.Until(t0.Add(time.Duration(i) * every)))
				}
				if err := h.op(ctx, i); err != nil {
					errs[g] = fmt.Errorf("op %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// drain waits until every due-now job has run and is recorded completed.
func drain(ctx context.Context, h *harness, rec *recorder, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for rec.handled.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d due-now jobs handled after %s", rec.handled.Load(), n, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		left, err := h.count(ctx, h.pendingNow)
		if err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d due-now jobs not completed after %s", left, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// percentiles gives the p50 and p99 of ds, in milliseconds.
func percentiles(ds []time.Duration) (p50, p99 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// postgresCPU is the CPU time of every process named postgres on this
// machine (the server's backends and helpers), from /proc, in clock ticks
// of 10 ms; a backend that exits in between takes its time with it.
func postgresCPU() time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open || s[open+1:closing] != "postgres" {
			continue
		}
		f := strings.Fields(s[closing+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// BenchmarkJobs runs b.N operations from 8 goroutines as fast as they go
// while the queue's workers complete the due-now jobs, then waits for the
// last of them to be completed. Metrics: ops/s, enqueue transactions per
// second; e2e-ops/s, operations per second until the last due-now job was
// completed (what the queue sustains); tx-p50/p99-ms, an operation's
// transaction from begin to commit; lag-p50/p99-ms, a due-now job's commit
// to its handler's start (at this rate mostly the backlog's length);
// cpu-ms/op, this process's CPU over enqueueing and working, per operation;
// pg-cpu-ms/op, the PostgreSQL server's.
func BenchmarkJobs(b *testing.B) { benchmark(b, 0) }

// BenchmarkJobsPaced runs the operations at 100 a second (8 goroutines),
// below every variant's capacity, so that the lag is the queue's reaction
// time rather than a backlog: about the rate of payments a gateway on this
// machine completes.
func BenchmarkJobsPaced(b *testing.B) { benchmark(b, 10*time.Millisecond) }

func benchmark(b *testing.B, every time.Duration) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			rec := newRecorder(b.N)
			h := v.open(b, rec)
			defer h.stop()
			cpu0, pg0 := processCPU(), postgresCPU()
			b.ResetTimer()
			t0 := time.Now()
			if err := runOps(ctx, h, b.N, writers, every); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(t0)
			b.StopTimer()
			if err := drain(ctx, h, rec, b.N, 10*time.Minute); err != nil {
				b.Fatal(err)
			}
			e2e := time.Since(t0)
			cpu, pg := processCPU()-cpu0, postgresCPU()-pg0
			tx := make([]time.Duration, b.N)
			lag := make([]time.Duration, b.N)
			for i := range b.N {
				tx[i] = time.Duration(rec.commit[i].Load() - rec.begin[i].Load())
				lag[i] = max(0, time.Duration(rec.start[i].Load()-rec.commit[i].Load()))
			}
			tx50, tx99 := percentiles(tx)
			lag50, lag99 := percentiles(lag)
			if every == 0 {
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
				b.ReportMetric(float64(b.N)/e2e.Seconds(), "e2e-ops/s")
			}
			b.ReportMetric(tx50, "tx-p50-ms")
			b.ReportMetric(tx99, "tx-p99-ms")
			b.ReportMetric(lag50, "lag-p50-ms")
			b.ReportMetric(lag99, "lag-p99-ms")
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			if v.store == "postgres" {
				b.ReportMetric(float64(pg)/float64(time.Millisecond)/float64(b.N), "pg-cpu-ms/op")
			}
		})
	}
}

// TestVariants runs every variant for a few operations: every due-now job
// is worked once and completed, every future job waits, and enqueueing a
// future job again under its unique key stores nothing.
func TestVariants(t *testing.T) {
	const n = 20
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			ctx := context.Background()
			rec := newRecorder(n)
			h := v.open(t, rec)
			defer h.stop()
			if err := runOps(ctx, h, n, 4, 0); err != nil {
				t.Fatal(err)
			}
			if err := drain(ctx, h, rec, n, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if got, err := h.count(ctx, `SELECT COUNT(*) FROM bench_state WHERE n >= 1`); err != nil || got != n {
				t.Errorf("state rows updated by their job: %d of %d (%v)", got, n, err)
			}
			stored, err := h.enqueueLater(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if stored {
				t.Error("a second future job under the same unique key was stored")
			}
			if got, err := h.count(ctx, h.waitingLater); err != nil || got != n {
				t.Errorf("future jobs waiting: %d of %d (%v)", got, n, err)
			}
		})
	}
}
