package console_test

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// funnelTitles are the funnel reports' titles and CSV names.
var funnelTitles = map[string]string{
	"cashier_funnel":  "收银台漏斗：各浏览器、各钱包",
	"method_outcomes": "各支付方式的成功率与未付原因",
	"notify_delay":    "钱包通知延迟：P50 与 P99",
	"share_codes":     "分享口令：生成、打开、成交（按来源）",
	"pay_for_me":      "代付：发起与付款",
}

// TestAnalyticsFunnels: the analytics page shows the cashier funnel, the
// methods' outcomes and the notification delays, each with a chart and a
// CSV of its rows, on an empty database and on a small history, before
// and after the rollup is refreshed; a merchant sees only its own.
func TestAnalyticsFunnels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		page := func(stage string, want ...string) {
			t.Helper()
			st, _, body := ops.do("GET", "/console/analytics", nil)
			if st != http.StatusOK {
				t.Fatalf("%s: the analytics page: %d", stage, st)
			}
			for csv, title := range funnelTitles {
				if !strings.Contains(body, `data-report="`+csv+`"`) || !strings.Contains(body, title) {
					t.Errorf("%s: the analytics page lacks %s (%s)", stage, csv, title)
				}
			}
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("%s: the analytics page lacks %s", stage, w)
				}
			}
		}
		csv := func(stage, name string, want ...string) {
			t.Helper()
			st, _, body := ops.do("GET", "/console/analytics.csv?report="+name, nil)
			if st != http.StatusOK {
				t.Fatalf("%s: CSV %s: %d", stage, name, st)
			}
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("%s: CSV %s lacks %q:\n%s", stage, name, w, body)
				}
			}
		}
		page("empty")
		csv("empty", "cashier_funnel", "打开收银台的浏览器,钱包,打开收银台")
		csv("empty", "method_outcomes", "支付方式,钱包订单,成功率,已支付")
		csv("empty", "notify_delay", "钱包,已支付订单,收到通知的订单,P50,P99")
		csv("empty", "share_codes", "来源,生成口令,被打开过的口令")
		csv("empty", "pay_for_me", "发起代付,朋友已付款,付款率", "0,0,无数据")

		// Merchant A: one checkout opened in WeChat and paid there,
		// notified 2 s after; one opened in another browser whose Alipay
		// code the wallet closed.
		ctx := context.Background()
		pool := db.Pool()
		now := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		m := e.Merchants[0].ID
		paid := payment.New(m, payment.Request{MerchantOrderID: "fun-1", Amount: 3000, Currency: "CNY", Description: "年货", Method: "cashier",
			Buyer: payment.Buyer{ID: "b1", RegionCode: "341322"}}, now)
		paid.Status, paid.PaidAt, paid.Channel, paid.PaidMethod = payment.StatusSucceeded, now.Add(time.Minute), "wechatpay", "wechatpay.jsapi"
		open := payment.New(m, payment.Request{MerchantOrderID: "fun-2", Amount: 5000, Currency: "CNY", Description: "年货", Method: "cashier",
			Buyer: payment.Buyer{ID: "b2", RegionCode: "341322"}}, now)
		for _, p := range []payment.Payment{paid, open} {
			if err := pool.PaymentInsert(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range []payment.Attempt{
			{ID: "pa_fun1", PaymentID: paid.ID, Method: "wechatpay.jsapi", Channel: "wechatpay", Status: payment.AttemptSucceeded, CreatedAt: now, UpdatedAt: now.Add(time.Minute)},
			{ID: "pa_fun2", PaymentID: open.ID, Method: "alipay.precreate", Channel: "alipay", Status: payment.AttemptClosed, CreatedAt: now, UpdatedAt: now},
		} {
			if err := pool.AttemptInsert(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if err := pool.ExposureInsert(ctx, []store.Exposure{
			{At: now, PaymentID: paid.ID, Checkout: rollout.Checkout{BuyerID: "b1", MerchantID: m, Browser: "wechatpay"}, Decision: rollout.Decision{Method: "wechatpay.jsapi", Shown: true}},
			{At: now, PaymentID: open.ID, Checkout: rollout.Checkout{BuyerID: "b2", MerchantID: m, Browser: "other"}, Decision: rollout.Decision{Method: "alipay.precreate", Shown: true}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.WalletEventFirst(ctx, store.WalletEventParams{Channel: "wechatpay", EventID: "ev-fun", ObjectID: "pa_fun1", ReceivedAt: paid.PaidAt.Add(2 * time.Second)}); err != nil {
			t.Fatal(err)
		}

		// A share code from a WeChat group, resolved twice and paid once;
		// two pay-for-me requests, one paid.
		if _, err := db.ExecContext(ctx, `INSERT INTO share_codes (id, token, merchant_id, target, target_id, source, resolves, paid_orders, paid_amount, created_at)
			VALUES ('sc_fun', 'FUNTOKEN', $1, 'payment', $2, 'wechat_group', 2, 1, 3000, $3)`, m, paid.ID, store.Micros(now)); err != nil {
			t.Fatal(err)
		}
		for i, status := range []string{"paid", "open"} {
			if _, err := db.ExecContext(ctx, `INSERT INTO pay_for_me (id, payment_id, merchant_id, status, expires_at, created_at, data) VALUES ($1, $2, $3, $4, 0, $5, '{}')`,
				"pfm_fun"+strconv.Itoa(i), []string{paid.ID, open.ID}[i], m, status, store.Micros(now)); err != nil {
				t.Fatal(err)
			}
		}

		for _, stage := range []string{"read from the sources", "read from the rollup"} {
			if stage == "read from the rollup" {
				if err := db.Tx(ctx, func(tx *sql.Tx) error {
					_, err := db.In(tx).AnalyticsRefresh(ctx, time.Now())
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			page(stage, "微信支付内", "其他浏览器", "钱包关闭", "P99")
			csv(stage, "cashier_funnel", "微信支付内,全部,1,1,1,100.0%,100.0%", "微信支付内,微信支付,,1,1,100.0%,100.0%", "其他浏览器,全部,1,1,0,100.0%,0.0%")
			// The closed Alipay code: 1 order, none paid, closed by the wallet.
			csv(stage, "method_outcomes", ",1,100.0%,1,0,0,0,0,0,0", ",1,0.0%,0,0,1,0,0,0,0")
			// 2 s lies in the bucket [2^10.5, 2^11) ms, read as 2^10.75 ms.
			csv(stage, "notify_delay", "微信支付,1,1,1.7 秒,1.7 秒,0")
			csv(stage, "share_codes", "wechat_group,1,1,2,1,1,¥30.00,100.0%,100.0%")
			csv(stage, "pay_for_me", "2,1,50.0%")
		}

		// Merchant B's portal: the reports, without A's checkouts.
		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		st, _, body := shop.do("GET", "/console/analytics", nil)
		if st != http.StatusOK || !strings.Contains(body, funnelTitles["cashier_funnel"]) || strings.Contains(body, "微信支付内") {
			t.Fatalf("merchant B's analytics: %d, or they show A's checkouts", st)
		}
	})
}
