// Package browsertest drives real headless Chromium for hutong's browser
// tests: a person clicking through pages. Without Chromium a test skips,
// saying why, unless HUTONG_BROWSER_TESTS=1 (as in CI) makes it mandatory.
// HUTONG_CHROMIUM names another binary; screenshots go to
// $HUTONG_ARTIFACTS when set.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

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
	os.MkdirAll(dir, 0o755)
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
