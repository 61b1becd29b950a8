package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/rollout"
)

// The analytics reports answer "did opening the second wallet reach new
// buyers, where, and at what cost?". Each reads one span [From, To) of
// paid_at, optionally of one merchant, and groups in SQL so that what
// comes back is a few hundred rows, not a row per payment.
//
// A paid order is a payment with status 'succeeded' and its paid_at in the
// span. A payment the wallet reported paid after hutong had canceled it
// (LatePaid) is not an order: its money goes back. GMV is the paid amount,
// before refunds (RefundRates counts those).
//
// Weeks are Beijing weeks, Monday 00:00 UTC+8, the week a merchant and an
// operator read. They are computed in SQL as whole weeks since a Beijing
// Monday, in integer microseconds, so that SQLite and PostgreSQL agree to
// the microsecond without either's date functions or time zones.
//
// Market tiers are computed in SQL too, from the payment's region_code by
// the rule of rollout.Tier under the report's tier table (tierSQL), rather
// than read from rollout_tier: that column is set only for payments whose
// buyer was decided for the method that paid, so it is empty for most
// payments of the wallet that was always there, and comparing the wallets
// needs the same tier for both. Grouping by region_code and mapping in Go
// would send back one row per county per week per wallet (~3,000 × 53 × 2).

// weekMicros is one week in microseconds.
const weekMicros = int64(7 * 24 * time.Hour / time.Microsecond)

// weekEpoch is a Beijing Monday 00:00 (1970-01-05 UTC+8), from which
// weeks are counted.
var weekEpoch = Micros(time.Date(1970, 1, 5, 0, 0, 0, 0, chinatime.Location))

// weekSQL is the Beijing week of the microsecond column col, as whole
// weeks since weekEpoch. Every time hutong stores is after 1970, where
// integer division, which truncates on both backends, is the floor.
func weekSQL(col string) string {
	return fmt.Sprintf("((%s - %d) / %d)", col, weekEpoch, weekMicros)
}

// weekStart is the instant (UTC) the Beijing week numbered n begins.
func weekStart(n int64) time.Time { return Time(weekEpoch + n*weekMicros) }

// BeijingWeek is the instant (UTC) at which t's Beijing week began: the
// Monday 00:00 UTC+8 on or before t, as the reports' Week.
func BeijingWeek(t time.Time) time.Time {
	us := Micros(t)
	n := (us - weekEpoch) / weekMicros
	if us < weekEpoch && (us-weekEpoch)%weekMicros != 0 {
		n-- // floor, not truncation, before the epoch
	}
	return weekStart(n)
}

// provinces are the province prefixes rollout.Tier accepts, read from it
// so that the two never disagree.
var provinces = func() []string {
	var out []string
	for p := 10; p <= 89; p++ {
		code := fmt.Sprintf("%02d0101", p)
		if _, err := rollout.Tier(code, rollout.TierTable{}); err == nil {
			out = append(out, code[:2])
		}
	}
	return out
}()

// quoted lists xs as SQL string literals. Only digits and tier names,
// checked by the caller, ever reach it.
func quoted(xs []string) string {
	return "'" + strings.Join(xs, "', '") + "'"
}

// tierSQL is a CASE expression giving, for the region code column col,
// the market tier rollout.Tier gives under DefaultTierTable with
// overrides (or the empty string where rollout.Tier answers an error): the whole code
// looked up in the table, then its prefecture, then the last two digits.
// The table's entries become literals, so it must hold digits and tiers
// only (a rollout.TierTable that passed Validate does).
func (e Executor) tierSQL(col string, overrides rollout.TierTable) (string, error) {
	table := rollout.DefaultTierTable().With(overrides)
	for k, v := range table {
		if strings.Trim(k, "0123456789") != "" || (len(k) != 4 && len(k) != 6) || !slices.Contains(rollout.Tiers, v) {
			return "", fmt.Errorf("tier table entry %q: %q is not a 4- or 6-digit code and a market tier", k, v)
		}
	}
	digits := col + " GLOB '[0-9][0-9][0-9][0-9][0-9][0-9]'"
	if e.dialect == Postgres {
		digits = col + " ~ '^[0-9]{6}$'"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CASE WHEN NOT (%s AND substr(%s, 1, 2) IN (%s)) THEN ''", digits, col, quoted(provinces))
	// Whole codes first, then prefectures, as rollout.Tier looks.
	for _, n := range []int{6, 4} {
		for _, tier := range rollout.Tiers {
			var keys []string
			for _, k := range slices.Sorted(maps.Keys(table)) {
				if len(k) == n && table[k] == tier {
					keys = append(keys, k)
				}
			}
			if len(keys) > 0 {
				fmt.Fprintf(&b, " WHEN substr(%s, 1, %d) IN (%s) THEN '%s'", col, n, quoted(keys), tier)
			}
		}
	}
	pref, county := "substr("+col+", 3, 2)", "substr("+col+", 5, 2)"
	fmt.Fprintf(&b, " WHEN %s = '00' OR %s = '00' THEN ''", pref, county)
	fmt.Fprintf(&b, " WHEN %s <= '20' AND %s = '90' THEN '%s'", county, pref, rollout.TierCountyCity)
	fmt.Fprintf(&b, " WHEN %s <= '20' THEN '%s'", county, rollout.TierCity)
	fmt.Fprintf(&b, " WHEN %s <= '80' THEN '%s'", county, rollout.TierCounty)
	fmt.Fprintf(&b, " ELSE '%s' END", rollout.TierCountyCity)
	return b.String(), nil
}

// AnalyticsParams selects the paid orders of a report: paid in [From, To),
// of MerchantID's checkouts ("" for the whole marketplace), with market
// tiers under DefaultTierTable with Tiers' entries added or replaced (nil
// for the default; pass the rule set's TierOverrides to match the
// rollout's own view).
type AnalyticsParams struct {
	From, To   time.Time
	MerchantID string
	Tiers      rollout.TierTable
}

// ShareRow is one Beijing week's paid orders and GMV (fen) in one market
// tier ("" where the buyer's region is missing or not a county-level
// code) through one wallet (channel).
type ShareRow struct {
	Week    time.Time
	Tier    string
	Channel string
	Orders  int64
	GMV     int64
}

// MethodShare is paid orders and GMV by Beijing week × market tier ×
// wallet, ordered so: the share of each wallet in each tier, week by
// week.
func (e Executor) MethodShare(ctx context.Context, p AnalyticsParams) ([]ShareRow, error) {
	tier, err := e.tierSQL("region_code", p.Tiers)
	if err != nil {
		return nil, fmt.Errorf("method share: %w", err)
	}
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (r ShareRow, err error) {
		var week int64
		err = rows.Scan(&week, &r.Tier, &r.Channel, &r.Orders, &r.GMV)
		r.Week = weekStart(week)
		return r, err
	}, `SELECT `+weekSQL("paid_at")+`, `+tier+`, channel, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT)
		FROM payments WHERE status = 'succeeded' AND paid_at >= $1 AND paid_at < $2 AND ($3 = '' OR merchant_id = $3)
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, Micros(p.From), Micros(p.To), p.MerchantID)
	if err != nil {
		return nil, fmt.Errorf("method share from %s to %s: %w", p.From.Format(time.RFC3339), p.To.Format(time.RFC3339), err)
	}
	return out, nil
}

// NewBuyerRow is how many buyers made their first paid order on the
// marketplace in one Beijing week, in one market tier (of that order's
// region), through one wallet.
type NewBuyerRow struct {
	Week    time.Time
	Tier    string
	Channel string
	Buyers  int64
}

// NewBuyers counts the buyers whose first paid order on the whole
// marketplace, at any merchant and ever, was paid in [From, To), by the
// week, tier and wallet of that order: the buyers a wallet brought. With
// MerchantID, only buyers whose first order was at that merchant. Of two
// first orders paid in one microsecond, the one of the smaller id counts,
// so that a buyer is counted once. Orders without a buyer id (anyone's)
// count for no one.
func (e Executor) NewBuyers(ctx context.Context, p AnalyticsParams) ([]NewBuyerRow, error) {
	tier, err := e.tierSQL("region_code", p.Tiers)
	if err != nil {
		return nil, fmt.Errorf("new buyers: %w", err)
	}
	// Orders paid before To are all a buyer's first order can be among;
	// payments_buyer (buyer_id, paid_at) gives them in the window's order.
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (r NewBuyerRow, err error) {
		var week int64
		err = rows.Scan(&week, &r.Tier, &r.Channel, &r.Buyers)
		r.Week = weekStart(week)
		return r, err
	}, `SELECT `+weekSQL("paid_at")+`, `+tier+`, channel, COUNT(*) FROM (
			SELECT paid_at, region_code, channel, merchant_id,
				ROW_NUMBER() OVER (PARTITION BY buyer_id ORDER BY paid_at, id) AS n
			FROM payments WHERE buyer_id <> '' AND status = 'succeeded' AND paid_at > 0 AND paid_at < $2) f
		WHERE n = 1 AND paid_at >= $1 AND ($3 = '' OR merchant_id = $3)
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, Micros(p.From), Micros(p.To), p.MerchantID)
	if err != nil {
		return nil, fmt.Errorf("new buyers from %s to %s: %w", p.From.Format(time.RFC3339), p.To.Format(time.RFC3339), err)
	}
	return out, nil
}

// RolloutParams selects the exposures to one method in [From, To).
type RolloutParams struct {
	Method   string
	From, To time.Time
}

// ConversionRow is, for one market tier (the exposure's) and one arm of
// the rollout (shown the method or not), the distinct buyers exposed and,
// of those, the buyers who paid any order at any merchant after their
// first exposure in that arm and before To.
type ConversionRow struct {
	Tier    string
	Shown   bool
	Exposed int64
	Paid    int64
}

// RolloutConversion compares the buyers shown p.Method at checkout with
// those not shown it, per market tier, over exposures in [From, To): the
// counts analytics.NewcombeDiff reads. Conversion is to any paid order,
// by any wallet: showing a second wallet is meant to make buyers pay, not
// to move them from one wallet to the other. A buyer whose arm or tier
// changed within the span (a ramp moved them) counts in each, from their
// first exposure there. Exposures without a buyer id are left out.
func (e Executor) RolloutConversion(ctx context.Context, p RolloutParams) ([]ConversionRow, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (r ConversionRow, err error) {
		var shown int
		err = rows.Scan(&r.Tier, &shown, &r.Exposed, &r.Paid)
		r.Shown = shown != 0
		return r, err
	}, `SELECT x.tier, x.shown, COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (
				SELECT 1 FROM payments p WHERE p.buyer_id = x.buyer_id AND p.paid_at >= x.first_at AND p.paid_at < $3 AND p.status = 'succeeded')
			THEN 1 ELSE 0 END), 0)
		FROM (SELECT buyer_id, tier, shown, MIN(at) AS first_at FROM exposures
			WHERE method = $1 AND at >= $2 AND at < $3 AND buyer_id <> '' GROUP BY buyer_id, tier, shown) x
		GROUP BY x.tier, x.shown ORDER BY x.tier, x.shown`, p.Method, Micros(p.From), Micros(p.To))
	if err != nil {
		return nil, fmt.Errorf("conversion of %s's rollout from %s to %s: %w", p.Method, p.From.Format(time.RFC3339), p.To.Format(time.RFC3339), err)
	}
	return out, nil
}

// AOVRow is the paid orders and GMV (fen) of one wallet in one market
// tier over a report's span; the page divides GMV by Orders for the
// average order value, in fen, and shows "no data" where Orders is 0.
type AOVRow struct {
	Channel string
	Tier    string
	Orders  int64
	GMV     int64
}

// WalletAOV is paid orders and GMV by wallet × market tier over [From,
// To): whether the new wallet's buyers spend more or less per order, and
// where.
func (e Executor) WalletAOV(ctx context.Context, p AnalyticsParams) ([]AOVRow, error) {
	tier, err := e.tierSQL("region_code", p.Tiers)
	if err != nil {
		return nil, fmt.Errorf("order value by wallet: %w", err)
	}
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (r AOVRow, err error) {
		return r, rows.Scan(&r.Channel, &r.Tier, &r.Orders, &r.GMV)
	}, `SELECT channel, `+tier+`, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT)
		FROM payments WHERE status = 'succeeded' AND paid_at >= $1 AND paid_at < $2 AND ($3 = '' OR merchant_id = $3)
		GROUP BY 1, 2 ORDER BY 1, 2`, Micros(p.From), Micros(p.To), p.MerchantID)
	if err != nil {
		return nil, fmt.Errorf("order value by wallet from %s to %s: %w", p.From.Format(time.RFC3339), p.To.Format(time.RFC3339), err)
	}
	return out, nil
}

// RefundRow is, for one wallet, the orders paid in a report's span, how
// many of them have a succeeded refund (of any amount, at any time up to
// now), and how many a succeeded refund_only one: the buyer kept the goods,
// the cost a marketplace watches when a new wallet brings new buyers.
// Duplicate-charge refunds return a second payer's money, not the
// order's, and are not counted.
type RefundRow struct {
	Channel    string
	Orders     int64
	Refunded   int64
	RefundOnly int64
}

// RefundRates counts paid orders, refunded orders and refund_only orders
// by wallet over [From, To), by the order's paid_at (a refund booked
// after To still counts against its order: the rate is of the orders).
func (e Executor) RefundRates(ctx context.Context, p AnalyticsParams) ([]RefundRow, error) {
	// refunded > 0 first: most orders have no refund, and it spares them
	// the look-up in refunds (refunds_payment).
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (r RefundRow, err error) {
		return r, rows.Scan(&r.Channel, &r.Orders, &r.Refunded, &r.RefundOnly)
	}, `SELECT p.channel, COUNT(*),
			COALESCE(SUM(CASE WHEN p.refunded > 0 AND EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'succeeded' AND r.kind <> 'duplicate_charge') THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN p.refunded > 0 AND EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'succeeded' AND r.kind = 'refund_only') THEN 1 ELSE 0 END), 0)
		FROM payments p WHERE p.status = 'succeeded' AND p.paid_at >= $1 AND p.paid_at < $2 AND ($3 = '' OR p.merchant_id = $3)
		GROUP BY p.channel ORDER BY p.channel`, Micros(p.From), Micros(p.To), p.MerchantID)
	if err != nil {
		return nil, fmt.Errorf("refund rates from %s to %s: %w", p.From.Format(time.RFC3339), p.To.Format(time.RFC3339), err)
	}
	return out, nil
}
