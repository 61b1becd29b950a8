package svgchart

import (
	"math"
	"testing"
)

func TestFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format func(float64) string
		in     float64
		want   string
	}{
		{"Percent", Percent, 0.3456, "34.6%"},
		{"Percent zero", Percent, 0, "0.0%"},
		{"Percent tiny negative", Percent, -0.0001, "0.0%"},
		{"Percent negative", Percent, -0.052, "-5.2%"},
		{"Yuan", Yuan, 1230, "¥12.30"},
		{"Yuan fen", Yuan, 5, "¥0.05"},
		{"Yuan negative", Yuan, -5, "-¥0.05"},
		{"Yuan rounds to fen", Yuan, 8849.6, "¥88.50"},
		{"Yuan huge", Yuan, 1e300, "¥1e+298"},
		{"Count", Count, 1234567, "1,234,567"},
		{"Count small", Count, 37, "37"},
		{"Count negative", Count, -1234, "-1,234"},
		{"Count tick between whole numbers", Count, 0.25, "0.25"},
		{"Plain", Plain, 0.25, "0.25"},
		{"Plain whole", Plain, 10, "10"},
		{"Plain negative zero", Plain, -0.001, "0"},
		{"Plain huge", Plain, 1e20, "1e+20"},
		{"Percent NaN", Percent, math.NaN(), "—"},
		{"Yuan Inf", Yuan, math.Inf(1), "—"},
		{"Count NaN", Count, math.NaN(), "—"},
		{"Plain Inf", Plain, math.Inf(-1), "—"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.format(tt.in); got != tt.want {
				t.Errorf("%s(%v) = %q, want %q", tt.name, tt.in, got, tt.want)
			}
		})
	}
}
