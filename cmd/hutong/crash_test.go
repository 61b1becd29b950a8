package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestGatewaySurvivesKill is hutong chaos in small (chaos_run.go): payments
// and refunds through gateway processes (one on SQLite, two on PostgreSQL
// behind a round-robin) killed with SIGKILL at random moments and
// // restarted on the same database, while both sandbox wallets lose,
// duplicate and reorder notifications and fail some API calls, and the
// webhook endpoint is down a fifth of the time. A merchant client retries
// every unanswered change with its Idempotency-Key. Then, with the
// wallets well again, the audit (chaos_audit.go) holds hutong to the
// wallet: nothing accepted is lost or doubled, one refund per key, every
// refund in the wallet's state, amount_refunded the sum of the succeeded
// refunds, the ledger balanced and the day's bills reconciled, and every
// event at the webhook endpoint at least once.
//
// The CI run is small (20 payments); hutong chaos -n 10000 is the run an
// operator would fear (HUTONG_CRASH_PAYMENTS and HUTONG_CRASH_WORKERS
// scale this test too).
func TestGatewaySurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	size := crashSizeFromEnv(t)
	bin := buildHutong(t)
	run := func(t *testing.T, dsn string, gateways int) {
		chaosRun(t, chaosOptions{bin: bin, dsn: dsn, dir: t.TempDir(), payments: size.payments, workers: size.workers, gateways: gateways,
			killEvery: 400 * time.Millisecond, killMin: 150 * time.Millisecond, hooksDown: 0.2, seed: uint64(time.Now().UnixNano())})
	}
	t.Run("sqlite", func(t *testing.T) { run(t, "sqlite:"+filepath.Join(t.TempDir(), "gateway.db"), 1) })
	t.Run("postgres", func(t *testing.T) { run(t, storetest.PostgresDSN(t), 2) })
}

// crashSize is how much work a crash run does.
type crashSize struct {
	payments int // half WeChat Pay, half Alipay; every one refunded
	workers  int // merchant clients working at once
}

func crashSizeFromEnv(t *testing.T) crashSize {
	s := crashSize{payments: 20, workers: 4}
	for _, v := range []struct {
		env string
		to  *int
	}{{"HUTONG_CRASH_PAYMENTS", &s.payments}, {"HUTONG_CRASH_WORKERS", &s.workers}} {
		raw := os.Getenv(v.env)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 100_000 {
			t.Fatalf("%s=%q: want a whole number from 1 to 100000", v.env, raw)
		}
		*v.to = n
	}
	return s
}
