package rollouts

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/audit"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
)

// RuleChange is one recorded version of a method's rollout rule. Rule is
// nil (null) for a change that removed the method's rule: the method is
// then shown to everyone again (cohort "default").
type RuleChange struct {
	Version int           `json:"version"`
	Method  string        `json:"method"`
	Rule    *rollout.Rule `json:"rule"`
	Actor   string        `json:"actor"`
	Reason  string        `json:"reason"`
	Created time.Time     `json:"created"`
}

// rulesCache holds the compiled rule set and when its version was last
// checked.
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

// Rules returns the current rule set, compiled and as written (checking
// the database for a newer version at most every RulesRefresh). When the
// database cannot answer, it keeps deciding with the rules it had.
func (s *Service) Rules(ctx context.Context) (*rollout.Compiled, rollout.RuleSet, error) {
	c := s.cache()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set != nil && time.Since(c.checked) < RulesRefresh {
		return c.set, c.raw, nil
	}
	version, err := s.DB.Pool().RolloutRuleVersion(ctx)
	if err != nil {
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
	methods, err := s.DB.Pool().RolloutRulesAt(ctx, version)
	return rollout.RuleSet{Version: version, Methods: methods}, err
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
		return RuleChange{}, &notfound.Error{Param: "method", Object: "rollout rule", Text: fmt.Sprintf("%s has no rollout rule to remove (it is shown to everyone)", method)}
	}
	return s.recordRule(ctx, method, nil, actor, reason)
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
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		v, err := s.DB.In(tx).RolloutRuleInsert(ctx, store.RolloutRuleInsertParams{Method: method, Rule: r, Actor: actor, Reason: reason, CreatedAt: now})
		if err != nil {
			return err
		}
		rc.Version = v
		return audit.Record(ctx, tx, rc) // an operator's change commits with its audit record
	})
	if err != nil {
		if store.IsUniqueViolation(err) {
			return rc, fmt.Errorf("%w: another change was recorded at the same time; retry", ErrConflict)
		}
		return rc, err
	}
	// This process sees its own change at once.
	c := s.cache()
	c.mu.Lock()
	c.checked = time.Time{}
	c.mu.Unlock()
	return rc, nil
}

// RuleHistory lists the changes of method's rule (every method's when
// method is ""), newest first.
func (s *Service) RuleHistory(ctx context.Context, method string) ([]RuleChange, error) {
	rows, err := s.DB.Pool().RolloutRuleHistory(ctx, method)
	if err != nil {
		return nil, err
	}
	out := make([]RuleChange, 0, len(rows))
	for _, r := range rows {
		out = append(out, RuleChange{Version: r.Version, Method: r.Method, Rule: r.Rule, Actor: r.Actor, Reason: r.Reason, Created: r.CreatedAt})
	}
	return out, nil
}

// RevertRule makes a method's rule what it was at version, as a new
// version (the history keeps both). A method that had no rule then has
// none again (RemoveRule).
func (s *Service) RevertRule(ctx context.Context, method string, version int, actor, reason string) (RuleChange, error) {
	if err := checkRuleMethod(method); err != nil {
		return RuleChange{}, err
	}
	newest, err := s.DB.Pool().RolloutRuleVersion(ctx)
	if err != nil {
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
