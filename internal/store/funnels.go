package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The funnel reports follow a checkout from the cashier to a paid order,
// and look at where it fails: the cashier funnel by wallet and browser
// (CashierFunnel), how each method's wallet orders end (MethodOutcomes),
// how late each wallet's notifications arrive (NotifyDelay), what share
// codes bring by source (ShareCodeFunnel) and how many pay-for-me
// requests are paid (PayForMeFunnel).
//
// Each is read as the reports of analytics.go are: from a rollup table
// (migration 23) when the span is whole Beijing days and the rollup has
// been refreshed (readsRollup), otherwise, or with AnalyticsParams.Live,
// from the source rows. Both reads run the same grouping (the …Source
// SQL below), the rollup once per day and merchant, the live read over
// the span, so they agree row for row.
//
// The rollup is kept by rollupFunnels inside AnalyticsRefresh. A refresh
// re-rolls the days the rows changed since its last mark fall on: the
// payments' updated_at, the wallet orders' updated_at (every change of an
// order stamps it), the exposures' at and the wallet messages'
// received_at (both written once, at that time), the share codes'
// created_at and resolved_at, and the pay-for-me requests' created_at (a
// request ends in its payment's transaction, which stamps the payment).

// funnelRollup is one report's rollup table: its rows are (day,
// merchant_id, keys…, sums…), day first among them in source.
type funnelRollup struct {
	table string
	keys  []string // the report's dimensions
	sums  []string // its counts, summed into the marketplace's rows
	// source selects, for the rows whose day-defining time is in [$1,
	// $2), the columns day, merchant_id, keys… and sums…, grouped by day,
	// merchant and keys. tier is the market-tier SQL of p.region_code.
	source func(tier string) string
	// span is the earliest and latest day-defining time of all rows.
	span string
	// changed lists the days (daySQL) of the rows changed at or after $1.
	changed string
}

// funnelRollups are the funnel reports' rollups, in the order rebuilt.
var funnelRollups = []funnelRollup{
	{
		table: "funnel_days", keys: []string{"tier", "browser", "channel"}, sums: []string{"opened", "chose", "paid"},
		source: funnelSource,
		span:   `SELECT MIN(at), MAX(at) FROM exposures WHERE payment_id <> ''`,
		// A payment, a wallet order or an exposure of the checkout
		// changed: its first opening's day; and the day of every new
		// exposure, where a first opening may have moved from.
		changed: `SELECT ` + daySQL("MIN(at)") + ` FROM exposures WHERE payment_id IN (
				SELECT id FROM payments WHERE updated_at >= $1
				UNION SELECT payment_id FROM payment_attempts WHERE updated_at >= $1
				UNION SELECT payment_id FROM exposures WHERE at >= $1 AND payment_id <> '')
			GROUP BY payment_id
			UNION SELECT ` + daySQL("at") + ` FROM exposures WHERE at >= $1 AND payment_id <> ''`,
	},
	{
		table: "attempt_days", keys: []string{"tier", "method", "outcome"}, sums: []string{"attempts"},
		source: attemptSource,
		span:   `SELECT MIN(created_at), MAX(created_at) FROM payment_attempts`,
		// An order's outcome reads its payment: a changed payment
		// re-rolls the day of each of its orders.
		changed: `SELECT ` + daySQL("created_at") + ` FROM payment_attempts WHERE updated_at >= $1
			UNION SELECT ` + daySQL("a.created_at") + ` FROM payment_attempts a WHERE a.payment_id IN (SELECT id FROM payments WHERE updated_at >= $1)`,
	},
	{
		table: "notify_days", keys: []string{"channel", "bucket"}, sums: []string{"orders"},
		source: func(string) string { return notifySource },
		span:   `SELECT MIN(paid_at), MAX(paid_at) FROM payments WHERE status = 'succeeded' AND paid_at > 0`,
		// A paid payment, its paying order (stamped as it pays: it
		// changes with its payment, but is read here by itself) or a
		// message about that order.
		changed: `SELECT ` + daySQL("paid_at") + ` FROM payments WHERE updated_at >= $1 AND paid_at > 0
			UNION SELECT ` + daySQL("p.paid_at") + ` FROM payment_attempts a JOIN payments p ON p.id = a.payment_id WHERE a.updated_at >= $1 AND p.paid_at > 0
			UNION SELECT ` + daySQL("p.paid_at") + ` FROM wallet_events w JOIN payment_attempts a ON a.id = w.object_id JOIN payments p ON p.id = a.payment_id
				WHERE w.received_at >= $1 AND p.paid_at > 0`,
	},
	{
		table: "sharecode_days", keys: []string{"source"}, sums: []string{"issued", "resolved", "resolves", "paid", "paid_orders", "paid_amount"},
		source: func(string) string { return shareCodeSource },
		span:   `SELECT MIN(created_at), MAX(created_at) FROM share_codes`,
		// A code issued or resolved since, or credited with a payment
		// changed since (its payment's share_code is the code's id).
		changed: `SELECT ` + daySQL("created_at") + ` FROM share_codes WHERE created_at >= $1 OR resolved_at >= $1
			UNION SELECT ` + daySQL("s.created_at") + ` FROM share_codes s WHERE s.id IN (SELECT share_code FROM payments WHERE updated_at >= $1 AND share_code <> '')`,
	},
	{
		table: "payforme_days", keys: []string{"tier"}, sums: []string{"asked", "paid"},
		source: payForMeSource,
		span:   `SELECT MIN(created_at), MAX(created_at) FROM pay_for_me`,
		// A request is paid (or ended) in its payment's transaction,
		// which stamps the payment.
		changed: `SELECT ` + daySQL("created_at") + ` FROM pay_for_me WHERE created_at >= $1
			UNION SELECT ` + daySQL("f.created_at") + ` FROM pay_for_me f WHERE f.payment_id IN (SELECT id FROM payments WHERE updated_at >= $1)`,
	},
}

// rollupFunnels keeps the funnel reports' part of the analytics rollup,
// within AnalyticsRefresh's transaction: everything when full, else what
// changed since paymentsSince (the payments', attempts' and other rows'
// marks, less the slack, as rollupChanges reads them).
func (e Executor) rollupFunnels(ctx context.Context, paymentsSince int64, full bool) error {
	tier, _, err := e.rollupTiers()
	if err != nil {
		return err
	}
	for _, r := range funnelRollups {
		if full {
			err = e.rebuildFunnel(ctx, r, tier)
		} else {
			err = e.refreshFunnel(ctx, r, tier, paymentsSince)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// rebuildFunnel builds r's table from all of its source.
func (e Executor) rebuildFunnel(ctx context.Context, r funnelRollup, tier string) error {
	if _, err := e.q.ExecContext(ctx, `DELETE FROM `+r.table); err != nil {
		return fmt.Errorf("analytics rebuild: emptying %s: %w", r.table, err)
	}
	var lo, hi sql.NullInt64
	if err := e.q.QueryRowContext(ctx, r.span).Scan(&lo, &hi); err != nil {
		return fmt.Errorf("analytics rebuild: %s: %w", r.table, err)
	}
	if !lo.Valid {
		return nil
	}
	first, _ := beijingDay(Time(lo.Int64))
	last, _ := beijingDay(Time(hi.Int64))
	return e.rollFunnelDays(ctx, r, tier, first, last+1)
}

// refreshFunnel re-rolls the days of r's rows changed at or after since.
func (e Executor) refreshFunnel(ctx context.Context, r funnelRollup, tier string, since int64) error {
	days, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (d int64, err error) { return d, rows.Scan(&d) }, r.changed, since)
	if err != nil {
		return fmt.Errorf("analytics refresh: %s: changed days: %w", r.table, err)
	}
	slices.Sort(days)
	days = slices.Compact(days)
	for i := 0; i < len(days); {
		j := i + 1
		for j < len(days) && days[j] == days[j-1]+1 {
			j++
		}
		if err := e.rollFunnelDays(ctx, r, tier, days[i], days[j-1]+1); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// rollFunnelDays rebuilds r's rows of the Beijing days [first, end): each
// merchant's from the source, then the marketplace's ('*') from those.
func (e Executor) rollFunnelDays(ctx context.Context, r funnelRollup, tier string, first, end int64) error {
	span := fmt.Sprintf("%s, days %d to %d", r.table, first, end)
	if _, err := e.q.ExecContext(ctx, `DELETE FROM `+r.table+` WHERE day >= $1 AND day < $2`, first, end); err != nil {
		return fmt.Errorf("analytics refresh: %s: %w", span, err)
	}
	cols := "day, merchant_id, " + strings.Join(append(slices.Clone(r.keys), r.sums...), ", ")
	if _, err := e.q.ExecContext(ctx, `INSERT INTO `+r.table+` (`+cols+`) `+r.source(tier),
		Micros(dayStart(first)), Micros(dayStart(end))); err != nil {
		return fmt.Errorf("analytics refresh: %s: %w", span, err)
	}
	keys := strings.Join(r.keys, ", ")
	sums := make([]string, len(r.sums))
	for i, s := range r.sums {
		sums[i] = "SUM(" + s + ")"
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO `+r.table+` (`+cols+`)
		SELECT day, '*', `+keys+`, `+strings.Join(sums, ", ")+` FROM `+r.table+`
		WHERE day >= $1 AND day < $2 GROUP BY day, `+keys, first, end); err != nil {
		return fmt.Errorf("analytics refresh: %s, the marketplace: %w", span, err)
	}
	return nil
}

// readFunnel runs a report of p over r: from r's table when the rollup
// can answer (readsRollup), else from r's source over the span, the
// source's rows standing as p for liveMerchants. cols are the report's
// columns and sums, over the rollup's names; cond is a further condition
// on them ("" for none), which may read $6, p.Tier.
func readFunnel[T any](ctx context.Context, e Executor, report string, p AnalyticsParams, r funnelRollup, cols, cond, order string, scan func(*sql.Rows) (T, error)) ([]T, error) {
	from, to, rolled, err := e.readsRollup(ctx, p)
	if err != nil {
		return nil, spanErr(report, p, err)
	}
	if cond == "" {
		cond = "($6 = '' OR 1 = 1)" // every read passes $6; PostgreSQL must learn its type
	}
	var out []T
	if rolled {
		out, err = QueryAll(ctx, e.q, scan, `SELECT `+cols+` FROM `+r.table+`
			WHERE day >= $1 AND day < $2 AND `+cond+` AND `+p.rollupMerchants()+`
			GROUP BY `+order+` ORDER BY `+order, append(p.args(from, to), p.Tier)...)
	} else {
		tier, terr := e.tierSQL("p.region_code", p.Tiers)
		if terr != nil {
			return nil, spanErr(report, p, terr)
		}
		out, err = QueryAll(ctx, e.q, scan, `SELECT `+cols+` FROM (`+r.source(tier)+`) p
			WHERE `+cond+` AND `+liveMerchants+`
			GROUP BY `+order+` ORDER BY `+order, append(p.args(Micros(p.From), Micros(p.To)), p.Tier)...)
	}
	if err != nil {
		return nil, spanErr(report, p, err)
	}
	return out, nil
}

// sumOf is the SQL of a summed count, an integer on both backends.
func sumOf(col string) string { return "CAST(SUM(" + col + ") AS BIGINT)" }

// FunnelRow is one step count of the cashier funnel of one browser, for
// one wallet or ("" Channel) any.
type FunnelRow struct {
	// Browser is where the checkout's cashier was first opened: a wallet's
	// in-app browser ("wechatpay", "alipay"), "other", or "" where the
	// cashier did not record it.
	Browser string
	// Channel is the wallet chosen; "" counts the checkouts whatever they
	// chose.
	Channel string
	// Opened is the checkouts whose cashier was opened (on the rows of
	// Channel "" only), Chose those where the buyer chose a method of
	// the wallet and the wallet opened its order, Paid those paid through
	// an order so chosen.
	Opened, Chose, Paid int64
}

// funnelCheckouts are the checkouts (payments) whose cashier was first
// opened in [$1, $2): the payment, the first opening's time and browser,
// its market tier.
func funnelCheckouts(tier string) string {
	return `(SELECT o.opened_at, p.id, p.merchant_id, ` + tier + ` AS tier,
			COALESCE((SELECT MIN(x.browser) FROM exposures x WHERE x.payment_id = o.payment_id AND x.at = o.opened_at), '') AS browser
		FROM (SELECT payment_id, MIN(at) AS opened_at FROM exposures
			WHERE payment_id IN (SELECT payment_id FROM exposures WHERE at >= $1 AND at < $2 AND payment_id <> '')
			GROUP BY payment_id HAVING MIN(at) >= $1) o
		JOIN payments p ON p.id = o.payment_id) c`
}

// funnelSource is funnel_days' rows of the checkouts first opened in
// [$1, $2). A wallet order counts as the buyer's choice unless its id
// is the payment's own: a payment made with a wallet method has that one
// order from its creation, which no one chose on the cashier.
func funnelSource(tier string) string {
	return `SELECT ` + daySQL("c.opened_at") + ` AS day, c.merchant_id, c.tier, c.browser, '' AS channel, COUNT(*) AS opened,
			COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM payment_attempts a WHERE a.payment_id = c.id AND a.id <> c.id) THEN 1 ELSE 0 END), 0) AS chose,
			COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM payment_attempts a WHERE a.payment_id = c.id AND a.id <> c.id AND a.status = 'succeeded') THEN 1 ELSE 0 END), 0) AS paid
		FROM ` + funnelCheckouts(tier) + `
		GROUP BY 1, 2, 3, 4
		UNION ALL
		SELECT ` + daySQL("c.opened_at") + `, c.merchant_id, c.tier, c.browser, a.channel, 0,
			COUNT(DISTINCT c.id), COUNT(DISTINCT CASE WHEN a.status = 'succeeded' THEN c.id END)
		FROM ` + funnelCheckouts(tier) + ` JOIN payment_attempts a ON a.payment_id = c.id AND a.id <> c.id
		GROUP BY 1, 2, 3, 4, 5`
}

// CashierFunnel is the hosted cashier's funnel over the checkouts whose
// cashier was first opened in [From, To), by the browser of that first
// opening and by wallet, each step a subset of the one before:
//
//   - opened: the cashier page was opened (an exposure names the payment:
//     the cashier records one for every method it decides when it opens);
//   - chose: the buyer chose a method and the wallet opened its order (a
//     wallet order other than the payment's own one); a choice the
//     wallet refused is not stored, so this step is also "wallet order
//     created";
//   - paid: the payment was paid through such an order.
//
// By wallet, chose counts the checkouts with an order of that wallet (a
// buyer who tried both counts in both) and paid those paid through it.
// Tier keeps the buyers of one market tier (of the payment's region).
func (e Executor) CashierFunnel(ctx context.Context, p AnalyticsParams) ([]FunnelRow, error) {
	return readFunnel(ctx, e, "cashier funnel", p, funnelRollups[0],
		`browser, channel, `+sumOf("opened")+`, `+sumOf("chose")+`, `+sumOf("paid"), `($6 = '' OR tier = $6)`, "browser, channel",
		func(rows *sql.Rows) (r FunnelRow, err error) {
			return r, rows.Scan(&r.Browser, &r.Channel, &r.Opened, &r.Chose, &r.Paid)
		})
}

// Outcomes of a wallet order, MethodOutcomes' OutcomeRow.Outcome.
const (
	OutcomePaid      = "paid"       // this order paid the payment
	OutcomeDuplicate = "duplicate"  // paid after another order had: refunded in full
	OutcomeOtherPaid = "other_paid" // another order (another method, or another payer) paid the payment
	OutcomeExpired   = "expired"    // the payment expired unpaid (closed at or after its expiry)
	OutcomeCanceled  = "canceled"   // the payment was closed before its expiry: by the merchant, or its only order closed at the wallet
	OutcomeClosed    = "closed"     // the wallet closed this order while the payment stayed payable
	OutcomeOpen      = "open"       // still pending, its payment still payable
)

// attemptOutcome is the SQL of a wallet order's (a) outcome, from its
// status and its payment's (p). A payment's canceling stamps updated_at,
// and the expiry job cancels only at or after expires_at, so a canceled
// payment updated before its expiry was closed early.
const attemptOutcome = `CASE
	WHEN a.status = 'succeeded' THEN '` + OutcomePaid + `'
	WHEN a.status = 'duplicate' THEN '` + OutcomeDuplicate + `'
	WHEN p.status = 'succeeded' THEN '` + OutcomeOtherPaid + `'
	WHEN p.status = 'canceled' AND p.expires_at > 0 AND p.updated_at >= p.expires_at THEN '` + OutcomeExpired + `'
	WHEN p.status = 'canceled' THEN '` + OutcomeCanceled + `'
	WHEN a.status = 'closed' THEN '` + OutcomeClosed + `'
	ELSE '` + OutcomeOpen + `' END`

// attemptSource is attempt_days' rows of the wallet orders opened in
// [$1, $2).
func attemptSource(tier string) string {
	return `SELECT ` + daySQL("a.created_at") + ` AS day, p.merchant_id, ` + tier + ` AS tier, a.method, ` + attemptOutcome + ` AS outcome, COUNT(*) AS attempts
		FROM payment_attempts a JOIN payments p ON p.id = a.payment_id
		WHERE a.created_at >= $1 AND a.created_at < $2
		GROUP BY 1, 2, 3, 4, 5`
}

// OutcomeRow is how many of one method's wallet orders ended one way.
type OutcomeRow struct {
	Method   string
	Outcome  string
	Attempts int64
}

// MethodOutcomes counts the wallet orders (attempts) opened in [From, To)
// by method and by how each ended (the Outcome… constants), as they stand
// now: the success rate of a method is its paid orders over all of its
// orders, and the others say why they were not paid. Tier keeps the
// buyers of one market tier (of the payment's region).
func (e Executor) MethodOutcomes(ctx context.Context, p AnalyticsParams) ([]OutcomeRow, error) {
	return readFunnel(ctx, e, "method outcomes", p, funnelRollups[1],
		`method, outcome, `+sumOf("attempts"), `($6 = '' OR tier = $6)`, "method, outcome",
		func(rows *sql.Rows) (r OutcomeRow, err error) {
			return r, rows.Scan(&r.Method, &r.Outcome, &r.Attempts)
		})
}

// Notification delays are counted in log-scale buckets: bucket 0 is under
// 1 ms (a wallet's clock ahead of hutong's lands there too), bucket k in
// 1 … DelayBuckets-2 is [1 ms·2^((k-1)/2), 1 ms·2^(k/2)), and the last is
// 1 ms·2^22 (about 70 minutes) and over. A percentile read from them is
// the geometric middle of its bucket, within a factor 2^(1/4) of the true
// value: −16% … +19%.
const DelayBuckets = 46

// delayBound is the upper end of bucket k (k < DelayBuckets-1), in
// microseconds.
func delayBound(k int) int64 {
	return int64(math.Round(1000 * math.Pow(2, float64(k)/2)))
}

// delayBucketSQL is the bucket of the delay in microseconds d, -1 when d
// is NULL (no notification).
func delayBucketSQL(d string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CASE WHEN %s IS NULL THEN -1", d)
	for k := range DelayBuckets - 1 {
		fmt.Fprintf(&b, " WHEN %s < %d THEN %d", d, delayBound(k), k)
	}
	fmt.Fprintf(&b, " ELSE %d END", DelayBuckets-1)
	return b.String()
}

// DelayOf is the delay a bucket stands for: the geometric middle of its
// ends (the lower end of the last, the upper of the first).
func DelayOf(bucket int) time.Duration {
	switch {
	case bucket <= 0:
		return time.Duration(delayBound(0)) * time.Microsecond
	case bucket >= DelayBuckets-1:
		return time.Duration(delayBound(DelayBuckets-2)) * time.Microsecond
	}
	return time.Duration(math.Round(1000*math.Pow(2, (float64(bucket)-0.5)/2))) * time.Microsecond
}

// DelayPercentile is the q-quantile (0 < q ≤ 1) of the delays counted in
// hist (by bucket): the bucket of the ⌈q·n⌉-th smallest delay, as
// DelayOf gives it; false when hist counts nothing.
func DelayPercentile(hist [DelayBuckets]int64, q float64) (time.Duration, bool) {
	var n int64
	for _, c := range hist {
		n += c
	}
	if n == 0 {
		return 0, false
	}
	rank := max(int64(math.Ceil(q*float64(n))), 1)
	var seen int64
	for k, c := range hist {
		seen += c
		if seen >= rank {
			return DelayOf(k), true
		}
	}
	return DelayOf(DelayBuckets - 1), true
}

// notifySource is notify_days' rows of the orders paid in [$1, $2): the
// delay of each from the wallet's success time (paid_at, the time the
// wallet's word gives; whole seconds on both wallets, so a delay reads up
// to a second long) to the first notification hutong received for the
// wallet order that paid it (wallet_events, recorded as it is applied).
var notifySource = `SELECT ` + daySQL("paid_at") + ` AS day, merchant_id, channel, ` + delayBucketSQL("first_at - paid_at") + ` AS bucket, COUNT(*) AS orders
	FROM (SELECT p.paid_at, p.merchant_id, p.channel, (SELECT MIN(w.received_at) FROM wallet_events w WHERE w.object_id = a.id) AS first_at
		FROM payments p JOIN payment_attempts a ON a.payment_id = p.id AND a.status = 'succeeded'
		WHERE p.status = 'succeeded' AND p.paid_at >= $1 AND p.paid_at < $2) d
	GROUP BY 1, 2, 3, 4`

// DelayRow is how many orders paid on one Beijing day through one wallet
// were notified with a delay in one bucket (-1: no notification came for
// the order, which a status query paid).
type DelayRow struct {
	Day     time.Time
	Channel string
	Bucket  int
	Orders  int64
}

// NotifyDelay is the histogram of the wallets' notification delays of the
// orders paid in [From, To), by Beijing day (of paid_at), wallet and
// bucket: for each paid order, the time from the wallet's success time to
// the first notification hutong received for the wallet order that paid
// it. Summing a wallet's days gives its histogram over the span, from
// which DelayPercentile reads p50 and p99. A paid order no notification
// came for (paid by a status query first, and none arrived after) is
// counted in bucket -1. The delay is the wallet's, not the buyer's: Tier
// does not apply.
func (e Executor) NotifyDelay(ctx context.Context, p AnalyticsParams) ([]DelayRow, error) {
	return readFunnel(ctx, e, "notification delay", p, funnelRollups[2],
		`day, channel, bucket, `+sumOf("orders"), "", "day, channel, bucket",
		func(rows *sql.Rows) (r DelayRow, err error) {
			var day int64
			err = rows.Scan(&day, &r.Channel, &r.Bucket, &r.Orders)
			r.Day = dayStart(day)
			return r, err
		})
}

// shareCodeSource is sharecode_days' rows of the codes issued in [$1,
// $2).
var shareCodeSource = `SELECT ` + daySQL("created_at") + ` AS day, merchant_id, source, COUNT(*) AS issued,
		COALESCE(SUM(CASE WHEN resolves > 0 THEN 1 ELSE 0 END), 0) AS resolved, CAST(COALESCE(SUM(resolves), 0) AS BIGINT) AS resolves,
		COALESCE(SUM(CASE WHEN paid_orders > 0 THEN 1 ELSE 0 END), 0) AS paid,
		CAST(COALESCE(SUM(paid_orders), 0) AS BIGINT) AS paid_orders, CAST(COALESCE(SUM(paid_amount), 0) AS BIGINT) AS paid_amount
	FROM share_codes WHERE created_at >= $1 AND created_at < $2
	GROUP BY 1, 2, 3`

// ShareCodeRow is what one source's share codes brought: the codes
// issued, those resolved (pasted and read back) at least once and the
// resolves, those credited with a paid order at least once, the paid
// orders and their amount (fen).
type ShareCodeRow struct {
	Source                       string
	Issued, Resolved, Resolves   int64
	Paid, PaidOrders, PaidAmount int64
}

// ShareCodeFunnel is the share codes issued in [From, To), by source:
// issued → resolved → paid, as their counters stand now (a resolve or a
// payment after To still counts for its code). A code counts a paid
// order of its own merchant's only, as the payments service credits it.
// The codes have no buyer: Tier does not apply.
func (e Executor) ShareCodeFunnel(ctx context.Context, p AnalyticsParams) ([]ShareCodeRow, error) {
	return readFunnel(ctx, e, "share codes", p, funnelRollups[3],
		`source, `+sumOf("issued")+`, `+sumOf("resolved")+`, `+sumOf("resolves")+`, `+sumOf("paid")+`, `+sumOf("paid_orders")+`, `+sumOf("paid_amount"), "", "source",
		func(rows *sql.Rows) (r ShareCodeRow, err error) {
			return r, rows.Scan(&r.Source, &r.Issued, &r.Resolved, &r.Resolves, &r.Paid, &r.PaidOrders, &r.PaidAmount)
		})
}

// payForMeSource is payforme_days' rows of the requests asked in [$1,
// $2), in the market tier of their payment's buyer.
func payForMeSource(tier string) string {
	return `SELECT ` + daySQL("f.created_at") + ` AS day, f.merchant_id, ` + tier + ` AS tier, COUNT(*) AS asked,
			COALESCE(SUM(CASE WHEN f.status = 'paid' THEN 1 ELSE 0 END), 0) AS paid
		FROM pay_for_me f JOIN payments p ON p.id = f.payment_id
		WHERE f.created_at >= $1 AND f.created_at < $2
		GROUP BY 1, 2, 3`
}

// PayForMeRow is the pay-for-me requests asked and, of those, paid.
type PayForMeRow struct {
	Asked, Paid int64
}

// PayForMeFunnel is the pay-for-me requests asked in [From, To) and how
// many of them were paid (by the friend they were sent to), as they stand
// now. Tier keeps the buyers (who asked) of one market tier.
func (e Executor) PayForMeFunnel(ctx context.Context, p AnalyticsParams) (PayForMeRow, error) {
	rows, err := readFunnel(ctx, e, "pay-for-me", p, funnelRollups[4],
		`'', `+sumOf("asked")+`, `+sumOf("paid"), `($6 = '' OR tier = $6)`, "1",
		func(rows *sql.Rows) (r PayForMeRow, err error) {
			var all string
			return r, rows.Scan(&all, &r.Asked, &r.Paid)
		})
	if err != nil || len(rows) == 0 {
		return PayForMeRow{}, err
	}
	return rows[0], nil
}
