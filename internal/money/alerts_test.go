package money_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/metrics/metricstest"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestOverdueMoneyRaisesOneEvent: a refund the wallet has not settled
// within its notification window, and a payment still open a window past
// its expiry, each raise one event to their merchant, however often the
// check runs; younger ones raise none.
func TestOverdueMoneyRaisesOneEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		w := e.WalletMessages()
		creds := e.Sandbox.Credentials()
		p, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "overdue-paid", Amount: 1000, Currency: "CNY",
			Description: "overdue", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-1"}, ExpiresIn: 600})
		if err != nil {
			t.Fatal(err)
		}
		if !w.WeChat("TRANSACTION.SUCCESS", "transaction", map[string]any{
			"appid": creds.AppID, "mchid": creds.MchID, "out_trade_no": p.ID, "transaction_id": "4200000000202612020000000009",
			"trade_state": "SUCCESS", "success_time": time.Now().Format(time.RFC3339),
			"amount": map[string]any{"total": p.Amount, "currency": "CNY"},
		}) {
			t.Fatal("the payment's notification was refused")
		}
		r, err := e.Svc.RefundService().Create(ctx, e.Merchants[0].ID, p.ID, 100, "overdue", "")
		if err != nil {
			t.Fatal(err)
		}
		open, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[1], payment.Request{MerchantOrderID: "overdue-open", Amount: 500, Currency: "CNY",
			Description: "overdue", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-2"}, ExpiresIn: 600})
		if err != nil {
			t.Fatal(err)
		}
		count := func(merchant int, typ, object string) int {
			events, err := e.Svc.WebhookService().ListEvents(ctx, e.Merchants[merchant].ID, "", "", 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ev := range events {
				if ev.Type == typ && bytes.Contains(ev.Data, []byte(object)) {
					n++
				}
			}
			return n
		}
		check := func(after time.Duration) {
			t.Helper()
			e.Svc.Now = func() time.Time { return time.Now().Add(after) }
			if err := e.Svc.MoneyService().CheckOverdue(ctx, jobs.Job{}); err != nil {
				t.Fatal(err)
			}
		}
		check(23 * time.Hour)
		if n, m := count(0, money.EventRefundOverdue, r.ID), count(1, money.EventPaymentOverdue, open.ID); n != 0 || m != 0 {
			t.Fatalf("alerts inside the window: refund %d, payment %d", n, m)
		}
		check(26 * time.Hour)
		check(27 * time.Hour)
		if n := count(0, money.EventRefundOverdue, r.ID); n != 1 {
			t.Errorf("refund.overdue raised %d times, want once", n)
		}
		if n := count(1, money.EventPaymentOverdue, open.ID); n != 1 {
			t.Errorf("payment.overdue raised %d times, want once", n)
		}
		f := metricstest.Scrape(t, metrics.Handler(metrics.Options{}))
		if typ := f.Type("hutong_overdue"); typ != "GAUGE" {
			t.Errorf("hutong_overdue is a %q, want a gauge", typ)
		}
		if r, p := f.Value("hutong_overdue", "event", money.EventRefundOverdue), f.Value("hutong_overdue", "event", money.EventPaymentOverdue); r < 1 || p < 1 {
			t.Errorf("overdue gauges: refunds %v, payments %v", r, p)
		}
	})
}
