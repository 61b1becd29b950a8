package svgchart

import (
	"math"
	"strconv"
	"strings"
)

// palette is Okabe and Ito's colour-blind-safe set (less its yellow, which
// is unreadable on white) plus a grey. Each colour has a hue family so
// that a wallet's brand colour is not followed by a look-alike.
var palette = [...]struct{ color, family string }{
	{"#0072B2", "blue"},
	{"#E69F00", "orange"},
	{"#009E73", "green"},
	{"#CC79A7", "pink"},
	{"#D55E00", "red"},
	{"#56B4E9", "blue"},
	{"#6E7781", "grey"},
}

// The wallets' own colours, which operators recognise at a glance.
const (
	weChatGreen = "#07C160"
	alipayBlue  = "#1677FF"
)

// wallet tells whether a series is named for one wallet: its brand colour
// and hue family, or "" when the name is for neither or for both.
func wallet(name string) (color, family string) {
	lower := strings.ToLower(name)
	wx := strings.Contains(name, "微信") || strings.Contains(lower, "wechat")
	ali := strings.Contains(name, "支付宝") || strings.Contains(lower, "alipay")
	switch {
	case wx && !ali:
		return weChatGreen, "green"
	case ali && !wx:
		return alipayBlue, "blue"
	}
	return "", ""
}

// seriesColors gives each series its colour: the first series named for a
// wallet gets that wallet's colour (a second one, say "微信支付（未曝光）",
// must look different, so it takes a palette colour), the others take the
// palette in order, skipping the hue families the wallets took.
func seriesColors(series []Series) []string {
	colors := make([]string, len(series))
	taken := map[string]bool{}
	for si, s := range series {
		if c, fam := wallet(s.Name); c != "" && !taken[c] {
			colors[si], taken[c], taken[fam] = c, true, true
		}
	}
	var free []string
	for _, p := range palette {
		if !taken[p.family] {
			free = append(free, p.color)
		}
	}
	next := 0
	for si := range series {
		if colors[si] == "" {
			colors[si] = free[next%len(free)]
			next++
		}
	}
	return colors
}

// labelColorOn picks white or near-black text, whichever contrasts more
// with the background colour (WCAG relative luminance).
func labelColorOn(bg string) string {
	l := luminance(bg)
	dark := luminance(textColor)
	if (l+0.05)/(dark+0.05) >= 1.05/(l+0.05) {
		return textColor
	}
	return "#ffffff"
}

func luminance(hex string) float64 {
	v, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil {
		return 0
	}
	ch := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(v>>16&0xff) + 0.7152*ch(v>>8&0xff) + 0.0722*ch(v&0xff)
}
