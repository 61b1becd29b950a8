package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// BenchmarkEscrowPostings is the ledger's side of the payment path under
// concurrency: 8 writers on 2 cores, each booking a payment paid into
// escrow and then its release, every posting in a transaction of its own
// through money.Service.Post, as the notification and the release job
// write them. Every payment is on one channel, so every posting updates
// that channel's clearing and fees accounts (and a release the commission):
// the platform's accounts, shared by all merchants.
//
// It runs with 1 merchant and with 1,000. With 1 merchant, each posting
// also updates that merchant's escrow, so the postings queue for one
// merchant's balance whatever the platform does; with 1,000 they touch
// different merchants' rows, and only the platform's accounts can make
// them wait for each other. Throughput should not fall as merchants are
// added.
//
// The "no-platform" variants post the same entries but leave the platform
// accounts' cached balances alone (the journal still gets every line):
// what the postings would cost if the platform's balances were free. A
// gap between a run and its no-platform twin is the price of the platform
// accounts' balances.
//
// It reports postings/s; PostgreSQL runs when HUTONG_TEST_POSTGRES is set.
//
//	go test -run '^$' -bench EscrowPostings -benchtime 5s ./internal/store
func BenchmarkEscrowPostings(b *testing.B) {
	backends := []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}}
	for _, backend := range backends {
		for _, merchants := range []int{1, 1000} {
			b.Run(fmt.Sprintf("%s/merchants=%d", backend.name, merchants), func(b *testing.B) {
				p := &escrowPostings{db: backend.open(b), merchants: merchants}
				// Every balance row exists before the clock starts: the first
				// posting to an account inserts its row, every later one
				// updates it, as in a gateway that has been running.
				p.platform = true
				if err := p.parallel(8, merchants); err != nil {
					b.Fatal(err)
				}
				for _, platform := range []bool{true, false} {
					name := "platform"
					if !platform {
						name = "no-platform"
					}
					b.Run(name, func(b *testing.B) {
						p.platform = platform
						b.SetParallelism(4) // 8 writers on 2 cores
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								if err := p.pay(); err != nil {
									b.Error(err)
									return
								}
							}
						})
						b.StopTimer()
						b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "postings/s")
						checkBalances(b, p.db, platform)
					})
				}
			})
		}
	}
}

// escrowPostings books payments, paid then released, for merchants
// taken in turn.
type escrowPostings struct {
	db        *store.DB
	merchants int
	// platform is whether the platform accounts' cached balances are
	// updated (money.Service.Post) or left alone (postMerchantBalancesOnly).
	platform bool
	seq      atomic.Int64
}

// pay books one payment of the next merchant in turn, paid then released,
// as two postings in a transaction each.
func (p *escrowPostings) pay() error {
	n := p.seq.Add(1)
	merchant := fmt.Sprintf("m%04d", n%int64(p.merchants))
	id := fmt.Sprintf("pay_%d", n)
	amount := 1000 + n%9000
	fee := money.DefaultFeeRate.Of(amount)
	now := time.Now()
	paid := ledger.Paid(merchant, "wechatpay", id, amount, fee, now)
	paid.ID = "le_p" + id
	if err := p.post(paid); err != nil {
		return fmt.Errorf("paid %s: %w", id, err)
	}
	released := ledger.Released(merchant, "wechatpay", id, amount, money.DefaultCommission.Of(amount), fee, now)
	released.ID = "le_r" + id
	if err := p.post(released); err != nil {
		return fmt.Errorf("release of %s: %w", id, err)
	}
	return nil
}

func (p *escrowPostings) post(e ledger.Entry) error {
	ctx := context.Background()
	return p.db.Tx(ctx, func(tx *sql.Tx) error {
		if p.platform {
			return (&money.Service{DB: p.db}).Post(ctx, tx, e)
		}
		return postMerchantBalancesOnly(ctx, p.db.In(tx), e)
	})
}

// parallel books n payments with w writers.
func (p *escrowPostings) parallel(w, n int) error {
	var left atomic.Int64
	left.Store(int64(n))
	errs := make(chan error, w)
	for range w {
		go func() {
			for left.Add(-1) >= 0 {
				if err := p.pay(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range w {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// postMerchantBalancesOnly writes e as money.Service.Post does, but adds
// its lines only to the merchant's own accounts' cached balances.
func postMerchantBalancesOnly(ctx context.Context, in store.Executor, e ledger.Entry) error {
	if err := e.Check(); err != nil {
		return err
	}
	if err := in.LedgerEntryInsert(ctx, e); err != nil {
		return err
	}
	deltas := map[string]int64{}
	for _, l := range e.Lines {
		if !ledger.Platform(l.Account) {
			deltas[l.Account] += l.Amount
		}
	}
	var adds []store.LedgerBalanceAddParams
	for _, account := range slices.Sorted(maps.Keys(deltas)) {
		adds = append(adds, store.LedgerBalanceAddParams{Account: account, Delta: deltas[account]})
	}
	_, err := in.LedgerBalancesAdd(ctx, adds...)
	return err
}

// checkBalances fails b unless every cached balance is its lines' sum (but
// the platform's, unless platform): a benchmark that loses a posting
// measures nothing.
func checkBalances(b *testing.B, db *store.DB, platform bool) {
	b.Helper()
	checks, err := db.Pool().LedgerBalanceChecks(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range checks {
		if c.Cached != c.Rebuilt && (platform || !ledger.Platform(c.Account)) {
			b.Errorf("%s: cached %d, lines %d", c.Account, c.Cached, c.Rebuilt)
		}
	}
}
