package gatewaytest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/payment"
)

// Paid makes a WeChat Native payment of amount and has the sandbox pay it.
func (e *Env) Paid(merchant int, order string, amount int64) payment.Payment {
	t, svc := e.T, e.Svc
	t.Helper()
	ctx := context.Background()
	p, err := svc.PaymentService().CreatePayment(ctx, e.Merchants[merchant], payment.Request{MerchantOrderID: order, Amount: amount, Currency: "CNY",
		Description: "property", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-" + order}})
	if err != nil {
		t.Fatal(err)
	}
	if st := e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": p.NextAction.QRCode}, nil); st != http.StatusOK {
		t.Fatalf("sandbox pay: %d", st)
	}
	e.Eventually("paid "+order, func() bool {
		got, _ := svc.PaymentService().GetPayment(ctx, e.Merchants[merchant].ID, p.ID)
		return got.Status == payment.StatusSucceeded
	})
	got, _ := svc.PaymentService().GetPayment(ctx, e.Merchants[merchant].ID, p.ID)
	return got
}

// CheckBooks holds the ledger's invariants: every entry sums to zero, the
// cached balances equal the lines, no escrow or payable is negative, every
// payment's refunds stay within what was paid, and what the wallets hold
// equals what was paid less fees and refunds.
func CheckBooks(t testing.TB, svc *gateway.Service, step string) {
	db := svc.DB
	t.Helper()
	ctx := context.Background()
	problems, err := svc.MoneyService().VerifyLedger(ctx)
	if err != nil || len(problems) > 0 {
		t.Fatalf("after %s: %v %v", step, problems, err)
	}
	bals, err := svc.MoneyService().Balances(ctx, "")
	if err != nil {
		t.Fatalf("after %s: balances: %v", step, err)
	}
	var sum int64
	for _, b := range bals {
		sum += b.Balance * ledger.Normal(b.Account)
		switch {
		case (len(b.Account) > 7 && b.Account[:7] == "escrow:") || (len(b.Account) > 8 && b.Account[:8] == "payable:"):
			if b.Balance < 0 {
				t.Fatalf("after %s: %s is %d", step, b.Account, b.Balance)
			}
		}
	}
	if sum != 0 {
		t.Fatalf("after %s: balances sum to %d", step, sum)
	}
	var over int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM payments p WHERE (SELECT COALESCE(SUM(amount), 0) FROM refunds r WHERE r.payment_id = p.id AND r.status NOT IN ('failed', 'canceled') AND r.kind <> 'duplicate_charge') > p.amount`).Scan(&over); err != nil {
		t.Fatal(err)
	}
	if over > 0 {
		t.Fatalf("after %s: %d payments refunded beyond what was paid", step, over)
	}
	// Money at the wallet: paid − fees + fees returned − refunds done.
	var paidSum, feeSum, feeBack, refundSum int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM payments WHERE status = 'succeeded'`).Scan(&paidSum); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT data FROM payments WHERE status = 'succeeded'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			t.Fatal(err)
		}
		var p payment.Payment
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			t.Fatal(err)
		}
		feeSum += p.Fee
		feeBack += p.FeeReturned
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE status = 'succeeded'`).Scan(&refundSum); err != nil {
		t.Fatal(err)
	}
	clearing := map[string]int64{}
	for _, b := range bals {
		clearing[b.Account] = b.Balance
	}
	if got, want := clearing[ledger.Clearing("wechatpay")], paidSum-feeSum+feeBack-refundSum; got != want {
		t.Fatalf("after %s: clearing is %d, payments say %d", step, got, want)
	}
}
