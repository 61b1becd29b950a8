package payments_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/metrics/metricstest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// The messages in these tests are signed with the sandbox wallets' own
// keys, exactly as the wallets sign theirs: every one passes the
// signature check, and only the comparison of what it names with what
// hutong sent can refuse it.

// snapshot is everything a refused message must leave as it was.
func snapshot(t *testing.T, e *gatewaytest.Env, db *store.DB, merchant int, paymentID string) string {
	t.Helper()
	ctx := context.Background()
	p, err := e.Svc.PaymentService().GetPayment(ctx, e.Merchants[merchant].ID, paymentID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	out := string(b)
	for _, table := range []string{"events", "ledger_entries", "ledger_lines", "refunds", "payment_attempts", "jobs"} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf(" %s=%d", table, n)
	}
	var refunds string
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(status), '') FROM refunds WHERE payment_id = $1`, paymentID).Scan(&refunds); err != nil {
		t.Fatal(err)
	}
	return out + " refund=" + refunds
}

// refusedAll sends each variant of a message that is right but for one
// field and checks that each is refused, changes nothing, and is listed
// among the payment's wallet mismatches under that field.
func refusedAll[M any](t *testing.T, e *gatewaytest.Env, db *store.DB, merchant int, paymentID string, right M, variants map[string]func(M),
	send func(M) bool, clone func(M) M) {
	t.Helper()
	before := snapshot(t, e, db, merchant, paymentID)
	for field, change := range variants {
		msg := clone(right)
		change(msg)
		if send(msg) {
			t.Errorf("a message naming another %s was accepted", field)
		}
		if after := snapshot(t, e, db, merchant, paymentID); after != before {
			t.Errorf("a message naming another %s changed\n%s\ninto\n%s", field, before, after)
		}
	}
	var list struct{ Data []payment.Mismatch }
	if st := e.Call(e.Keys[merchant], "GET", "/v1/payments/"+paymentID+"/wallet_mismatches", nil, &list); st != http.StatusOK {
		t.Fatalf("wallet_mismatches: %d", st)
	}
	seen := map[string]bool{}
	for _, m := range list.Data {
		if m.PaymentID != paymentID || m.Source != "notification" || m.Times != 1 || m.Got == m.Expected {
			t.Errorf("mismatch recorded as %+v", m)
		}
		seen[m.Field] = true
	}
	for field := range variants {
		if !seen[fieldOf(field)] {
			t.Errorf("no mismatch of %s listed for %s: %+v", fieldOf(field), paymentID, list.Data)
		}
	}
	// Another merchant cannot read them.
	if st := e.Call(e.Keys[1-merchant%2], "GET", "/v1/payments/"+paymentID+"/wallet_mismatches", nil, nil); st != http.StatusNotFound {
		t.Errorf("another merchant read the mismatches: %d", st)
	}
}

// fieldOf reads a variant's name "field" or "field: detail".
func fieldOf(variant string) string {
	field, _, _ := strings.Cut(variant, ":")
	return field
}

func cloneMap(m map[string]any) map[string]any {
	out := maps.Clone(m)
	for k, v := range out {
		if inner, ok := v.(map[string]any); ok {
			out[k] = maps.Clone(inner)
		}
	}
	return out
}

func cloneForm(v url.Values) url.Values { return maps.Clone(v) }

// TestWeChatPayMessagesMatchedCompletely: a WeChat Pay payment or refund
// notification that differs from what hutong sent in any one field (appid,
// mchid, sub_mchid, order, amount, currency; for refunds the order, the
// refund's amount and the order's) is refused, changes nothing, and is
// recorded; the right one is then applied.
func TestWeChatPayMessagesMatchedCompletely(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		creds := e.Sandbox.Credentials()
		w := e.WalletMessages()
		p, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "wx-match", Amount: 1000, Currency: "CNY",
			Description: "matched", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-1"}})
		if err != nil {
			t.Fatal(err)
		}
		paid := map[string]any{
			"appid": creds.AppID, "mchid": creds.MchID, "out_trade_no": p.ID, "transaction_id": "4200000000202612020000000001",
			"trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
			"success_time": chinatime.RFC3339(time.Now()), "payer": map[string]any{"openid": "o_test"},
			"amount": map[string]any{"total": p.Amount, "payer_total": p.Amount, "currency": "CNY", "payer_currency": "CNY"},
		}
		sendPaid := func(m map[string]any) bool { return w.WeChat("TRANSACTION.SUCCESS", "transaction", m) }
		refusedAll(t, e, db, 0, p.ID, paid, map[string]func(map[string]any){
			payment.FieldApp:      func(m map[string]any) { m["appid"] = "wx0000000000000000" },
			payment.FieldMerchant: func(m map[string]any) { m["mchid"] = "1900000002" },
			payment.FieldSubMerchant + ": partner form naming a sub-merchant": func(m map[string]any) {
				delete(m, "appid")
				delete(m, "mchid")
				m["sp_appid"], m["sp_mchid"], m["sub_mchid"] = creds.AppID, creds.MchID, "1900000109"
			},
			payment.FieldAmount:   func(m map[string]any) { m["amount"].(map[string]any)["total"] = p.Amount - 1 },
			payment.FieldCurrency: func(m map[string]any) { m["amount"].(map[string]any)["currency"] = "USD" },
		}, sendPaid, cloneMap)
		if !sendPaid(paid) {
			t.Fatal("the right notification was refused")
		}
		if st := e.Status(0, p.ID); st != payment.StatusSucceeded {
			t.Fatalf("after the right notification: %s", st)
		}

		// A refund waiting for the wallet (the worker is stopped).
		r, err := e.Svc.RefundService().Create(ctx, e.Merchants[0].ID, p.ID, 300, "matched", "")
		if err != nil {
			t.Fatal(err)
		}
		other, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "wx-other", Amount: 1000, Currency: "CNY",
			Description: "other", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-1"}})
		if err != nil {
			t.Fatal(err)
		}
		refunded := map[string]any{
			"mchid": creds.MchID, "out_trade_no": p.ID, "transaction_id": "4200000000202612020000000001", "out_refund_no": r.ID,
			"refund_id": "50300000002026120200000000001", "refund_status": "SUCCESS", "success_time": chinatime.RFC3339(time.Now()),
			"user_received_account": "支付用户零钱", "amount": map[string]any{"total": p.Amount, "refund": r.Amount, "payer_total": p.Amount, "payer_refund": r.Amount},
		}
		sendRefund := func(m map[string]any) bool { return w.WeChat("REFUND.SUCCESS", "refund", m) }
		refusedAll(t, e, db, 0, p.ID, refunded, map[string]func(map[string]any){
			payment.FieldOrder:        func(m map[string]any) { m["out_trade_no"] = other.ID },
			payment.FieldRefundAmount: func(m map[string]any) { m["amount"].(map[string]any)["refund"] = r.Amount + 1 },
			payment.FieldOrderAmount:  func(m map[string]any) { m["amount"].(map[string]any)["total"] = p.Amount + 100 },
			payment.FieldMerchant:     func(m map[string]any) { m["mchid"] = "1900000002" },
			payment.FieldSubMerchant: func(m map[string]any) {
				delete(m, "mchid")
				m["sp_mchid"], m["sub_mchid"] = creds.MchID, "1900000109"
			},
		}, sendRefund, cloneMap)
		if !sendRefund(refunded) {
			t.Fatal("the right refund notification was refused")
		}
		if got, err := e.Svc.RefundService().Get(ctx, e.Merchants[0].ID, r.ID); err != nil || got.Status != payment.RefundSucceeded {
			t.Fatalf("refund after the right notification: %v %+v", err, got)
		}

		// A payment made for a sub-merchant: only the partner form naming
		// that sub-merchant is its.
		sub := e.Sandbox.Sandbox().WeChatPay().SubMerchants()[0].SubMchID
		m, err := e.Svc.MerchantService().Create(ctx, merchant.Merchant{Name: "特约商户", Wallets: map[string]merchant.Wallet{"wechatpay": {SubMerchant: sub}}})
		if err != nil {
			t.Fatal(err)
		}
		e.Merchants = append(e.Merchants, m)
		e.Keys = append(e.Keys, newKey(t, e, m.ID))
		pp, err := e.Svc.PaymentService().CreatePayment(ctx, m, payment.Request{MerchantOrderID: "wx-partner", Amount: 2000, Currency: "CNY",
			Description: "partner", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-2"}})
		if err != nil {
			t.Fatal(err)
		}
		partner := cloneMap(paid)
		delete(partner, "appid")
		delete(partner, "mchid")
		partner["sp_appid"], partner["sp_mchid"], partner["sub_mchid"], partner["out_trade_no"] = creds.AppID, creds.MchID, sub, pp.ID
		partner["amount"].(map[string]any)["total"] = pp.Amount
		refusedAll(t, e, db, 2, pp.ID, partner, map[string]func(map[string]any){
			payment.FieldSubMerchant: func(m map[string]any) { m["sub_mchid"] = "1900000110" },
			payment.FieldSubMerchant + ": direct form, no sub": func(m map[string]any) {
				delete(m, "sp_appid")
				delete(m, "sp_mchid")
				delete(m, "sub_mchid")
				m["appid"], m["mchid"] = creds.AppID, creds.MchID
			},
			payment.FieldMerchant: func(m map[string]any) { m["sp_mchid"] = "1900000002" },
		}, sendPaid, cloneMap)
		if !sendPaid(partner) {
			t.Fatal("the right partner notification was refused")
		}
		f := metricstest.Scrape(t, metrics.Handler(metrics.Options{}))
		if typ := f.Type("hutong_wallet_mismatches_total"); typ != "COUNTER" {
			t.Errorf("hutong_wallet_mismatches_total is a %q, want a counter", typ)
		}
		if n := f.Value("hutong_wallet_mismatches_total", "channel", "wechatpay", "source", "notification", "field", payment.FieldSubMerchant); n < 3 {
			t.Errorf("sub-merchant mismatches counted %v times, want at least 3", n)
		}
	})
}

// TestAlipayMessagesMatchedCompletely: an Alipay notification signed by
// Alipay for another app or another seller, or with another amount, is
// refused and changes nothing; a refund's notification is matched on its
// order, its refund number and the total refunded.
func TestAlipayMessagesMatchedCompletely(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		creds := e.Sandbox.Sandbox().Credentials().Alipay
		w := e.WalletMessages()
		p, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "ali-match", Amount: 1000, Currency: "CNY",
			Description: "matched", Method: "alipay.precreate", Buyer: payment.Buyer{ID: "b-1"}})
		if err != nil {
			t.Fatal(err)
		}
		now := chinatime.DateTime(time.Now())
		paid := url.Values{
			"notify_type": {"trade_status_sync"}, "charset": {"utf-8"}, "version": {"1.0"}, "app_id": {creds.AppID},
			"seller_id": {creds.SellerID}, "out_trade_no": {p.ID}, "trade_no": {"2026120222001400000000000001"},
			"trade_status": {"TRADE_SUCCESS"}, "total_amount": {alipayapi.FormatYuan(p.Amount)}, "gmt_create": {now}, "gmt_payment": {now},
			"buyer_id": {"2088102000000001"},
		}
		refusedAll(t, e, db, 0, p.ID, paid, map[string]func(url.Values){
			payment.FieldApp: func(v url.Values) { v.Set("app_id", "2021004100000002") },
			// A real sandbox seller, paid for by its own app: not ours.
			payment.FieldMerchant: func(v url.Values) { v.Set("seller_id", "2088621000000002") },
			payment.FieldAmount:   func(v url.Values) { v.Set("total_amount", alipayapi.FormatYuan(p.Amount+1)) },
		}, w.Alipay, cloneForm)
		// A notification that names no seller at all is refused before
		// it is compared.
		noSeller := cloneForm(paid)
		noSeller.Del("seller_id")
		if w.Alipay(noSeller) {
			t.Error("a notification naming no seller_id was accepted")
		}
		if !w.Alipay(paid) {
			t.Fatal("the right notification was refused")
		}
		if st := e.Status(0, p.ID); st != payment.StatusSucceeded {
			t.Fatalf("after the right notification: %s", st)
		}

		r, err := e.Svc.RefundService().Create(ctx, e.Merchants[0].ID, p.ID, 300, "matched", "")
		if err != nil {
			t.Fatal(err)
		}
		refunded := cloneForm(paid)
		refunded.Set("out_biz_no", r.ID)
		refunded.Set("refund_fee", alipayapi.FormatYuan(r.Amount))
		refunded.Set("gmt_refund", now)
		refusedAll(t, e, db, 0, p.ID, refunded, map[string]func(url.Values){
			payment.FieldMerchant: func(v url.Values) { v.Set("seller_id", "2088621000000003") },
			payment.FieldApp:      func(v url.Values) { v.Set("app_id", "2021004100000003") },
			payment.FieldRefundAmount + ": less than the refund": func(v url.Values) { v.Set("refund_fee", alipayapi.FormatYuan(r.Amount-1)) },
			payment.FieldRefundAmount + ": more than the order":  func(v url.Values) { v.Set("refund_fee", alipayapi.FormatYuan(p.Amount+1)) },
		}, w.Alipay, cloneForm)
		if !w.Alipay(refunded) {
			t.Fatal("the right refund notification was refused")
		}
		if got, err := e.Svc.RefundService().Get(ctx, e.Merchants[0].ID, r.ID); err != nil || got.Status != payment.RefundSucceeded {
			t.Fatalf("refund after the right notification: %v %+v", err, got)
		}
	})
}

func newKey(t *testing.T, e *gatewaytest.Env, merchantID string) string {
	t.Helper()
	_, key, err := e.Svc.MerchantService().CreateKey(context.Background(), merchantID)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
