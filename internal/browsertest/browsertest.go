// Package browsertest drives real headless Chromium for hutong's browser
// tests: a person clicking through pages. Without Chromium a test skips,
// saying why, unless HUTONG_BROWSER_TESTS=1 (as in CI) makes it mandatory.
// HUTONG_CHROMIUM names another binary; screenshots go to
// $HUTONG_ARTIFACTS when set.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/chromedp"
)

// Person is one browser (its own profile, cookies and User-Agent), as one
// person holds one phone or sits at one computer.
type Person struct {
	T    *testing.T
	Name string
	Ctx  context.Context
}

// Options say which device the person uses.
type Options struct {
	UserAgent string // "" for Chromium's own
	Width     int    // CSS pixels; 0 means a phone, 412
	Height    int    // 0 means 915
}

// Start launches Chromium for one person. The browser closes when the test
// ends; a hung browser fails the test after two minutes.
func Start(t *testing.T, name string, o Options) *Person {
	t.Helper()
	path := os.Getenv("HUTONG_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("HUTONG_BROWSER_TESTS") == "1" {
			t.Fatalf("HUTONG_BROWSER_TESTS=1 but there is no Chromium at %s", path)
		}
		t.Skipf("no Chromium at %s; install Debian's chromium or set HUTONG_CHROMIUM; set HUTONG_BROWSER_TESTS=1 to make this mandatory", path)
	}
	if o.Width == 0 {
		o.Width, o.Height = 412, 915
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(o.Width, o.Height),
	)
	if o.UserAgent != "" {
		opts = append(opts, chromedp.UserAgent(o.UserAgent))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	// Start the browser on this context, so that the shorter contexts of
	// single steps do not own (and close) it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &Person{T: t, Name: name, Ctx: bctx}
}

// Step is one thing a person does, named for the failure message.
type Step struct {
	Name   string
	Action chromedp.Action[chromedp.Void]
}

// Do runs steps in order, each within 20 s. On failure it keeps a
// screenshot named after the step and fails the test.
func (p *Person) Do(all ...Step) {
	p.T.Helper()
	for _, s := range all {
		sctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
		err := chromedp.Do(sctx, s.Action)
		cancel()
		if err != nil {
			url, _ := chromedp.Run(p.Ctx, chromedp.Location())
			p.Screenshot("failed-" + p.Name)
			p.T.Fatalf("%s: %s: %v (at %s)", p.Name, s.Name, err, url)
		}
	}
}

// Screenshot keeps the page as name.png (see SaveScreenshot).
func (p *Person) Screenshot(name string) {
	p.T.Helper()
	SaveScreenshot(p.T, p.Ctx, name+".png")
}

// SaveScreenshot keeps the page of a browser context as a file: in
// $HUTONG_ARTIFACTS if set, else in the test's temporary folder.
func SaveScreenshot(t *testing.T, ctx context.Context, file string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 is lossless PNG
	if err != nil {
		t.Logf("screenshot %s: %v", file, err)
		return
	}
	dir := os.Getenv("HUTONG_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// ScreenshotPNG returns the visible page as PNG.
func (p *Person) ScreenshotPNG() []byte {
	p.T.Helper()
	png, err := chromedp.Run(p.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.T.Fatalf("screenshot: %v", err)
	}
	return png
}

// Click clicks the element sel finds, as chromedp.Click does, and finds
// it again when the page replaced it between finding and clicking: a page
// still settling after a navigation, or one its script changed, makes
// Chromium answer "Could not find node with given id" for a node that was
// there a moment before. Any other failure is returned at once.
func Click[S chromedp.Selectable](sel S, opts ...chromedp.QueryOption) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for try := 1; ; try++ {
			_, err := chromedp.Click(sel, opts...)(ctx, t)
			if err == nil || try == 5 || !nodeGone(err) {
				return chromedp.Void{}, err
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("%w (after %w)", ctx.Err(), err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// nodeGone tells whether Chromium refused an action because the node it
// was given has left the document.
func nodeGone(err error) bool {
	var cdp *cdproto.Error
	if !errors.As(err, &cdp) {
		return false
	}
	for _, m := range []string{"Could not find node with given id", "No node with given id", "Node is detached", "does not belong to the document"} {
		if strings.Contains(cdp.Message, m) {
			return true
		}
	}
	return false
}

// Text reads an element's text into dst.
func Text(sel string, dst *string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		s, err := chromedp.Text(chromedp.CSS(sel))(ctx, t)
		*dst = s
		return chromedp.Void{}, err
	}
}

// Attr reads an element's attribute, as written in the page, into dst.
func Attr(sel, name string, dst *string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		a, err := chromedp.AttributeValue(chromedp.CSS(sel), name)(ctx, t)
		*dst = a.Value
		return chromedp.Void{}, err
	}
}

// Location reads the page's address into dst.
func Location(dst *string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		s, err := chromedp.Location()(ctx, t)
		*dst = s
		return chromedp.Void{}, err
	}
}

// WaitURL waits until the page's address satisfies ok.
func WaitURL(what string, ok func(string) bool) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			s, err := chromedp.Location()(ctx, t)
			if err == nil && ok(s) {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("the address never became %s (last %s): %w", what, s, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// Value reads a form field's value into dst.
func Value(sel string, dst *string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		s, err := chromedp.Value(chromedp.CSS(sel))(ctx, t)
		*dst = s
		return chromedp.Void{}, err
	}
}

// missingGlyphsJS finds the characters of the page's visible text (and of
// its form fields) that render as the missing-glyph box. For every
// character it draws, on a canvas and in the font of the element that
// shows it, the character and a code point no font has (U+10FFFD, a
// private-use character of plane 16); a character drawn exactly like that
// one, or drawn as nothing at all, has no glyph in any installed font, and
// a reader sees a box (tofu) or a gap. Comparing pixels, not metrics,
// avoids trusting document.fonts.check, which answers true for a font
// family that merely exists.
const missingGlyphsJS = `(async () => {
  await document.fonts.ready;
  const size = 48, pad = 8, W = size * 2 + pad * 2, H = size + pad * 2;
  const canvas = document.createElement("canvas");
  canvas.width = W; canvas.height = H;
  const g = canvas.getContext("2d", { willReadFrequently: true });
  const draw = (ch, family) => {
    g.clearRect(0, 0, W, H);
    g.font = size + "px " + family;
    g.textBaseline = "top";
    g.fillStyle = "#000";
    g.fillText(ch, pad, pad);
    const d = g.getImageData(0, 0, W, H).data;
    let s = "", ink = 0;
    for (let i = 3; i < d.length; i += 4) { s += String.fromCharCode(d[i]); ink += d[i]; }
    return { s, ink };
  };
  const seen = new Map(); // character -> set of font families it is shown in
  const add = (text, el) => {
    const family = getComputedStyle(el).fontFamily || "sans-serif";
    for (const ch of Array.from(text)) {
      if (/\s/u.test(ch) || /\p{Cf}/u.test(ch)) continue;
      if (!seen.has(ch)) seen.set(ch, new Set());
      seen.get(ch).add(family);
    }
  };
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest("script,style,template,noscript")) continue;
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true })) continue;
    add(n.data, el);
  }
  for (const el of document.querySelectorAll("input,textarea,select")) {
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true })) continue;
    if (el.type === "hidden") continue;
    add((el.value || "") + (el.placeholder || ""), el);
    if (el.tagName === "SELECT") for (const o of el.options) add(o.text, el);
  }
  const missing = [];
  const tofu = new Map();
  for (const [ch, families] of seen) {
    for (const family of families) {
      if (!tofu.has(family)) tofu.set(family, draw("\u{10FFFD}", family).s);
      const r = draw(ch, family);
      if (r.ink === 0 || r.s === tofu.get(family)) { missing.push(ch.codePointAt(0)); break; }
    }
  }
  return missing;
})()`

// MissingGlyphs returns the characters of the page's visible text, and of
// its form fields, that no installed font can draw: they would show as
// empty boxes (tofu), as emoji do where no emoji font is installed.
func MissingGlyphs(ctx context.Context) ([]rune, error) {
	cps, err := chromedp.Run(ctx, chromedp.Evaluate[[]int32](missingGlyphsJS, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("looking for missing glyphs: %w", err)
	}
	out := make([]rune, len(cps))
	for i, c := range cps {
		out[i] = rune(c)
	}
	return out, nil
}

// Size is a window a page is looked at in.
type Size struct {
	Name          string
	Width, Height int64
	Mobile        bool // a phone's screen: touch, and the viewport meta tag honoured
}

// The two sizes every shopper page is looked at in: a phone and a laptop.
var (
	Phone   = Size{Name: "390x844", Width: 390, Height: 844, Mobile: true}
	Desktop = Size{Name: "1280x800", Width: 1280, Height: 800}
)

// LookAt opens url at each size (the person's User-Agent stays theirs)
// and keeps a screenshot named name-WxH.png. It fails the test when a
// character of the page renders as a missing glyph, or when the page is
// wider than the window (something cut off, or a sideways scroll). The
// window is left at the last size.
func (p *Person) LookAt(name, url string, sizes ...Size) {
	p.T.Helper()
	for _, s := range sizes {
		emulate := chromedp.EmulateViewport(s.Width, s.Height)
		if s.Mobile {
			emulate = chromedp.EmulateViewport(s.Width, s.Height, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		p.Do(Step{Name: "use a " + s.Name + " window", Action: emulate},
			Step{Name: "open " + name + " at " + s.Name, Action: chromedp.Navigate(url)})
		p.Look(name + "-" + s.Name)
	}
}

// Look checks the page as it is now (see LookAt) and keeps its screenshot
// as shot.png.
func (p *Person) Look(shot string) {
	p.T.Helper()
	p.Screenshot(shot)
	sctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	missing, err := MissingGlyphs(sctx)
	if err != nil {
		p.T.Fatalf("%s: %v", shot, err)
	}
	if len(missing) > 0 {
		var list []string
		for _, r := range missing {
			list = append(list, fmt.Sprintf("%q (U+%04X)", r, r))
		}
		p.T.Errorf("%s: no installed font draws %s: they show as empty boxes", shot, strings.Join(list, ", "))
	}
	over, err := Overflowing(sctx)
	if err != nil {
		p.T.Fatalf("%s: %v", shot, err)
	}
	if len(over) > 0 {
		p.T.Errorf("%s: the page is wider than its window; sticking out: %s", shot, strings.Join(over, "; "))
	}
}

// Overflowing names the elements that stick out of the window sideways;
// nil when the page fits its window's width.
func Overflowing(ctx context.Context) ([]string, error) {
	over, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](overflowJS))
	if err != nil {
		return nil, fmt.Errorf("measuring the layout: %w", err)
	}
	return over, nil
}

// overflowJS names what sticks out of the window on the right (or the
// left): the page would scroll sideways, or cut it off.
const overflowJS = `(() => {
  const root = document.documentElement, w = root.clientWidth;
  const out = [];
  if (root.scrollWidth <= w) return out;
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || (r.right <= w + 0.5 && r.left >= -0.5)) continue;
    let inner = false;
    for (const c of el.children) { const cr = c.getBoundingClientRect(); if (cr.right > w + 0.5 || cr.left < -0.5) inner = true; }
    if (inner) continue;
    const id = el.tagName.toLowerCase() + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
    out.push(id + " to " + Math.round(r.right) + "px of " + w);
    if (out.length >= 5) break;
  }
  if (out.length === 0) out.push("the page is " + root.scrollWidth + "px wide in a " + w + "px window");
  return out;
})()`

// Evaluate runs a JavaScript expression in the page and decodes its value
// into dst.
func Evaluate[T any](expr string, dst *T) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := chromedp.Evaluate[T](expr)(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}
