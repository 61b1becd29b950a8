package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
)

// The demo's history tells the story hutong was made for: a marketplace
// that took Alipay only, then opened WeChat Pay, the wallet most buyers of
// the lower-tier markets prefer (in 2020, 83% of county buyers, 78% in the
// urban-rural fringe and county-level cities, 76% in cities), in a staged
// rollout. Buyers who prefer WeChat Pay buy far less where only Alipay is
// offered; once shown WeChat Pay they buy at their full rate, and the
// analytics show where that happened.
//
// The history is written on the demo's first start: six months of orders
// ending yesterday (Beijing), so today's walkthrough, its statements and
// its reconciliation of today's bill are untouched by it. It feeds the
// analytics only. No ledger entry is posted for it and it has no wallet
// orders: the wallets' bills never knew these payments, so books with them
// would not balance. Every payment is flagged as demo data (metadata
// demo=history, order numbers demo-history-…, wallet trade numbers
// demo-…), is already released from escrow and marked settled, so that
// no escrow release, settlement or profit sharing picks it up.

// Demo history sizes and rates.
const (
	demoHistoryBuyers = 50_000
	demoHistoryDays   = 182
	// demoHistoryRate is the orders a buyer would place a day at the full
	// rate, before each buyer's own multiplier.
	demoHistoryRate = 0.03
	// demoHistoryAlipayOnlyRate is the share of their would-be orders that
	// buyers preferring WeChat Pay still place, paying with Alipay, where
	// WeChat Pay is not offered; the others abandon the checkout.
	demoHistoryAlipayOnlyRate = 0.30
	// demoHistoryFailed is the share of checkouts left unpaid (canceled or
	// expired), demoHistoryRefunded the share of paid orders refunded.
	demoHistoryFailed   = 0.05
	demoHistoryRefunded = 0.03
	// demoHistoryTx is how many payments one transaction writes.
	demoHistoryTx = 4000
	// demoExposureBatch is how many exposures one statement writes.
	demoExposureBatch = 40
	// demoHistorySalt is the rollout's salt, the walkthrough's too, so a
	// buyer's bucket is the one rollout.Bucket gives.
	demoHistorySalt   = "wechat-2024"
	demoHistoryMethod = "wechatpay.native"
)

// demoRamp is the WeChat Pay rollout over the history: from its first day
// (counted from the history's start), the basis points of buyers shown it.
var demoRamp = []struct{ from, bps int }{{61, 100}, {75, 500}, {89, 2000}, {117, rollout.Buckets}}

// demoTierPlan is each market tier's share of the buyers, the share of its
// buyers who prefer WeChat Pay, and real region codes of it.
var demoTierPlan = []struct {
	tier    string
	share   float64
	wechat  float64
	regions []string
}{
	{rollout.TierFirst, 0.15, 0.76, []string{"110101", "110105", "310104", "440106", "440305"}},
	{rollout.TierCity, 0.30, 0.76, []string{"320102", "330106", "420106", "510104", "130602"}},
	{rollout.TierCountyCity, 0.20, 0.78, []string{"130682", "130681", "320281", "330782", "429004"}},
	{rollout.TierCounty, 0.35, 0.83, []string{"341322", "130627", "130636", "411523", "510722", "431224"}},
}

// demoBuyer is one buyer of the history.
type demoBuyer struct {
	id, region, tier, platform string
	wechat                     bool    // prefers WeChat Pay
	rate                       float64 // would-be orders a day
	bucket                     int     // rollout.Bucket under demoHistorySalt
	countyShop                 float64 // chance an order is at the county shop
}

// demoHourWeights is the daily rhythm of orders, by Beijing hour.
var demoHourWeights = [24]float64{2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 4, 5, 6, 8, 6, 5, 5, 5, 6, 7, 9, 11, 12, 9, 5}

var demoGoods = map[string][]string{
	"m_demo_county": {"东北大米 5公斤", "金龙鱼 食用油 5L", "纯牛奶 整箱", "洗衣液 3kg", "卫生纸 整提", "零食大礼包", "鸡蛋 30枚"},
	"m_demo_city":   {"羊毛大衣", "牛仔裤", "运动鞋", "连衣裙", "衬衫", "羽绒服"},
}

// seedDemoHistory writes the demo's history on its first start: about
// 50,000 buyers' six months of orders ending the Beijing day before now.
// The same seed writes the same history. A store that has it already is
// left alone.
func seedDemoHistory(ctx context.Context, db *store.DB, now time.Time, seed int64) error {
	_, err := seedDemoHistoryN(ctx, db, now, seed, demoHistoryBuyers)
	return err
}

// demoHistoryCounts is what a seeding wrote.
type demoHistoryCounts struct {
	Payments, Paid, Refunds, Exposures int
}

// demoHistorySeeded is whether the store holds the demo's history: its
// first order number, at either shop (an indexed look-up).
func demoHistorySeeded(ctx context.Context, db *store.DB) (bool, error) {
	for _, m := range []string{"m_demo_county", "m_demo_city"} {
		_, err := db.Pool().PaymentIDByOrder(ctx, m, demoOrderID(1))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("demo history: %w", err)
		}
	}
	return false, nil
}

func demoOrderID(n int) string { return fmt.Sprintf("demo-history-%07d", n) }

// seedDemoHistoryN is seedDemoHistory with buyers buyers.
func seedDemoHistoryN(ctx context.Context, db *store.DB, now time.Time, seed int64, buyers int) (demoHistoryCounts, error) {
	var n demoHistoryCounts
	if done, err := demoHistorySeeded(ctx, db); err != nil || done {
		return n, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x68757479))
	bs := demoBuyers(rng, buyers)
	today, _, err := chinatime.ParseDate(chinatime.Date(now))
	if err != nil {
		return n, err
	}
	start := today.AddDate(0, 0, -demoHistoryDays)
	var hourCum [24]float64
	sum := 0.0
	for h, w := range demoHourWeights {
		sum += w
		hourCum[h] = sum
	}
	meta := map[string]string{"demo": "history"}

	var ps []payment.Payment
	var refunds []payment.Refund
	var exps []store.Exposure
	flush := func() error {
		if len(ps) == 0 && len(exps) == 0 {
			return nil
		}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			in := db.In(tx)
			if err := in.PaymentInsertMany(ctx, ps); err != nil {
				return err
			}
			merchants := make(map[string]string, len(ps))
			for _, p := range ps {
				merchants[p.ID] = p.MerchantID
			}
			for _, r := range refunds {
				if err := in.RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: merchants[r.PaymentID], Insert: true}); err != nil {
					return fmt.Errorf("refund %s: %w", r.ID, err)
				}
			}
			// Small statements: SQLite's driver binds a statement's
			// parameters in time quadratic in their number.
			for b := range slices.Chunk(exps, demoExposureBatch) {
				if err := in.ExposureInsert(ctx, b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("demo history: %w", err)
		}
		n.Payments += len(ps)
		n.Refunds += len(refunds)
		n.Exposures += len(exps)
		ps, refunds, exps = ps[:0], refunds[:0], exps[:0]
		return nil
	}

	for day := range demoHistoryDays {
		dayStart := start.AddDate(0, 0, day)
		bps := -1 // WeChat Pay not offered
		for _, r := range demoRamp {
			if day >= r.from {
				bps = r.bps
			}
		}
		for i := range bs {
			b := &bs[i]
			if rng.Float64() >= b.rate {
				continue
			}
			// A checkout: where, when, and what was decided there.
			merchantID := "m_demo_city"
			if rng.Float64() < b.countyShop {
				merchantID = "m_demo_county"
			}
			x := rng.Float64() * sum
			hour := 0
			for hour < 23 && hourCum[hour] <= x {
				hour++
			}
			at := dayStart.Add(time.Duration(hour)*time.Hour + time.Duration(rng.Int64N(int64(time.Hour/time.Second)))*time.Second)
			// WeChat Pay is opened at the county shop, whose contract is
			// active; City Wear's waits to be signed in the walkthrough.
			offered := bps >= 0 && merchantID == "m_demo_county"
			shown := offered && b.bucket < bps
			buys := !b.wechat || shown || rng.Float64() < demoHistoryAlipayOnlyRate
			var p payment.Payment
			if buys {
				p = demoPayment(rng, b, merchantID, at, today, b.wechat && shown, meta)
				p.MerchantOrderID = demoOrderID(n.Payments + len(ps) + 1)
				if p.Status == payment.StatusSucceeded && !p.PaidAt.Before(today) {
					buys = false // paid after the history's end: left out
				}
			}
			if offered {
				cohort := rollout.CohortPercent
				if !shown {
					cohort = rollout.CohortHoldout
				}
				x := store.Exposure{At: at, Checkout: rollout.Checkout{BuyerID: b.id, MerchantID: merchantID, RegionCode: b.region, Platform: b.platform},
					Decision: rollout.Decision{Method: demoHistoryMethod, Shown: shown, Bucket: b.bucket, Tier: b.tier, Cohort: cohort}}
				if buys {
					x.PaymentID = p.ID
				}
				exps = append(exps, x)
			}
			if !buys {
				continue
			}
			if p.Status == payment.StatusSucceeded {
				n.Paid++
				if r, ok := demoRefund(rng, &p, today); ok {
					refunds = append(refunds, r)
				}
			}
			ps = append(ps, p)
			if len(ps) >= demoHistoryTx {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
	}
	return n, flush()
}

// demoBuyers draws the history's buyers.
func demoBuyers(rng *rand.Rand, count int) []demoBuyer {
	out := make([]demoBuyer, count)
	for i := range out {
		x := rng.Float64()
		plan := demoTierPlan[len(demoTierPlan)-1]
		for _, t := range demoTierPlan {
			if x < t.share {
				plan = t
				break
			}
			x -= t.share
		}
		b := demoBuyer{id: fmt.Sprintf("demo-buyer-%05d", i+1), region: plan.regions[rng.IntN(len(plan.regions))], tier: plan.tier,
			wechat: rng.Float64() < plan.wechat}
		b.bucket = rollout.Bucket(demoHistorySalt, b.id)
		// Some buyers buy often, most now and then.
		b.rate = demoHistoryRate * math.Min(4, math.Max(0.2, rng.ExpFloat64()))
		platforms := []string{"android", "android", "android", "ios", "miniprogram", "h5"}
		b.countyShop = 0.8
		switch plan.tier {
		case rollout.TierFirst, rollout.TierCity:
			platforms = []string{"ios", "ios", "android", "android", "miniprogram", "pc"}
			b.countyShop = 0.45
		case rollout.TierCountyCity:
			b.countyShop = 0.7
		}
		b.platform = platforms[rng.IntN(len(platforms))]
		out[i] = b
	}
	return out
}

// demoPayment is one checkout's payment: paid with WeChat Pay if wechat,
// else with Alipay, or left unpaid.
func demoPayment(rng *rand.Rand, b *demoBuyer, merchantID string, at, end time.Time, wechat bool, meta map[string]string) payment.Payment {
	// A county basket ¥20–¥150, a city wardrobe ¥50–¥600, skewed low;
	// WeChat Pay's buyers of the lower tiers fill their baskets a little
	// more.
	lo, hi := 2000.0, 15000.0
	if merchantID == "m_demo_city" {
		lo, hi = 5000, 60000
	}
	amount := lo * math.Pow(hi/lo, rng.Float64()*rng.Float64()*0.6+rng.Float64()*0.4)
	if wechat && (b.tier == rollout.TierCounty || b.tier == rollout.TierCountyCity) {
		amount *= 1.12
	}
	method := "alipay.precreate"
	if wechat {
		method = demoHistoryMethod
	}
	goods := demoGoods[merchantID]
	p := payment.New(merchantID, payment.Request{Amount: int64(amount/10) * 10, Currency: "CNY", Description: goods[rng.IntN(len(goods))], Method: method,
		Buyer: payment.Buyer{ID: b.id, RegionCode: b.region, Platform: b.platform}, Metadata: meta}, at)
	if rng.Float64() < demoHistoryFailed {
		// Canceled by the buyer, or expired unpaid.
		p.Status = payment.StatusCanceled
		p.UpdatedAt = p.ExpiresAt
		if rng.IntN(2) == 0 {
			p.UpdatedAt = at.Add(time.Duration(30+rng.IntN(300)) * time.Second)
		}
		return p
	}
	p.Status, p.PaidMethod = payment.StatusSucceeded, method
	p.PaidAt = at.Add(time.Duration(15+rng.IntN(240)) * time.Second)
	p.WalletTradeNo = fmt.Sprintf("demo-%s-%d", p.Channel, p.PaidAt.UnixMicro())
	p.Payer = &payment.Payer{IsBuyer: true}
	if wechat {
		p.Rollout = payment.Rollout{Cohort: rollout.CohortPercent, Tier: b.tier}
	}
	// Released ten days after payment as if confirmed (by the history's
	// end at the latest), and marked settled, so no escrow release,
	// settlement or profit sharing acts on it.
	p.ReleasedAt = p.PaidAt.Add(10 * 24 * time.Hour)
	if !p.ReleasedAt.Before(end) {
		p.ReleasedAt = end.Add(-time.Second)
	}
	if p.ReleasedAt.Before(p.PaidAt) {
		p.ReleasedAt = p.PaidAt
	}
	p.ProfitShareOrder = "demo-history"
	p.UpdatedAt = p.ReleasedAt
	return p
}

// demoRefund draws whether a paid order is refunded, and its refund: of
// either kind, a few days after payment, succeeded before the history's
// end. It adds the refund to p.
func demoRefund(rng *rand.Rand, p *payment.Payment, end time.Time) (payment.Refund, bool) {
	if rng.Float64() >= demoHistoryRefunded {
		return payment.Refund{}, false
	}
	created := p.PaidAt.Add(time.Duration(1+rng.IntN(7*24)) * time.Hour)
	succeeded := created.Add(time.Duration(1+rng.IntN(120)) * time.Minute)
	if !succeeded.Before(end) {
		return payment.Refund{}, false
	}
	r := payment.Refund{ID: payment.NewID("re"), PaymentID: p.ID, Kind: payment.RefundWithReturn, Amount: p.Amount, Reason: "退货退款",
		Status: payment.RefundSucceeded, CreatedAt: created, UpdatedAt: succeeded, SucceededAt: succeeded}
	if rng.IntN(2) == 0 {
		r.Kind, r.Reason = payment.RefundOnly, "仅退款：商品少发"
		r.Amount = max(100, p.Amount*int64(20+rng.IntN(81))/100/10*10)
	}
	r.AfterRelease = !created.Before(p.ReleasedAt)
	p.Refunded = r.Amount
	return r, true
}
