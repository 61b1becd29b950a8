package metrics

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// OwnTime estimates the p50 and p99 of a route's own time
// (hutong_api_own_seconds) from its histogram's native buckets, each at
// most 10% wide: what benchmarks report. Zero when the route has none.
func OwnTime(route string) (p50, p99 time.Duration) {
	h := histogramOf(ownTime, map[string]string{"route": route})
	if h == nil || h.GetSampleCount() == 0 {
		return 0, 0
	}
	secs := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	return secs(quantile(h, 0.5)), secs(quantile(h, 0.99))
}

// ResetOwnTime forgets a route's own times (a benchmark measures one run;
// a scraper sees the series start again, as after a restart).
func ResetOwnTime(route string) {
	ownTime.DeleteLabelValues(route)
}

// histogramOf reads the series of vec with exactly these labels, or nil.
// It collects rather than asks for the child, which would create one.
func histogramOf(vec *prometheus.HistogramVec, labels map[string]string) *dto.Histogram {
	ch := make(chan prometheus.Metric)
	go func() { vec.Collect(ch); close(ch) }()
	var found *dto.Histogram
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || found != nil || len(d.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range d.GetLabel() {
			match = match && labels[l.GetName()] == l.GetValue()
		}
		if match {
			found = d.GetHistogram()
		}
	}
	return found
}

// quantile estimates the q-quantile (0 ≤ q ≤ 1) of a histogram's
// observations, all taken to be ≥ 0: from its native buckets when it has
// them, interpolating exponentially inside the bucket the rank falls in;
// else from its classic buckets, linearly, as histogram_quantile does.
func quantile(h *dto.Histogram, q float64) float64 {
	n := h.GetSampleCount()
	if n == 0 {
		return math.NaN()
	}
	rank := q * float64(n)
	if len(h.GetPositiveSpan()) == 0 && h.GetZeroCount() == 0 {
		return classicQuantile(h, rank)
	}
	cum := float64(h.GetZeroCount())
	if rank <= cum {
		return 0 // at most the zero threshold, a hair above 0
	}
	// Bucket i holds (base^(i-1), base^i]; spans give runs of buckets,
	// each offset from the end of the one before, and counts are deltas
	// from the bucket before, across spans.
	base := math.Exp2(math.Exp2(-float64(h.GetSchema())))
	deltas := h.GetPositiveDelta()
	var idx int32
	var count int64
	k := 0
	upper := 0.0
	for _, span := range h.GetPositiveSpan() {
		idx += span.GetOffset()
		for range span.GetLength() {
			if k >= len(deltas) {
				return upper
			}
			count += deltas[k]
			k++
			upper = math.Pow(base, float64(idx))
			if c := float64(count); c > 0 && cum+c >= rank {
				lower := upper / base
				return lower * math.Pow(base, (rank-cum)/c)
			}
			cum += float64(count)
			idx++
		}
	}
	return upper
}

// classicQuantile interpolates linearly inside the classic bucket the rank
// falls in; in the +Inf bucket it answers the highest finite bound.
func classicQuantile(h *dto.Histogram, rank float64) float64 {
	lower, prev := 0.0, 0.0
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if c >= rank && c > prev {
			if math.IsInf(b.GetUpperBound(), 1) {
				return lower
			}
			return lower + (b.GetUpperBound()-lower)*(rank-prev)/(c-prev)
		}
		lower, prev = b.GetUpperBound(), c
	}
	return lower
}
