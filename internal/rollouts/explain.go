package rollouts

import (
	"context"
	"fmt"

	"github.com/hutong-pay/hutong/internal/rollout"
)

// Explanation is one method's decision at a checkout together with the
// rule that made it, so a person can be told the decision in their own
// words without a second read of the rules racing a change.
type Explanation struct {
	rollout.Decision
	// Rule is the method's rule in the version that decided; nil when the
	// method had none (shown to everyone).
	Rule *rollout.Rule
}

// Explain decides a checkout as Decide does and pairs each decision with
// the rule of the version that decided it: the answer to "why does this
// buyer (not) see the method?".
func (s *Service) Explain(ctx context.Context, c rollout.Checkout) ([]Explanation, error) {
	ds, err := s.Decide(ctx, c)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, nil
	}
	// Decide read the cached rule set; its version may have moved on since,
	// so read the rules of exactly the version that decided.
	_, raw, err := s.Rules(ctx)
	if err != nil {
		return nil, err
	}
	if raw.Version != ds[0].Version {
		if raw, err = s.ruleSetAt(ctx, ds[0].Version); err != nil {
			return nil, fmt.Errorf("rollout rules version %d: %w", ds[0].Version, err)
		}
	}
	out := make([]Explanation, len(ds))
	for i, d := range ds {
		out[i].Decision = d
		if r, ok := raw.Methods[d.Method]; ok {
			out[i].Rule = &r
		}
	}
	return out, nil
}
