package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/hutong-pay/hutong/internal/merchant"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// order is a payment as the analytics tests need it: paid at paidAt (zero:
// never) by a buyer of a region through a wallet.
type order struct {
	id, merchant, buyer, channel, region string
	amount                               int64
	paidAt                               time.Time
	status                               string // "" is succeeded
	refunded                             int64
}

func seedOrders(t *testing.T, db *store.DB, orders ...order) {
	t.Helper()
	ctx := context.Background()
	for _, o := range orders {
		status := o.status
		if status == "" {
			status = payment.StatusSucceeded
		}
		created := o.paidAt
		if created.IsZero() {
			created = time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
		}
		method := o.channel + ".native"
		if o.channel == "alipay" {
			method = "alipay.precreate"
		}
		p := payment.Payment{ID: o.id, MerchantID: o.merchant, MerchantOrderID: o.id, Amount: o.amount, Currency: "CNY", Method: method, Channel: o.channel,
			Buyer: payment.Buyer{ID: o.buyer, RegionCode: o.region}, Status: status, Refunded: o.refunded, CreatedAt: created, UpdatedAt: created}
		if !o.paidAt.IsZero() {
			p.PaidAt, p.PaidMethod = o.paidAt, method
		}
		if err := db.Pool().PaymentInsert(ctx, p); err != nil {
			t.Fatalf("payment %s: %v", o.id, err)
		}
	}
}

// Beijing Monday 2024-09-09 00:00 is 2024-09-08 16:00 UTC.
var (
	wk1 = time.Date(2024, 9, 2, 0, 0, 0, 0, chinatime.Location).UTC()
	wk2 = time.Date(2024, 9, 9, 0, 0, 0, 0, chinatime.Location).UTC()
)

func TestBeijingWeek(t *testing.T) {
	for _, c := range []struct{ at, want time.Time }{
		{wk2, wk2},
		{wk2.Add(-time.Microsecond), wk1},
		{wk2.Add(7*24*time.Hour - time.Microsecond), wk2},
		{time.Date(2024, 9, 8, 23, 0, 0, 0, time.UTC), wk2}, // Monday 07:00 in Beijing, still Sunday in UTC
		{time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 29, 0, 0, 0, 0, chinatime.Location).UTC()},
	} {
		if got := store.BeijingWeek(c.at); !got.Equal(c.want) {
			t.Errorf("BeijingWeek(%s) = %s; want %s", c.at, got, c.want)
		}
	}
}

// TestMethodShare: paid orders by Beijing week, tier and wallet, with the
// week's edge at Monday 00:00 UTC+8, unpaid and other merchants' orders
// left out, on both backends.
func TestMethodShare(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedMerchants(t, db, wk1, "m1", "m2")
		seedOrders(t, db,
			order{"p1", "m1", "b1", "wechatpay", "130627", 1000, wk2.Add(-time.Microsecond), "", 0}, // county, Sunday 23:59 Beijing: week 1
			order{"p2", "m1", "b2", "wechatpay", "130627", 2000, wk2, "", 0},                        // county, week 2
			order{"p3", "m1", "b3", "alipay", "130627", 3000, wk2.Add(time.Hour), "", 0},            // county, week 2
			order{"p4", "m1", "b4", "alipay", "110105", 4000, wk2.Add(2 * time.Hour), "", 0},        // Beijing: first tier
			order{"p5", "m2", "b5", "wechatpay", "429004", 5000, wk2.Add(3 * time.Hour), "", 0},     // Xiantao: county-level city
			order{"p6", "m1", "b6", "wechatpay", "", 6000, wk2.Add(4 * time.Hour), "", 0},           // no region
			order{"p7", "m1", "b7", "wechatpay", "130627", 7000, time.Time{}, payment.StatusRequiresAction, 0},
			order{"p8", "m1", "b8", "wechatpay", "130627", 8000, wk2.Add(5 * time.Hour), payment.StatusCanceled, 0}, // paid late: not an order
			order{"p9", "m1", "b9", "wechatpay", "130627", 9000, wk2.Add(14 * 24 * time.Hour), "", 0},               // after To
			order{"p10", "m1", "b2", "wechatpay", "130627", 500, wk2.Add(6 * time.Hour), "", 0},
		)
		p := store.AnalyticsParams{From: wk1, To: wk2.Add(7 * 24 * time.Hour)}
		got, err := db.Pool().MethodShare(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.ShareRow{
			{wk1, rollout.TierCounty, "wechatpay", 1, 1000},
			{wk2, "", "wechatpay", 1, 6000},
			{wk2, rollout.TierCounty, "alipay", 1, 3000},
			{wk2, rollout.TierCounty, "wechatpay", 2, 2500},
			{wk2, rollout.TierCountyCity, "wechatpay", 1, 5000},
			{wk2, rollout.TierFirst, "alipay", 1, 4000},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("MethodShare =\n%v\nwant\n%v", got, want)
		}
		p.MerchantID = "m2"
		if got, err := db.Pool().MethodShare(ctx, p); err != nil || !reflect.DeepEqual(got, []store.ShareRow{{wk2, rollout.TierCountyCity, "wechatpay", 1, 5000}}) {
			t.Errorf("MethodShare of m2 = %v, %v", got, err)
		}
		p.MerchantID, p.From, p.To = "", wk2.Add(30*24*time.Hour), wk2.Add(40*24*time.Hour)
		if got, err := db.Pool().MethodShare(ctx, p); err != nil || len(got) != 0 {
			t.Errorf("MethodShare of an empty span = %v, %v; want nothing", got, err)
		}
	})
}

// TestMethodShareTiers: the tier SQL computes agrees with rollout.Tier for
// every kind of code, valid or not, under the default table and with
// overrides, on both backends.
func TestMethodShareTiers(t *testing.T) {
	codes := []string{"110105", "310151", "440106", "440305", "441900", "442000", "500151", "500156", "500157", "500230",
		"130102", "130120", "130121", "130180", "130181", "130199", "429004", "469021", "429021",
		"130100", "130000", "130027", "000101", "990101", "910101", "1301", "13010a", "", "abcdef", "1301011", "820101", "710101"}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedMerchants(t, db, wk1, "m1")
		var orders []order
		for i, c := range codes {
			orders = append(orders, order{fmt.Sprintf("p%d", i), "m1", fmt.Sprintf("b%d", i), "alipay", c, int64(1) << i, wk2, "", 0})
		}
		seedOrders(t, db, orders...)
		for _, table := range []rollout.TierTable{nil, {"130627": rollout.TierFirst, "1301": rollout.TierCountyCity, "469021": rollout.TierCity}} {
			want := map[string]store.ShareRow{}
			for i, c := range codes {
				tier, err := rollout.Tier(c, rollout.DefaultTierTable().With(table))
				if err != nil {
					tier = ""
				}
				r := want[tier]
				r.Week, r.Tier, r.Channel = wk2, tier, "alipay"
				r.Orders++
				r.GMV += int64(1) << i
				want[tier] = r
			}
			got, err := db.Pool().MethodShare(ctx, store.AnalyticsParams{From: wk2, To: wk2.Add(time.Hour), Tiers: table})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Errorf("tiers %v: %d rows, want %d: %v", table, len(got), len(want), got)
			}
			for _, r := range got {
				if r != want[r.Tier] {
					t.Errorf("tiers %v: %+v, want %+v (codes by bit of GMV)", table, r, want[r.Tier])
				}
			}
		}
		if _, err := db.Pool().MethodShare(ctx, store.AnalyticsParams{From: wk2, To: wk2.Add(time.Hour), Tiers: rollout.TierTable{"13'--": rollout.TierCity}}); err == nil {
			t.Error("a tier table entry that is not a code was accepted")
		}
	})
}

// TestNewBuyers: a buyer counts once, in the week and wallet of their
// first paid order anywhere on the marketplace, and only if that order is
// in the span.
func TestNewBuyers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedMerchants(t, db, wk1, "m1", "m2")
		seedOrders(t, db,
			order{"a1", "m2", "old", "alipay", "130627", 100, wk1.Add(-24 * time.Hour), "", 0}, // before the span: not new
			order{"a2", "m1", "old", "wechatpay", "130627", 100, wk2, "", 0},
			order{"a3", "m1", "new1", "wechatpay", "130627", 100, wk2.Add(time.Hour), "", 0},
			order{"a4", "m1", "new1", "alipay", "130627", 100, wk2.Add(2 * time.Hour), "", 0},
			order{"a5", "m1", "tie", "wechatpay", "110105", 100, wk2.Add(time.Hour), "", 0}, // same µs: the smaller id counts
			order{"a6", "m1", "tie", "alipay", "110105", 100, wk2.Add(time.Hour), "", 0},
			order{"a7", "m1", "late", "wechatpay", "130627", 100, time.Time{}, payment.StatusCanceled, 0}, // never paid
			order{"a8", "m1", "late", "alipay", "130627", 100, wk1.Add(time.Hour), "", 0},
			order{"a9", "m2", "new2", "wechatpay", "429004", 100, wk2.Add(3 * time.Hour), "", 0},
			order{"a10", "m1", "", "wechatpay", "130627", 100, wk2, "", 0},                               // no buyer id
			order{"a11", "m1", "after", "wechatpay", "130627", 100, wk2.Add(30 * 24 * time.Hour), "", 0}, // after To
		)
		p := store.AnalyticsParams{From: wk1, To: wk2.Add(7 * 24 * time.Hour)}
		got, err := db.Pool().NewBuyers(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.NewBuyerRow{
			{wk1, rollout.TierCounty, "alipay", 1},
			{wk2, rollout.TierCounty, "wechatpay", 1},
			{wk2, rollout.TierCountyCity, "wechatpay", 1},
			{wk2, rollout.TierFirst, "wechatpay", 1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("NewBuyers =\n%v\nwant\n%v", got, want)
		}
		p.MerchantID = "m2"
		if got, err := db.Pool().NewBuyers(ctx, p); err != nil || !reflect.DeepEqual(got, []store.NewBuyerRow{{wk2, rollout.TierCountyCity, "wechatpay", 1}}) {
			t.Errorf("NewBuyers first at m2 = %v, %v", got, err)
		}
		// A span that starts later finds no one new: their first orders came before it.
		p.MerchantID, p.From = "", wk2.Add(4*time.Hour)
		if got, err := db.Pool().NewBuyers(ctx, p); err != nil || len(got) != 0 {
			t.Errorf("NewBuyers after everyone's first order = %v, %v", got, err)
		}
	})
}

// TestRolloutConversion: distinct buyers per tier and arm, and of them
// those who paid any order after their first exposure and before To.
func TestRolloutConversion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedMerchants(t, db, wk1, "m1")
		const method = "wechatpay.native"
		at := wk2
		expose := func(buyer string, d time.Duration, shown bool, tier, m string) store.Exposure {
			return store.Exposure{At: at.Add(d), Checkout: rollout.Checkout{BuyerID: buyer, MerchantID: "m1"},
				Decision: rollout.Decision{Method: m, Shown: shown, Version: 1, Cohort: rollout.CohortPercent, Tier: tier}}
		}
		xs := []store.Exposure{
			expose("s1", 0, true, rollout.TierCounty, method), // converts
			expose("s1", time.Hour, true, rollout.TierCounty, method),
			expose("s2", 0, true, rollout.TierCounty, method),  // paid only before
			expose("s3", 0, true, rollout.TierFirst, method),   // pays after To
			expose("h1", 0, false, rollout.TierCounty, method), // converts by Alipay
			expose("h2", 0, false, rollout.TierCounty, method), // never pays
			expose("r1", 0, false, rollout.TierCounty, method), // ramped: both arms
			expose("r1", 2*time.Hour, true, rollout.TierCounty, method),
			expose("o1", 0, true, rollout.TierCounty, "alipay.wap"),    // another method
			expose("e1", -time.Hour, true, rollout.TierCounty, method), // before the span
			expose("", 0, true, rollout.TierCounty, method),            // no buyer id
		}
		if err := db.Pool().ExposureInsert(ctx, xs); err != nil {
			t.Fatal(err)
		}
		seedOrders(t, db,
			order{"c1", "m1", "s1", "wechatpay", "130627", 100, at.Add(30 * time.Minute), "", 0},
			order{"c2", "m1", "s2", "wechatpay", "130627", 100, at.Add(-time.Minute), "", 0},
			order{"c3", "m1", "s3", "wechatpay", "110105", 100, at.Add(48 * time.Hour), "", 0},
			order{"c4", "m1", "h1", "alipay", "130627", 100, at.Add(time.Minute), "", 0},
			order{"c5", "m1", "r1", "alipay", "130627", 100, at.Add(time.Hour), "", 0}, // after the hidden exposure, before the shown
			order{"c6", "m1", "h2", "alipay", "130627", 100, time.Time{}, payment.StatusRequiresAction, 0},
		)
		got, err := db.Pool().RolloutConversion(ctx, store.RolloutParams{Method: method, From: at, To: at.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		want := []store.ConversionRow{
			{rollout.TierCounty, false, 3, 2},
			{rollout.TierCounty, true, 3, 1},
			{rollout.TierFirst, true, 1, 0},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("RolloutConversion =\n%v\nwant\n%v", got, want)
		}
	})
}

// BenchmarkAnalytics times each analytics report over a year of a
// marketplace: 1,000,000 payments on SQLite (HUTONG_BENCH_ANALYTICS_ROWS
// changes it) and, when HUTONG_TEST_POSTGRES is set, 200,000 on
// PostgreSQL; 100,000 buyers, 50 merchants, four market tiers, two wallets
// (WeChat Pay's share growing over the year), 5% of payments canceled, 3%
// refunded, and an exposure to wechatpay.native for every third payment.
// The pages' goal is under 500 ms each at 1M payments.
//
// The rows are made by the database itself, by one INSERT … SELECT over a
// recursive counter, in one transaction: a million rows through the
// store's methods would take minutes and measure nothing the reports do.
// Their values are arithmetic of the counter, so every run has the same
// data.
func BenchmarkAnalytics(b *testing.B) {
	rows := int64(1_000_000)
	if s := os.Getenv("HUTONG_BENCH_ANALYTICS_ROWS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatalf("HUTONG_BENCH_ANALYTICS_ROWS: %v", err)
		}
		rows = n
	}
	b.Run("sqlite", func(b *testing.B) { benchAnalytics(b, storetest.SQLite(b), rows) })
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv(storetest.EnvPostgres) == "" {
			b.Skip("HUTONG_TEST_POSTGRES is not set")
		}
		db, err := store.Open(context.Background(), storetest.PostgresDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		benchAnalytics(b, db, rows/5)
	})
}

// benchYear is the year the benchmark's payments are paid in.
var benchYear = time.Date(2024, 9, 1, 0, 0, 0, 0, chinatime.Location)

func seedAnalytics(b *testing.B, db *store.DB, rows int64) {
	ctx := context.Background()
	start := time.Now()
	for m := range 50 {
		if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: fmt.Sprintf("m%d", m), Name: "m"}, CreatedAt: benchYear}); err != nil {
			b.Fatal(err)
		}
	}
	t0 := store.Micros(benchYear)
	step := int64(365*24*time.Hour/time.Microsecond) / rows
	// Per counter i: paid i·step into the year; buyer i·7919 mod 100,000;
	// WeChat Pay for 20% of orders at the start, 60% at the end; a
	// province of eight, a prefecture of nine, and a district, county or
	// county-level city by turns; every 20th canceled, every 33rd refunded.
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < CAST($1 AS BIGINT) - 1),
			g AS (SELECT i, CAST($2 AS BIGINT) + i * CAST($3 AS BIGINT) AS at, CASE WHEN (i * 13) % 100 < 20 + (i * 40) / CAST($1 AS BIGINT) THEN 'wechatpay' ELSE 'alipay' END AS ch,
				CAST((CASE i % 8 WHEN 0 THEN 11 WHEN 1 THEN 13 WHEN 2 THEN 32 WHEN 3 THEN 41 WHEN 4 THEN 44 WHEN 5 THEN 51 WHEN 6 THEN 37 ELSE 42 END) * 10000
					+ (1 + (i / 8) % 9) * 100
					+ (CASE (i / 72) % 4 WHEN 0 THEN 1 + i % 20 WHEN 1 THEN 81 + i % 19 ELSE 21 + i % 60 END) AS TEXT) AS region
				FROM n)
			INSERT INTO payments (id, merchant_id, merchant_order_id, status, method, amount, refunded, created_at, updated_at, data,
				channel, paid_method, buyer_id, region_code, paid_at)
			SELECT 'pay_' || i, 'm' || (i % 50), 'o' || i, CASE WHEN i % 20 = 0 THEN 'canceled' ELSE 'succeeded' END,
				CASE ch WHEN 'wechatpay' THEN 'wechatpay.native' ELSE 'alipay.precreate' END,
				1000 + (i * 7907) % 50000, CASE WHEN i % 33 = 0 AND i % 20 <> 0 THEN 1000 ELSE 0 END, at, at, '{}',
				ch, CASE ch WHEN 'wechatpay' THEN 'wechatpay.native' ELSE 'alipay.precreate' END,
				'b' || ((i * 7919) % 100000), region, CASE WHEN i % 20 = 0 THEN 0 ELSE at + 1000000 END
			FROM g`, rows, t0, step); err != nil {
			return fmt.Errorf("payments: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refunds (id, payment_id, merchant_id, status, amount, created_at, data, kind, updated_at, succeeded_at)
			SELECT 're_' || id, id, merchant_id, 'succeeded', refunded, paid_at + 1, '{}',
				CASE WHEN paid_at % 3 = 0 THEN 'refund_only' ELSE 'return_and_refund' END, paid_at + 1, paid_at + 1
			FROM payments WHERE refunded > 0`); err != nil {
			return fmt.Errorf("refunds: %w", err)
		}
		// Exposures a minute before every third payment; shown to a share
		// of buyers growing from 10% to 90% over the year.
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 3 FROM n WHERE i < CAST($1 AS BIGINT) - 3)
			INSERT INTO exposures (at, buyer_id, merchant_id, method, shown, rule_version, cohort, tier, region_code)
			SELECT CAST($2 AS BIGINT) + i * CAST($3 AS BIGINT) - 60000000, 'b' || ((i * 7919) % 100000), 'm' || (i % 50), 'wechatpay.native',
				CASE WHEN ((i * 7919) % 100000) % 100 < 10 + (i * 80) / CAST($1 AS BIGINT) THEN 1 ELSE 0 END, 1, 'percent',
				CASE i % 4 WHEN 0 THEN 'first_tier' WHEN 1 THEN 'city' WHEN 2 THEN 'county_city' ELSE 'county' END, ''
			FROM n`, rows, t0, step); err != nil {
			return fmt.Errorf("exposures: %w", err)
		}
		return nil
	})
	if err != nil {
		b.Fatalf("seeding %d payments: %v", rows, err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d payments in %s", rows, time.Since(start).Round(time.Millisecond))
}

func benchAnalytics(b *testing.B, db *store.DB, rows int64) {
	seedAnalytics(b, db, rows)
	ctx := context.Background()
	year := store.AnalyticsParams{From: benchYear, To: benchYear.AddDate(1, 0, 0)}
	quarter := store.AnalyticsParams{From: benchYear.AddDate(0, 9, 0), To: benchYear.AddDate(1, 0, 0)}
	for _, q := range []struct {
		name string
		run  func() (int, error)
	}{
		{"MethodShare/year", func() (int, error) { r, err := db.Pool().MethodShare(ctx, year); return len(r), err }},
		{"MethodShare/quarter", func() (int, error) { r, err := db.Pool().MethodShare(ctx, quarter); return len(r), err }},
		{"NewBuyers/year", func() (int, error) { r, err := db.Pool().NewBuyers(ctx, year); return len(r), err }},
		{"NewBuyers/quarter", func() (int, error) { r, err := db.Pool().NewBuyers(ctx, quarter); return len(r), err }},
		{"RolloutConversion/year", func() (int, error) {
			r, err := db.Pool().RolloutConversion(ctx, store.RolloutParams{Method: "wechatpay.native", From: year.From, To: year.To})
			return len(r), err
		}},
		{"RolloutConversion/quarter", func() (int, error) {
			r, err := db.Pool().RolloutConversion(ctx, store.RolloutParams{Method: "wechatpay.native", From: quarter.From, To: quarter.To})
			return len(r), err
		}},
		{"WalletAOV/year", func() (int, error) { r, err := db.Pool().WalletAOV(ctx, year); return len(r), err }},
		{"WalletAOV/quarter", func() (int, error) { r, err := db.Pool().WalletAOV(ctx, quarter); return len(r), err }},
		{"RefundRates/year", func() (int, error) { r, err := db.Pool().RefundRates(ctx, year); return len(r), err }},
		{"RefundRates/quarter", func() (int, error) { r, err := db.Pool().RefundRates(ctx, quarter); return len(r), err }},
	} {
		b.Run(q.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				var err error
				if n, err = q.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "rows")
		})
	}
}

// TestWalletAOVAndRefundRates: orders and GMV by wallet and tier, and
// refunded and refund-only orders by wallet, counting orders not refunds.
func TestWalletAOVAndRefundRates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedMerchants(t, db, wk1, "m1", "m2")
		at := wk2
		seedOrders(t, db,
			order{"w1", "m1", "b1", "wechatpay", "130627", 1000, at, "", 1000}, // refund only, twice
			order{"w2", "m1", "b2", "wechatpay", "130627", 3000, at, "", 500},  // return and refund
			order{"w3", "m1", "b3", "wechatpay", "110105", 5000, at, "", 200},  // a refund still pending
			order{"w4", "m2", "b4", "wechatpay", "130627", 2000, at, "", 0},    // duplicate charge only
			order{"a1", "m1", "b5", "alipay", "130627", 4000, at, "", 0},
			order{"a2", "m1", "b6", "alipay", "130627", 6000, at.Add(-30 * 24 * time.Hour), "", 6000}, // before the span
			order{"a3", "m1", "b7", "alipay", "130627", 7000, time.Time{}, payment.StatusRequiresAction, 0},
		)
		refund := func(id, pay, merchantID, kind, status string, amount int64) {
			t.Helper()
			r := payment.Refund{ID: id, PaymentID: pay, Amount: amount, Kind: kind, Status: status, CreatedAt: at.Add(time.Hour)}
			if err := db.Pool().RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: merchantID, Insert: true}); err != nil {
				t.Fatalf("refund %s: %v", id, err)
			}
		}
		refund("r1", "w1", "m1", "refund_only", payment.RefundSucceeded, 500)
		refund("r2", "w1", "m1", "refund_only", payment.RefundSucceeded, 500)
		refund("r3", "w2", "m1", "return_and_refund", payment.RefundSucceeded, 500)
		refund("r4", "w3", "m1", "refund_only", payment.RefundPending, 200)
		refund("r5", "w4", "m2", "duplicate_charge", payment.RefundSucceeded, 2000)
		refund("r6", "a2", "m1", "refund_only", payment.RefundSucceeded, 6000)

		p := store.AnalyticsParams{From: wk1, To: wk2.Add(7 * 24 * time.Hour)}
		aov, err := db.Pool().WalletAOV(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		wantAOV := []store.AOVRow{
			{"alipay", rollout.TierCounty, 1, 4000},
			{"wechatpay", rollout.TierCounty, 3, 6000},
			{"wechatpay", rollout.TierFirst, 1, 5000},
		}
		if !reflect.DeepEqual(aov, wantAOV) {
			t.Errorf("WalletAOV =\n%v\nwant\n%v", aov, wantAOV)
		}
		rates, err := db.Pool().RefundRates(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		wantRates := []store.RefundRow{{"alipay", 1, 0, 0}, {"wechatpay", 4, 2, 1}}
		if !reflect.DeepEqual(rates, wantRates) {
			t.Errorf("RefundRates = %v; want %v", rates, wantRates)
		}
		p.MerchantID = "m2"
		if rates, err := db.Pool().RefundRates(ctx, p); err != nil || !reflect.DeepEqual(rates, []store.RefundRow{{"wechatpay", 1, 0, 0}}) {
			t.Errorf("RefundRates of m2 = %v, %v", rates, err)
		}
	})
}
