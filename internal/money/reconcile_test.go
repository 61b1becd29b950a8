package money_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/metrics/metricstest"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/recon"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

// TestReconcileWithSandboxBills: today's WeChat bill from the sandbox
// matches the books; then the sandbox is told to falsify the bill in each
// way, and each discrepancy is found exactly once.
func TestReconcileWithSandboxBills(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		svc, ctx := e.Svc, context.Background()
		a := e.Paid(0, "ra", 10000)
		b := e.Paid(0, "rb", 2000)
		c := e.Paid(1, "rc", 3000)
		d := e.Paid(1, "rd", 40000)
		if _, err := svc.RefundService().Create(ctx, a.MerchantID, a.ID, 1000, "partial", payment.RefundOnly); err != nil {
			t.Fatal(err)
		}
		settled(t, e, db)
		day := chinatime.Date(time.Now())
		before := metricstest.Scrape(t, metrics.Handler(metrics.Options{}))

		run, err := svc.MoneyService().Reconcile(ctx, "wechatpay", day, nil)
		if err != nil || run.Status != "done" || run.Summary.Matched != 5 || run.Summary.Discrepancies() != 0 {
			_, items, _ := svc.MoneyService().ReconRunItems(ctx, run.ID)
			t.Fatalf("a true bill: %+v %v %+v", run, err, items)
		}
		if st := e.Sandbox.Helper("POST", "/sandbox/v1/bill_faults", map[string]any{
			"wallet":       "wechatpay",
			"drop":         []string{b.ID},
			"extra":        []map[string]any{{"out_trade_no": "GHOST-1", "amount": 777}},
			"amount_delta": map[string]int64{c.ID: 1},
			"status":       map[string]string{d.ID: "REVOKED"},
			"fee_delta":    map[string]int64{a.ID: 1},
		}, nil); st != http.StatusOK {
			t.Fatalf("bill faults: %d", st)
		}
		run, err = svc.MoneyService().Reconcile(ctx, "wechatpay", day, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, items, err := svc.MoneyService().ReconRunItems(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[recon.ResultKind]string{
			recon.MissingOurs:   "payment/GHOST-1",
			recon.MissingWallet: "payment/" + b.ID,
			recon.AmountDiffers: "payment/" + c.ID,
			recon.StatusDiffers: "payment/" + d.ID,
			recon.FeeDiffers:    "payment/" + a.ID,
		}
		if len(items) != len(want) {
			t.Fatalf("found %d discrepancies, want %d: %+v", len(items), len(want), items)
		}
		for _, it := range items {
			if want[it.Kind] != it.Key {
				t.Errorf("%s %s (%s): not expected", it.Kind, it.Key, it.Detail)
			}
		}
		// The disagreement raised one platform event, naming the run; the
		// true bill raised none.
		events, err := svc.WebhookService().ListEvents(ctx, "", "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var alerts []string
		for _, ev := range events {
			if ev.Type == money.EventReconDiscrepancy {
				alerts = append(alerts, ev.MerchantID+"/"+runID(t, ev))
			}
		}
		if len(alerts) != 1 || alerts[0] != "/"+run.ID {
			t.Errorf("discrepancy events %v, want one for run %s", alerts, run.ID)
		}
		// The gauge holds the last run's discrepancies; each run
		// downloaded the bill, a wallet call.
		after := metricstest.Scrape(t, metrics.Handler(metrics.Options{}))
		if n := after.Value("hutong_reconciliation_discrepancies", "channel", "wechatpay"); n != float64(len(want)) {
			t.Errorf("hutong_reconciliation_discrepancies{channel=wechatpay} = %v, want %d", n, len(want))
		}
		download := []string{"wallet", "wechatpay", "call", "download_bill"}
		if n := after.Value("hutong_wallet_call_duration_seconds", download...) - before.Value("hutong_wallet_call_duration_seconds", download...); n != 2 {
			t.Errorf("bill downloads timed %v times, want 2", n)
		}
	})
}

// runID reads the run id out of a reconciliation event.
func runID(t *testing.T, ev webhooks.Event) string {
	t.Helper()
	var run money.ReconRun
	if err := json.Unmarshal(ev.Data, &run); err != nil {
		t.Fatal(err)
	}
	return run.ID
}

// TestReconcileFullRefundInParts: a payment refunded in full in parts
// whose fees round to less than the payment's (100 fen: a 1-fen fee; two
// refunds of 50: 0 each) gets the whole fee back on the refund that
// completes it, in hutong's books and in both wallets' bills alike, so
// the day reconciles clean.
func TestReconcileFullRefundInParts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		svc, ctx := e.Svc, context.Background()
		for _, method := range []string{"wechatpay.native", "alipay.precreate"} {
			p, err := svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "parts-" + strings.ReplaceAll(method, ".", "-"), Amount: 100, Currency: "CNY",
				Description: "parts", Method: method, Buyer: payment.Buyer{ID: "b-parts"}})
			if err != nil {
				t.Fatal(err)
			}
			if st := e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": p.Channel, "code": p.NextAction.QRCode}, nil); st != http.StatusOK {
				t.Fatalf("sandbox pay: %d", st)
			}
			e.Eventually("paid", func() bool { return e.Status(0, p.ID) == payment.StatusSucceeded })
			for range 2 {
				if _, err := svc.RefundService().Create(ctx, p.MerchantID, p.ID, 50, "part", payment.RefundOnly); err != nil {
					t.Fatal(err)
				}
				settled(t, e, db)
			}
		}
		day := chinatime.Date(time.Now())
		for _, ch := range []string{"wechatpay", "alipay"} {
			run, err := svc.MoneyService().Reconcile(ctx, ch, day, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Summary.Discrepancies() != 0 || run.Summary.BillFees != run.Summary.OurFees {
				_, items, _ := svc.MoneyService().ReconRunItems(ctx, run.ID)
				t.Errorf("%s: %+v %+v", ch, run.Summary, items)
			}
		}
	})
}

// TestReconcileFilesRefundsUnderTheWalletsTime: a refund the wallet
// completed today, which hutong learns of only tomorrow (its gateway was
// down over midnight, Beijing time), is filed under today, as the
// wallet's bill files it: today's reconciliation is clean on both wallets.
func TestReconcileFilesRefundsUnderTheWalletsTime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		svc, ctx := e.Svc, context.Background()
		for _, method := range []string{"wechatpay.native", "alipay.precreate"} {
			p, err := svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "late-" + strings.ReplaceAll(method, ".", "-"), Amount: 3000,
				Currency: "CNY", Description: "late", Method: method, Buyer: payment.Buyer{ID: "b-late"}})
			if err != nil {
				t.Fatal(err)
			}
			if st := e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": p.Channel, "code": p.NextAction.QRCode}, nil); st != http.StatusOK {
				t.Fatalf("sandbox pay: %d", st)
			}
			e.Eventually("paid", func() bool { return e.Status(0, p.ID) == payment.StatusSucceeded })
			if _, err := svc.RefundService().Create(ctx, p.MerchantID, p.ID, 1000, "late", payment.RefundOnly); err != nil {
				t.Fatal(err)
			}
		}
		// The refunds reach the wallets only now, and hutong hears of
		// them a day later.
		svc.Now = func() time.Time { return time.Now().Add(24 * time.Hour) }
		e.StartWorker()
		settled(t, e, db)
		day := chinatime.Date(time.Now())
		for _, ch := range []string{"wechatpay", "alipay"} {
			run, err := svc.MoneyService().Reconcile(ctx, ch, day, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Summary.Discrepancies() != 0 {
				_, items, _ := svc.MoneyService().ReconRunItems(ctx, run.ID)
				t.Errorf("%s %s: %+v %+v", ch, day, run.Summary, items)
			}
		}
	})
}
