package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
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

// bothReads runs check on the reports as they read the payments (before
// any refresh), then, after a refresh, as they read the rollup: the two
// must agree with the same hand-computed values.
func bothReads(t *testing.T, db *store.DB, check func(t *testing.T)) {
	t.Helper()
	t.Run("payments", check)
	refreshAnalytics(t, db, time.Now())
	t.Run("rollup", check)
}

// refreshAnalytics runs one AnalyticsRefresh as of now.
func refreshAnalytics(t testing.TB, db *store.DB, now time.Time) store.AnalyticsRefreshed {
	t.Helper()
	var out store.AnalyticsRefreshed
	err := db.Tx(context.Background(), func(tx *sql.Tx) (err error) {
		out, err = db.In(tx).AnalyticsRefresh(context.Background(), now)
		return err
	})
	if err != nil {
		t.Fatalf("refreshing the analytics: %v", err)
	}
	return out
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
		bothReads(t, db, func(t *testing.T) {
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
		bothReads(t, db, func(t *testing.T) {
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
		bothReads(t, db, func(t *testing.T) {
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
	})
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

		bothReads(t, db, func(t *testing.T) {
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
	})
}
