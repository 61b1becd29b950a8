package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

// TestCancelReturn: a return_and_refund whose goods never come back is
// canceled: no money moves, its amount is refundable again, refund.canceled
// is published, and the receipt it blocked can be confirmed.
func TestCancelReturn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		ctx := context.Background()
		m := e.Merchants[0].ID
		p := payNow(t, e, "cancel-return-1", 2000)
		var rf struct {
			ID           string
			Status       string
			CancelReason string `json:"cancel_reason"`
		}
		if st := e.Call(e.Keys[0], "POST", "/v1/payments/"+p.ID+"/refunds", map[string]any{"amount": 800, "kind": "return_and_refund"}, &rf); st != http.StatusCreated || rf.Status != "awaiting_return" {
			t.Fatalf("return_and_refund: %d %+v", st, rf)
		}
		entries := func() int {
			var out struct{ Data []ledger.Entry }
			if st := e.Call(e.Platform, "GET", "/v1/ledger/entries?limit=1000", nil, &out); st != http.StatusOK {
				t.Fatalf("entries: %d", st)
			}
			return len(out.Data)
		}
		before := entries()

		status, _, body := rawCall(t, e, e.Keys[0], "POST", "/v1/payments/"+p.ID+"/confirm_receipt", "")
		var ev errorView
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		if status != http.StatusConflict || ev.Error.Code != "return_in_progress" || !strings.Contains(ev.Error.Message, "/v1/refunds/"+rf.ID+"/cancel_return") {
			t.Fatalf("confirm during a return: %d %s", status, body)
		}

		if st := e.Call(e.Keys[0], "POST", "/v1/refunds/"+rf.ID+"/cancel_return", map[string]any{"reason": "买家未寄回商品"}, &rf); st != http.StatusOK ||
			rf.Status != "canceled" || rf.CancelReason != "买家未寄回商品" {
			t.Fatalf("cancel: %d %+v", st, rf)
		}
		var pv struct {
			Refunded int64 `json:"amount_refunded"`
		}
		if st := e.Call(e.Keys[0], "GET", "/v1/payments/"+p.ID, nil, &pv); st != http.StatusOK || pv.Refunded != 0 {
			t.Fatalf("the payment after the cancel: %d %+v", st, pv)
		}
		if after := entries(); after != before {
			t.Fatalf("a canceled return posted %d ledger entries; nothing moved", after-before)
		}
		var events struct{ Data []webhooks.Event }
		if st := e.Call(e.Keys[0], "GET", "/v1/events?type=refund.canceled", nil, &events); st != http.StatusOK || len(events.Data) != 1 {
			t.Fatalf("refund.canceled events: %d %+v", st, events.Data)
		}

		// Only a refund awaiting its return can be canceled or received.
		for _, path := range []string{"cancel_return", "return_received"} {
			status, _, body := rawCall(t, e, e.Keys[0], "POST", "/v1/refunds/"+rf.ID+"/"+path, "")
			if err := json.Unmarshal(body, &ev); err != nil {
				t.Fatal(err)
			}
			if status != http.StatusConflict || ev.Error.Code != "refund_not_awaiting_return" {
				t.Fatalf("%s of a canceled refund: %d %s", path, status, body)
			}
		}

		// The receipt it blocked is confirmed: escrow empties into the payable.
		if st := e.Call(e.Keys[0], "POST", "/v1/payments/"+p.ID+"/confirm_receipt", nil, nil); st != http.StatusOK {
			t.Fatalf("confirm after the cancel: %d", st)
		}
		var b struct{ Data []money.Balance }
		if st := e.Call(e.Keys[0], "GET", "/v1/balances", nil, &b); st != http.StatusOK {
			t.Fatalf("balances: %d", st)
		}
		for _, x := range b.Data {
			if x.Account == ledger.Escrow(m) && x.Balance != 0 {
				t.Errorf("escrow is %d after release, want 0", x.Balance)
			}
			if x.Account == ledger.Payable(m) && x.Balance <= 0 {
				t.Errorf("payable is %d after release of 2000 fen, want it positive", x.Balance)
			}
		}
		if problems, err := e.Svc.MoneyService().VerifyLedger(ctx); err != nil || len(problems) > 0 {
			t.Fatalf("ledger: %v %v", problems, err)
		}
	})
}
