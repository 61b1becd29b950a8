package analytics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 0.00005 }

// The reference values are Newcombe's (1998), Table II, method 10, and for
// single proportions his companion paper's Wilson intervals: they pin the
// formulas, not just their shape.
func TestNewcombeDiffReference(t *testing.T) {
	for _, c := range []struct {
		a, b               Proportion
		diff, lower, upper float64
	}{
		{Proportion{56, 70}, Proportion{48, 80}, 0.2, 0.0524, 0.3339},
		{Proportion{9, 10}, Proportion{3, 10}, 0.6, 0.1705, 0.8090},
		{Proportion{6, 7}, Proportion{2, 7}, 0.5714, 0.0582, 0.8062},
		{Proportion{5, 56}, Proportion{0, 29}, 0.0893, -0.0381, 0.1926},
		{Proportion{0, 10}, Proportion{0, 20}, 0, -0.1611, 0.2775},
		{Proportion{0, 10}, Proportion{0, 10}, 0, -0.2775, 0.2775},
		{Proportion{10, 10}, Proportion{0, 20}, 1, 0.6791, 1},
		{Proportion{10, 10}, Proportion{0, 10}, 1, 0.6075, 1},
	} {
		d, l, u := NewcombeDiff(c.a, c.b)
		if math.Abs(d-c.diff) > 0.00005 || math.Abs(l-c.lower) > 0.00006 || math.Abs(u-c.upper) > 0.00006 {
			t.Errorf("%v − %v = %.4f (%.4f, %.4f), want %.4f (%.4f, %.4f)", c.a, c.b, d, l, u, c.diff, c.lower, c.upper)
		}
	}
}

func TestWilsonReference(t *testing.T) {
	for _, c := range []struct {
		p            Proportion
		lower, upper float64
	}{
		{Proportion{81, 263}, 0.2553, 0.3662},
		{Proportion{15, 148}, 0.0624, 0.1605},
		{Proportion{0, 20}, 0, 0.1611},
		{Proportion{1, 29}, 0.0061, 0.1718},
	} {
		l, u, ok := c.p.Wilson()
		if !ok || math.Abs(l-c.lower) > 0.00006 || math.Abs(u-c.upper) > 0.00006 {
			t.Errorf("%v: (%.4f, %.4f) %v, want (%.4f, %.4f)", c.p, l, u, ok, c.lower, c.upper)
		}
	}
}

func randProportion(r *rand.Rand) Proportion {
	n := r.Int64N(2000) + 1
	if r.IntN(4) == 0 {
		n = r.Int64N(10) + 1 // small counts are where intervals go wrong
	}
	return Proportion{r.Int64N(n + 1), n}
}

func TestIntervalProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		a, b := randProportion(r), randProportion(r)
		l, u, ok := a.Wilson()
		if !ok || l < 0 || u > 1 || l > a.Rate() || a.Rate() > u {
			t.Fatalf("%v: Wilson (%v, %v) %v does not hold %v inside [0, 1]", a, l, u, ok, a.Rate())
		}
		d, lo, up := NewcombeDiff(a, b)
		if lo < -1 || up > 1 || lo > d || d > up || math.IsNaN(lo) || math.IsNaN(up) {
			t.Fatalf("%v − %v: %v not inside (%v, %v) within [−1, 1]", a, b, d, lo, up)
		}
		d2, lo2, up2 := NewcombeDiff(b, a)
		if !near(d, -d2) || !near(lo, -up2) || !near(up, -lo2) {
			t.Fatalf("swap of %v, %v: (%v, %v, %v) vs (%v, %v, %v)", a, b, d, lo, up, d2, lo2, up2)
		}
	}
}

// The same rates from ten times the buyers give a narrower interval.
func TestIntervalNarrowsWithN(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		a, b := randProportion(r), randProportion(r)
		_, lo, up := NewcombeDiff(a, b)
		a10 := Proportion{a.Successes * 10, a.Trials * 10}
		b10 := Proportion{b.Successes * 10, b.Trials * 10}
		_, lo10, up10 := NewcombeDiff(a10, b10)
		if up10-lo10 >= up-lo {
			t.Fatalf("%v − %v: width %v at n, %v at 10n", a, b, up-lo, up10-lo10)
		}
		l, u, _ := a.Wilson()
		l10, u10, _ := a10.Wilson()
		if u10-l10 >= u-l {
			t.Fatalf("%v: Wilson width %v at n, %v at 10n", a, u-l, u10-l10)
		}
	}
}

func TestNoData(t *testing.T) {
	for _, c := range []struct{ a, b Proportion }{
		{Proportion{}, Proportion{}},
		{Proportion{0, 0}, Proportion{3, 10}},
		{Proportion{3, 10}, Proportion{0, 0}},
		{Proportion{11, 10}, Proportion{3, 10}}, // out of range: no data, not a rate above one
		{Proportion{-1, 10}, Proportion{3, 10}},
	} {
		d, lo, up := NewcombeDiff(c.a, c.b)
		if d != 0 || lo != -1 || up != 1 {
			t.Errorf("%v − %v = %v (%v, %v), want 0 (−1, 1)", c.a, c.b, d, lo, up)
		}
		if _, _, _, ok, _ := Lift(c.a, c.b); ok {
			t.Errorf("Lift(%v, %v) claims a lift", c.a, c.b)
		}
	}
	if l, u, ok := (Proportion{}).Wilson(); ok || l != 0 || u != 1 {
		t.Errorf("Wilson of nothing = (%v, %v) %v", l, u, ok)
	}
	if (Proportion{}).HasData() || (Proportion{}).Rate() != 0 {
		t.Error("an empty proportion has data or a rate")
	}
}

func TestLift(t *testing.T) {
	lift, lo, up, ok, ciOK := Lift(Proportion{56, 70}, Proportion{48, 80})
	if !ok || !ciOK || !near(lift, 0.8/0.6-1) || lo >= lift || up <= lift || lo <= 0 {
		t.Errorf("Lift 56/70 over 48/80 = %v (%v, %v) %v %v", lift, lo, up, ok, ciOK)
	}
	// Katz log interval of the ratio 0.8/0.6: se = √(1/56 − 1/70 + 1/48 − 1/80).
	se := math.Sqrt(1.0/56 - 1.0/70 + 1.0/48 - 1.0/80)
	if want := (0.8/0.6)*math.Exp(-z95*se) - 1; !near(lo, want) {
		t.Errorf("lower %v, want %v", lo, want)
	}
	if _, _, _, ok, _ := Lift(Proportion{5, 10}, Proportion{0, 10}); ok {
		t.Error("a lift over a baseline without successes")
	}
	if lift, _, _, ok, ciOK := Lift(Proportion{0, 10}, Proportion{5, 10}); !ok || ciOK || lift != -1 {
		t.Errorf("Lift(0/10, 5/10) = %v %v %v, want −1 without an interval", lift, ok, ciOK)
	}
}
