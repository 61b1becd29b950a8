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
//
// Category and Province narrow the marketplace to the merchants of one
// category and of one province (the first two digits of the merchant's
// region code); Tier keeps only one market tier's rows ("" keeps all).
//
// The reports read the analytics rollup (rollup.go) when the span is
// whole Beijing days and Tiers is the rollup's; Live makes them read the
// payments themselves: always current, and at a million payments,
// seconds.
type AnalyticsParams struct {
	From, To   time.Time
	MerchantID string
	Category   string
	Province   string
	Tier       string
	Tiers      rollout.TierTable
	Live       bool
}

// liveMerchants is the condition on payments (as p) that selects the
// params' merchants; its parameters are $3 (merchant), $4 (category) and
// $5 (province), as rollupMerchants'.
const liveMerchants = `($3 = '' OR p.merchant_id = $3) AND (($4 = '' AND $5 = '') OR p.merchant_id IN (
	SELECT id FROM merchants WHERE ($4 = '' OR category = $4) AND ($5 = '' OR substr(region_code, 1, 2) = $5)))`

// args are the params' query arguments, $1 to $5.
func (p AnalyticsParams) args(from, to int64) []any {
	return []any{from, to, p.MerchantID, p.Category, p.Province}
}

// keepTier drops the rows of other market tiers than p.Tier.
func keepTier[T any](p AnalyticsParams, rows []T, tier func(T) string) []T {
	if p.Tier == "" {
		return rows
	}
	return slices.DeleteFunc(rows, func(r T) bool { return tier(r) != p.Tier })
}

// spanErr names the report and its span in err.
func spanErr(report string, p AnalyticsParams, err error) error {
	return fmt.Errorf("%s from %s to %s: %w", report, p.From.Format(time.RFC3339), p.To.Format(time.RFC3339), err)
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
	scan := func(rows *sql.Rows) (r ShareRow, err error) {
		var week int64
		err = rows.Scan(&week, &r.Tier, &r.Channel, &r.Orders, &r.GMV)
		r.Week = weekStart(week)
		return r, err
	}
	from, to, rolled, err := e.readsRollup(ctx, p)
	if err != nil {
		return nil, spanErr("method share", p, err)
	}
	var out []ShareRow
	if rolled {
		out, err = QueryAll(ctx, e.q, scan, `SELECT day / 7, tier, channel, CAST(SUM(orders) AS BIGINT), CAST(SUM(gmv) AS BIGINT)
			FROM analytics_days WHERE day >= $1 AND day < $2 AND `+p.rollupMerchants()+`
			GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, p.args(from, to)...)
	} else {
		tier, terr := e.tierSQL("p.region_code", p.Tiers)
		if terr != nil {
			return nil, fmt.Errorf("method share: %w", terr)
		}
		out, err = QueryAll(ctx, e.q, scan, `SELECT `+weekSQL("p.paid_at")+`, `+tier+`, p.channel, COUNT(*), CAST(COALESCE(SUM(p.amount), 0) AS BIGINT)
			FROM payments p WHERE p.status = 'succeeded' AND p.paid_at >= $1 AND p.paid_at < $2 AND `+liveMerchants+`
			GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, p.args(Micros(p.From), Micros(p.To))...)
	}
	if err != nil {
		return nil, spanErr("method share", p, err)
	}
	return keepTier(p, out, func(r ShareRow) string { return r.Tier }), nil
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
// a merchant (or category, or province), only buyers whose first order
// was at such a merchant. Of two first orders paid in one microsecond,
// the one of the smaller id counts, so that a buyer is counted once.
// Orders without a buyer id (anyone's) count for no one.
func (e Executor) NewBuyers(ctx context.Context, p AnalyticsParams) ([]NewBuyerRow, error) {
	scan := func(rows *sql.Rows) (r NewBuyerRow, err error) {
		var week int64
		err = rows.Scan(&week, &r.Tier, &r.Channel, &r.Buyers)
		r.Week = weekStart(week)
		return r, err
	}
	from, to, rolled, err := e.readsRollup(ctx, p)
	if err != nil {
		return nil, spanErr("new buyers", p, err)
	}
	var out []NewBuyerRow
	if rolled {
		out, err = QueryAll(ctx, e.q, scan, `SELECT day / 7, tier, channel, CAST(SUM(new_buyers) AS BIGINT)
			FROM analytics_days WHERE day >= $1 AND day < $2 AND new_buyers > 0 AND `+p.rollupMerchants()+`
			GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, p.args(from, to)...)
	} else {
		tier, terr := e.tierSQL("p.region_code", p.Tiers)
		if terr != nil {
			return nil, fmt.Errorf("new buyers: %w", terr)
		}
		// Orders paid before To are all a buyer's first order can be
		// among; payments_first_order gives them in the window's order.
		out, err = QueryAll(ctx, e.q, scan, `SELECT `+weekSQL("p.paid_at")+`, `+tier+`, p.channel, COUNT(*) FROM (
				SELECT paid_at, region_code, channel, merchant_id,
					ROW_NUMBER() OVER (PARTITION BY buyer_id ORDER BY paid_at, id) AS n
				FROM payments WHERE buyer_id <> '' AND status = 'succeeded' AND paid_at > 0 AND paid_at < $2) p
			WHERE p.n = 1 AND p.paid_at >= $1 AND `+liveMerchants+`
			GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, p.args(Micros(p.From), Micros(p.To))...)
	}
	if err != nil {
		return nil, spanErr("new buyers", p, err)
	}
	return keepTier(p, out, func(r NewBuyerRow) string { return r.Tier }), nil
}

// RolloutParams selects the buyers who entered an arm of one method's
// rollout in [From, To); Live as in AnalyticsParams.
type RolloutParams struct {
	Method   string
	From, To time.Time
	Live     bool
}

// ConversionRow is, for one market tier (the exposure's) and one arm of
// the rollout (shown the method or not), the distinct buyers who entered
// it and, of those, the buyers who paid any order at any merchant after
// entering and before To.
type ConversionRow struct {
	Tier    string
	Shown   bool
	Exposed int64
	Paid    int64
}

// RolloutConversion compares the buyers shown p.Method at checkout with
// those not shown it, per market tier: the counts analytics.NewcombeDiff
// reads. A buyer enters an arm (and tier) at their first exposure in it
// ever, as an experiment assigns once; the buyers who entered within
// [From, To) are counted, each converted if they paid any order, by any
// wallet, after entering and before To: showing a second wallet is meant
// to make buyers pay, not to move them from one wallet to the other. A
// buyer a ramp moved from one arm to the other counts in each, from their
// entry there. Exposures without a buyer id are left out. A rollout is
// the marketplace's: there is no merchant filter.
func (e Executor) RolloutConversion(ctx context.Context, p RolloutParams) ([]ConversionRow, error) {
	scan := func(rows *sql.Rows) (r ConversionRow, err error) {
		var shown int
		err = rows.Scan(&r.Tier, &shown, &r.Exposed, &r.Paid)
		r.Shown = shown != 0
		return r, err
	}
	// Whole Beijing days are read from rollout_days, other spans from
	// rollout_arms, both once the rollup has been refreshed.
	days, arms := false, false
	if !p.Live {
		st, err := e.AnalyticsStateGet(ctx)
		if err != nil {
			return nil, err
		}
		_, fromWhole := beijingDay(p.From)
		_, toWhole := beijingDay(p.To)
		arms = !st.RefreshedAt.IsZero()
		days = arms && fromWhole && toWhole
	}
	from, to := Micros(p.From), Micros(p.To)
	query := `SELECT x.tier, x.shown, COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (
				SELECT 1 FROM payments p WHERE p.buyer_id = x.buyer_id AND p.paid_at >= x.first_at AND p.paid_at < $3 AND p.status = 'succeeded')
			THEN 1 ELSE 0 END), 0)
		FROM (SELECT buyer_id, tier, shown, MIN(at) AS first_at FROM exposures
			WHERE method = $1 AND at < $3 AND buyer_id <> '' GROUP BY buyer_id, tier, shown HAVING MIN(at) >= $2) x
		GROUP BY x.tier, x.shown ORDER BY x.tier, x.shown`
	switch {
	case days:
		from, _ = beijingDay(p.From)
		to, _ = beijingDay(p.To)
		query = `SELECT tier, shown, CAST(SUM(buyers) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN paid_day >= 0 AND paid_day < $3 THEN buyers ELSE 0 END), 0) AS BIGINT)
			FROM rollout_days WHERE method = $1 AND day >= $2 AND day < $3
			GROUP BY tier, shown ORDER BY tier, shown`
	case arms:
		query = `SELECT tier, shown, COUNT(*), COALESCE(SUM(CASE WHEN paid_at > 0 AND paid_at < $3 THEN 1 ELSE 0 END), 0)
			FROM rollout_arms WHERE method = $1 AND entered_at >= $2 AND entered_at < $3
			GROUP BY tier, shown ORDER BY tier, shown`
	}
	out, err := QueryAll(ctx, e.q, scan, query, p.Method, from, to)
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
	scan := func(rows *sql.Rows) (r AOVRow, err error) {
		return r, rows.Scan(&r.Channel, &r.Tier, &r.Orders, &r.GMV)
	}
	from, to, rolled, err := e.readsRollup(ctx, p)
	if err != nil {
		return nil, spanErr("order value by wallet", p, err)
	}
	var out []AOVRow
	if rolled {
		out, err = QueryAll(ctx, e.q, scan, `SELECT channel, tier, CAST(SUM(orders) AS BIGINT), CAST(SUM(gmv) AS BIGINT)
			FROM analytics_days WHERE day >= $1 AND day < $2 AND `+p.rollupMerchants()+`
			GROUP BY 1, 2 ORDER BY 1, 2`, p.args(from, to)...)
	} else {
		tier, terr := e.tierSQL("p.region_code", p.Tiers)
		if terr != nil {
			return nil, fmt.Errorf("order value by wallet: %w", terr)
		}
		out, err = QueryAll(ctx, e.q, scan, `SELECT p.channel, `+tier+`, COUNT(*), CAST(COALESCE(SUM(p.amount), 0) AS BIGINT)
			FROM payments p WHERE p.status = 'succeeded' AND p.paid_at >= $1 AND p.paid_at < $2 AND `+liveMerchants+`
			GROUP BY 1, 2 ORDER BY 1, 2`, p.args(Micros(p.From), Micros(p.To))...)
	}
	if err != nil {
		return nil, spanErr("order value by wallet", p, err)
	}
	return keepTier(p, out, func(r AOVRow) string { return r.Tier }), nil
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
	scan := func(rows *sql.Rows) (r RefundRow, err error) {
		return r, rows.Scan(&r.Channel, &r.Orders, &r.Refunded, &r.RefundOnly)
	}
	from, to, rolled, err := e.readsRollup(ctx, p)
	if err != nil {
		return nil, spanErr("refund rates", p, err)
	}
	// The tier filter is a condition here: the rows are by wallet only.
	var out []RefundRow
	if rolled {
		out, err = QueryAll(ctx, e.q, scan, `SELECT channel, CAST(SUM(orders) AS BIGINT), CAST(SUM(refunded_orders) AS BIGINT), CAST(SUM(refund_only_orders) AS BIGINT)
			FROM analytics_days WHERE day >= $1 AND day < $2 AND ($6 = '' OR tier = $6) AND `+p.rollupMerchants()+`
			GROUP BY channel ORDER BY channel`, append(p.args(from, to), p.Tier)...)
	} else {
		tier, terr := e.tierSQL("p.region_code", p.Tiers)
		if terr != nil {
			return nil, fmt.Errorf("refund rates: %w", terr)
		}
		// refunded > 0 first: most orders have no refund, and it spares
		// them the look-up in refunds (refunds_payment).
		out, err = QueryAll(ctx, e.q, scan, `SELECT p.channel, COUNT(*),
				COALESCE(SUM(CASE WHEN p.refunded > 0 AND EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'succeeded' AND r.kind <> 'duplicate_charge') THEN 1 ELSE 0 END), 0),
				COALESCE(SUM(CASE WHEN p.refunded > 0 AND EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'succeeded' AND r.kind = 'refund_only') THEN 1 ELSE 0 END), 0)
			FROM payments p WHERE p.status = 'succeeded' AND p.paid_at >= $1 AND p.paid_at < $2 AND ($6 = '' OR `+tier+` = $6) AND `+liveMerchants+`
			GROUP BY p.channel ORDER BY p.channel`, append(p.args(Micros(p.From), Micros(p.To)), p.Tier)...)
	}
	if err != nil {
		return nil, spanErr("refund rates", p, err)
	}
	return out, nil
}
