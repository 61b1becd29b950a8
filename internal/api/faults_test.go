package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestEveryPaymentEndsRightUnderFaults: with the sandbox duplicating and
// reordering notifications, failing a fifth of API calls and adding
// latency, every payment made through the Go client still ends succeeded,
// with exactly one payment.succeeded event.
func TestEveryPaymentEndsRightUnderFaults(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		for _, wallet := range []string{"wechatpay", "alipay"} {
			e.sandbox.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": wallet, "notify_duplicate_rate": 1, "notify_reorder_rate": 0.5,
				"api_error_rate": 0.2, "api_latency_ms": 5}, nil)
		}
		c := client.New(e.url, e.keyA)
		ctx := context.Background()
		var ids []string
		for i := range 10 {
			method := "wechatpay.native"
			if i%2 == 1 {
				method = "alipay.precreate"
			}
			params := client.PaymentParams{MerchantOrderID: fmt.Sprintf("fault-%d", i), Amount: int64(100 + i), Currency: "CNY",
				Description: "故障下的订单", Method: method, Buyer: client.Buyer{ID: "b"}}
			var p *client.Payment
			var err error
			for range 10 { // the wallet fails a fifth of calls: retry with the same key
				if p, err = c.CreatePayment(ctx, params, params.MerchantOrderID); err == nil {
					break
				}
				var ae *client.Error
				if !errors.As(err, &ae) || ae.Status < 500 {
					t.Fatalf("create: %v", err)
				}
			}
			if err != nil {
				t.Fatalf("create after retries: %v", err)
			}
			wallet := "wechatpay"
			if method == "alipay.precreate" {
				wallet = "alipay"
			}
			if st := e.sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": wallet, "code": p.NextAction.QRCode}, nil); st != 200 {
				t.Fatalf("pay %s: %d", p.ID, st)
			}
			ids = append(ids, p.ID)
		}
		for _, id := range ids {
			sandboxtest.Eventually(t, 30*time.Second, id+" succeeds", func() bool {
				p, err := c.GetPayment(ctx, id)
				return err == nil && p.Status == "succeeded"
			})
		}
		// Wait for the notifications still in flight, then count.
		time.Sleep(300 * time.Millisecond)
		events, err := c.ListEvents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		succeeded := map[string]int{}
		for _, ev := range events {
			if ev.Type == "payment.succeeded" {
				var obj struct{ ID string }
				if err := json.Unmarshal(ev.Data, &obj); err != nil {
					t.Fatal(err)
				}
				succeeded[obj.ID]++
			}
		}
		for _, id := range ids {
			if succeeded[id] != 1 {
				t.Errorf("%s has %d payment.succeeded events", id, succeeded[id])
			}
		}
	})
}
