package svgchart

import (
	"encoding/xml"
	"strings"
	"unicode"
)

// escape writes s as XML character data. Every piece of text in a chart
// (labels, series names, formatted values, the title) passes through here
// and nowhere else: a merchant or campaign name typed by a user reaches
// the operators' console as text, never as markup. xml.EscapeText also
// replaces what XML cannot carry at all (NUL and other control bytes,
// invalid UTF-8) with U+FFFD, so the chart stays well-formed whatever the
// database holds.
func escape(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s)) // a strings.Builder never fails to write
}

// textWidth estimates how wide s is drawn at the given font size, in
// viewBox units. No font is embedded and none can be measured on the
// server, so the estimate errs wide: Han, kana, Hangul and full-width forms
// take a full em, everything else 0.6 em (the widest Latin digits and
// letters of PingFang and YaHei are about that).
func textWidth(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		w += runeWidth(r) * size
	}
	return w
}

func runeWidth(r rune) float64 {
	switch {
	case r < 0x1100:
		return 0.6
	case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul),
		r >= 0x3000 && r <= 0x303F,   // CJK punctuation: 、。「」
		r >= 0xFF00 && r <= 0xFF60,   // full-width forms: （）：
		r >= 0xFFE0 && r <= 0xFFE6,   // full-width signs: ￥
		r >= 0x1F300 && r <= 0x1FAFF: // emoji, which merchants do put in names
		return 1
	}
	return 0.6
}

// truncate shortens s to fit in width at the given font size, ending it
// with an ellipsis, and reports whether it did. The caller then keeps the
// whole text in a <title>, so a hover still shows it.
func truncate(s string, width, size float64) (string, bool) {
	if textWidth(s, size) <= width {
		return s, false
	}
	const ellipsis = "…"
	room := width - textWidth(ellipsis, size)
	var b strings.Builder
	w := 0.0
	for _, r := range s {
		w += runeWidth(r) * size
		if w > room {
			break
		}
		b.WriteRune(r)
	}
	return b.String() + ellipsis, true
}
