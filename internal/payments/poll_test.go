package payments_test

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
		e.Svc.PaymentService().PollSchedule = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
		ctx := context.Background()
		p, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "chained-polls", Amount: 500, Currency: "CNY",
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

// TestPaidPaymentLeavesNoPendingJobs: the notification that pays a payment
// takes its pending status poll and its expiry job with it, in the same
// transaction, since neither has anything left to do.
func TestPaidPaymentLeavesNoPendingJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		p, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "paid-no-jobs", Amount: 700, Currency: "CNY",
			Description: "酱油", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-paid"}})
		if err != nil {
			t.Fatal(err)
		}
		pending := func() int {
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE kind IN ($1, $2) AND state = 'available'`, gateway.KindPoll, gateway.KindExpire).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := pending(); n != 2 {
			t.Fatalf("after creating %s: %d poll and expiry jobs pending, want 2", p.ID, n)
		}
		e.Sandbox.Pay(p.NextAction.QRCode, "buyer-li")
		e.Eventually("the payment is paid", func() bool { return e.Status(0, p.ID) == payment.StatusSucceeded })
		if n := pending(); n != 0 {
			t.Fatalf("after the payment was paid: %d poll or expiry jobs still pending, want 0", n)
		}
		// The wallet order keeps as columns what reports count it by.
		var ch, method, status string
		if err := db.QueryRow(`SELECT channel, method, status FROM payment_attempts WHERE id = $1`, p.ID).Scan(&ch, &method, &status); err != nil {
			t.Fatal(err)
		}
		if ch != "wechatpay" || method != "wechatpay.native" || status != "succeeded" {
			t.Fatalf("the paid wallet order's columns: %s %s %s", ch, method, status)
		}
	})
}
