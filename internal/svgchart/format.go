package svgchart

import (
	"math"
	"strconv"
	"strings"
)

// Plain formats a value with at most two decimals and no trailing zeros:
// 0.25 is "0.25", 10 is "10". It is the format of a Chart without one.
func Plain(v float64) string {
	if !finite(v) {
		return "—"
	}
	if math.Abs(v) >= 1e15 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// Percent formats a share (0 to 1) as a percentage with one decimal:
// 0.3456 is "34.6%". One decimal is what a conversion rate or a wallet's
// share is compared at; more would be noise.
func Percent(v float64) string {
	if !finite(v) {
		return "—"
	}
	s := strconv.FormatFloat(v*100, 'f', 1, 64)
	if s == "-0.0" {
		s = "0.0"
	}
	return s + "%"
}

// Yuan formats an amount of fen as yuan, the way the console writes money
// elsewhere: 1230 is "¥12.30", -5 is "-¥0.05". Fractional fen (an average
// order value) are rounded to the nearest fen.
func Yuan(fen float64) string {
	if !finite(fen) {
		return "—"
	}
	fen = math.Round(fen)
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	if fen >= 1<<62 {
		return sign + "¥" + strconv.FormatFloat(fen/100, 'g', 4, 64)
	}
	n := int64(fen)
	frac := strconv.FormatInt(n%100, 10)
	if len(frac) < 2 {
		frac = "0" + frac
	}
	return sign + "¥" + strconv.FormatInt(n/100, 10) + "." + frac
}

// Count formats a number of things (orders, buyers) with thousands
// separators: 1234567 is "1,234,567". An axis over a small count can have
// ticks between whole numbers (0.5); those keep up to two decimals rather
// than being rounded onto a neighbouring tick's label.
func Count(v float64) string {
	if !finite(v) {
		return "—"
	}
	if v != math.Trunc(v) || math.Abs(v) >= 1e15 {
		return Plain(v)
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', 0, 64)
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
