package main

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestDemoHistoryBuyers: the buyers' market tiers are drawn as planned,
// from region codes rollout.Tier places in them, and in each tier about
// the planned share prefers WeChat Pay.
func TestDemoHistoryBuyers(t *testing.T) {
	bs := demoBuyers(rand.New(rand.NewPCG(1, 2)), demoHistoryBuyers)
	count, wechat := map[string]int{}, map[string]int{}
	for _, b := range bs {
		tier, err := rollout.Tier(b.region, nil)
		if err != nil || tier != b.tier {
			t.Fatalf("buyer %s of region %s: rollout.Tier says %q (%v), the plan %q", b.id, b.region, tier, err, b.tier)
		}
		count[b.tier]++
		if b.wechat {
			wechat[b.tier]++
		}
	}
	for _, plan := range demoTierPlan {
		share := float64(count[plan.tier]) / float64(len(bs))
		pref := float64(wechat[plan.tier]) / float64(count[plan.tier])
		if math.Abs(share-plan.share) > 0.02 || math.Abs(pref-plan.wechat) > 0.02 {
			t.Errorf("tier %s: %.3f of buyers (plan %.2f), %.3f prefer WeChat Pay (plan %.2f)", plan.tier, share, plan.share, pref, plan.wechat)
		}
	}
	if bs[0].id != "demo-buyer-00001" || bs[len(bs)-1].id != "demo-buyer-50000" {
		t.Errorf("buyer ids %s … %s", bs[0].id, bs[len(bs)-1].id)
	}
}

// TestDemoHistory seeds a smaller history and reads it as the console's
// analytics do: WeChat Pay's share of the county's paid orders rises from
// nothing to most once it is shown to everyone, buyers shown it convert
// more than those not, every payment is flagged, and a second seeding
// adds nothing.
func TestDemoHistory(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	now := time.Date(2024, 11, 20, 3, 0, 0, 0, time.UTC)
	for _, id := range []string{"m_demo_county", "m_demo_city"} {
		if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: id, Name: id}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	const buyers = 5000
	began := time.Now()
	n, err := seedDemoHistoryN(ctx, db, now, 1, buyers)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d buyers: %+v in %v", buyers, n, time.Since(began))
	// About 160,000 payments for 50,000 buyers.
	if n.Payments < 14_000 || n.Payments > 22_000 || n.Paid < n.Payments*9/10 || n.Refunds < n.Paid/50 || n.Refunds > n.Paid/25 || n.Exposures < 8_000 {
		t.Errorf("seeded %+v", n)
	}

	today := time.Date(2024, 11, 20, 0, 0, 0, 0, time.UTC).Add(-8 * time.Hour) // Beijing midnight
	start := today.AddDate(0, 0, -demoHistoryDays)
	day := func(d int) time.Time { return start.AddDate(0, 0, d) }
	wechatShare := func(from, to time.Time, tier string) float64 {
		rows, err := db.Pool().MethodShare(ctx, store.AnalyticsParams{From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		var all, wechat int64
		for _, r := range rows {
			if r.Tier == tier {
				all += r.Orders
				if r.Channel == "wechatpay" {
					wechat += r.Orders
				}
			}
		}
		if all == 0 {
			t.Fatalf("no paid orders in %s from %s to %s", tier, from, to)
		}
		return float64(wechat) / float64(all)
	}
	before, after := wechatShare(day(0), day(demoRamp[0].from), rollout.TierCounty), wechatShare(day(demoRamp[3].from), today, rollout.TierCounty)
	if before != 0 || after < 0.5 {
		t.Errorf("WeChat Pay's share of the county's paid orders: %.3f before the ramp, %.3f after", before, after)
	}
	if city := wechatShare(day(demoRamp[3].from), today, rollout.TierCity); city >= after {
		t.Errorf("WeChat Pay's share after the ramp: %.3f in cities, %.3f in counties", city, after)
	}
	if _, err := db.Pool().MethodShare(ctx, store.AnalyticsParams{From: today, To: now}); err != nil {
		t.Fatal(err)
	}
	conv, err := db.Pool().RolloutConversion(ctx, store.RolloutParams{Method: demoHistoryMethod, From: day(demoRamp[0].from), To: day(demoRamp[3].from)})
	if err != nil {
		t.Fatal(err)
	}
	rate := map[bool]float64{}
	for _, r := range conv {
		if r.Tier == rollout.TierCounty && r.Exposed > 0 {
			rate[r.Shown] = float64(r.Paid) / float64(r.Exposed)
		}
	}
	if rate[true] <= rate[false]+0.1 {
		t.Errorf("county conversion during the ramp: shown %.3f, not shown %.3f (%+v)", rate[true], rate[false], conv)
	}

	// Nothing of today, every payment flagged.
	var total, flagged, late int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(CASE WHEN data LIKE '%"demo":"history"%' AND merchant_order_id LIKE 'demo-history-%' THEN 1 ELSE 0 END),
		SUM(CASE WHEN paid_at >= ? OR created_at >= ? THEN 1 ELSE 0 END) FROM payments`, store.Micros(today), store.Micros(today)).Scan(&total, &flagged, &late); err != nil {
		t.Fatal(err)
	}
	if total != n.Payments || flagged != total || late != 0 {
		t.Errorf("%d payments stored, %d flagged, %d of today (seeded %d)", total, flagged, late, n.Payments)
	}
	var lateRefunds, lateExposures int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM refunds WHERE succeeded_at >= ? OR created_at >= ?), (SELECT COUNT(*) FROM exposures WHERE at >= ?)`,
		store.Micros(today), store.Micros(today), store.Micros(today)).Scan(&lateRefunds, &lateExposures); err != nil {
		t.Fatal(err)
	}
	if lateRefunds != 0 || lateExposures != 0 {
		t.Errorf("%d refunds and %d exposures of today", lateRefunds, lateExposures)
	}

	again, err := seedDemoHistoryN(ctx, db, now.Add(24*time.Hour), 1, buyers)
	if err != nil || again != (demoHistoryCounts{}) {
		t.Fatalf("seeding again: %+v, %v", again, err)
	}
}
