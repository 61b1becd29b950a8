package api_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/api"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

func backends(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, storetest.Postgres(b)) })
}

// BenchmarkCreatePayment: POST /v1/payments through the Go client, in
// parallel, with the gateway's own time (the request less its wallet call,
// measured inside the gateway) at p50 and p99.
func BenchmarkCreatePayment(b *testing.B) {
	backends(b, func(b *testing.B, db *store.DB) {
		e := start(b, db)
		// No polling: the status polls' wallet queries would compete with
		// the creates for the CPU and muddle what is measured.
		e.svc.PaymentService().PollSchedule = []time.Duration{}
		c := client.New(e.url, e.keyA)
		var seq atomic.Int64
		create := func() {
			i := seq.Add(1)
			if _, err := c.CreatePayment(context.Background(), client.PaymentParams{MerchantOrderID: fmt.Sprintf("bench-%d", i), Amount: 100,
				Currency: "CNY", Description: "bench", Method: "wechatpay.native", Buyer: client.Buyer{ID: "b"}}, ""); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("peak", func(b *testing.B) {
			api.ResetOwnTime("POST /v1/payments")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					create()
				}
			})
			report(b, "creates/s")
		})
		// At about half of peak: one client at a time, paced.
		b.Run("half", func(b *testing.B) {
			api.ResetOwnTime("POST /v1/payments")
			for b.Loop() {
				create()
			}
			report(b, "creates/s")
		})
	})
}

func report(b *testing.B, unit string) {
	p50, p99 := api.OwnTime("POST /v1/payments")
	b.ReportMetric(float64(p50.Microseconds()), "own-p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "own-p99-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkLifecycle: create → the sandbox buyer pays → signed
// notification → paid → webhook delivered and verified, end to end.
func BenchmarkLifecycle(b *testing.B) {
	backends(b, func(b *testing.B, db *store.DB) {
		e := start(b, db)
		e.svc.PaymentService().PollSchedule = []time.Duration{} // notifications arrive; polls would only add wallet queries
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
