package console

import (
	"strings"
	"testing"
	"unicode"

	"github.com/hutong-pay/hutong/internal/rollout"
)

// FuzzParsePercent: the editor's percentage never panics, reads only what
// it can read exactly, and every percentage the editor shows reads back
// as the same basis points.
func FuzzParsePercent(f *testing.F) {
	for _, s := range []string{"10", "12.5", "0.01", "100", "100.00", "-1", "120", "10%", "1e3", ".5", "5.", "1.234", "", " 7 ", "９"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bps, err := parsePercent(s)
		if err != nil {
			return
		}
		if bps < -99999999 || bps > 99999999 {
			t.Fatalf("%q read as %d basis points", s, bps)
		}
		if bps >= 0 && bps <= rollout.Buckets {
			if back, err := parsePercent(percentInput(bps)); err != nil || back != bps {
				t.Fatalf("%q is %d bps, shown as %q, read back as %d (%v)", s, bps, percentInput(bps), back, err)
			}
		}
	})
}

// FuzzSplitIDs: a typed list splits into ids that are never empty and
// never hold a separator.
func FuzzSplitIDs(f *testing.F) {
	for _, s := range []string{"b1\nb2", "b1, b2，b3、b4;b5", "  ", "a\u3000b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, id := range splitIDs(s) {
			if id == "" || strings.ContainsAny(id, ",，、;") || strings.ContainsFunc(id, unicode.IsSpace) {
				t.Fatalf("%q split into the id %q", s, id)
			}
		}
	})
}

func TestPercentInput(t *testing.T) {
	for bps, want := range map[int]string{0: "0", 1: "0.01", 10: "0.1", 1000: "10", 1250: "12.5", 1234: "12.34", 10000: "100"} {
		if got := percentInput(bps); got != want {
			t.Errorf("percentInput(%d) = %q, want %q", bps, got, want)
		}
	}
}
