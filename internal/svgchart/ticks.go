package svgchart

import "math"

// Ticks returns the gridline values of an axis that must show every value
// from lo to hi: between four and six round numbers (a step of 1, 2, 2.5 or
// 5 times a power of ten) with the first at or below lo and the last at or
// above hi. Round steps let a reader interpolate by eye, and a step of 2.5
// exists because shares are read in quarters (0, 0.25, 0.5, 0.75, 1).
//
// When the range crosses zero, zero is one of the ticks, so a chart's zero
// line is always labelled. Data that gives no range is still drawn on a
// sensible axis rather than failing:
//
//   - no finite bound at all (an empty data set's min and max are +Inf and
//     -Inf) gives 0 to 1;
//   - one finite bound is taken for both;
//   - lo above hi is swapped;
//   - lo equal to hi (every value the same) is widened to reach zero, so a
//     flat series reads as its level, not as a line in the middle of
//     nowhere; all zeros give 0 to 1.
//
// For ranges that no round step can cover in float64 (near ±MaxFloat64)
// the result is just lo and hi.
func Ticks(lo, hi float64) []float64 {
	switch {
	case !finite(lo) && !finite(hi):
		lo, hi = 0, 1
	case !finite(lo):
		lo = hi
	case !finite(hi):
		hi = lo
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	// Magnitudes this small are rounding noise in any money or share
	// figure, and their steps would underflow float64.
	if math.Abs(lo) < 1e-200 && math.Abs(hi) < 1e-200 {
		lo, hi = 0, 0
	}
	// A span under a billionth of the values' size is float noise too; its
	// ticks would collapse onto each other, so it is drawn as a flat level.
	if big := math.Max(math.Abs(lo), math.Abs(hi)); hi/2-lo/2 <= big*5e-10 {
		lo = hi
	}
	if lo == hi {
		switch {
		case lo == 0:
			hi = 1
		case lo > 0:
			lo = 0
		default:
			hi = 0
		}
	}

	// Halves keep the span finite even for -MaxFloat64 to MaxFloat64.
	half := hi/2 - lo/2
	e0 := int(math.Floor(math.Log10(half * 2)))
	var best []float64
	bestScore, bestCover := math.MaxInt, math.Inf(1)
	for e := e0 - 2; e <= e0+1; e++ {
		for _, m := range [...]float64{1, 2, 2.5, 5} {
			ts := ticksWithStep(lo, hi, m, e)
			if ts == nil {
				continue
			}
			// Five ticks is the aim; between two steps equally far from it,
			// the one that wastes less of the plot above and below the data
			// wins.
			score := len(ts) - 5
			if score < 0 {
				score = -score
			}
			cover := ts[len(ts)-1]/2 - ts[0]/2
			if score < bestScore || score == bestScore && cover < bestCover {
				best, bestScore, bestCover = ts, score, cover
			}
		}
	}
	if best == nil {
		return []float64{lo, hi}
	}
	return best
}

// ticksWithStep lays ticks m×10^e apart over lo..hi, or nil when that
// step cannot be represented or would give more than 12 ticks.
func ticksWithStep(lo, hi, m float64, e int) []float64 {
	step := m * math.Pow10(e)
	if step == 0 || !finite(step) {
		return nil
	}
	// k×m is exact, and dividing by an exact power of ten rounds once,
	// so 3 steps of 0.1 print as 0.3, not 0.30000000000000004.
	tick := func(k float64) float64 {
		if e >= 0 {
			return k * m * math.Pow10(e)
		}
		return k * m / math.Pow10(-e)
	}
	first, last := math.Floor(lo/step), math.Ceil(hi/step)
	if !finite(first) || !finite(last) {
		return nil
	}
	// lo/step and hi/step are rounded too: 3.4000000000000004/0.2 is
	// exactly 17, whose tick 3.4 falls short of hi by one ulp.
	if tick(first) > lo {
		first--
	}
	if tick(last) < hi {
		last++
	}
	if last-first > 11 {
		return nil
	}
	ts := make([]float64, 0, int(last-first)+1)
	for k := first; k <= last; k++ {
		t := tick(k)
		if !finite(t) || len(ts) > 0 && t <= ts[len(ts)-1] {
			return nil
		}
		ts = append(ts, t)
	}
	if len(ts) < 2 {
		return nil
	}
	return ts
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
