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

// TestPollsRunWhenDue: a payment stores no job for its status queries;
// each step of the schedule is queued when due, runs once, and schedules
// the next on the wallet order's row until the schedule ends.
func TestPollsRunWhenDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		e.Svc.PaymentService().PollSchedule = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
		ctx := context.Background()
		p, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "due-polls", Amount: 500, Currency: "CNY",
			Description: "轮询", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-due"}})
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
		if n := polls(""); n != 0 {
			t.Fatalf("after creating %s: %d poll jobs stored, want none until one is due", p.ID, n)
		}
		a, err := db.Pool().AttemptGet(ctx, p.ID, false)
		if first := p.CreatedAt.Add(100 * time.Millisecond).Truncate(time.Microsecond); err != nil || !a.PollAt.Equal(first) || a.PollStep != 0 {
			t.Fatalf("the wallet order's first query is due at %v, step %d (%v); want %v, step 0", a.PollAt, a.PollStep, err, first)
		}
		e.StartWorker()
		e.Eventually("all three polls ran", func() bool { return polls("done") == 3 })
		time.Sleep(400 * time.Millisecond)
		if n := polls(""); n != 3 {
			t.Errorf("%d poll jobs in all after the schedule ended, want 3", n)
		}
		if a, err := db.Pool().AttemptGet(ctx, p.ID, false); err != nil || !a.PollAt.IsZero() {
			t.Errorf("after the schedule ended the wallet order is due a query at %v (%v)", a.PollAt, err)
		}
		if s := e.Status(0, p.ID); s != payment.StatusRequiresAction {
			t.Errorf("unpaid payment is %s", s)
		}
	})
}

// TestPaidPaymentStoresNoJobs: a payment paid before its first status
// query stores no poll and no expiry job at all; an unpaid one is closed
// once its expiry is due.
func TestPaidPaymentStoresNoJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		ctx := context.Background()
		pay := func(order string) payment.Payment {
			t.Helper()
			p, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: order, Amount: 700, Currency: "CNY",
				Description: "酱油", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-" + order}})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		jobsOf := func() int {
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE kind IN ($1, $2)`, gateway.KindPoll, gateway.KindExpire).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		p := pay("paid-no-jobs")
		e.Sandbox.Pay(p.NextAction.QRCode, "buyer-li")
		e.Eventually("the payment is paid", func() bool { return e.Status(0, p.ID) == payment.StatusSucceeded })
		if n := jobsOf(); n != 0 {
			t.Fatalf("a payment paid at once stored %d poll or expiry jobs, want 0", n)
		}
		// The wallet order keeps as columns what reports count it by.
		var ch, method, status string
		if err := db.QueryRow(`SELECT channel, method, status FROM payment_attempts WHERE id = $1`, p.ID).Scan(&ch, &method, &status); err != nil {
			t.Fatal(err)
		}
		if ch != "wechatpay" || method != "wechatpay.native" || status != "succeeded" {
			t.Fatalf("the paid wallet order's columns: %s %s %s", ch, method, status)
		}

		// An unpaid payment past its expiry is closed by its Expire job,
		// queued once; the paid one is never touched.
		open := pay("expires")
		if _, err := db.Exec(`UPDATE payments SET expires_at = $1 WHERE id = $2`, store.Micros(time.Now().Add(-time.Second)), open.ID); err != nil {
			t.Fatal(err)
		}
		e.Eventually("the unpaid payment expires", func() bool { return e.Status(0, open.ID) == payment.StatusCanceled })
		var expiries int
		if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE kind = $1`, gateway.KindExpire).Scan(&expiries); err != nil || expiries != 1 {
			t.Fatalf("%d expiry jobs (%v), want 1", expiries, err)
		}
		if s := e.Status(0, p.ID); s != payment.StatusSucceeded {
			t.Fatalf("the paid payment is %s after the expiry pass", s)
		}
	})
}
