package svgchart

import (
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.svg from the current output")

var tiers = []string{"一线城市", "城市（市辖区）", "县级市", "县域"}

// The charts of the analytics pages, with the kind of numbers hutong's
// demo data has: WeChat Pay arriving on a marketplace that took only
// Alipay, from September 2024.
var goldens = map[string]Chart{
	"line_share_by_week": {
		Kind:       Line,
		Title:      "每周已支付订单的钱包占比",
		Categories: []string{"2024-W33", "2024-W34", "2024-W35", "2024-W36", "2024-W37", "2024-W38", "2024-W39", "2024-W40"},
		Series: []Series{
			{Name: "支付宝", Values: []float64{1, 1, 1, 0.979, 0.936, 0.911, 0.898, 0.887}},
			{Name: "微信支付", Values: []float64{0, 0, 0, 0.021, 0.064, 0.089, 0.102, 0.113}},
		},
		Format: Percent,
	},
	"stacked_share_by_tier": {
		Kind:       StackedBar,
		Title:      "各市场层级已支付订单的钱包占比",
		Desc:       "统计区间 2024-09-12 至 2024-10-06",
		Categories: tiers,
		Series: []Series{
			{Name: "微信支付", Values: []float64{0.08, 0.11, 0.15, 0.19}},
			{Name: "支付宝", Values: []float64{0.92, 0.89, 0.85, 0.81}},
		},
		Format: Percent,
	},
	"grouped_conversion_ci": {
		Kind:       GroupedBar,
		Title:      "各市场层级的支付转化率：曝光组与未曝光组",
		Categories: tiers,
		Series: []Series{
			{
				Name:   "曝光组",
				Values: []float64{0.612, 0.587, 0.553, 0.541},
				Lower:  []float64{0.598, 0.571, 0.529, 0.512},
				Upper:  []float64{0.626, 0.603, 0.577, 0.570},
			},
			{
				Name:   "未曝光组",
				Values: []float64{0.605, 0.566, 0.512, 0.487},
				Lower:  []float64{0.591, 0.550, 0.488, 0.458},
				Upper:  []float64{0.619, 0.582, 0.536, 0.516},
			},
		},
		Format: Percent,
	},
	"grouped_order_value": {
		Kind:       GroupedBar,
		Title:      "各市场层级的平均订单金额",
		Categories: tiers,
		Series: []Series{
			{Name: "微信支付", Values: []float64{15830, 12410, 9875.5, 8120}},
			{Name: "支付宝", Values: []float64{18760, 14390, 10920, 8730}},
		},
		Format: Yuan,
	},
	// What the data can be like: a lift below zero, a missing week, an
	// overlong campaign name, a hostile merchant name.
	"edge_cases": {
		Kind:       GroupedBar,
		Title:      `转化率提升 <b>"A&B"</b>`,
		Categories: []string{"县域", "城乡结合部（含乡镇与行政村的大片地区）", `<script>alert(1)</script>`, "城市"},
		Series: []Series{
			{Name: "提升", Values: []float64{0.021, -0.013, math.NaN(), 0.004},
				Lower: []float64{0.002, -0.031, 0, math.Inf(1)}, Upper: []float64{0.040, 0.005, 0, 0.02}},
		},
		Format: Percent,
	},
	"line_gap_single_and_count": {
		Kind:       Line,
		Title:      "每周新买家数",
		Categories: []string{"2024-W36", "2024-W37", "2024-W38", "2024-W39", "2024-W40"},
		Series: []Series{
			{Name: "仅通过微信支付到达的新买家", Values: []float64{1203, 4518, math.NaN(), 6630, 7012}},
			{Name: "其他新买家", Values: []float64{math.NaN(), math.NaN(), 5120}},
		},
		Format: Count,
	},
	"empty":         {Kind: StackedBar, Title: "暂无订单", Categories: tiers, Format: Percent},
	"line_52_weeks": year(),
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for name, c := range goldens {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := string(c.SVG())
			checkSVG(t, got)
			path := filepath.Join("testdata", name+".svg")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the chart drawn now; if the change is meant, run go test -update and review the diff", path)
			}
			if again := string(c.SVG()); again != got {
				t.Error("the same chart drew two different SVGs")
			}
		})
	}
}

// Every golden file on disk is a well-formed SVG of allowed markup, also
// ones no longer produced by a test.
func TestGoldenFilesWellFormed(t *testing.T) {
	t.Parallel()
	if *update {
		t.Skip("the files are being rewritten")
	}
	files, err := filepath.Glob("testdata/*.svg")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < len(goldens) {
		t.Fatalf("%d golden files, want at least %d", len(files), len(goldens))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkSVG(t, string(b))
	}
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	const evil = `<script>alert(1)</script> & "quoted" 'single' ]]> <!--`
	for _, kind := range []Kind{Line, StackedBar, GroupedBar} {
		c := Chart{
			Kind:       kind,
			Title:      evil,
			Desc:       evil,
			Categories: []string{evil, "县域"},
			Series: []Series{
				{Name: evil, Values: []float64{0.5, 0.25}, Lower: []float64{0.4, 0.2}, Upper: []float64{0.6, 0.3}},
				{Name: "支付宝", Values: []float64{0.5, 0.75}},
			},
			Format: func(v float64) string { return evil + Plain(v) },
		}
		out := string(c.SVG())
		checkSVG(t, out)
		if strings.Contains(out, "<script") || strings.Contains(out, "<!--") || strings.Contains(out, "]]>") {
			t.Errorf("kind %d: a label reached the markup unescaped:\n%s", kind, out)
		}
		if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quoted&#34; &#39;single&#39;") {
			t.Errorf("kind %d: the label is not in the output, escaped:\n%s", kind, out)
		}
	}
}

// A label too long for its room is cut with an ellipsis, and whole in a
// <title> on it.
func TestLongLabels(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("城乡结合部", 10)
	out := string(Chart{
		Kind:       StackedBar,
		Categories: []string{long, "县域"},
		Series:     []Series{{Name: long, Values: []float64{1, 1}}},
	}.SVG())
	if !strings.Contains(out, "<title>"+long+"</title>城乡") || !strings.Contains(out, "…</text>") {
		t.Errorf("long label not cut with its whole text kept:\n%s", out)
	}
	if strings.Contains(out, ">"+long+"</text>") {
		t.Errorf("long label drawn whole:\n%s", out)
	}
}

func TestWalletColors(t *testing.T) {
	t.Parallel()
	got := seriesColors([]Series{{Name: "曝光组"}, {Name: "微信支付"}, {Name: "Alipay"}, {Name: "微信支付（未曝光）"}, {Name: "其他"}})
	want := []string{"#E69F00", weChatGreen, alipayBlue, "#CC79A7", "#D55E00"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("seriesColors = %v, want %v", got, want)
	}
}

// Missing values are gaps: a NaN in a line starts a new subpath instead of
// drawing a segment to zero.
func TestLineGap(t *testing.T) {
	t.Parallel()
	out := string(Chart{
		Categories: []string{"a", "b", "c", "d"},
		Series:     []Series{{Name: "s", Values: []float64{1, 2, math.NaN(), 3}}},
	}.SVG())
	if strings.Count(out, "M") < 2 || strings.Count(out, "<circle") != 3 {
		t.Errorf("NaN not drawn as a gap:\n%s", out)
	}
}

var (
	number = regexp.MustCompile(`^-?[0-9]+(\.[0-9])?$`)
	color  = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$|^none$`)
	pathD  = regexp.MustCompile(`^[MLVh0-9 .\-]+$`)
	idRef  = regexp.MustCompile(`^svgchart-[0-9a-f]{16}-[td]( svgchart-[0-9a-f]{16}-[td])?$`)
)

// attrOK says which attribute values the package may write: numbers,
// colours, paths and its own constants, never text from its input.
var attrOK = map[string]func(string) bool{
	"x": number.MatchString, "y": number.MatchString, "x1": number.MatchString, "y1": number.MatchString,
	"x2": number.MatchString, "y2": number.MatchString, "width": number.MatchString, "height": number.MatchString,
	"cx": number.MatchString, "cy": number.MatchString, "r": number.MatchString,
	"font-size": number.MatchString, "stroke-width": number.MatchString,
	"fill": color.MatchString, "stroke": color.MatchString, "d": pathD.MatchString,
	"id": idRef.MatchString, "aria-labelledby": idRef.MatchString,
	"stroke-dasharray": regexp.MustCompile(`^[0-9 ]+$`).MatchString,
	"text-anchor":      func(s string) bool { return s == "middle" || s == "end" },
	"stroke-linejoin":  func(s string) bool { return s == "round" },
	"role":             func(s string) bool { return s == "img" },
	"class":            func(s string) bool { return s == "svgchart" },
	"viewBox":          func(s string) bool { return s == "0 0 720 360" },
	"xmlns":            func(s string) bool { return s == "http://www.w3.org/2000/svg" },
	"font-family":      func(s string) bool { return s == fontFamily },
}

var elementOK = map[string]bool{
	"svg": true, "title": true, "desc": true, "g": true, "rect": true, "line": true,
	"path": true, "circle": true, "text": true,
}

// checkSVG reads an SVG to its end with encoding/xml in strict mode, and
// fails on any element or attribute value the package does not write
// itself: a label that escaped escaping would show up as one of those.
func checkSVG(t testing.TB, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("not valid UTF-8")
	}
	if !strings.HasPrefix(s, "<svg ") {
		t.Fatalf("does not start with <svg: %.80q", s)
	}
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			if !elementOK[tok.Name.Local] {
				t.Fatalf("unexpected element <%s>\n%s", tok.Name.Local, s)
			}
			for _, a := range tok.Attr {
				ok := attrOK[a.Name.Local]
				if ok == nil || !ok(a.Value) {
					t.Fatalf("unexpected attribute %s=%q on <%s>\n%s", a.Name.Local, a.Value, tok.Name.Local, s)
				}
			}
		case xml.EndElement:
			depth--
		case xml.ProcInst, xml.Directive, xml.Comment:
			t.Fatalf("unexpected %T\n%s", tok, s)
		}
	}
	if roots != 1 || depth != 0 {
		t.Fatalf("%d root elements, depth %d at the end", roots, depth)
	}
}

// FuzzRender draws charts of arbitrary labels and values: the output is
// always one well-formed <svg> of the package's own markup.
func FuzzRender(f *testing.F) {
	f.Add(uint8(0), "2024-W36|2024-W37|2024-W38", "微信支付|支付宝", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint8(1), "县域|<script>alert(1)</script>", `"&'|<b>`, []byte{0xff, 0xff, 0xff, 0x7f, 0, 0})
	f.Add(uint8(2), "a", "s", []byte{})
	f.Add(uint8(2), "\x00|\xff\xfe|]]>|<!--", "\u202e名称", []byte{3, 0xf0, 0x7f, 4, 0, 0x80})
	f.Fuzz(func(t *testing.T, kind uint8, cats, names string, vals []byte) {
		c := Chart{
			Kind:       Kind(kind % 4), // 3 is no kind: drawn as a line
			Title:      names,
			Categories: split(cats, 60),
			Format:     []func(float64) string{Plain, Percent, Yuan, Count}[kind/4%4],
		}
		next := values(vals)
		for _, name := range split(names, 6) {
			s := Series{Name: name}
			for range c.Categories {
				s.Values = append(s.Values, next())
				s.Lower = append(s.Lower, next())
				s.Upper = append(s.Upper, next())
			}
			c.Series = append(c.Series, s)
		}
		checkSVG(t, string(c.SVG()))
	})
}

func split(s string, max int) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, "|")
	if len(parts) > max {
		parts = parts[:max]
	}
	return parts
}

// values turns fuzz bytes into a stream of values: mostly ordinary ones
// of every sign and size, and the specials a query can return.
func values(b []byte) func() float64 {
	i := 0
	return func() float64 {
		if i+3 > len(b) {
			return math.NaN()
		}
		tag, n := b[i], float64(int16(uint16(b[i+1])<<8|uint16(b[i+2])))
		i += 3
		switch tag % 16 {
		case 0:
			return math.NaN()
		case 1:
			return math.Inf(1)
		case 2:
			return math.Inf(-1)
		case 3:
			return n * math.MaxFloat64 / 32768
		case 4:
			return n * 5e-324
		}
		return n / math.Pow10(int(tag%6))
	}
}

// year is a year of weekly shares of four wallets: the chart the
// benchmark draws, and a golden file for thinning out the week labels.
// The values come from integers, not math.Sin, so that they are the same
// bits on every platform.
func year() Chart {
	c := Chart{Kind: Line, Title: "一年的每周已支付订单占比", Format: Percent}
	for w := range 52 {
		c.Categories = append(c.Categories, fmt.Sprintf("2024-W%02d", w+1))
	}
	for si, name := range []string{"支付宝", "微信支付", "银联云闪付", "其他"} {
		s := Series{Name: name}
		for w := range 52 {
			s.Values = append(s.Values, float64(((w+1)*(si+3)*37)%100+(3-si)*100)/600)
		}
		c.Series = append(c.Series, s)
	}
	return c
}

func BenchmarkLine52Weeks(b *testing.B) {
	c := year()
	b.ReportAllocs()
	for b.Loop() {
		_ = c.SVG()
	}
}
