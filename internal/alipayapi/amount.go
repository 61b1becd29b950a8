package alipayapi

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxAmount is the largest amount Alipay accepts: 100,000,000.00 yuan, in fen.
const MaxAmount int64 = 100_000_000_00

// ParseYuan converts Alipay's yuan string ("12", "12.3", "12.34") to fen
// exactly, without floating point. It accepts at most two decimals and
// amounts in [0.01, 100000000].
func ParseYuan(s string) (int64, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 9 || !digits(whole) || (len(whole) > 1 && whole[0] == '0') {
		return 0, fmt.Errorf("amount %q is not a yuan amount like 12.34", s)
	}
	if hasDot && (frac == "" || len(frac) > 2 || !digits(frac)) {
		return 0, fmt.Errorf("amount %q must have one or two decimals", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	fen := w*100 + f
	if fen < 1 || fen > MaxAmount {
		return 0, fmt.Errorf("amount %q is outside [0.01, 100000000]", s)
	}
	return fen, nil
}

// FormatYuan writes fen as yuan with two decimals: 1234 → "12.34".
func FormatYuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
