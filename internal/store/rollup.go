package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The analytics rollup (migration 21) is what the reports read: the paid
// orders summed per Beijing day, merchant, market tier and wallet
// (analytics_days), each buyer's first order (first_orders), and each
// buyer's entry into an arm of a rollout (rollout_arms). A report over a
// year sums about 3,650 rows instead of aggregating a million payments.
//
// AnalyticsRefresh keeps it, run every minute by a job (and by the demo
// after it seeds). It finds what changed since its last run by the
// payments' updated_at and the exposures' at, re-reading a window of
// analyticsSlack before its last mark so that a transaction stamped
// before the mark but committed after it is still seen, and rebuilds the
// days those payments were paid on. A refund changes its payment's
// updated_at, so a refund of an old order re-rolls the order's day.
//
// The reports read the rollup when they can (readsRollup): their span is
// whole Beijing days, and their market tiers are the rollup's. Otherwise,
// or with AnalyticsParams.Live, they read the payments themselves, which
// is always current and at a million payments takes seconds.

// analyticsSlack is how far before its last mark a refresh looks again.
// It bounds how long a transaction may take between stamping a payment
// and committing it.
const analyticsSlack = time.Minute

// dayMicros is one day in microseconds.
const dayMicros = int64(24 * time.Hour / time.Microsecond)

// daySQL is the Beijing day of the microsecond column col, as whole days
// since weekEpoch (a Beijing Monday), so a day's week is day / 7.
func daySQL(col string) string {
	return fmt.Sprintf("((%s - %d) / %d)", col, weekEpoch, dayMicros)
}

// beijingDay is the number daySQL gives t, and whether t is a Beijing
// midnight (a report span the rollup can answer begins and ends on one).
func beijingDay(t time.Time) (int64, bool) {
	us := Micros(t) - weekEpoch
	return us / dayMicros, us >= 0 && us%dayMicros == 0
}

// dayStart is the instant (UTC) the Beijing day numbered n begins.
func dayStart(n int64) time.Time { return Time(weekEpoch + n*dayMicros) }

// rollupTiers is the market-tier rule the rollup is kept under (the
// default table) and its fingerprint, stored in analytics_state: a
// release that changes the table rebuilds the rollup at its first refresh.
func (e Executor) rollupTiers() (sqlExpr, fingerprint string, err error) {
	expr, err := e.tierSQL("p.region_code", nil)
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256([]byte(expr))
	return expr, hex.EncodeToString(sum[:]), nil
}

// AnalyticsRefreshed says what one AnalyticsRefresh did.
type AnalyticsRefreshed struct {
	Full        bool  // rebuilt from nothing (first run, or the tier rule changed)
	Days        int   // Beijing days whose rows were rebuilt
	Buyers      int64 // buyers whose first order was looked up again
	Skipped     bool  // another refresh was running (PostgreSQL): nothing done
	RefreshedAt time.Time
}

// AnalyticsState is how current the rollup is: RefreshedAt is zero before
// the first refresh.
type AnalyticsState struct {
	RefreshedAt time.Time
	Tiers       string
}

// AnalyticsStateGet reads the rollup's state.
func (e Executor) AnalyticsStateGet(ctx context.Context) (AnalyticsState, error) {
	var st AnalyticsState
	var at int64
	err := e.q.QueryRowContext(ctx, `SELECT tiers, refreshed_at FROM analytics_state WHERE id = 1`).Scan(&st.Tiers, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("analytics state: %w", err)
	}
	st.RefreshedAt = Time(at)
	return st, nil
}

// AnalyticsRefresh brings the rollup up to date with what was committed
// before now. Run it in a transaction of its own (db.Tx): on PostgreSQL
// it locks the state row, so two gateways' refreshes take turns.
func (e Executor) AnalyticsRefresh(ctx context.Context, now time.Time) (AnalyticsRefreshed, error) {
	out := AnalyticsRefreshed{RefreshedAt: now}
	tierExpr, fingerprint, err := e.rollupTiers()
	if err != nil {
		return out, err
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO analytics_state (id, tiers, payments_mark, exposures_mark, refreshed_at)
		VALUES (1, '', 0, 0, 0) ON CONFLICT (id) DO NOTHING`); err != nil {
		return out, fmt.Errorf("analytics state: %w", err)
	}
	// On PostgreSQL a refresh already running holds the row: this one
	// has nothing to add and returns at once, rather than wait and hold
	// a job worker's slot (a refresh that outlives its job's lease is
	// claimed again, and waiting refreshes would pile up on the lock).
	var tiers string
	var paymentsMark, exposuresMark int64
	lock := ""
	if e.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	err = e.q.QueryRowContext(ctx, `SELECT tiers, payments_mark, exposures_mark FROM analytics_state WHERE id = 1`+lock).
		Scan(&tiers, &paymentsMark, &exposuresMark)
	if errors.Is(err, sql.ErrNoRows) {
		out.Skipped = true
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("analytics state: %w", err)
	}
	out.Full = tiers != fingerprint
	if out.Full {
		err = e.rollupRebuild(ctx, tierExpr, &out)
	} else {
		slack := int64(analyticsSlack / time.Microsecond)
		err = e.rollupChanges(ctx, tierExpr, paymentsMark-slack, exposuresMark-slack, &out)
	}
	if err != nil {
		return out, err
	}
	if err := e.rollupFunnels(ctx, paymentsMark-int64(analyticsSlack/time.Microsecond), out.Full); err != nil {
		return out, err
	}
	// The marks are the refresh's start: what a later transaction stamps
	// is at or after it, less the slack.
	if _, err := e.q.ExecContext(ctx, `UPDATE analytics_state SET tiers = $1, payments_mark = $2, exposures_mark = $2, refreshed_at = $2 WHERE id = 1`,
		fingerprint, Micros(now)); err != nil {
		return out, fmt.Errorf("analytics state: %w", err)
	}
	return out, nil
}

// rollupRebuild builds the rollup from every payment and exposure.
func (e Executor) rollupRebuild(ctx context.Context, tierExpr string, out *AnalyticsRefreshed) error {
	for _, table := range []string{"analytics_days", "first_orders", "rollout_arms", "rollout_days"} {
		if _, err := e.q.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return fmt.Errorf("analytics rebuild: emptying %s: %w", table, err)
		}
	}
	res, err := e.q.ExecContext(ctx, insertFirstOrdersSQL(""))
	if err != nil {
		return fmt.Errorf("analytics rebuild: first orders: %w", err)
	}
	if out.Buyers, err = res.RowsAffected(); err != nil {
		return err
	}
	var lo, hi sql.NullInt64
	if err := e.q.QueryRowContext(ctx, `SELECT MIN(paid_at), MAX(paid_at) FROM payments WHERE status = 'succeeded' AND paid_at > 0`).Scan(&lo, &hi); err != nil {
		return fmt.Errorf("analytics rebuild: %w", err)
	}
	if lo.Valid {
		first, _ := beijingDay(Time(lo.Int64))
		last, _ := beijingDay(Time(hi.Int64))
		if err := e.rollupDays(ctx, tierExpr, first, last+1); err != nil {
			return err
		}
		out.Days = int(last - first + 1)
	}
	if err := e.rollupArms(ctx, 0, 0, true); err != nil {
		return err
	}
	if _, err := e.q.ExecContext(ctx, insertRolloutDaysSQL("")); err != nil {
		return fmt.Errorf("analytics rebuild: rollout days: %w", err)
	}
	return nil
}

// insertRolloutDaysSQL counts the rollout arms entered on the days the
// condition (on rollout_arms; "" for all) selects into rollout_days.
func insertRolloutDaysSQL(cond string) string {
	if cond != "" {
		cond = "WHERE " + cond
	}
	return `INSERT INTO rollout_days (method, day, tier, shown, paid_day, buyers)
		SELECT method, ` + daySQL("entered_at") + `, tier, shown, CASE WHEN paid_at > 0 THEN ` + daySQL("paid_at") + ` ELSE -1 END, COUNT(*)
		FROM rollout_arms ` + cond + ` GROUP BY 1, 2, 3, 4, 5`
}

// rollupChanges re-rolls what changed since the marks: the first orders
// of buyers with a changed payment, the days those payments and first
// orders fall on, and the rollout arms of buyers with a changed payment
// or a new exposure.
func (e Executor) rollupChanges(ctx context.Context, tierExpr string, paymentsSince, exposuresSince int64, out *AnalyticsRefreshed) error {
	changedBuyers := `SELECT buyer_id FROM payments WHERE updated_at >= $1 AND buyer_id <> ''`
	days, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (d int64, err error) { return d, rows.Scan(&d) },
		`SELECT DISTINCT `+daySQL("paid_at")+` FROM payments WHERE updated_at >= $1 AND paid_at > 0`, paymentsSince)
	if err != nil {
		return fmt.Errorf("analytics refresh: changed days: %w", err)
	}
	// The changed buyers' first orders, looked up again; where one moved,
	// the day it left loses a new buyer (the day it moved to is a changed
	// payment's, in days already).
	type first struct {
		buyer, payment string
		day            int64
	}
	firsts := func() (map[string]first, error) {
		rows, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (f first, err error) { return f, rows.Scan(&f.buyer, &f.payment, &f.day) },
			`SELECT buyer_id, payment_id, `+daySQL("paid_at")+` FROM first_orders WHERE buyer_id IN (`+changedBuyers+`)`, paymentsSince)
		m := make(map[string]first, len(rows))
		for _, f := range rows {
			m[f.buyer] = f
		}
		return m, err
	}
	before, err := firsts()
	if err != nil {
		return fmt.Errorf("analytics refresh: first orders: %w", err)
	}
	if _, err := e.q.ExecContext(ctx, `DELETE FROM first_orders WHERE buyer_id IN (`+changedBuyers+`)`, paymentsSince); err != nil {
		return fmt.Errorf("analytics refresh: first orders: %w", err)
	}
	res, err := e.q.ExecContext(ctx, insertFirstOrdersSQL(`AND buyer_id IN (`+changedBuyers+`)`), paymentsSince)
	if err != nil {
		return fmt.Errorf("analytics refresh: first orders: %w", err)
	}
	if out.Buyers, err = res.RowsAffected(); err != nil {
		return err
	}
	after, err := firsts()
	if err != nil {
		return fmt.Errorf("analytics refresh: first orders: %w", err)
	}
	for buyer, f := range before {
		if after[buyer] != f {
			days = append(days, f.day)
		}
	}
	slices.Sort(days)
	days = slices.Compact(days)
	out.Days = len(days)
	for i := 0; i < len(days); {
		j := i + 1
		for j < len(days) && days[j] == days[j-1]+1 {
			j++
		}
		if err := e.rollupDays(ctx, tierExpr, days[i], days[j-1]+1); err != nil {
			return err
		}
		i = j
	}
	// The arms of buyers with a changed payment or a new exposure: where
	// one was entered or first paid differently after, the days it was
	// entered on before and after are counted again.
	armBuyers := `buyer_id IN (` + changedBuyers + `) OR buyer_id IN (SELECT buyer_id FROM exposures WHERE at >= $2)`
	type arm struct {
		method, buyer, tier string
		shown               int
		day, paidAt         int64
	}
	arms := func() (map[arm]arm, error) {
		rows, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (a arm, err error) {
			return a, rows.Scan(&a.method, &a.buyer, &a.tier, &a.shown, &a.day, &a.paidAt)
		}, `SELECT method, buyer_id, tier, shown, `+daySQL("entered_at")+`, paid_at FROM rollout_arms WHERE `+armBuyers, paymentsSince, exposuresSince)
		m := make(map[arm]arm, len(rows))
		for _, a := range rows {
			m[arm{method: a.method, buyer: a.buyer, tier: a.tier, shown: a.shown}] = a
		}
		return m, err
	}
	armsBefore, err := arms()
	if err != nil {
		return fmt.Errorf("analytics refresh: rollout arms: %w", err)
	}
	if err := e.rollupArms(ctx, exposuresSince, paymentsSince, false); err != nil {
		return err
	}
	armsAfter, err := arms()
	if err != nil {
		return fmt.Errorf("analytics refresh: rollout arms: %w", err)
	}
	type methodDay struct {
		method string
		day    int64
	}
	moved := map[methodDay]bool{}
	for k, a := range armsAfter {
		if b, ok := armsBefore[k]; !ok || b != a {
			moved[methodDay{a.method, a.day}] = true
			if ok {
				moved[methodDay{b.method, b.day}] = true
			}
		}
	}
	for md := range moved {
		if _, err := e.q.ExecContext(ctx, `DELETE FROM rollout_days WHERE method = $1 AND day = $2`, md.method, md.day); err != nil {
			return fmt.Errorf("analytics refresh: rollout days: %w", err)
		}
		lo, hi := Micros(dayStart(md.day)), Micros(dayStart(md.day+1))
		if _, err := e.q.ExecContext(ctx, insertRolloutDaysSQL(`method = $1 AND entered_at >= $2 AND entered_at < $3`), md.method, lo, hi); err != nil {
			return fmt.Errorf("analytics refresh: rollout days: %w", err)
		}
	}
	return nil
}

// insertFirstOrdersSQL inserts the first paid order of every buyer the
// condition (on payments, "" for all) selects.
func insertFirstOrdersSQL(cond string) string {
	return `INSERT INTO first_orders (buyer_id, payment_id, merchant_id, channel, region_code, paid_at)
		SELECT buyer_id, id, merchant_id, channel, region_code, paid_at FROM (
			SELECT buyer_id, id, merchant_id, channel, region_code, paid_at,
				ROW_NUMBER() OVER (PARTITION BY buyer_id ORDER BY paid_at, id) AS n
			FROM payments WHERE status = 'succeeded' AND paid_at > 0 AND buyer_id <> '' ` + cond + `) f
		WHERE n = 1`
}

// rollupDays rebuilds analytics_days for the Beijing days [first, end):
// each merchant's rows from the payments, then the marketplace's ('*')
// from those.
func (e Executor) rollupDays(ctx context.Context, tierExpr string, first, end int64) error {
	span := fmt.Sprintf("days %d to %d", first, end)
	if _, err := e.q.ExecContext(ctx, `DELETE FROM analytics_days WHERE day >= $1 AND day < $2`, first, end); err != nil {
		return fmt.Errorf("analytics refresh: %s: %w", span, err)
	}
	// refunded > 0 first: most orders have no refund, and it spares them
	// the look-up in refunds (refunds_payment), as RefundRates does. The
	// orders are read from payments_analytics alone (a join to
	// first_orders would visit every payment's row: four times slower on
	// SQLite); the new buyers are counted from first_orders after.
	start, stop := Micros(dayStart(first)), Micros(dayStart(end))
	if _, err := e.q.ExecContext(ctx, `INSERT INTO analytics_days (day, merchant_id, tier, channel, orders, gmv, refunded_orders, refund_only_orders, new_buyers)
		SELECT `+daySQL("p.paid_at")+`, p.merchant_id, `+tierExpr+`, p.channel, COUNT(*), CAST(COALESCE(SUM(p.amount), 0) AS BIGINT),
			COALESCE(SUM(CASE WHEN p.refunded > 0 AND EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'succeeded' AND r.kind <> 'duplicate_charge') THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN p.refunded > 0 AND EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'succeeded' AND r.kind = 'refund_only') THEN 1 ELSE 0 END), 0),
			0
		FROM payments p WHERE p.status = 'succeeded' AND p.paid_at >= $1 AND p.paid_at < $2
		GROUP BY 1, 2, 3, 4`, start, stop); err != nil {
		return fmt.Errorf("analytics refresh: %s: %w", span, err)
	}
	// A first order is a paid order of its day, merchant, tier and
	// wallet, so its row exists.
	if _, err := e.q.ExecContext(ctx, `UPDATE analytics_days SET new_buyers = f.buyers
		FROM (SELECT `+daySQL("p.paid_at")+` AS day, p.merchant_id, `+tierExpr+` AS tier, p.channel, COUNT(*) AS buyers
			FROM first_orders p WHERE p.paid_at >= $1 AND p.paid_at < $2 GROUP BY 1, 2, 3, 4) f
		WHERE analytics_days.day = f.day AND analytics_days.merchant_id = f.merchant_id AND analytics_days.tier = f.tier AND analytics_days.channel = f.channel`,
		start, stop); err != nil {
		return fmt.Errorf("analytics refresh: %s, new buyers: %w", span, err)
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO analytics_days (day, merchant_id, tier, channel, orders, gmv, refunded_orders, refund_only_orders, new_buyers)
		SELECT day, '*', tier, channel, SUM(orders), SUM(gmv), SUM(refunded_orders), SUM(refund_only_orders), SUM(new_buyers)
		FROM analytics_days WHERE day >= $1 AND day < $2 GROUP BY day, tier, channel`, first, end); err != nil {
		return fmt.Errorf("analytics refresh: %s, the marketplace: %w", span, err)
	}
	return nil
}

// rollupArms adds the arms entered by exposures at or after since, each
// with the buyer's first payment after entering, moving an entry earlier
// where an exposure predates it; then, unless full, it looks up that
// payment again for the buyers with a payment changed since
// paymentsSince.
func (e Executor) rollupArms(ctx context.Context, since, paymentsSince int64, full bool) error {
	// WHERE is never omitted: SQLite would read ON CONFLICT as the
	// SELECT's join constraint.
	firstPaid := func(arms string) string {
		return `COALESCE((SELECT MIN(p.paid_at) FROM payments p
			WHERE p.buyer_id = ` + arms + `.buyer_id AND p.status = 'succeeded' AND p.paid_at >= ` + arms + `.entered_at), 0)`
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO rollout_arms (method, buyer_id, tier, shown, entered_at, paid_at)
		SELECT x.method, x.buyer_id, x.tier, x.shown, x.entered_at, `+firstPaid("x")+` FROM (
			SELECT method, buyer_id, tier, shown, MIN(at) AS entered_at FROM exposures WHERE at >= $1 AND buyer_id <> ''
			GROUP BY method, buyer_id, tier, shown) x WHERE true
		ON CONFLICT (method, buyer_id, tier, shown) DO UPDATE SET entered_at = excluded.entered_at, paid_at = excluded.paid_at
			WHERE excluded.entered_at < rollout_arms.entered_at`, since); err != nil {
		return fmt.Errorf("analytics refresh: rollout arms: %w", err)
	}
	if full {
		return nil
	}
	if _, err := e.q.ExecContext(ctx, `UPDATE rollout_arms SET paid_at = `+firstPaid("rollout_arms")+`
		WHERE buyer_id IN (SELECT buyer_id FROM payments WHERE updated_at >= $1 AND buyer_id <> '')`, paymentsSince); err != nil {
		return fmt.Errorf("analytics refresh: rollout arms' payments: %w", err)
	}
	return nil
}

// readsRollup says whether a report of p can be read from the rollup: not
// asked to read live, a span of whole Beijing days, the rollup's market
// tiers, and a rollup that has been refreshed.
func (e Executor) readsRollup(ctx context.Context, p AnalyticsParams) (from, to int64, ok bool, err error) {
	if p.Live {
		return 0, 0, false, nil
	}
	from, fromWhole := beijingDay(p.From)
	to, toWhole := beijingDay(p.To)
	if !fromWhole || !toWhole {
		return 0, 0, false, nil
	}
	st, err := e.AnalyticsStateGet(ctx)
	if err != nil || st.RefreshedAt.IsZero() {
		return 0, 0, false, err
	}
	_, fingerprint, err := e.rollupTiers()
	if err != nil || st.Tiers != fingerprint {
		return 0, 0, false, err
	}
	if p.Tiers != nil {
		expr, err := e.tierSQL("p.region_code", p.Tiers)
		if err != nil {
			return 0, 0, false, err
		}
		if sum := sha256.Sum256([]byte(expr)); hex.EncodeToString(sum[:]) != fingerprint {
			return 0, 0, false, nil
		}
	}
	return from, to, true, nil
}

// rollupMerchants is the condition on analytics_days.merchant_id that
// selects p's merchants: one, those of a category or province, or the
// marketplace's own rows. Its parameters are $3 (merchant), $4
// (category) and $5 (province), each used whatever the filter, and it is
// written per case so that the primary key (merchant_id, day, …) is
// sought, not every merchant's rows scanned.
func (p AnalyticsParams) rollupMerchants() string {
	const among = `(SELECT id FROM merchants WHERE ($4 = '' OR category = $4) AND ($5 = '' OR substr(region_code, 1, 2) = $5))`
	switch {
	case p.MerchantID != "":
		return `merchant_id = $3 AND (($4 = '' AND $5 = '') OR merchant_id IN ` + among + `)`
	case p.Category != "" || p.Province != "":
		return `$3 = '' AND merchant_id IN ` + among
	}
	return `merchant_id = '*' AND $3 = '' AND $4 = '' AND $5 = ''`
}
