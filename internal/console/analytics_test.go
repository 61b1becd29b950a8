package console_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestAnalytics: the analytics page shows each wallet's share in each
// market tier, the buyers each wallet brought, order value, refund rates
// and the rollout's effect with its intervals and reading, each with a
// chart and a CSV of its rows; a merchant sees its own orders only and no
// rollout; a malformed date is refused naming it.
func TestAnalytics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		pool := db.Pool()
		now := time.Now().UTC().Add(-time.Hour)
		// Merchant A: county buyers paying with WeChat Pay, city buyers
		// with Alipay; merchant B one Alipay order in the first tier.
		type sale struct {
			merchant int
			buyer    string
			region   string
			method   string
			amount   int64
		}
		var sales []sale
		for i := range 6 {
			sales = append(sales, sale{0, fmt.Sprintf("county-%d", i), "341322", "wechatpay.native", 3000})
		}
		for i := range 3 {
			sales = append(sales, sale{0, fmt.Sprintf("city-%d", i), "320102", "alipay.precreate", 9000})
		}
		sales = append(sales, sale{1, "first-1", "110101", "alipay.precreate", 50000})
		for i, s := range sales {
			p := payment.New(e.Merchants[s.merchant].ID, payment.Request{MerchantOrderID: fmt.Sprintf("an-%d", i), Amount: s.amount, Currency: "CNY",
				Description: "年货", Method: s.method, Buyer: payment.Buyer{ID: s.buyer, RegionCode: s.region}}, now)
			p.Status, p.PaidAt, p.PaidMethod = payment.StatusSucceeded, now, s.method
			p.Channel, _, _ = strings.Cut(s.method, ".")
			if err := pool.PaymentInsert(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		// The rollout: 6 county buyers shown WeChat Pay (all paid), 4 not
		// shown (none paid).
		var xs []store.Exposure
		for i := range 10 {
			buyer, shown := fmt.Sprintf("county-%d", i), i < 6
			xs = append(xs, store.Exposure{At: now.Add(-time.Minute), Checkout: rollout.Checkout{BuyerID: buyer, MerchantID: e.Merchants[0].ID, RegionCode: "341322"},
				Decision: rollout.Decision{Method: "wechatpay.native", Shown: shown, Tier: rollout.TierCounty, Cohort: rollout.CohortPercent}})
		}
		if err := pool.ExposureInsert(ctx, xs); err != nil {
			t.Fatal(err)
		}

		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		st, _, body := ops.do("GET", "/console/analytics", nil)
		if st != http.StatusOK {
			t.Fatalf("analytics: %d", st)
		}
		for _, want := range []string{`data-report="share"`, `data-report="new_buyers"`, `data-report="order_value"`, `data-report="refunds"`, `data-report="rollout"`,
			"<svg", "县域", "微信支付", "支付宝", "data-ramp", "Newcombe"} {
			if !strings.Contains(body, want) {
				t.Errorf("the analytics page lacks %s", want)
			}
		}
		// County: 6 of 6 shown paid, 0 of 4 not shown: the difference's
		// interval lies above zero.
		if !strings.Contains(body, `data-verdict="县域"><b>县域：可以继续放量`) {
			t.Errorf("the county reading is not 'safe to ramp':\n%s", body[strings.Index(body, "data-ramp"):])
		}
		st, _, csv := ops.do("GET", "/console/analytics.csv?report=share", nil)
		if st != http.StatusOK || !strings.Contains(csv, "市场层级,钱包,订单数") || !strings.Contains(csv, "县域,微信支付,6,¥180.00,100.0%") {
			t.Fatalf("share CSV: %d\n%s", st, csv)
		}
		if st, _, _ := ops.do("GET", "/console/analytics.csv?report=nope", nil); st != http.StatusNotFound {
			t.Fatalf("an unknown report: %d", st)
		}
		if st, _, body := ops.do("GET", "/console/analytics?from=2024-13-01", nil); st != http.StatusBadRequest || !strings.Contains(body, "起始日期") {
			t.Fatalf("a malformed date: %d", st)
		}
		for q, want := range map[string]string{"province=1x": "省份", "tier=moon": "市场层级"} {
			if st, _, body := ops.do("GET", "/console/analytics?"+q, nil); st != http.StatusBadRequest || !strings.Contains(body, want) {
				t.Errorf("analytics?%s: %d; want 400 naming %s", q, st, want)
			}
		}

		// Once the rollup is refreshed, the page reads it, says as of
		// when, and shows the same figures; the filters narrow them.
		if !strings.Contains(body, "汇总尚未生成") {
			t.Error("before any refresh, the page does not say it reads the payments")
		}
		if _, err := db.ExecContext(ctx, `UPDATE merchants SET region_code = '341322', category = 'grocery' WHERE id = $1`, e.Merchants[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.RefreshAnalytics(ctx); err != nil {
			t.Fatal(err)
		}
		_, _, body = ops.do("GET", "/console/analytics", nil)
		if !strings.Contains(body, "数据截至") || !strings.Contains(body, `data-verdict="县域"><b>县域：可以继续放量`) {
			t.Error("after a refresh, the page does not read the rollup with the same reading")
		}
		if st, _, csv := ops.do("GET", "/console/analytics.csv?report=share&province=34", nil); st != http.StatusOK || !strings.Contains(csv, "县域,微信支付,6,¥180.00,100.0%") || strings.Contains(csv, "一线") {
			t.Errorf("share CSV of merchants in province 34: %d\n%s", st, csv)
		}
		if st, _, csv := ops.do("GET", "/console/analytics.csv?report=order_value&tier=first_tier", nil); st != http.StatusOK || strings.Contains(csv, "县域") || !strings.Contains(csv, "一线") {
			t.Errorf("order value CSV of the first tier: %d\n%s", st, csv)
		}

		// Merchant B's portal: its one first-tier order, no rollout.
		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		_, _, body = shop.do("GET", "/console/analytics?merchant="+e.Merchants[0].ID, nil)
		_, body, _ = strings.Cut(body, "data-as-of") // the reports, after the filter's list of tiers
		if strings.Contains(body, "县域") || strings.Contains(body, "data-ramp") || !strings.Contains(body, "一线城市") {
			t.Fatal("merchant B's analytics show A's orders or the rollout")
		}
	})
}
