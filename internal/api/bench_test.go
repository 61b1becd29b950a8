package api_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// timed wraps a connector to measure the time spent at the wallet, so the
// benchmarks can report the gateway's own time beside the total.
type timed struct {
	channel.Connector
	wallet atomic.Int64 // nanoseconds
}

func (c *timed) Prepay(ctx context.Context, p channel.Prepay) (channel.Action, error) {
	start := time.Now()
	defer func() { c.wallet.Add(int64(time.Since(start))) }()
	return c.Connector.Prepay(ctx, p)
}

func backends(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, storetest.Postgres(b)) })
}

// BenchmarkCreatePayment: POST /v1/payments through the Go client, in
// parallel, with the gateway's own time (total less the wallet's prepay)
// at p50 and p99.
func BenchmarkCreatePayment(b *testing.B) {
	backends(b, func(b *testing.B, db *store.DB) {
		e := start(b, db)
		// No polling: the status polls' wallet queries would compete with
		// the creates for the CPU and muddle what is measured.
		e.svc.PollSchedule = []time.Duration{}
		tc := &timed{Connector: e.svc.Accounts["wechatpay"].Connector}
		acct := e.svc.Accounts["wechatpay"]
		acct.Connector = tc
		e.svc.Accounts["wechatpay"] = acct
		c := client.New(e.url, e.keyA)
		var seq atomic.Int64
		var mu sync.Mutex
		var own []time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := seq.Add(1)
				before := tc.wallet.Load()
				start := time.Now()
				_, err := c.CreatePayment(context.Background(), client.PaymentParams{MerchantOrderID: fmt.Sprintf("bench-%d", i), Amount: 100,
					Currency: "CNY", Description: "bench", Method: "wechatpay.native", Buyer: client.Buyer{ID: "b"}}, "")
				total := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				// Other goroutines' wallet time mixes in under load, so
				// this undercounts own time there: it is a lower bound.
				w := time.Duration(tc.wallet.Load() - before)
				mu.Lock()
				own = append(own, max(total-w, 0))
				mu.Unlock()
			}
		})
		b.StopTimer()
		report(b, own, "creates/s")
	})
}

func report(b *testing.B, own []time.Duration, unit string) {
	slices.Sort(own)
	if len(own) > 0 {
		b.ReportMetric(float64(own[len(own)/2].Microseconds()), "own-p50-µs")
		b.ReportMetric(float64(own[len(own)*99/100].Microseconds()), "own-p99-µs")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkLifecycle: create → the sandbox buyer pays → signed
// notification → paid → webhook delivered and verified, end to end.
func BenchmarkLifecycle(b *testing.B) {
	backends(b, func(b *testing.B, db *store.DB) {
		e := start(b, db)
		e.svc.PollSchedule = []time.Duration{} // notifications arrive; polls would only add wallet queries
		c := client.New(e.url, e.keyA)
		var seq atomic.Int64
		b.SetParallelism(8) // lifecycles wait on the network, not the CPU
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := seq.Add(1)
				p, err := c.CreatePayment(context.Background(), client.PaymentParams{MerchantOrderID: fmt.Sprintf("life-%d", i), Amount: 100,
					Currency: "CNY", Description: "bench", Method: "wechatpay.native", Buyer: client.Buyer{ID: "b"}}, "")
				if err != nil {
					b.Fatal(err)
				}
				if st := e.sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": p.NextAction.QRCode}, nil); st != 200 {
					b.Fatalf("pay: %d", st)
				}
				for !e.hooks.delivered(p.ID) {
					time.Sleep(time.Millisecond)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lifecycles/s")
	})
}
