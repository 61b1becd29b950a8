package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestBenchShortRun runs hutong bench as an operator would, briefly: the
// real binary, its sandbox and gateway children, two workers for 2 s per
// path and wallet. Every row must have finished lifecycles and failed none;
// the figures themselves are not judged (timings live in BENCHMARKS.md).
// With HUTONG_TEST_POSTGRES, the same run also covers the gateway on a
// PostgreSQL database made for it and dropped afterwards.
func TestBenchShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the bench with its sandbox and gateway children (~20 s)")
	}
	bin := buildHutong(t)
	args := []string{"bench", "--duration", "2s", "--workers", "2", "--json"}
	wantPaths := []string{"direct", "hutong/sqlite"}
	if admin := os.Getenv("HUTONG_TEST_POSTGRES"); admin != "" {
		args = append(args, "--postgres", scratchDatabase(t, admin))
		wantPaths = append(wantPaths, "hutong/postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hutong bench: %v\n%s", err, stderr.String())
	}
	// stderr is not a terminal here, so it carries no progress.
	if stderr.Len() != 0 {
		t.Errorf("bench wrote to a stderr that is not a terminal:\n%s", stderr.String())
	}
	var rep benchReport
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Error("stdout holds more than one JSON document")
	}
	if rep.Signing.PerCPUSecond <= 0 || rep.Machine.Cores < 1 {
		t.Errorf("no signing rate or machine: %+v %+v", rep.Signing, rep.Machine)
	}
	seen := map[string]bool{}
	for _, r := range rep.Rows {
		seen[r.Path+" "+r.Wallet] = true
		if r.Lifecycles <= 0 || r.Failed != 0 || r.Rejected != 0 {
			t.Errorf("%s %s: %d lifecycles, %d failed, %d messages rejected: %q", r.Path, r.Wallet, r.Lifecycles, r.Failed, r.Rejected, r.Errors)
		}
		if r.Path == "direct" {
			continue
		}
		if r.RatioToDirect == nil || r.OwnP99ms == nil || r.OwnHalfP99ms == nil || r.HalfRate <= 0 || r.PeakRSSMB == nil || r.CPUSignaturesPerLife <= 0 {
			t.Errorf("%s %s lacks a gateway figure: %+v", r.Path, r.Wallet, r)
		}
		// Every create was observed once in the own-time histogram
		// (warm-ups are scraped away; failed creates would add some).
		if r.OwnSamples < r.Lifecycles {
			t.Errorf("%s %s: %d own-time samples for %d lifecycles", r.Path, r.Wallet, r.OwnSamples, r.Lifecycles)
		}
	}
	for _, p := range wantPaths {
		for _, w := range benchWallets {
			if !seen[p+" "+w.wallet] {
				t.Errorf("no row for %s %s", p, w.wallet)
			}
		}
	}
	if len(rep.Goals) != 5 {
		t.Errorf("goals: %+v", rep.Goals)
	}
}

// TestBenchRefusesNonEmptyPostgres: a database that already holds hutong's
// tables is refused before anything starts, with what to do instead, and
// is left as it was.
func TestBenchRefusesNonEmptyPostgres(t *testing.T) {
	admin := os.Getenv("HUTONG_TEST_POSTGRES")
	if admin == "" {
		t.Skip("HUTONG_TEST_POSTGRES is not set")
	}
	dsn := scratchDatabase(t, admin)
	if err := run([]string{"migrate", "--database", dsn}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	tables := func() int {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := tables()
	start := time.Now()
	var stderr bytes.Buffer
	err := run([]string{"bench", "--postgres", dsn, "--duration", "1s"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "CREATE DATABASE") ||
		!strings.Contains(err.Error(), "hutong's tables") {
		t.Fatalf("a database with hutong's tables: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refusal took %v: it must come before the bench starts anything", took)
	}
	if after := tables(); after != before {
		t.Errorf("the refused database went from %d tables to %d", before, after)
	}
}

// TestBenchRefusesBadFlags: nonsense durations and worker counts are
// refused before anything runs.
func TestBenchRefusesBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--duration", "0s"}, {"--workers", "0"}, {"--workers", "-3"}, {"extra"}} {
		if err := run(append([]string{"bench"}, args...), io.Discard, io.Discard); err == nil {
			t.Errorf("bench %v was accepted", args)
		}
	}
}

// TestOwnTimeQuantile: the own time's quantiles come from the difference
// of two scrapes of a native histogram (the earlier observations leave no
// trace), interpolated exponentially inside a bucket.
func TestOwnTimeQuantile(t *testing.T) {
	t.Parallel()
	// Schema 3: bucket i holds (2^((i-1)/8), 2^(i/8)].
	hist := func(counts map[int32]int64) *dto.Histogram {
		h := &dto.Histogram{Schema: ptr[int32](3), ZeroCount: ptr[uint64](0)}
		var total uint64
		var prev int64
		first := true
		var last int32
		for i := int32(-120); i <= 0; i++ {
			c, ok := counts[i]
			if !ok {
				continue
			}
			offset := i
			if !first {
				offset = i - last - 1
			}
			h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: ptr(offset), Length: ptr[uint32](1)})
			h.PositiveDelta = append(h.PositiveDelta, c-prev)
			prev, last, first = c, i, false
			total += uint64(c)
		}
		h.SampleCount = ptr(total)
		return h
	}
	// Before: 50 slow observations (bucket -24: (2^-3.125, 2^-3] s ≈
	// 114–125 ms). After: those and 100 fast ones in bucket -80
	// (≈ 0.95–1.04 ms).
	before := readOwnHist(hist(map[int32]int64{-24: 50}))
	after := readOwnHist(hist(map[int32]int64{-80: 100, -24: 50}))
	d := after.minus(before)
	if d.count != 100 {
		t.Fatalf("delta count %v", d.count)
	}
	lower, upper := math.Exp2(-81.0/8), math.Exp2(-80.0/8)
	for _, q := range []float64{0.5, 0.99} {
		got := d.quantile(q)
		want := lower * math.Pow(upper/lower, q)
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("q%v: %v s, want %v s (within the fast bucket only)", q, got, want)
		}
	}
	// Classic buckets alone: linear inside the bucket, as
	// histogram_quantile.
	classic := ownHist{count: 10, native: map[int32]float64{}, classic: map[float64]float64{0.001: 0, 0.002: 10, math.Inf(1): 10}}
	if got := classic.quantile(0.5); math.Abs(got-0.0015) > 1e-12 {
		t.Errorf("classic p50 %v, want 0.0015", got)
	}
}

// ptr is a pointer to v, as protobuf structs want.
func ptr[T any](v T) *T { return &v }

// scratchDatabase creates a new, empty database on the server of admin (a
// postgres:// URL) and drops it when the test ends, returning its URL.
func scratchDatabase(t *testing.T, admin string) string {
	t.Helper()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	name := fmt.Sprintf("hutong_bench_test_%d", time.Now().UnixNano())
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// WITH (FORCE): a killed gateway's connections may linger.
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
