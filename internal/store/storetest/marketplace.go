package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store"
)

// MarketplaceYear is the year SeedMarketplace's payments are paid in,
// from its first Beijing midnight.
var MarketplaceYear = time.Date(2024, 9, 1, 0, 0, 0, 0, chinatime.Location)

// categories are the seeded merchants' categories, by turns.
var categories = []string{"grocery", "apparel", "electronics"}

// SeedMarketplace fills db with a year of a marketplace for the analytics
// benchmarks: rows payments over MarketplaceYear, 100,000 buyers, 50
// merchants (three categories, five provinces), four market tiers, two
// wallets (WeChat Pay's share growing over the year), 5% of payments
// canceled, 3% refunded, and an exposure to wechatpay.native for every
// third payment.
//
// The rows are made by the database itself, by one INSERT … SELECT over a
// recursive counter, in one transaction: a million rows through the
// store's methods would take minutes and measure nothing the reports do.
// Their values are arithmetic of the counter, so every run has the same
// data.
func SeedMarketplace(b testing.TB, db *store.DB, rows int64) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	for m := range 50 {
		if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: fmt.Sprintf("m%d", m), Name: "m", Category: categories[m%len(categories)], RegionCode: fmt.Sprintf("%d0101", 11+m%5)}, CreatedAt: MarketplaceYear}); err != nil {
			b.Fatal(err)
		}
	}
	t0 := store.Micros(MarketplaceYear)
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

// MarketplaceRows is how many payments an analytics benchmark seeds:
// 1,000,000, or HUTONG_BENCH_ANALYTICS_ROWS.
func MarketplaceRows(b testing.TB) int64 {
	s := os.Getenv("HUTONG_BENCH_ANALYTICS_ROWS")
	if s == "" {
		return 1_000_000
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		b.Fatalf("HUTONG_BENCH_ANALYTICS_ROWS=%q: want a whole number of payments above 0", s)
	}
	return n
}
