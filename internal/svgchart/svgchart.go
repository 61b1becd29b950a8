// Package svgchart draws the console's analytics charts as inline SVG.
//
// The operators' console has no JavaScript build step and must work
// offline, so a chart is drawn on the server: Chart.SVG returns one <svg>
// element, as template.HTML, that a page template puts next to the table
// and the CSV export of the same numbers. The drawing is readable on its
// own without script: every point and bar carries a <title> (the browser
// shows it on hover), and the <svg> has role="img" with a <title> and a
// <desc> that summarises the data in words for screen readers.
//
// Three kinds of chart cover the analytics pages:
//
//   - Line: series over time, such as each wallet's weekly share of paid
//     orders ("2024-W36", "2024-W37", …).
//   - StackedBar: parts of a whole per category, such as WeChat Pay's and
//     Alipay's share of paid orders in each market tier.
//   - GroupedBar: side-by-side values per category, such as the conversion
//     of buyers exposed to the new wallet and of those not exposed, with
//     optional 95% confidence intervals drawn as whiskers.
//
// # Input that comes from outside
//
// Categories and series names are text from the database and may have been
// typed by a merchant or an operator; values are whatever a query returned.
// None of it is ever written into markup unescaped: all text goes through
// encoding/xml's escaping and only into element content, never into
// attributes, which hold only numbers and the package's own constants.
// NaN and ±Inf values are missing points (a gap in a line, no bar), not
// errors, and a chart with nothing to draw says so ("暂无数据").
//
// # Output
//
// The SVG has a fixed viewBox of 720×360 and no width or height, so CSS
// sizes it (for example width:100%; max-width:720px). It uses presentation
// attributes rather than style attributes, which keeps it valid under a
// Content-Security-Policy without 'unsafe-inline'. The same Chart always
// gives byte-identical output, so tests compare against golden files.
package svgchart

import (
	"fmt"
	"hash/fnv"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Kind is the kind of a Chart.
type Kind int

const (
	// Line draws each series as a line through its values, one point per
	// category, the categories evenly spaced from left to right. Its value
	// axis starts at zero unless the values are all far from it (see
	// Chart.SVG).
	Line Kind = iota
	// StackedBar draws one bar per category, each series a segment stacked
	// on the previous one: positive values upwards from zero, negative ones
	// downwards. Shares that sum to 1 fill the axis from 0 to 1.
	StackedBar
	// GroupedBar draws, per category, one bar per series side by side, and
	// a whisker from Lower to Upper where a series has them.
	GroupedBar
)

// Series is one named row of values, one per category of the chart.
// Values beyond the number of categories are ignored, missing ones are
// gaps.
type Series struct {
	Name   string
	Values []float64
	// Lower and Upper, when set, are the bounds of each value's
	// confidence interval (for hutong's analytics, 95%). Only GroupedBar
	// draws them; a bound that is NaN or missing leaves that whisker out.
	Lower, Upper []float64
}

// Chart is a chart to draw. The zero value is an empty line chart.
type Chart struct {
	Kind Kind
	// Title names the chart for screen readers and as the SVG's tooltip;
	// pages show their own heading, so it is not drawn.
	Title string
	// Desc, if set, is said before the summary of the data that the
	// <desc> always has (for example where the numbers come from).
	Desc string
	// Categories are the x-axis labels, in order: weeks, market tiers.
	Categories []string
	Series     []Series
	// Format writes a value for the axis, the value labels and the
	// tooltips: Percent, Yuan, Count or one of the page's own. Nil is
	// Plain.
	Format func(float64) string
}

// The drawing's fixed size and the fonts it asks for. The fonts are the
// ones Chinese readers' systems have (macOS, Windows, Linux); no web font
// is shipped, so the console stays one offline binary.
const (
	width      = 720
	height     = 360
	fontFamily = `"PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif`
	axisFont   = 12
	valueFont  = 11
	textColor  = "#1f2328"
	mutedColor = "#57606a"
	gridColor  = "#d8dee4"
	axisColor  = "#8c959f"
)

// SVG draws the chart. It never fails: data it cannot draw is left out,
// and the caller's table next to the chart still shows every number.
//
// The value axis of a bar chart always includes zero, because a bar's
// length is its value. A line chart's axis includes zero too unless every
// value is on one side of zero and the lowest is more than five sixths of
// the highest (the rule spreadsheets use): a conversion rate moving
// between 3.1% and 3.4% would otherwise look flat.
func (c Chart) SVG() template.HTML {
	r := newRenderer(c)
	r.draw()
	// Safe to mark as HTML: every text in the chart went through escape,
	// and attributes hold only numbers and the package's constants.
	return template.HTML(r.out.String())
}

// point is one drawable value.
type point struct {
	v      float64
	ok     bool
	lo, hi float64 // confidence interval, if ciOK
	ciOK   bool
}

type renderer struct {
	c      Chart
	format func(float64) string
	n      int // categories drawn
	pts    [][]point
	colors []string
	hasCI  bool

	ticks                    []float64
	dmin, dmax               float64
	left, right, top, bottom float64
	legend                   []legendItem

	body strings.Builder
	out  strings.Builder
}

func newRenderer(c Chart) *renderer {
	r := &renderer{c: c, format: c.Format, n: len(c.Categories)}
	if r.format == nil {
		r.format = Plain
	}
	r.pts = make([][]point, len(c.Series))
	for si, s := range c.Series {
		r.pts[si] = make([]point, r.n)
		for i := range r.n {
			p := &r.pts[si][i]
			if i < len(s.Values) && finite(s.Values[i]) {
				p.v, p.ok = s.Values[i], true
			}
			if p.ok && c.Kind == GroupedBar && i < len(s.Lower) && i < len(s.Upper) &&
				finite(s.Lower[i]) && finite(s.Upper[i]) {
				p.lo, p.hi, p.ciOK = math.Min(s.Lower[i], s.Upper[i]), math.Max(s.Lower[i], s.Upper[i]), true
				r.hasCI = true
			}
		}
	}
	r.colors = seriesColors(c.Series)
	r.domain()
	r.layout()
	return r
}

// domain finds the value axis: the ticks and the range they span.
func (r *renderer) domain() {
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v float64) { lo, hi = math.Min(lo, v), math.Max(hi, v) }
	for i := range r.n {
		pos, neg := 0.0, 0.0
		for si := range r.pts {
			p := r.pts[si][i]
			if !p.ok {
				continue
			}
			switch r.c.Kind {
			case StackedBar:
				if p.v >= 0 {
					pos += p.v
				} else {
					neg += p.v
				}
			default:
				see(p.v)
				if p.ciOK {
					see(p.lo)
					see(p.hi)
				}
			}
		}
		if r.c.Kind == StackedBar {
			if finite(pos) {
				see(pos)
			}
			if finite(neg) {
				see(neg)
			}
		}
	}
	if finite(lo) {
		switch {
		case r.c.Kind != Line:
			see(0)
		case lo > 0 && lo <= hi*5/6, hi < 0 && hi >= lo*5/6:
			see(0)
		}
	}
	r.ticks = Ticks(lo, hi)
	r.dmin, r.dmax = r.ticks[0], r.ticks[len(r.ticks)-1]
}

// layout places the plot: the left margin fits the widest tick label, the
// top one the rows of the legend.
func (r *renderer) layout() {
	widest := 0.0
	for _, t := range r.ticks {
		widest = math.Max(widest, textWidth(r.format(t), axisFont))
	}
	r.left = math.Min(math.Max(8+widest+8, 40), 200)
	r.right = width - 16
	rows := r.layoutLegend()
	r.top = 8 + float64(rows)*20 + 18
	r.bottom = height - 36
}

// y maps a value to its vertical position. It works in halves so that a
// domain spanning most of float64 does not overflow to Inf.
func (r *renderer) y(v float64) float64 {
	f := (r.dmax/2 - v/2) / (r.dmax/2 - r.dmin/2)
	// The explicit conversion rounds the product before the sum, so no
	// platform fuses them into one FMA instruction (Go may on arm64, ppc64
	// and s390x) and the golden files hold everywhere.
	return r.top + float64((r.bottom-r.top)*f)
}

// band is the width given to each category.
func (r *renderer) band() float64 { return (r.right - r.left) / float64(r.n) }

func (r *renderer) center(i int) float64 {
	return r.left + float64(r.band()*(float64(i)+0.5)) // no FMA: see y
}

func (r *renderer) draw() {
	b := &r.body
	b.WriteString(`<title id="`)
	// The ids tie the accessible name and description to this chart. They
	// are a hash of the body, so two charts on one page differ and the same
	// chart is the same bytes; a NUL stands in for them until the body is
	// known, and no escaped text can contain a NUL (escape turns it into
	// U+FFFD).
	b.WriteString("\x00id-t")
	b.WriteString(`">`)
	title := r.c.Title
	if title == "" {
		title = "图表"
	}
	escape(b, title)
	b.WriteString("</title>\n<desc id=\"\x00id-d\">")
	escape(b, r.summary())
	b.WriteString("</desc>\n")

	r.drawGrid()
	if r.n == 0 || !r.anyValue() {
		b.WriteString(`<text x="` + num((r.left+r.right)/2) + `" y="` + num((r.top+r.bottom)/2) +
			`" text-anchor="middle" fill="` + mutedColor + `">`)
		escape(b, "暂无数据")
		b.WriteString("</text>\n")
	} else {
		switch r.c.Kind {
		case StackedBar:
			r.drawStacked()
		case GroupedBar:
			r.drawGrouped()
		default:
			r.drawLines()
		}
		r.drawCategories()
	}
	r.drawLegend()

	body := b.String()
	h := fnv.New64a()
	_, _ = h.Write([]byte(body)) // a hash never fails to write
	id := fmt.Sprintf("svgchart-%016x", h.Sum64())
	body = strings.ReplaceAll(body, "\x00id-t", id+"-t")
	body = strings.ReplaceAll(body, "\x00id-d", id+"-d")

	o := &r.out
	o.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="svgchart" viewBox="0 0 ` +
		strconv.Itoa(width) + ` ` + strconv.Itoa(height) + `" role="img" aria-labelledby="` +
		id + `-t ` + id + `-d" font-family='` + fontFamily + `' font-size="` +
		strconv.Itoa(axisFont) + `" fill="` + textColor + "\">\n")
	o.WriteString(body)
	o.WriteString("</svg>\n")
}

func (r *renderer) anyValue() bool {
	for _, ps := range r.pts {
		for _, p := range ps {
			if p.ok {
				return true
			}
		}
	}
	return false
}

// drawGrid draws the horizontal gridlines with their labels, the zero
// line and the baseline.
func (r *renderer) drawGrid() {
	b := &r.body
	b.WriteString(`<g stroke="` + gridColor + `" stroke-width="1">` + "\n")
	for _, t := range r.ticks {
		y := num(r.y(t))
		b.WriteString(`<line x1="` + num(r.left) + `" y1="` + y + `" x2="` + num(r.right) + `" y2="` + y + `"/>` + "\n")
	}
	b.WriteString("</g>\n")
	b.WriteString(`<g text-anchor="end" fill="` + mutedColor + `">` + "\n")
	for _, t := range r.ticks {
		b.WriteString(`<text x="` + num(r.left-6) + `" y="` + num(r.y(t)+4) + `">`)
		escape(b, r.format(t))
		b.WriteString("</text>\n")
	}
	b.WriteString("</g>\n")
	base := r.dmin
	if r.dmin < 0 && r.dmax > 0 {
		base = 0
	}
	y := num(r.y(base))
	b.WriteString(`<line x1="` + num(r.left) + `" y1="` + y + `" x2="` + num(r.right) + `" y2="` + y +
		`" stroke="` + axisColor + `" stroke-width="1"/>` + "\n")
}

// drawCategories writes the category labels under the plot. When they do
// not fit side by side, only every k-th is written (weeks are read by
// their position anyway), and a label wider than its room is cut with an
// ellipsis and kept whole in a <title>.
func (r *renderer) drawCategories() {
	b := &r.body
	band := r.band()
	widest := 0.0
	for _, c := range r.c.Categories {
		widest = math.Max(widest, textWidth(c, axisFont))
	}
	// Room for a label up to 96 units wide; longer ones are cut rather
	// than thinning the axis out further.
	need := math.Min(widest, 96) + 6
	k := 1
	for float64(k)*band < need && k < r.n {
		k++
	}
	room := float64(k)*band - 6
	b.WriteString(`<g text-anchor="middle" fill="` + mutedColor + `">` + "\n")
	for i := 0; i < r.n; i += k {
		label, cut := truncate(r.c.Categories[i], room, axisFont)
		b.WriteString(`<text x="` + num(r.center(i)) + `" y="` + num(r.bottom+18) + `">`)
		if cut {
			b.WriteString("<title>")
			escape(b, r.c.Categories[i])
			b.WriteString("</title>")
		}
		escape(b, label)
		b.WriteString("</text>\n")
	}
	b.WriteString("</g>\n")
}

// tooltip is the text of a point's <title>: category, series and value.
func (r *renderer) tooltip(si, i int) string {
	return r.c.Categories[i] + " · " + r.c.Series[si].Name + "：" + r.valueText(si, i)
}

// dashes tell the lines apart for readers who cannot tell the colours
// apart, and in print.
var dashes = [...]string{"", "6 3", "2 3", "8 3 2 3"}

func (r *renderer) drawLines() {
	b := &r.body
	radius := "3"
	if r.band() < 8 {
		radius = "2"
	}
	for si := range r.c.Series {
		color := r.colors[si]
		var d strings.Builder
		pen := false
		for i, p := range r.pts[si] {
			if !p.ok {
				pen = false // a missing value is a gap, not a drop to zero
				continue
			}
			if pen {
				d.WriteString(" L")
			} else {
				if d.Len() > 0 {
					d.WriteByte(' ')
				}
				d.WriteString("M")
			}
			d.WriteString(num(r.center(i)) + " " + num(r.y(p.v)))
			pen = true
		}
		b.WriteString(`<g stroke="` + color + `" fill="` + color + `">` + "\n")
		if d.Len() > 0 {
			b.WriteString(`<path d="` + d.String() + `" fill="none" stroke-width="2" stroke-linejoin="round"`)
			if dash := dashes[si%len(dashes)]; dash != "" {
				b.WriteString(` stroke-dasharray="` + dash + `"`)
			}
			b.WriteString("/>\n")
		}
		for i, p := range r.pts[si] {
			if !p.ok {
				continue
			}
			b.WriteString(`<circle cx="` + num(r.center(i)) + `" cy="` + num(r.y(p.v)) + `" r="` + radius + `"><title>`)
			escape(b, r.tooltip(si, i))
			b.WriteString("</title></circle>\n")
		}
		b.WriteString("</g>\n")
	}
}

func (r *renderer) drawStacked() {
	b := &r.body
	band := r.band()
	barW := band * 0.6
	for i := range r.n {
		x := r.center(i) - barW/2
		pos, neg := 0.0, 0.0
		for si := range r.c.Series {
			p := r.pts[si][i]
			if !p.ok || p.v == 0 {
				continue
			}
			from := pos
			if p.v < 0 {
				from = neg
			}
			to := from + p.v
			if !finite(to) {
				continue
			}
			if p.v < 0 {
				neg = to
			} else {
				pos = to
			}
			y0, y1 := r.y(from), r.y(to)
			top, h := math.Min(y0, y1), math.Abs(y1-y0)
			color := r.colors[si]
			// A white edge separates two segments of similar colours.
			b.WriteString(`<rect x="` + num(x) + `" y="` + num(top) + `" width="` + num(barW) + `" height="` + num(h) +
				`" fill="` + color + `" stroke="#ffffff" stroke-width="1"><title>`)
			escape(b, r.tooltip(si, i))
			b.WriteString("</title></rect>\n")
			label := r.format(p.v)
			if h >= valueFont+4 && textWidth(label, valueFont) <= barW-4 {
				b.WriteString(`<text x="` + num(x+barW/2) + `" y="` + num(top+h/2+4) + `" text-anchor="middle" font-size="` +
					strconv.Itoa(valueFont) + `" fill="` + labelColorOn(color) + `">`)
				escape(b, label)
				b.WriteString("</text>\n")
			}
		}
	}
}

func (r *renderer) drawGrouped() {
	b := &r.body
	groupW := r.band() * 0.8
	slot := groupW / float64(len(r.c.Series))
	barW := slot - math.Min(2, slot*0.2)
	y0 := r.y(math.Max(r.dmin, math.Min(0, r.dmax)))
	for i := range r.n {
		for si := range r.c.Series {
			p := r.pts[si][i]
			if !p.ok {
				continue
			}
			cx := r.center(i) - groupW/2 + slot*(float64(si)+0.5)
			yv := r.y(p.v)
			color := r.colors[si]
			b.WriteString(`<rect x="` + num(cx-barW/2) + `" y="` + num(math.Min(y0, yv)) + `" width="` + num(barW) +
				`" height="` + num(math.Abs(yv-y0)) + `" fill="` + color + `"><title>`)
			escape(b, r.tooltip(si, i))
			b.WriteString("</title></rect>\n")
			// The label goes beyond the bar's end and beyond its whisker.
			end := yv
			if p.ciOK {
				yl, yh := r.y(p.lo), r.y(p.hi)
				capW := math.Min(barW*0.5, 10)
				b.WriteString(`<path d="M` + num(cx) + " " + num(yl) + " V" + num(yh) +
					" M" + num(cx-capW/2) + " " + num(yl) + " h" + num(capW) +
					" M" + num(cx-capW/2) + " " + num(yh) + " h" + num(capW) +
					`" stroke="` + textColor + `" stroke-width="1.5" fill="none"/>` + "\n")
				if p.v >= 0 {
					end = math.Min(yv, yh)
				} else {
					end = math.Max(yv, yl)
				}
			}
			label := r.format(p.v)
			if textWidth(label, valueFont) > slot+2 {
				continue
			}
			ly := end - 4
			if p.v < 0 {
				ly = end + valueFont + 2
			}
			// Above the plot there is the gap under the legend; below it
			// are the category labels, which a value must not cover.
			if ly-valueFont < r.top-16 || ly > r.bottom-1 {
				continue
			}
			b.WriteString(`<text x="` + num(cx) + `" y="` + num(ly) + `" text-anchor="middle" font-size="` +
				strconv.Itoa(valueFont) + `">`)
			escape(b, label)
			b.WriteString("</text>\n")
		}
	}
}

type legendItem struct {
	x, y        float64
	label, full string
	cut         bool
}

// layoutLegend places one entry per series left to right above the plot,
// wrapping into more rows when they do not fit, and returns the number of
// rows.
func (r *renderer) layoutLegend() int {
	names := make([]string, 0, len(r.c.Series)+1)
	for _, s := range r.c.Series {
		names = append(names, s.Name)
	}
	// A whisker is not self-explanatory: it gets its own entry.
	if r.hasCI {
		names = append(names, ciLabel)
	}
	r.legend = make([]legendItem, len(names))
	x, row := r.left, 0
	for i, name := range names {
		label, cut := truncate(name, 200, axisFont)
		w := 20 + textWidth(label, axisFont) + 16
		if x+w > r.right && x > r.left {
			x, row = r.left, row+1
		}
		r.legend[i] = legendItem{x: x, y: 8 + float64(row)*20, label: label, full: name, cut: cut}
		x += w
	}
	if len(names) == 0 {
		return 0
	}
	return row + 1
}

// ciLabel names the whiskers in the legend.
const ciLabel = "95% 置信区间"

func (r *renderer) drawLegend() {
	b := &r.body
	for i, it := range r.legend {
		mid := it.y + 8
		switch {
		case i >= len(r.c.Series): // the whisker's entry
			b.WriteString(`<path d="M` + num(it.x+8) + " " + num(mid-6) + " V" + num(mid+6) +
				" M" + num(it.x+3) + " " + num(mid-6) + " h10 M" + num(it.x+3) + " " + num(mid+6) +
				` h10" stroke="` + textColor + `" stroke-width="1.5" fill="none"/>` + "\n")
		case r.c.Kind == Line:
			b.WriteString(`<line x1="` + num(it.x) + `" y1="` + num(mid) + `" x2="` + num(it.x+16) + `" y2="` + num(mid) +
				`" stroke="` + r.colors[i] + `" stroke-width="2"`)
			if dash := dashes[i%len(dashes)]; dash != "" {
				b.WriteString(` stroke-dasharray="` + dash + `"`)
			}
			b.WriteString("/>\n")
		default:
			b.WriteString(`<rect x="` + num(it.x+2) + `" y="` + num(it.y+2) + `" width="12" height="12" fill="` + r.colors[i] + `"/>` + "\n")
		}
		b.WriteString(`<text x="` + num(it.x+20) + `" y="` + num(mid+4) + `">`)
		if it.cut {
			b.WriteString("<title>")
			escape(b, it.full)
			b.WriteString("</title>")
		}
		escape(b, it.label)
		b.WriteString("</text>\n")
	}
}

// num writes a coordinate with one decimal, which is a tenth of a pixel
// at the chart's natural size: finer would only make the output larger
// and its golden files noisier.
func num(x float64) string {
	s := strconv.FormatFloat(x, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}
