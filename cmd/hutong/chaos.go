package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
)

const chaosSynopsis = `Proves hutong under fire. Starts a wallet sandbox and --gateways hutong
serve processes on one database (SQLite in a temporary folder, or the empty
PostgreSQL of --database) behind a round-robin, then drives -n payments
over both wallets, each paid and refunded (in full, in two parts, or in
part, some refunds sent twice at once), while:
  - a gateway is killed with SIGKILL at random moments (every --kill-every
    on average) and restarted;
  - both wallets drop 20% of notifications, duplicate 30%, reorder 20%,
    and answer 5% of API calls with their system error;
  - the merchant's webhook endpoint is down part of the time.
Then, with the wallets well again, it audits hutong against the wallets'
own records: 0 lost, 0 doubled, every refund in the wallet's state, the
ledger rebuilt from its lines equal to its balances and every entry
summing to zero, the day's bills reconciled, every event delivered at
least once. It prints the table and a verdict; the exit status is 1 when
the audit finds anything. --seed makes the kills and outages repeatable.`

func runChaos(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("chaos", chaosSynopsis, stderr)
	n := fs.Int("n", 10000, "payments (half WeChat Pay, half Alipay)")
	workers := fs.Int("workers", 8, "merchant clients working at once")
	gateways := fs.Int("gateways", 1, "gateway processes on the one database (more than one needs --database)")
	dsn := fs.String("database", "", "an empty PostgreSQL `URL` (default: SQLite in a temporary folder)")
	killEvery := fs.Duration("kill-every", 3*time.Second, "mean time between two kills")
	hooksDown := fs.Float64("webhook-down", 0.2, "share of the time the webhook endpoint answers 503")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the kills' and outages' times")
	short := fs.Bool("short", false, "a short run: 40 payments, 4 clients, a kill every 400 ms on average")
	newDatabase := fs.Bool("new-database", false, "create a new database on the PostgreSQL server of --database for the run, and drop it after a passing one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("chaos: unexpected argument %q", fs.Arg(0))
	}
	if *short {
		*n, *workers, *killEvery = 40, 4, 400*time.Millisecond
	}
	switch {
	case *n < 1 || *n > 1_000_000:
		return fmt.Errorf("chaos: -n must be from 1 to 1000000, got %d", *n)
	case *workers < 1 || *workers > 256:
		return fmt.Errorf("chaos: --workers must be from 1 to 256, got %d", *workers)
	case *gateways < 1 || *gateways > 16:
		return fmt.Errorf("chaos: --gateways must be from 1 to 16, got %d", *gateways)
	case *gateways > 1 && *dsn == "":
		return fmt.Errorf("chaos: %d gateways share one database only on PostgreSQL: give --database", *gateways)
	case *killEvery < 100*time.Millisecond:
		return fmt.Errorf("chaos: --kill-every must be at least 100ms, got %v", *killEvery)
	case *hooksDown < 0 || *hooksDown >= 1:
		return fmt.Errorf("chaos: --webhook-down must be from 0 to below 1, got %v", *hooksDown)
	}
	if *newDatabase {
		if *dsn == "" {
			return errors.New("chaos: --new-database needs --database, the PostgreSQL server to create it on")
		}
		fresh, drop, err := createPostgresDatabase(context.Background(), *dsn)
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		*dsn = fresh
		defer func() {
			if err == nil {
				err = drop()
			}
		}()
	}
	if *dsn != "" {
		if err := checkEmptyPostgres(context.Background(), *dsn); err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	dir, err := os.MkdirTemp("", "hutong-chaos-")
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	if *dsn == "" {
		*dsn = "sqlite:" + filepath.Join(dir, "gateway.db")
	}
	rep := &chaosReport{out: stdout}
	done := make(chan struct{})
	go func() {
		defer close(done)
		chaosRun(rep, chaosOptions{bin: self, dsn: *dsn, dir: dir, payments: *n, workers: *workers, gateways: *gateways,
			killEvery: *killEvery, killMin: min(*killEvery/4, time.Second), hooksDown: *hooksDown, seed: *seed, progress: stderr})
	}()
	<-done
	failures := rep.failures()
	if len(failures) == 0 {
		fmt.Fprintln(stdout, "verdict: PASS: nothing lost, nothing doubled, the books balance and agree with the wallets")
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("chaos: removing %s: %w", dir, err)
		}
		return nil
	}
	fmt.Fprintf(stdout, "verdict: FAIL: %d findings (the gateways' log and the databases are kept in %s)\n", len(failures), dir)
	for _, f := range failures {
		fmt.Fprintln(stdout, "  -", f)
	}
	return exitError{1, fmt.Sprintf("chaos: %d findings", len(failures))}
}

// chaosReport is hutong chaos's chaosT: the table's lines to out as they
// come, findings kept for the verdict; Fatal ends the run's goroutine, as
// testing's does.
type chaosReport struct {
	out  io.Writer
	mu   sync.Mutex
	errs []string
}

func (r *chaosReport) Helper() {}

func (r *chaosReport) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *chaosReport) Error(args ...any) {
	r.Errorf("%s", strings.TrimSuffix(fmt.Sprintln(args...), "\n"))
}

func (r *chaosReport) Fatal(args ...any) {
	r.Errorf("%s", strings.TrimSuffix(fmt.Sprintln(args...), "\n"))
	runtime.Goexit()
}

func (r *chaosReport) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *chaosReport) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, format+"\n", args...)
}

func (r *chaosReport) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// createPostgresDatabase creates a database of a new name on the server
// of dsn and returns its URL and how to drop it.
func createPostgresDatabase(ctx context.Context, dsn string) (string, func() error, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("--database %q is not a postgres:// URL", dsn)
	}
	admin, err := store.Connect(ctx, dsn)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	name := "hutong_chaos_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u.Path = "/" + name
	drop := func() error {
		admin, err := store.Connect(context.Background(), dsn)
		if err != nil {
			return err
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			return fmt.Errorf("chaos: dropping database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}
