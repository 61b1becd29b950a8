// Package metricstest scrapes a /metrics handler over HTTP, as Prometheus
// would, and parses the text exposition with expfmt, so tests assert what a
// scraper really reads: names, types, labels and values.
package metricstest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Scrape serves h on a test server and scrapes its /metrics.
func Scrape(t testing.TB, h http.Handler) Families {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	return ScrapeURL(t, srv.URL+"/metrics")
}

// ScrapeURL scrapes url, asking for the text format, and parses the answer.
func ScrapeURL(t testing.TB, url string) Families {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q, want the text format", url, ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: not the Prometheus text format: %v", url, err)
	}
	return fams
}

// Type is the family's type (COUNTER, GAUGE, HISTOGRAM, …), or "" when
// the scrape has no such family.
func (f Families) Type(name string) string {
	if fam := f[name]; fam != nil {
		return fam.GetType().String()
	}
	return ""
}

// Series are the series of a family whose labels include these, given as
// name, value pairs.
func (f Families) Series(name string, labels ...string) []*dto.Metric {
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("metricstest: labels of %s are not name, value pairs: %q", name, labels))
	}
	fam := f[name]
	if fam == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i < len(labels); i += 2 {
			v, ok := have[labels[i]]
			match = match && ok && v == labels[i+1]
		}
		if match {
			out = append(out, m)
		}
	}
	return out
}

// Value sums the series of name matching labels: a counter's or gauge's
// value, a histogram's count of observations.
func (f Families) Value(name string, labels ...string) float64 {
	sum := 0.0
	for _, m := range f.Series(name, labels...) {
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// LabelNames are the label names of the family's first series, sorted
// (expfmt keeps them sorted); nil when it has none.
func (f Families) LabelNames(name string) []string {
	fam := f[name]
	if fam == nil || len(fam.GetMetric()) == 0 {
		return nil
	}
	var out []string
	for _, l := range fam.GetMetric()[0].GetLabel() {
		out = append(out, l.GetName())
	}
	return out
}

// Sum sums the observations of the histogram series of name matching
// labels.
func (f Families) Sum(name string, labels ...string) float64 {
	sum := 0.0
	for _, m := range f.Series(name, labels...) {
		sum += m.GetHistogram().GetSampleSum()
	}
	return sum
}
