package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
)

// RuleChange is one recorded version of a method's rollout rule. Rule is
// nil (null) for a change that removed the method's rule: the method is
// then shown to everyone again (cohort "default"). A removal is stored as
// the rule "null".
type RuleChange struct {
	Version int           `json:"version"`
	Method  string        `json:"method"`
	Rule    *rollout.Rule `json:"rule"`
	Actor   string        `json:"actor"`
	Reason  string        `json:"reason"`
	Created time.Time     `json:"created"`
}

// rulesCache holds the compiled rule set and when its version was last
// checked. Every process checks the newest version at most every
// RulesRefresh, so a kill switch acts on every gateway within that time.
type rulesCache struct {
	mu      sync.Mutex
	set     *rollout.Compiled
	raw     rollout.RuleSet
	checked time.Time
}

// RulesRefresh is how stale a process's rollout rules may be.
const RulesRefresh = 500 * time.Millisecond

func (s *Service) cache() *rulesCache {
	s.rulesOnce.Do(func() { s.rules = &rulesCache{} })
	return s.rules
}

// Rules returns the current rule set (checking the database for a newer
// version at most every RulesRefresh).
func (s *Service) Rules(ctx context.Context) (*rollout.Compiled, rollout.RuleSet, error) {
	c := s.cache()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set != nil && time.Since(c.checked) < RulesRefresh {
		return c.set, c.raw, nil
	}
	var version int
	if err := s.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM rollout_rules`).Scan(&version); err != nil {
		if c.set != nil {
			return c.set, c.raw, nil // keep deciding with what we had
		}
		return nil, rollout.RuleSet{}, err
	}
	c.checked = time.Now()
	if c.set != nil && c.raw.Version == version {
		return c.set, c.raw, nil
	}
	raw, err := s.ruleSetAt(ctx, version)
	if err != nil {
		return nil, raw, err
	}
	compiled, err := raw.Compile()
	if err != nil {
		return nil, raw, fmt.Errorf("rollout rules version %d: %w", version, err)
	}
	c.set, c.raw = compiled, raw
	return compiled, raw, nil
}

// ruleSetAt is every method's newest rule as of version.
func (s *Service) ruleSetAt(ctx context.Context, version int) (rollout.RuleSet, error) {
	rs := rollout.RuleSet{Version: version, Methods: map[string]rollout.Rule{}}
	rows, err := s.DB.QueryContext(ctx, `SELECT method, rule FROM rollout_rules WHERE version IN
		(SELECT MAX(version) FROM rollout_rules WHERE version <= $1 GROUP BY method)`, version)
	if err != nil {
		return rs, err
	}
	defer rows.Close()
	for rows.Next() {
		var m, raw string
		if err := rows.Scan(&m, &raw); err != nil {
			return rs, err
		}
		if raw == "null" {
			continue // removed: no rule
		}
		var r rollout.Rule
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return rs, err
		}
		rs.Methods[m] = r
	}
	return rs, rows.Err()
}

// SetRule records a new version of a method's rule.
func (s *Service) SetRule(ctx context.Context, method string, r rollout.Rule, actor, reason string) (RuleChange, error) {
	if err := r.Validate(); err != nil {
		return RuleChange{}, &payment.FieldError{Param: "rule", Message: err.Error()}
	}
	return s.recordRule(ctx, method, &r, actor, reason)
}

// RemoveRule records a new version in which method has no rule, so it is
// shown to everyone (cohort "default"); the history keeps every earlier
// rule, and a revert brings one back.
func (s *Service) RemoveRule(ctx context.Context, method, actor, reason string) (RuleChange, error) {
	if err := checkRuleMethod(method); err != nil {
		return RuleChange{}, err
	}
	_, rs, err := s.Rules(ctx)
	if err != nil {
		return RuleChange{}, err
	}
	if _, ok := rs.Methods[method]; !ok {
		return RuleChange{}, &NotFoundError{Param: "method", Object: "rollout rule", Text: fmt.Sprintf("%s has no rollout rule to remove (it is shown to everyone)", method)}
	}
	return s.recordRule(ctx, method, nil, actor, reason)
}

func checkRuleMethod(method string) error {
	if !isWalletMethod(method) {
		return &payment.FieldError{Param: "method", Message: fmt.Sprintf("%q is not a wallet method; rules are set for %s", method, strings.Join(channel.MethodNames(), ", "))}
	}
	return nil
}

// isWalletMethod says method is one of a registered wallet's.
func isWalletMethod(method string) bool {
	_, ok := channel.MethodWallet(method)
	return ok
}

// recordRule stores a new version of method's rule; r nil removes it.
func (s *Service) recordRule(ctx context.Context, method string, r *rollout.Rule, actor, reason string) (RuleChange, error) {
	if err := checkRuleMethod(method); err != nil {
		return RuleChange{}, err
	}
	if strings.TrimSpace(reason) == "" || len(reason) > 500 {
		return RuleChange{}, &payment.FieldError{Param: "reason", Message: "is required (why the rule changes), at most 500 bytes"}
	}
	now := s.now()
	rc := RuleChange{Method: method, Rule: r, Actor: actor, Reason: reason, Created: now}
	raw, _ := json.Marshal(r) // nil: "null"
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM rollout_rules`).Scan(&rc.Version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rollout_rules (version, method, rule, actor, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			rc.Version, method, string(raw), actor, reason, store.Micros(now))
		return err
	})
	if err != nil {
		if store.IsUniqueViolation(err) {
			return rc, fmt.Errorf("%w: another change was recorded at the same time; retry", ErrConflict)
		}
		return rc, err
	}
	// This process sees its own change at once.
	s.cache().mu.Lock()
	s.cache().checked = time.Time{}
	s.cache().mu.Unlock()
	return rc, nil
}

// ErrConflict is a change that lost a race; retrying is safe.
var ErrConflict = fmt.Errorf("conflict")

// RuleHistory lists every rule change, newest first.
func (s *Service) RuleHistory(ctx context.Context, method string) ([]RuleChange, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT version, method, rule, actor, reason, created_at FROM rollout_rules WHERE ($1 = '' OR method = $1) ORDER BY version DESC`, method)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RuleChange{}
	for rows.Next() {
		var rc RuleChange
		var raw string
		var at int64
		if err := rows.Scan(&rc.Version, &rc.Method, &raw, &rc.Actor, &rc.Reason, &at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &rc.Rule); err != nil { // "null": nil
			return nil, fmt.Errorf("rule version %d of %s does not decode: %w", rc.Version, rc.Method, err)
		}
		rc.Created = store.Time(at)
		out = append(out, rc)
	}
	return out, rows.Err()
}

// RevertRule makes a method's rule what it was at version, as a new
// version (the history keeps both). A method that had no rule then has
// none again (RemoveRule).
func (s *Service) RevertRule(ctx context.Context, method string, version int, actor, reason string) (RuleChange, error) {
	if err := checkRuleMethod(method); err != nil {
		return RuleChange{}, err
	}
	var newest int
	if err := s.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM rollout_rules`).Scan(&newest); err != nil {
		return RuleChange{}, err
	}
	if version < 1 || version > newest {
		return RuleChange{}, &payment.FieldError{Param: "version", Message: fmt.Sprintf("must be a version of the rule history, 1 to %d, got %d (GET /v1/rollout/history)", newest, version)}
	}
	rs, err := s.ruleSetAt(ctx, version)
	if err != nil {
		return RuleChange{}, err
	}
	r, ok := rs.Methods[method]
	reason = fmt.Sprintf("revert to version %d: %s", version, reason)
	if !ok {
		return s.recordRule(ctx, method, nil, actor, reason)
	}
	return s.SetRule(ctx, method, r, actor, reason)
}

// Decide says, for one checkout, whether each wallet method with an
// account is shown and why: the merchant's contract first, then the
// rollout rules.
func (s *Service) Decide(ctx context.Context, c rollout.Checkout) ([]rollout.Decision, error) {
	var methods []string
	for _, w := range channel.Wallets() {
		if _, ok := s.Accounts[w.Name]; !ok {
			continue
		}
		for _, m := range w.Methods {
			methods = append(methods, m.Name)
		}
	}
	compiled, _, err := s.Rules(ctx)
	if err != nil {
		return nil, err
	}
	out := compiled.Evaluate(c, methods)
	payable := map[string]bool{}
	for i, d := range out {
		ch, _ := channel.MethodWallet(d.Method)
		p, seen := payable[ch]
		if !seen {
			if p, err = s.contracts().Payable(ctx, c.MerchantID, ch); err != nil {
				return nil, err
			}
			payable[ch] = p
		}
		if !p {
			out[i].Shown = false
			out[i].Cohort = "no_contract"
			out[i].Reason = fmt.Sprintf("%s hidden: merchant %s has no active %s contract signed under the current agreement", d.Method, c.MerchantID, ch)
		}
	}
	return out, nil
}

// CheckoutOf is the rollout's view of a payment's checkout.
func CheckoutOf(p payment.Payment, m merchant.Merchant) rollout.Checkout {
	c := rollout.Checkout{BuyerID: p.Buyer.ID, MerchantID: p.MerchantID, RegionCode: p.Buyer.RegionCode, Platform: p.Buyer.Platform}
	if m.Category != "" {
		c.Categories = []string{m.Category}
	}
	return c
}

// MethodsFor lists the wallet methods shown at a checkout.
func (s *Service) MethodsFor(ctx context.Context, c rollout.Checkout) []string {
	ds, err := s.Decide(ctx, c)
	if err != nil {
		s.log().Error("rollout rules", "error", err)
		return nil
	}
	var out []string
	for _, d := range ds {
		if d.Shown {
			out = append(out, d.Method)
		}
	}
	return out
}

// Exposure is one method decided at one checkout, for the analytics that
// compare cohorts.
type Exposure struct {
	At        time.Time
	Checkout  rollout.Checkout
	Decision  rollout.Decision
	PaymentID string
}

// exposureLog batches exposures: Record never blocks a checkout; a full
// buffer drops (and counts) rather than wait.
type exposureLog struct {
	ch      chan Exposure
	dropped atomic.Int64
	flushMu sync.Mutex
}

const exposureBuffer = 16384

func (s *Service) exposures() *exposureLog {
	s.exposureOnce.Do(func() {
		s.exposureLog = &exposureLog{ch: make(chan Exposure, exposureBuffer)}
	})
	return s.exposureLog
}

// RecordExposures queues a checkout's decisions to be written.
func (s *Service) RecordExposures(c rollout.Checkout, ds []rollout.Decision, paymentID string) {
	l := s.exposures()
	now := s.now()
	for _, d := range ds {
		select {
		case l.ch <- Exposure{At: now, Checkout: c, Decision: d, PaymentID: paymentID}:
		default:
			l.dropped.Add(1)
		}
	}
}

// ExposuresDropped counts exposures lost to a full buffer.
func (s *Service) ExposuresDropped() int64 { return s.exposures().dropped.Load() }

// WriteExposures writes queued exposures every second until ctx ends, then
// once more. A gateway process runs it beside its job worker.
func (s *Service) WriteExposures(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		// FlushExposures logs and counts (ExposuresDropped) a batch it
		// could not write; exposures never hold up a checkout.
		case <-ctx.Done():
			_ = s.FlushExposures(context.WithoutCancel(ctx))
			return
		case <-tick.C:
			_ = s.FlushExposures(ctx)
		}
	}
}

// FlushExposures writes the queued exposures now, in batches of up to 500
// rows per statement.
func (s *Service) FlushExposures(ctx context.Context) error {
	l := s.exposures()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for {
		var batch []Exposure
	fill:
		for len(batch) < 500 {
			select {
			case e := <-l.ch:
				batch = append(batch, e)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return nil
		}
		var q strings.Builder
		q.WriteString(`INSERT INTO exposures (at, buyer_id, merchant_id, method, shown, rule_version, cohort, tier, region_code, platform, app_version, payment_id) VALUES `)
		args := make([]any, 0, len(batch)*12)
		for i, e := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", i*12+1, i*12+2, i*12+3, i*12+4, i*12+5, i*12+6, i*12+7, i*12+8, i*12+9, i*12+10, i*12+11, i*12+12)
			args = append(args, store.Micros(e.At), e.Checkout.BuyerID, e.Checkout.MerchantID, e.Decision.Method, boolInt(e.Decision.Shown),
				e.Decision.Version, e.Decision.Cohort, e.Decision.Tier, e.Checkout.RegionCode, e.Checkout.Platform, e.Checkout.AppVersion, e.PaymentID)
		}
		if _, err := s.DB.ExecContext(ctx, q.String(), args...); err != nil {
			s.log().Error("exposures lost", "rows", len(batch), "error", err)
			l.dropped.Add(int64(len(batch)))
			return err
		}
	}
}

// DryRun says which buyers seen at checkouts in the last `days` days a new
// rule for method would add or remove, before it is applied.
func (s *Service) DryRun(ctx context.Context, method string, r rollout.Rule, days int) (added, removed []string, seen int, err error) {
	if err := r.Validate(); err != nil {
		return nil, nil, 0, &payment.FieldError{Param: "rule", Message: err.Error()}
	}
	_, raw, err := s.Rules(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	old, ok := raw.Methods[method]
	if !ok {
		old = rollout.Rule{Enabled: true, BasisPoints: rollout.Buckets} // no rule: shown to everyone
	}
	since := s.now().Add(-time.Duration(days) * 24 * time.Hour)
	checkouts, err := store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (c rollout.Checkout, err error) {
		return c, rows.Scan(&c.BuyerID, &c.MerchantID, &c.RegionCode, &c.Platform, &c.AppVersion)
	}, `SELECT buyer_id, merchant_id, region_code, platform, app_version FROM exposures WHERE at >= $1 AND method = $2 ORDER BY at DESC`, store.Micros(since), method)
	if err != nil {
		return nil, nil, 0, err
	}
	added, removed = rollout.DryRun(old, r, method, checkouts, rollout.DefaultTierTable())
	buyers := map[string]bool{}
	for _, c := range checkouts {
		buyers[c.BuyerID] = true
	}
	return added, removed, len(buyers), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
