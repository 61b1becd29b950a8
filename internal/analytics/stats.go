// Package analytics holds the statistics behind hutong's analytics pages:
// confidence intervals for proportions and their differences, and the
// reading of a rollout ramp ("safe to ramp", "hold", "roll back"). It
// does no I/O; the store's report queries feed it counts.
//
// Money never passes through here: only counts and the ratios made of
// them, which are the one place floats belong.
package analytics

import "math"

// z95 is the standard normal quantile for a two-sided 95% interval.
const z95 = 1.959963984540054

// Proportion is Successes out of Trials: buyers who paid out of buyers
// exposed, refunded orders out of paid orders.
type Proportion struct {
	Successes, Trials int64
}

// HasData reports whether p has any trials. A proportion without any has
// no estimate; pages show "no data" rather than a made-up 0%.
func (p Proportion) HasData() bool { return p.Trials > 0 }

// Rate is Successes/Trials, or 0 when there are no trials (check HasData
// first where the difference matters).
func (p Proportion) Rate() float64 {
	if p.Trials <= 0 {
		return 0
	}
	return float64(p.Successes) / float64(p.Trials)
}

// valid reports whether p is a proportion at all: 0 ≤ Successes ≤ Trials.
// Counts out of range (a query bug) are treated as no data rather than
// turned into rates above one or below zero.
func (p Proportion) valid() bool {
	return p.Trials > 0 && p.Successes >= 0 && p.Successes <= p.Trials
}

// Wilson is the Wilson score 95% interval of p (Wilson 1927):
//
//	(p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)
//
// It stays inside [0, 1] and, unlike the textbook p̂ ± z·√(p̂(1−p̂)/n), does
// not collapse to a point at 0 or n successes, which the small cohorts of
// a rollout's first days produce. Without data (no trials, or counts out
// of range) it is the whole [0, 1] and ok is false.
func (p Proportion) Wilson() (lower, upper float64, ok bool) {
	if !p.valid() {
		return 0, 1, false
	}
	n := float64(p.Trials)
	ph := p.Rate()
	z2 := z95 * z95
	denom := 1 + z2/n
	center := (ph + z2/(2*n)) / denom
	half := z95 / denom * math.Sqrt(ph*(1-ph)/n+z2/(4*n*n))
	// Rounding may put a bound a hair outside [0, 1] or past p̂ at the
	// extremes; clamp so that lower ≤ p̂ ≤ upper always holds.
	return max(0, min(center-half, ph)), min(1, max(center+half, ph)), true
}

// NewcombeDiff is the difference a − b of two independent proportions
// with its 95% interval by Newcombe's hybrid score method (method 10 of
// Newcombe, "Interval estimation for the difference between independent
// proportions: comparison of eleven methods", Statistics in Medicine 17,
// 1998): with (l₁, u₁) and (l₂, u₂) the Wilson intervals of a and b,
//
//	lower = d − √((p̂₁ − l₁)² + (u₂ − p̂₂)²)
//	upper = d + √((u₁ − p̂₁)² + (p̂₂ − l₂)²)
//
// It keeps the Wilson interval's good coverage for small counts and rates
// near 0 or 1, and never leaves [−1, 1]. Swapping a and b negates diff and
// swaps and negates the bounds.
//
// When either side has no data the difference is unknown: diff is 0 and
// the interval the whole [−1, 1], so that no rule reading it can conclude
// anything; callers tell "no data" by HasData.
func NewcombeDiff(a, b Proportion) (diff, lower, upper float64) {
	l1, u1, ok1 := a.Wilson()
	l2, u2, ok2 := b.Wilson()
	if !ok1 || !ok2 {
		return 0, -1, 1
	}
	p1, p2 := a.Rate(), b.Rate()
	diff = p1 - p2
	lower = diff - math.Sqrt((p1-l1)*(p1-l1)+(u2-p2)*(u2-p2))
	upper = diff + math.Sqrt((u1-p1)*(u1-p1)+(p2-l2)*(p2-l2))
	return diff, max(-1, lower), min(1, upper)
}

// Lift is the relative lift of a over b, p̂a/p̂b − 1 (0.25: a converts 25%
// better than b), with an approximate 95% interval by the log method for a
// ratio of two independent proportions (Katz et al. 1978):
//
//	exp(ln(p̂a/p̂b) ± z·√(1/xa − 1/na + 1/xb − 1/nb)) − 1
//
// The ratio is what people ask ("did WeChat Pay convert better, and by how
// much?"), but it is undefined when b has no successes, and the log
// interval needs a success on each side. ok is false when there is no
// lift to speak of (either side without data, or b without successes);
// ciOK is false when the lift exists but the interval does not (a without
// successes). Decisions read the difference (NewcombeDiff), whose interval
// always exists; Lift is for display.
func Lift(a, b Proportion) (lift, lower, upper float64, ok, ciOK bool) {
	if !a.valid() || !b.valid() || b.Successes == 0 {
		return 0, 0, 0, false, false
	}
	ratio := a.Rate() / b.Rate()
	lift = ratio - 1
	if a.Successes == 0 {
		return lift, 0, 0, true, false
	}
	se := math.Sqrt(1/float64(a.Successes) - 1/float64(a.Trials) + 1/float64(b.Successes) - 1/float64(b.Trials))
	lr := math.Log(ratio)
	return lift, math.Exp(lr-z95*se) - 1, math.Exp(lr+z95*se) - 1, true, true
}
