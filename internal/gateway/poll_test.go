package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestPollsAreChained: a payment stores one poll, not one per step of the
// schedule; each poll that finds the order unpaid stores the next, until
// the schedule ends, and every step runs once.
func TestPollsAreChained(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		e.Svc.PollSchedule = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
		ctx := context.Background()
		p, err := e.Svc.CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "chained-polls", Amount: 500, Currency: "CNY",
			Description: "轮询", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-chained"}})
		if err != nil {
			t.Fatal(err)
		}
		polls := func(states string) int {
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE kind = $1 AND (state = $2 OR $2 = '')`, gateway.KindPoll, states).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := polls(""); n != 1 {
			t.Fatalf("after creating %s: %d poll jobs stored, want 1", p.ID, n)
		}
		e.StartWorker()
		e.Eventually("all three polls ran", func() bool { return polls("done") == 3 })
		time.Sleep(300 * time.Millisecond)
		if n := polls(""); n != 3 {
			t.Errorf("%d poll jobs in all after the schedule ended, want 3", n)
		}
		if s := e.Status(0, p.ID); s != payment.StatusRequiresAction {
			t.Errorf("unpaid payment is %s", s)
		}
	})
}
