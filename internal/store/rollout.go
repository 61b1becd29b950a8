package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
)

// The rollout's tables: rollout_rules is an append-only history, one row
// per change of one method's rule, its version counting changes of the
// whole rule set; exposures are the methods decided at checkouts, written
// in batches; feedback is buyers' word on a method. None has a foreign
// key: an exposure or a feedback outlives what it names.

// RolloutRule is one recorded version of a method's rollout rule. Rule is
// nil for a change that removed the method's rule (stored as the JSON
// "null").
type RolloutRule struct {
	Version   int
	Method    string
	Rule      *rollout.Rule
	Actor     string
	Reason    string
	CreatedAt time.Time
}

// RolloutRuleVersion is the rule set's newest version, 0 before the first
// change.
func (e Executor) RolloutRuleVersion(ctx context.Context) (int, error) {
	var v int
	if err := e.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM rollout_rules`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the rollout rules' version: %w", err)
	}
	return v, nil
}

// RolloutRulesAt is every method's newest rule as of version; a method
// whose newest change removed its rule has none.
func (e Executor) RolloutRulesAt(ctx context.Context, version int) (map[string]rollout.Rule, error) {
	rows, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (r [2]string, err error) {
		return r, rows.Scan(&r[0], &r[1])
	}, `SELECT method, rule FROM rollout_rules WHERE version IN
		(SELECT MAX(version) FROM rollout_rules WHERE version <= $1 GROUP BY method)`, version)
	if err != nil {
		return nil, fmt.Errorf("reading the rollout rules as of version %d: %w", version, err)
	}
	out := map[string]rollout.Rule{}
	for _, row := range rows {
		method, raw := row[0], row[1]
		if raw == "null" {
			continue // removed: no rule
		}
		var r rollout.Rule
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, fmt.Errorf("the rollout rule of %s as of version %d does not decode: %w", method, version, err)
		}
		out[method] = r
	}
	return out, nil
}

// RolloutRuleInsertParams is a change of one method's rule; Rule nil
// removes it.
type RolloutRuleInsertParams struct {
	Method    string
	Rule      *rollout.Rule
	Actor     string
	Reason    string
	CreatedAt time.Time
}

// RolloutRuleInsert records a change as the rule set's next version and
// returns it. Run it in a transaction: two changes recorded at once may
// both read the same newest version, and then the second is refused as a
// unique violation (IsUniqueViolation) rather than lost.
func (e Executor) RolloutRuleInsert(ctx context.Context, p RolloutRuleInsertParams) (int, error) {
	raw, err := json.Marshal(p.Rule) // nil: "null"
	if err != nil {
		return 0, fmt.Errorf("encoding the rollout rule of %s: %w", p.Method, err)
	}
	var v int
	if err := e.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM rollout_rules`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the rollout rules' version: %w", err)
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO rollout_rules (version, method, rule, actor, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		v, p.Method, string(raw), p.Actor, p.Reason, Micros(p.CreatedAt)); err != nil {
		return 0, fmt.Errorf("recording version %d of the rollout rules: %w", v, err)
	}
	return v, nil
}

// RolloutRuleHistory lists the changes of method's rule, or of every
// method's when method is "", newest first.
func (e Executor) RolloutRuleHistory(ctx context.Context, method string) ([]RolloutRule, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (rc RolloutRule, err error) {
		var raw string
		var at int64
		if err := rows.Scan(&rc.Version, &rc.Method, &raw, &rc.Actor, &rc.Reason, &at); err != nil {
			return rc, err
		}
		if err := json.Unmarshal([]byte(raw), &rc.Rule); err != nil { // "null": nil
			return rc, fmt.Errorf("rule version %d of %s does not decode: %w", rc.Version, rc.Method, err)
		}
		rc.CreatedAt = Time(at)
		return rc, nil
	}, `SELECT version, method, rule, actor, reason, created_at FROM rollout_rules WHERE ($1 = '' OR method = $1) ORDER BY version DESC`, method)
	if err != nil {
		return nil, fmt.Errorf("reading the rollout rules' history: %w", err)
	}
	return out, nil
}

// Exposure is one method decided at one checkout: who saw the checkout,
// what was decided and under which version of the rules, and the payment
// it was for ("" for a checkout asked about through the API).
type Exposure struct {
	At        time.Time
	Checkout  rollout.Checkout
	Decision  rollout.Decision
	PaymentID string
}

// exposureColumns is how many values one exposure row takes.
const exposureColumns = 13

// ExposureBatch is the most exposures ExposureInsert writes in one
// statement: 6,500 parameters, under both databases' limits.
const ExposureBatch = 500

// ExposureInsert writes exposures, in statements of up to ExposureBatch
// rows.
func (e Executor) ExposureInsert(ctx context.Context, exposures []Exposure) error {
	for len(exposures) > 0 {
		batch := exposures[:min(len(exposures), ExposureBatch)]
		exposures = exposures[len(batch):]
		var q strings.Builder
		q.WriteString(`INSERT INTO exposures (at, buyer_id, merchant_id, method, shown, rule_version, cohort, tier, region_code, platform, app_version, payment_id, browser) VALUES `)
		args := make([]any, 0, len(batch)*exposureColumns)
		for i, x := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(")
			for c := range exposureColumns {
				if c > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "$%d", i*exposureColumns+c+1)
			}
			q.WriteString(")")
			args = append(args, Micros(x.At), x.Checkout.BuyerID, x.Checkout.MerchantID, x.Decision.Method, boolInt(x.Decision.Shown),
				x.Decision.Version, x.Decision.Cohort, x.Decision.Tier, x.Checkout.RegionCode, x.Checkout.Platform, x.Checkout.AppVersion, x.PaymentID, x.Checkout.Browser)
		}
		if _, err := e.q.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("writing %d exposures: %w", len(batch), err)
		}
	}
	return nil
}

// ExposureCheckoutsParams selects the checkouts at which a method was
// decided since a time.
type ExposureCheckoutsParams struct {
	Method string
	Since  time.Time
}

// ExposureCheckouts lists, newest first, the checkouts at which p.Method
// was decided since p.Since, one per exposure (a buyer seen twice is
// listed twice), with what the rules read of them: buyer, merchant,
// region, platform and app version.
func (e Executor) ExposureCheckouts(ctx context.Context, p ExposureCheckoutsParams) ([]rollout.Checkout, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (c rollout.Checkout, err error) {
		return c, rows.Scan(&c.BuyerID, &c.MerchantID, &c.RegionCode, &c.Platform, &c.AppVersion)
	}, `SELECT buyer_id, merchant_id, region_code, platform, app_version FROM exposures WHERE at >= $1 AND method = $2 ORDER BY at DESC`, Micros(p.Since), p.Method)
	if err != nil {
		return nil, fmt.Errorf("reading the checkouts of %s since %s: %w", p.Method, p.Since.Format(time.RFC3339), err)
	}
	return out, nil
}

// ExposureLatestParams names a buyer's exposures to one method at one
// merchant's checkouts.
type ExposureLatestParams struct {
	MerchantID string
	BuyerID    string
	Method     string
}

// ExposureCohort is the cohort and market tier a buyer was in at an
// exposure.
type ExposureCohort struct {
	Cohort string
	Tier   string
}

// ExposureLatest is the cohort and tier of the buyer's newest exposure to
// the method at the merchant's checkouts; ErrNoRows when there is none.
func (e Executor) ExposureLatest(ctx context.Context, p ExposureLatestParams) (ExposureCohort, error) {
	var c ExposureCohort
	err := e.q.QueryRowContext(ctx, `SELECT cohort, tier FROM exposures WHERE merchant_id = $1 AND buyer_id = $2 AND method = $3 ORDER BY at DESC LIMIT 1`,
		p.MerchantID, p.BuyerID, p.Method).Scan(&c.Cohort, &c.Tier)
	if err != nil {
		return c, fmt.Errorf("reading buyer %s's latest exposure to %s: %w", p.BuyerID, p.Method, err)
	}
	return c, nil
}

// Feedback is a buyer's word on a payment method, with the rollout cohort
// and market tier they were in.
type Feedback struct {
	ID         string
	MerchantID string
	PaymentID  string // "" when the feedback names no payment
	BuyerID    string // "" when unknown
	Method     string
	Rating     int // 1 to 5
	Text       string
	Cohort     string
	Tier       string
	CreatedAt  time.Time
}

// FeedbackInsert stores feedback.
func (e Executor) FeedbackInsert(ctx context.Context, f Feedback) error {
	if _, err := e.q.ExecContext(ctx, `INSERT INTO feedback (id, merchant_id, payment_id, buyer_id, method, rating, body, cohort, tier, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		f.ID, f.MerchantID, f.PaymentID, f.BuyerID, f.Method, f.Rating, f.Text, f.Cohort, f.Tier, Micros(f.CreatedAt)); err != nil {
		return fmt.Errorf("storing feedback %s: %w", f.ID, err)
	}
	return nil
}

// FeedbackListParams selects feedback; an empty field selects any.
type FeedbackListParams struct {
	MerchantID string
	Method     string
	Cohort     string
	Tier       string
	From, To   time.Time // created in [From, To)
	After      string    // a feedback id: the entries after it in the list
	Limit      int       // 0: all
}

// FeedbackList lists the feedback p selects, newest first. An After that
// names no feedback of p.MerchantID's (any merchant's when "") is a
// *notfound.Error on starting_after.
func (e Executor) FeedbackList(ctx context.Context, p FeedbackListParams) ([]Feedback, error) {
	query := `SELECT id, merchant_id, payment_id, buyer_id, method, rating, body, cohort, tier, created_at FROM feedback WHERE 1 = 1`
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		query += fmt.Sprintf(" AND "+cond, len(args))
	}
	for _, f := range []struct{ col, v string }{{"merchant_id", p.MerchantID}, {"method", p.Method}, {"cohort", p.Cohort}, {"tier", p.Tier}} {
		if f.v != "" {
			add(f.col+" = $%d", f.v)
		}
	}
	if !p.From.IsZero() {
		add("created_at >= $%d", Micros(p.From))
	}
	if !p.To.IsZero() {
		add("created_at < $%d", Micros(p.To))
	}
	query, args, err := Keyset{Table: "feedback", Time: "created_at", ID: "id", Desc: true, Object: "feedback",
		Scope: "($2 = '' OR merchant_id = $2)", ScopeArgs: []any{p.MerchantID}}.Page(ctx, e.q, p.After, query, " AND ", args)
	if err != nil {
		return nil, err // Keyset's own: a *notfound.Error, or one that says what failed
	}
	query += " ORDER BY created_at DESC, id"
	if p.Limit > 0 {
		args = append(args, p.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (f Feedback, err error) {
		var at int64
		if err := rows.Scan(&f.ID, &f.MerchantID, &f.PaymentID, &f.BuyerID, &f.Method, &f.Rating, &f.Text, &f.Cohort, &f.Tier, &at); err != nil {
			return f, err
		}
		f.CreatedAt = Time(at)
		return f, nil
	}, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing feedback: %w", err)
	}
	return out, nil
}

// PaymentCohortParams names the payment being paid: its merchant, its
// buyer, the method that paid and the instant it is booked.
type PaymentCohortParams struct {
	MerchantID string
	BuyerID    string
	Method     string
	At         time.Time
}

// PaymentCohort is the rollout cohort and market tier a payment's buyer
// was in at their latest exposure to the method that paid, at the
// merchant's checkouts, at or before p.At; of exposures at one instant,
// the newest rules' decision. The gateway asks it in the transaction that
// books a payment paid, to store on the payment. ErrNoRows when there is
// none, as for a buyer without an id (whose exposures would be anyone's).
//
// Exposures are written in batches about a second apart
// (rollouts.WriteExposures): a payment paid within that second of its
// checkout finds the exposure before it, or none.
func (e Executor) PaymentCohort(ctx context.Context, p PaymentCohortParams) (payment.Rollout, error) {
	var r payment.Rollout
	if p.BuyerID == "" {
		return r, fmt.Errorf("the rollout cohort of a buyer without an id: %w", ErrNoRows)
	}
	err := e.q.QueryRowContext(ctx, `SELECT cohort, tier FROM exposures WHERE buyer_id = $1 AND method = $2 AND merchant_id = $3 AND at <= $4
		ORDER BY at DESC, rule_version DESC LIMIT 1`, p.BuyerID, p.Method, p.MerchantID, Micros(p.At)).Scan(&r.Cohort, &r.Tier)
	if err != nil {
		return r, fmt.Errorf("reading buyer %s's rollout cohort for %s at %s: %w", p.BuyerID, p.Method, p.At.Format(time.RFC3339), err)
	}
	return r, nil
}
