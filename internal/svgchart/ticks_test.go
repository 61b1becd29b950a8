package svgchart

import (
	"math"
	"slices"
	"testing"
)

func TestTicks(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	tests := []struct {
		name   string
		lo, hi float64
		want   []float64
	}{
		{"shares", 0, 1, []float64{0, 0.25, 0.5, 0.75, 1}},
		{"share below one", 0, 0.83, []float64{0, 0.25, 0.5, 0.75, 1}},
		{"orders", 0, 37, []float64{0, 10, 20, 30, 40}},
		// Six ticks to 1.25M beat four to 1.5M: as far from five, less
		// empty plot above the data.
		{"fen", 0, 1234567, []float64{0, 250000, 500000, 750000, 1000000, 1250000}},
		{"lift either way", -0.12, 0.34, []float64{-0.2, 0, 0.2, 0.4}},
		{"negative only", -37, 0, []float64{-40, -30, -20, -10, 0}},
		{"all equal positive", 5, 5, []float64{0, 1, 2, 3, 4, 5}},
		{"all equal negative", -2, -2, []float64{-2, -1.5, -1, -0.5, 0}},
		{"all zero", 0, 0, []float64{0, 0.25, 0.5, 0.75, 1}},
		{"empty", inf, -inf, []float64{0, 0.25, 0.5, 0.75, 1}},
		{"NaN", math.NaN(), math.NaN(), []float64{0, 0.25, 0.5, 0.75, 1}},
		{"one bound", math.NaN(), 37, []float64{0, 10, 20, 30, 40}},
		{"swapped", 37, 0, []float64{0, 10, 20, 30, 40}},
		{"small rates", 0.031, 0.038, []float64{0.03, 0.032, 0.034, 0.036, 0.038}},
		{"tenths print round", 0, 0.3, []float64{0, 0.1, 0.2, 0.3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Ticks(tt.lo, tt.hi)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Ticks(%v, %v) = %v, want %v", tt.lo, tt.hi, got, tt.want)
			}
		})
	}
}

// checkTicks holds for every range: the ticks rise strictly, are finite
// and cover the range.
func checkTicks(t *testing.T, lo, hi float64) {
	t.Helper()
	ts := Ticks(lo, hi)
	if len(ts) < 2 || len(ts) > 12 {
		t.Fatalf("Ticks(%v, %v) = %v: %d ticks", lo, hi, ts, len(ts))
	}
	for i, x := range ts {
		if !finite(x) || i > 0 && x <= ts[i-1] {
			t.Fatalf("Ticks(%v, %v) = %v: not finite and rising", lo, hi, ts)
		}
	}
	if finite(lo) && finite(hi) && (ts[0] > math.Min(lo, hi) || ts[len(ts)-1] < math.Max(lo, hi)) {
		t.Fatalf("Ticks(%v, %v) = %v: does not cover the range", lo, hi, ts)
	}
}

func TestTicksExtremes(t *testing.T) {
	t.Parallel()
	m := math.MaxFloat64
	for _, r := range [][2]float64{
		{-m, m}, {0, m}, {-m, 0}, {m, m}, {0, 5e-324}, {1, 1 + 1e-15},
		{1e-300, 1e-299}, {-1e300, 1}, {123456789, 123456790},
	} {
		checkTicks(t, r[0], r[1])
	}
}

// Between four and six ticks, as promised, for ordinary ranges.
func TestTicksCount(t *testing.T) {
	t.Parallel()
	for _, hi := range []float64{0.001, 0.07, 0.5, 1, 3, 7.5, 9, 11, 37, 99, 101, 250, 999, 1001, 12345, 1234567, 9e9} {
		for _, lo := range []float64{0, -hi / 3, -hi, hi / 2} {
			ts := Ticks(lo, hi)
			if len(ts) < 4 || len(ts) > 6 {
				t.Errorf("Ticks(%v, %v) = %v: %d ticks", lo, hi, ts, len(ts))
			}
		}
	}
}

func FuzzTicks(f *testing.F) {
	f.Add(0.0, 1.0)
	f.Add(-0.12, 0.34)
	f.Add(5.0, 5.0)
	f.Add(math.Inf(1), math.Inf(-1))
	f.Fuzz(func(t *testing.T, lo, hi float64) {
		checkTicks(t, lo, hi)
	})
}
