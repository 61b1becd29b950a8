// Package rollouts is the service over hutong's staged rollout of payment
// methods: the rules and their audit trail (every change a new version of
// the whole rule set, attributed and with a reason, and revertible), the
// decision at each checkout of which wallet methods a buyer is shown,
// the exposures that record those decisions for the analytics, the dry
// run of a new rule over the buyers actually seen, and buyers' feedback
// tied to the cohort they were in.
//
// The rules themselves — compiling, deciding, dry runs, market tiers —
// are package rollout's, which has no I/O; this package reads and writes
// them through the store, and asks the payments side, through the small
// interfaces Contracts and Payments, what it alone knows.
//
// Every process caches the compiled rule set and checks the database for
// a newer version at most every RulesRefresh, so a kill switch set through
// one gateway acts on every gateway within that time. Exposures never hold
// up a checkout: they are queued in memory and written in batches
// (WriteExposures); a full queue drops and counts them (ExposuresDropped).
package rollouts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
)

// Contracts is what Decide asks of the contracts service: whether a
// wallet takes a merchant's payments now (a wallet that requires a
// contract takes them only under an active one); an error when that
// cannot be read, which fails the decision rather than hiding a method.
type Contracts interface {
	Payable(ctx context.Context, merchantID, channel string) (bool, error)
}

// Payments is what CreateFeedback asks of the payments service: the
// payment feedback names, which must be the merchant's own (another
// merchant's is notfound.Err).
type Payments interface {
	GetPayment(ctx context.Context, merchantID, id string) (payment.Payment, error)
}

// Service keeps the rollout rules, decides with them, and records
// exposures and feedback in DB.
type Service struct {
	DB     *store.DB
	Now    func() time.Time
	Logger *slog.Logger // hears of rules that could not be read and exposures lost; nil discards
	// HasAccount reports whether payments of a wallet (channel) can be made
	// here: Decide decides the methods of those wallets only. nil means
	// every registered wallet.
	HasAccount func(channel string) bool
	// Contracts hides, at a merchant's checkouts, the methods of wallets
	// that do not take its payments; nil means every wallet takes them.
	Contracts Contracts
	// Payments reads the payment that feedback names; feedback naming a
	// payment is refused when it is nil.
	Payments Payments

	rulesOnce    sync.Once
	rules        *rulesCache
	exposureOnce sync.Once
	exposureLog  *exposureLog
}

func (s *Service) now() time.Time { return clock.Func(s.Now).Now() }

func (s *Service) log() *slog.Logger { return clock.Logger(s.Logger) }

// ErrConflict is a change that lost a race with another made at the same
// time; retrying is safe.
var ErrConflict = errors.New("conflict")

// Decide says, for one checkout, whether each method of a wallet with an
// account is shown and why: the merchant's contract first, then the
// rollout rules.
func (s *Service) Decide(ctx context.Context, c rollout.Checkout) ([]rollout.Decision, error) {
	var methods []string
	for _, w := range channel.Wallets() {
		if s.HasAccount != nil && !s.HasAccount(w.Name) {
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
	if s.Contracts == nil {
		return out, nil
	}
	payable := map[string]bool{}
	for i, d := range out {
		ch, _ := channel.MethodWallet(d.Method)
		p, seen := payable[ch]
		if !seen {
			var err error
			if p, err = s.Contracts.Payable(ctx, c.MerchantID, ch); err != nil {
				return nil, fmt.Errorf("whether %s takes merchant %s's payments: %w", ch, c.MerchantID, err)
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

// CheckoutOf is the rollout's view of a payment's checkout: its buyer,
// region and platform, and the merchant's category.
func CheckoutOf(p payment.Payment, m merchant.Merchant) rollout.Checkout {
	c := rollout.Checkout{BuyerID: p.Buyer.ID, MerchantID: p.MerchantID, RegionCode: p.Buyer.RegionCode, Platform: p.Buyer.Platform}
	if m.Category != "" {
		c.Categories = []string{m.Category}
	}
	return c
}

// MethodsFor lists the wallet methods shown at a checkout; none when the
// rules cannot be read (a checkout then offers nothing new rather than
// everything).
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

// DryRun says which buyers seen at checkouts in the last `days` days a new
// rule for method would add or remove, before it is applied, and how many
// buyers were seen.
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
	checkouts, err := s.DB.Pool().ExposureCheckouts(ctx, store.ExposureCheckoutsParams{Method: method, Since: since})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("dry run of %s: %w", method, err)
	}
	added, removed = rollout.DryRun(old, r, method, checkouts, rollout.DefaultTierTable())
	buyers := map[string]bool{}
	for _, c := range checkouts {
		buyers[c.BuyerID] = true
	}
	return added, removed, len(buyers), nil
}

// checkRuleMethod refuses a rule for anything but a registered wallet's
// method (not "aggregate" or "cashier", which are no wallet's).
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
