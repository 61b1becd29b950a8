package payment

import (
	"fmt"
	"testing"
)

func TestParseYuan(t *testing.T) {
	for in, want := range map[string]int64{"12": 1200, "12.5": 1250, "12.50": 1250, "¥0.01": 1, "￥ 3.20": 320, "１２．３": 1230, " 7 ": 700, "100000000": MaxAmount} {
		if got, err := ParseYuan(in); err != nil || got != want {
			t.Errorf("ParseYuan(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0.00", "-1", "+1", "1.234", "1.", ".5", "1e3", "12,50", "abc", "100000000.01", "1 2"} {
		if got, err := ParseYuan(in); err == nil {
			t.Errorf("ParseYuan(%q) = %d, want an error", in, got)
		}
	}
}

func FuzzParseYuan(f *testing.F) {
	for _, s := range []string{"12.50", "¥1", "１．２", "0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, err := ParseYuan(s)
		if err != nil {
			return
		}
		if fen <= 0 || fen > MaxAmount {
			t.Fatalf("ParseYuan(%q) = %d, out of range", s, fen)
		}
		// What it accepts round-trips through its canonical form.
		back, err := ParseYuan(fmt.Sprintf("%d.%02d", fen/100, fen%100))
		if err != nil || back != fen {
			t.Fatalf("round trip of %d: %d, %v", fen, back, err)
		}
	})
}
