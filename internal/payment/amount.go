package payment

import (
	"errors"
	"strings"
)

// ErrAmount is an amount a person typed that is not yuan with at most two
// decimals.
var ErrAmount = errors.New("payment: the amount must be yuan with at most two decimals, like 12.50")

// ParseYuan reads an amount a person typed (a store code's amount box)
// into fen, exactly: "12", "12.5", "12.50", "¥12.50", with full-width
// digits and point as phone keyboards type them. It never goes through a
// float, and refuses zero, signs, exponents and more than MaxAmount.
func ParseYuan(s string) (int64, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimLeft(s, "¥￥")
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= '０' && r <= '９':
			return r - '０' + '0'
		case r == '．' || r == '。':
			return '.'
		}
		return r
	}, strings.TrimSpace(s))
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || len(whole) > 9 || len(frac) > 2 || hasPoint && frac == "" {
		return 0, ErrAmount
	}
	var fen int64
	for _, c := range whole + (frac + "00")[:2] {
		if c < '0' || c > '9' {
			return 0, ErrAmount
		}
		fen = fen*10 + int64(c-'0')
	}
	if fen <= 0 || fen > MaxAmount {
		return 0, ErrAmount
	}
	return fen, nil
}
