package api_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestMoneyThroughTheAPI: a paid order confirmed, refunded both ways,
// settled and reconciled through the API, with balances and a statement
// that add up.
func TestMoneyThroughTheAPI(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	ctx := context.Background()
	m := e.Merchants[0].ID
	if st := e.Call(e.Platform, "POST", "/v1/merchants/"+m, map[string]any{"commission_bps": 300}, nil); st != http.StatusOK {
		t.Fatalf("policy: %d", st)
	}
	if st := e.Call(e.Platform, "POST", "/v1/merchants/"+m, map[string]any{"commission_bps": 20000}, nil); st != http.StatusBadRequest {
		t.Fatalf("a commission over 100%%: %d", st)
	}
	c := e.Client(0)
	p, err := c.CreatePayment(ctx, client.PaymentParams{MerchantOrderID: "money-1", Amount: 10000, Currency: "CNY", Description: "大米",
		Method: "wechatpay.native", Buyer: client.Buyer{ID: "b1"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": p.NextAction.QRCode}, nil)
	e.Eventually("paid", func() bool { return e.Status(0, p.ID) == "succeeded" })
	balances := func() map[string]int64 {
		var out struct{ Data []money.Balance }
		e.Call(e.Keys[0], "GET", "/v1/balances", nil, &out)
		b := map[string]int64{}
		for _, x := range out.Data {
			b[x.Account] = x.Balance
		}
		return b
	}
	if b := balances(); b[ledger.Escrow(m)] != 10000 {
		t.Fatalf("in escrow: %v", b)
	}
	// A return_and_refund before release waits for the goods.
	var rf struct {
		ID, Status string
	}
	if st := e.Call(e.Keys[0], "POST", "/v1/payments/"+p.ID+"/refunds", map[string]any{"amount": 2000, "kind": "return_and_refund"}, &rf); st != http.StatusCreated || rf.Status != "awaiting_return" {
		t.Fatalf("return_and_refund: %d %+v", st, rf)
	}
	if st := e.Call(e.Keys[0], "POST", "/v1/refunds/"+rf.ID+"/return_received", nil, &rf); st != http.StatusOK || rf.Status != "pending" {
		t.Fatalf("return received: %d %+v", st, rf)
	}
	e.Eventually("refunded", func() bool { r, _ := c.GetRefund(ctx, rf.ID); return r.Status == "succeeded" })
	if st := e.Call(e.Keys[0], "POST", "/v1/refunds/"+rf.ID+"/return_received", nil, nil); st != http.StatusConflict {
		t.Fatalf("a second return_received: %d", st)
	}
	// Receipt confirmed: 8000 left, less 3.00% (240) and the fee still
	// borne (60 − 12 returned = 48).
	if st := e.Call(e.Keys[0], "POST", "/v1/payments/"+p.ID+"/confirm_receipt", nil, nil); st != http.StatusOK {
		t.Fatalf("confirm: %d", st)
	}
	if b := balances(); b[ledger.Escrow(m)] != 0 || b[ledger.Payable(m)] != 8000-240-48 {
		t.Fatalf("after release: %v", b)
	}
	// refund_only after release comes from the payable.
	if st := e.Call(e.Keys[0], "POST", "/v1/payments/"+p.ID+"/refunds", map[string]any{"amount": 1000, "kind": "refund_only"}, &rf); st != http.StatusCreated {
		t.Fatalf("refund_only: %d", st)
	}
	e.Eventually("refunded", func() bool { r, _ := c.GetRefund(ctx, rf.ID); return r.Status == "succeeded" })
	want := int64(8000 - 240 - 48 - 1000 + 6)
	if b := balances(); b[ledger.Payable(m)] != want {
		t.Fatalf("payable %v, want %d", b, want)
	}
	var entries struct {
		Data []ledger.Entry
	}
	e.Call(e.Keys[0], "GET", "/v1/ledger/entries?payment_id="+p.ID, nil, &entries)
	kinds := []string{}
	for _, en := range entries.Data {
		var sum int64
		for _, l := range en.Lines {
			sum += l.Amount
		}
		if sum != 0 {
			t.Fatalf("entry %s sums to %d", en.ID, sum)
		}
		kinds = append(kinds, en.Kind)
	}
	if strings.Join(kinds, ",") != "paid,refund_requested,refund_done,released,refund_requested,refund_done" {
		t.Fatalf("entries %v", kinds)
	}
	if st := e.Call(e.Keys[1], "GET", "/v1/ledger/entries?payment_id="+p.ID, nil, &entries); st != http.StatusOK || len(entries.Data) != 0 {
		t.Fatalf("another merchant reads the entries: %d", len(entries.Data))
	}
	// Settlement, then the statement: opening + movements = closing = 0.
	day := chinatime.Date(time.Now())
	var batches struct{ Data []money.Batch }
	if st := e.Call(e.Platform, "POST", "/v1/settlements", map[string]any{"day": day}, &batches); st != http.StatusOK || len(batches.Data) != 1 || batches.Data[0].Amount != want {
		t.Fatalf("settle: %d %+v", st, batches)
	}
	req, _ := http.NewRequest("GET", e.URL+"/v1/statements?from="+day+"&to="+day+"&format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+e.Keys[0])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(res.Body).ReadAll()
	res.Body.Close()
	if err != nil || len(rows) != 1+1+4+1 || rows[1][6] != "0" || rows[len(rows)-1][6] != "0" {
		t.Fatalf("statement csv %v %v", rows, err)
	}
	// Refunds are negative amounts, written as numbers: not neutralised
	// like text.
	negative := 0
	for _, row := range rows[1:] {
		if strings.HasPrefix(row[5], "'") || strings.HasPrefix(row[6], "'") {
			t.Errorf("statement amounts written as text: %q", row)
		}
		if strings.HasPrefix(row[5], "-") {
			if _, err := strconv.ParseInt(row[5], 10, 64); err != nil {
				t.Errorf("statement amount %q", row[5])
			}
			negative++
		}
	}
	if negative == 0 {
		t.Errorf("no negative amount in the statement %q", rows)
	}
	// Reconciliation of the day through the API: everything matches.
	var run money.ReconRun
	if st := e.Call(e.Platform, "POST", "/v1/reconciliations", map[string]any{"channel": "wechatpay", "day": day}, &run); st != http.StatusCreated ||
		run.Summary.Matched != 3 || run.Summary.Discrepancies() != 0 {
		t.Fatalf("reconcile: %d %+v", st, run)
	}
	if st := e.Call(e.Keys[0], "POST", "/v1/reconciliations", map[string]any{"channel": "wechatpay", "day": day}, nil); st != http.StatusForbidden {
		t.Fatalf("a merchant key reconciles: %d", st)
	}
	problems, err := e.Svc.MoneyService().VerifyLedger(ctx)
	if err != nil || len(problems) != 0 {
		t.Fatalf("ledger: %v %v", problems, err)
	}
}
