package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestQuantileFromNativeBuckets: percentiles read from the native buckets
// are within their 10% width of the exact percentiles of what was
// observed, over spreads from one decade to six.
func TestQuantileFromNativeBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, decades := range []float64{1, 3, 6} {
		vec := newHistogramVec("test_seconds", "test", ownBuckets, "route")
		var seen []float64
		for range 20000 {
			v := 1e-5 * math.Pow(10, decades*rng.Float64()) // log-uniform from 10 µs
			seen = append(seen, v)
			vec.WithLabelValues("r").Observe(v)
		}
		slices.Sort(seen)
		h := histogramOf(vec, map[string]string{"route": "r"})
		if h == nil || len(h.GetPositiveSpan()) == 0 {
			t.Fatalf("no native buckets: %v", h)
		}
		for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 1} {
			exact := seen[min(len(seen)-1, int(q*float64(len(seen))))]
			if got := quantile(h, q); math.Abs(got-exact) > 0.1*exact {
				t.Errorf("%v decades: q%v = %v, exact %v", decades, q, got, exact)
			}
		}
	}
}

// TestQuantileFromClassicBuckets: without native buckets, the estimate
// interpolates linearly in the classic bucket the rank falls in, as
// histogram_quantile does, and stops at the highest finite bound.
func TestQuantileFromClassicBuckets(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	f := func(v float64) *float64 { return &v }
	h := &dto.Histogram{SampleCount: u(100), Bucket: []*dto.Bucket{
		{UpperBound: f(1), CumulativeCount: u(50)},
		{UpperBound: f(2), CumulativeCount: u(90)},
		{UpperBound: f(4), CumulativeCount: u(90)},
	}}
	for q, want := range map[float64]float64{0.25: 0.5, 0.5: 1, 0.7: 1.5, 0.9: 2, 0.99: 4} {
		if got := quantile(h, q); math.Abs(got-want) > 1e-9 {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
	if got := quantile(&dto.Histogram{}, 0.5); !math.IsNaN(got) {
		t.Errorf("the quantile of nothing is %v, want NaN", got)
	}
}

// TestOwnTime: OwnTime reads a route's own-time histogram, and
// ResetOwnTime starts it again.
func TestOwnTime(t *testing.T) {
	const route = "POST /v1/test_own_time"
	for i := 1; i <= 100; i++ {
		ObserveRequest(route, 200, time.Duration(i)*2*time.Millisecond, time.Duration(i)*time.Millisecond)
	}
	p50, p99 := OwnTime(route)
	if p50 < 45*time.Millisecond || p50 > 55*time.Millisecond || p99 < 90*time.Millisecond || p99 > 110*time.Millisecond {
		t.Errorf("p50 %v, p99 %v; want about 50 ms and 99 ms", p50, p99)
	}
	ResetOwnTime(route)
	if p50, p99 := OwnTime(route); p50 != 0 || p99 != 0 {
		t.Errorf("after a reset: p50 %v, p99 %v", p50, p99)
	}
	if h := histogramOf(ownTime, map[string]string{"route": route}); h != nil {
		t.Error("reading a reset route made its series again")
	}
}

// BenchmarkObserveRequest: what recording one API answer costs (a counter
// and two histograms with native buckets).
func BenchmarkObserveRequest(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ObserveRequest("GET /v1/bench", 200, 3*time.Millisecond, time.Millisecond)
	}
}
