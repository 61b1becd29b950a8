package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestPlatformReadsDiscrepancyEvents: a reconciliation that finds the
// books and a bill disagreeing raises reconciliation.discrepancy, which a
// platform key naming no merchant reads at GET /v1/events; a merchant's
// key does not see it.
func TestPlatformReadsDiscrepancyEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		var p payment.Payment
		if st := e.Call(e.Keys[0], "POST", "/v1/payments", newPayment("wechatpay.native", 1000, "alert-1"), &p); st != http.StatusCreated {
			t.Fatalf("create: %d", st)
		}
		e.Sandbox.Pay(p.NextAction.QRCode, "")
		e.Eventually("paid", func() bool { return e.Status(0, p.ID) == payment.StatusSucceeded })
		if st := e.Sandbox.Helper("POST", "/sandbox/v1/bill_faults", map[string]any{"wallet": "wechatpay", "amount_delta": map[string]int64{p.ID: 1}}, nil); st != http.StatusOK {
			t.Fatalf("bill faults: %d", st)
		}
		var run struct{ ID string }
		if st := e.Call(e.Platform, "POST", "/v1/reconciliations", map[string]string{"channel": "wechatpay", "day": chinatime.Date(time.Now())}, &run); st != http.StatusCreated {
			t.Fatalf("reconcile: %d", st)
		}
		type event struct {
			Type       string `json:"type"`
			MerchantID string `json:"merchant_id"`
		}
		var platform, merchant struct{ Data []event }
		if st := e.Call(e.Platform, "GET", "/v1/events?type=reconciliation.discrepancy", nil, &platform); st != http.StatusOK {
			t.Fatalf("platform events: %d", st)
		}
		if len(platform.Data) != 1 || platform.Data[0].Type != "reconciliation.discrepancy" || platform.Data[0].MerchantID != "" {
			t.Fatalf("the platform reads %+v, want the one discrepancy of run %s", platform.Data, run.ID)
		}
		if st := e.Call(e.Keys[0], "GET", "/v1/events?type=reconciliation.discrepancy", nil, &merchant); st != http.StatusOK || len(merchant.Data) != 0 {
			t.Fatalf("a merchant reads %d %+v", st, merchant.Data)
		}
	})
}
