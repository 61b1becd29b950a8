package recon

import (
	"testing"
	"time"
)

func TestParseFixed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in    string
		scale int
		want  int64
		ok    bool
	}{
		{"0.00", 2, 0, true},
		{"-0.00", 2, 0, true},
		{"123.45", 2, 12345, true},
		{"123.4", 2, 12340, true},
		{"123", 2, 12300, true},
		{"-23.45", 2, -2345, true},
		{"0.74000", 6, 740000, true},
		{"0.000001", 6, 1, true},
		{"-0.14000", 6, -140000, true},
		{"1.234", 2, 0, false},
		{"0.0000001", 6, 0, false},
		{"", 2, 0, false},
		{"-", 2, 0, false},
		{".5", 2, 0, false},
		{"5.", 2, 0, false},
		{"+5", 2, 0, false},
		{" 5", 2, 0, false},
		{"1e3", 2, 0, false},
		{"1,000.00", 2, 0, false},
		{"--1", 2, 0, false},
		{"99999999999999999999", 2, 0, false},
		{"92233720368547758.07", 2, 0, false},
		{"9223372036854.775807", 6, 0, false},
	} {
		got, err := parseFixed([]byte(c.in), c.scale)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseFixed(%q, %d) = %d, %v; want %d ok=%v", c.in, c.scale, got, err, c.want, c.ok)
		}
	}
}

// Fees round half to even: 0.5 fen goes to the even fen.
func TestMicroToFenHalfEven(t *testing.T) {
	t.Parallel()
	for micro, want := range map[int64]int64{
		0: 0, 4999: 0, 5000: 0, 5001: 1, 15000: 2, 25000: 2, 35000: 4, 740000: 74,
		-5000: 0, -15000: -2, -25000: -2, -5001: -1, 9999: 1, -9999: -1,
	} {
		if got := microToFen(micro); got != want {
			t.Errorf("microToFen(%d) = %d, want %d", micro, got, want)
		}
	}
}

func TestFormatFixed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v     int64
		scale int
		want  string
	}{{0, 2, "0.00"}, {5, 2, "0.05"}, {-12345, 2, "-123.45"}, {610000, 6, "0.610000"}, {-1, 6, "-0.000001"}} {
		if got := formatFixed(c.v, c.scale); got != c.want {
			t.Errorf("formatFixed(%d, %d) = %q, want %q", c.v, c.scale, got, c.want)
		}
	}
}

func FuzzParseFixed(f *testing.F) {
	for _, s := range []string{"0.00", "-12.34", "0.74000", "1", "-0.000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseFixed([]byte(s), scaleMicro)
		if err != nil {
			return
		}
		back, err := parseFixed([]byte(formatFixed(v, scaleMicro)), scaleMicro)
		if err != nil || back != v {
			t.Fatalf("%q → %d → %q → %d, %v", s, v, formatFixed(v, scaleMicro), back, err)
		}
	})
}

func TestBeijingTimes(t *testing.T) {
	t.Parallel()
	var c dateCache
	for in, want := range map[string]time.Time{
		"2024-09-13 00:30:00": time.Date(2024, 9, 12, 16, 30, 0, 0, time.UTC),
		"2024-02-29 23:59:59": time.Date(2024, 2, 29, 15, 59, 59, 0, time.UTC),
		"2024-09-13 08:00:00": time.Date(2024, 9, 13, 0, 0, 0, 0, time.UTC),
		"2000-01-01 00:00:00": time.Date(1999, 12, 31, 16, 0, 0, 0, time.UTC),
		"2100-03-01 12:00:00": time.Date(2100, 3, 1, 4, 0, 0, 0, time.UTC),
	} {
		got, ok := c.parse([]byte(in))
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s → %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"2023-02-29 00:00:00", "2024-13-01 00:00:00", "2024-00-10 00:00:00", "2024-04-31 00:00:00",
		"2024-09-13 24:00:00", "2024-09-13 23:60:00", "2024-09-13 23:00:60", "2024-09-13T23:00:00",
		"2024-9-13 23:00:00", "2024-09-13 23:00", "１０２4-09-13 23:00:00", "1969-12-31 23:00:00", "",
	} {
		if got, ok := c.parse([]byte(in)); ok {
			t.Errorf("%q accepted as %v", in, got)
		}
	}
}

// The fast time parser agrees with the time package.
func FuzzBeijingTime(f *testing.F) {
	f.Add("2024-09-13 00:30:00")
	f.Add("2024-02-29 23:59:59")
	f.Add("2023-02-29 23:59:59")
	f.Fuzz(func(t *testing.T, s string) {
		var c dateCache
		c.parse([]byte("2024-02-29 00:00:00")) // a cached day must not leak into another
		got, ok := c.parse([]byte(s))
		want, err := time.ParseInLocation(time.DateTime, s, beijing)
		wantOK := err == nil && len(s) == 19 && want.Year() >= 1970
		for i := 0; wantOK && i < len(s); i++ { // the time package also takes " 9" for an hour
			wantOK = (s[i] >= '0' && s[i] <= '9') || i == 4 || i == 7 || i == 10 || i == 13 || i == 16
		}
		if ok != wantOK || (ok && !got.Equal(want)) {
			t.Fatalf("%q: fast %v %v, time package %v %v", s, got, ok, want, err)
		}
	})
}
