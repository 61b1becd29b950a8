package analytics

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	healthy := RampInput{
		SuccessNew: Proportion{960, 1000}, SuccessBase: Proportion{965, 1000},
		RefundNew: Proportion{20, 1000}, RefundBase: Proportion{18, 1000},
		NotifyP99: 3 * time.Second,
	}
	with := func(f func(*RampInput)) RampInput { in := healthy; f(&in); return in }
	for _, c := range []struct {
		name   string
		in     RampInput
		want   Verdict
		reason string
	}{
		{"clearly better", with(func(in *RampInput) { in.Shown, in.NotShown = Proportion{600, 1000}, Proportion{500, 1000} }), Ramp, "no worse"},
		{"clearly worse", with(func(in *RampInput) { in.Shown, in.NotShown = Proportion{400, 1000}, Proportion{500, 1000} }), RollBack, "converts worse"},
		{"unclear", with(func(in *RampInput) { in.Shown, in.NotShown = Proportion{52, 100}, Proportion{50, 100} }), Hold, "not yet clear"},
		{"no exposed buyers", with(func(in *RampInput) { in.NotShown = Proportion{500, 1000} }), Hold, "conversion: no data"},
		{"success rate fell", with(func(in *RampInput) {
			in.Shown, in.NotShown = Proportion{600, 1000}, Proportion{500, 1000}
			in.SuccessNew = Proportion{850, 1000}
		}), RollBack, "success rate fell"},
		{"success rate a little lower, within noise", with(func(in *RampInput) {
			in.Shown, in.NotShown = Proportion{600, 1000}, Proportion{500, 1000}
			in.SuccessNew = Proportion{955, 1000}
		}), Ramp, "no worse"},
		{"refunds rose", with(func(in *RampInput) {
			in.Shown, in.NotShown = Proportion{600, 1000}, Proportion{500, 1000}
			in.RefundNew = Proportion{80, 1000}
		}), RollBack, "refund rate rose"},
		{"slow notifications", with(func(in *RampInput) {
			in.Shown, in.NotShown = Proportion{600, 1000}, Proportion{500, 1000}
			in.NotifyP99 = time.Minute
		}), RollBack, "notification p99"},
		{"tighter limit of one's own", with(func(in *RampInput) {
			in.Shown, in.NotShown = Proportion{600, 1000}, Proportion{500, 1000}
			in.NotifyP99, in.Limits.MaxNotifyP99 = 3*time.Second, time.Second
		}), RollBack, "notification p99"},
		{"guardrails without data breach nothing", RampInput{Shown: Proportion{600, 1000}, NotShown: Proportion{500, 1000}}, Ramp, "refund rate: no data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Read(c.in)
			if r.Verdict != c.want || !slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.Contains(s, c.reason) }) {
				t.Errorf("%s %q, want %s with a reason containing %q", r.Verdict, r.Reasons, c.want, c.reason)
			}
		})
	}
}
