package analytics

import (
	"fmt"
	"time"
)

// Verdict is what a rollout reading advises for the next step of a ramp.
type Verdict string

const (
	// Ramp: the new method converts at least as well as the baseline (the
	// difference's interval lies at or above 0) and no guardrail is
	// breached; widen the rollout.
	Ramp Verdict = "safe to ramp"
	// Hold: the evidence is not yet clear either way; keep the rollout
	// where it is and gather more.
	Hold Verdict = "hold"
	// RollBack: the new method converts worse (the interval lies below 0)
	// or a guardrail is breached; narrow or stop the rollout.
	RollBack Verdict = "roll back"
)

// Guardrails are the limits a rollout must stay within whatever its
// conversion does. A zero field takes the default named beside it.
type Guardrails struct {
	// MaxSuccessDrop is how far the new method's payment success rate may
	// fall below the baseline's before the rollout is rolled back: breached
	// when the difference's whole interval lies below −MaxSuccessDrop.
	// Default 0.02 (two percentage points).
	MaxSuccessDrop float64
	// MaxRefundRise is how far the new method's refund rate may rise above
	// the baseline's: breached when the difference's whole interval lies
	// above it. Default 0.01.
	MaxRefundRise float64
	// MaxNotifyP99 is the longest acceptable 99th percentile of the wallet
	// notification's latency (payment to verified notification). Default
	// 30 s.
	MaxNotifyP99 time.Duration
}

func (g Guardrails) withDefaults() Guardrails {
	if g.MaxSuccessDrop == 0 {
		g.MaxSuccessDrop = 0.02
	}
	if g.MaxRefundRise == 0 {
		g.MaxRefundRise = 0.01
	}
	if g.MaxNotifyP99 == 0 {
		g.MaxNotifyP99 = 30 * time.Second
	}
	return g
}

// RampInput is what a reading weighs: conversion of the buyers shown the
// new method against those not shown it, and the guardrails' measures.
type RampInput struct {
	// Shown and NotShown: buyers who paid out of buyers exposed, in the
	// cohort shown the new method and in the one not shown it.
	Shown, NotShown Proportion
	// SuccessNew and SuccessBase: payments that succeeded out of payments
	// attempted, with the new method and with the baseline.
	SuccessNew, SuccessBase Proportion
	// RefundNew and RefundBase: refunded paid orders out of paid orders.
	RefundNew, RefundBase Proportion
	// NotifyP99 is the new method's notification latency p99; 0 when
	// unmeasured, which breaches nothing.
	NotifyP99 time.Duration
	Limits    Guardrails
}

// Reading is a verdict with the reasons for it, in the order they were
// weighed, and the conversion difference it rests on.
type Reading struct {
	Verdict Verdict
	Reasons []string
	// Diff, Lower and Upper: the conversion difference shown − not shown
	// and its 95% interval (NewcombeDiff).
	Diff, Lower, Upper float64
	// NoData is set when either cohort has no exposed buyer.
	NoData bool
}

// Read applies the rule of a ramp:
//
//  1. any guardrail breached (success rate fell by more than allowed,
//     refund rate rose by more than allowed, notification p99 over its
//     limit) → roll back, whatever conversion says: a wallet that fails
//     payments or money that comes back is worse than lost conversion;
//  2. no data on either side → hold;
//  3. the conversion difference's upper bound < 0 → roll back (the new
//     method confidently converts worse);
//  4. its lower bound ≥ 0 → safe to ramp;
//  5. otherwise → hold.
//
// A guardrail is breached only when its whole interval lies past the
// limit, so that a handful of early refunds cannot stop a rollout on
// noise; a guardrail without data is reported and breaches nothing.
func Read(in RampInput) Reading {
	g := in.Limits.withDefaults()
	var r Reading
	r.Diff, r.Lower, r.Upper = NewcombeDiff(in.Shown, in.NotShown)
	r.NoData = !in.Shown.valid() || !in.NotShown.valid()

	breached := false
	if !in.SuccessNew.valid() || !in.SuccessBase.valid() {
		r.Reasons = append(r.Reasons, "payment success rate: no data")
	} else if d, _, up := NewcombeDiff(in.SuccessNew, in.SuccessBase); up < -g.MaxSuccessDrop {
		breached = true
		r.Reasons = append(r.Reasons, fmt.Sprintf("payment success rate fell %.1f points below the baseline (at least %.1f, allowed %.1f)", -d*100, -up*100, g.MaxSuccessDrop*100))
	}
	if !in.RefundNew.valid() || !in.RefundBase.valid() {
		r.Reasons = append(r.Reasons, "refund rate: no data")
	} else if d, lo, _ := NewcombeDiff(in.RefundNew, in.RefundBase); lo > g.MaxRefundRise {
		breached = true
		r.Reasons = append(r.Reasons, fmt.Sprintf("refund rate rose %.1f points above the baseline (at least %.1f, allowed %.1f)", d*100, lo*100, g.MaxRefundRise*100))
	}
	if in.NotifyP99 > g.MaxNotifyP99 {
		breached = true
		r.Reasons = append(r.Reasons, fmt.Sprintf("notification p99 %s is over the limit of %s", in.NotifyP99, g.MaxNotifyP99))
	}

	ci := fmt.Sprintf("conversion difference %+.1f points, 95%% CI [%+.1f, %+.1f]", r.Diff*100, r.Lower*100, r.Upper*100)
	switch {
	case breached:
		r.Verdict = RollBack
	case r.NoData:
		r.Verdict = Hold
		r.Reasons = append(r.Reasons, "conversion: no data (a cohort has no exposed buyer)")
	case r.Upper < 0:
		r.Verdict = RollBack
		r.Reasons = append(r.Reasons, ci+": the new method converts worse")
	case r.Lower >= 0:
		r.Verdict = Ramp
		r.Reasons = append(r.Reasons, ci+": no worse than without it")
	default:
		r.Verdict = Hold
		r.Reasons = append(r.Reasons, ci+": not yet clear")
	}
	return r
}
