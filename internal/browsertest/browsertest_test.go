package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hutong-pay/hutong/internal/browsertest"
)

// TestMissingGlyphsFindsTofu: the check that every shopper page runs can
// fail. An emoji (no emoji font is installed where CI runs) and a
// private-use character render as boxes and are reported; Chinese text,
// full-width punctuation and the yuan sign, drawn by the CJK font, are not.
func TestMissingGlyphsFindsTofu(t *testing.T) {
	pages := map[string]string{
		"/clean":  `<p>豆浆 ¥3.50，油条！（两根）“好吃”？ ￥AB23CD45EF6￥ ✓ ×</p><input value="张伟" placeholder="留言：帮我付一下">`,
		"/emoji":  `<p>豆浆 🥛</p>`,
		"/pua":    `<p>口令 <span>` + "\uE000" + `</span></p>`,
		"/field":  `<p>留言</p><textarea>谢谢 👕</textarea>`,
		"/hidden": `<p>豆浆</p><p style="display:none">🥛</p>`,
		"/wide":   `<p>豆浆</p><div style="width:600px;height:10px;background:#000"></div>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="zh-CN"><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<body style="font-family: system-ui, 'WenQuanYi Micro Hei', sans-serif">%s</body></html>`, body)
	}))
	defer srv.Close()
	p := browsertest.Start(t, "reader", browsertest.Options{})
	for path, want := range map[string][]rune{
		"/clean": nil, "/emoji": {'🥛'}, "/pua": {'\uE000'}, "/field": {'👕'}, "/hidden": nil, "/wide": nil,
	} {
		p.Do(browsertest.Step{Name: "open " + path, Action: chromedp.Navigate(srv.URL + path)})
		got, err := browsertest.MissingGlyphs(p.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: missing glyphs %q, want %q", path, got, want)
		}
	}
	for path, wide := range map[string]bool{"/clean": false, "/wide": true} {
		p.Do(browsertest.Step{Name: "a phone window", Action: chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)},
			browsertest.Step{Name: "open " + path, Action: chromedp.Navigate(srv.URL + path)})
		over, err := browsertest.Overflowing(p.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		if (len(over) > 0) != wide {
			t.Errorf("%s at 390 px: overflowing %q, want wide=%v", path, over, wide)
		}
	}
}
