// Package sandboxtest starts an in-process sandbox for tests, with the
// wechatpay-go SDK pointed at it and a merchant endpoint that receives its
// notifications through the SDK's own notify handler.
package sandboxtest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
	"github.com/hutong-pay/hutong/sandboxhttp"
)

// TimeScale makes the wallets' delays short enough for tests: WeChat's first
// retry after 15 s comes after 15 ms.
const TimeScale = 1000

// Env is a running sandbox.
type Env struct {
	t       testing.TB
	Dir     string
	URL     string
	server  *httptest.Server
	handler atomic.Pointer[handlerBox]
	sb      *sandbox.Sandbox
	cancel  context.CancelFunc
	done    chan struct{}
	opts    sandbox.Config
}

// handlerBox lets the server swap handlers across a restart.
type handlerBox struct{ h http.Handler }

var (
	templateOnce    sync.Once
	templateJournal []byte
	templateErr     error
)

// template creates one sandbox per test process and keeps its journal, so
// that each test starts from a copy instead of generating RSA keys again.
// Nothing is left on disk.
func template() ([]byte, error) {
	templateOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hutong-sandbox-template-")
		if err != nil {
			templateErr = err
			return
		}
		defer os.RemoveAll(dir)
		sb, err := sandbox.Open(sandbox.Config{DataDir: dir, NoSync: true})
		if err == nil {
			err = sb.Close()
		}
		if err == nil {
			templateJournal, err = os.ReadFile(filepath.Join(dir, journalFile))
		}
		templateErr = err
	})
	return templateJournal, templateErr
}

// journalFile is the sandbox's journal in its data folder.
const journalFile = "sandbox.journal"

// Option adjusts the sandbox's configuration.
type Option func(*sandbox.Config)

// WithNow sets the sandbox's clock.
func WithNow(now func() time.Time) Option { return func(c *sandbox.Config) { c.Now = now } }

// Start runs a sandbox on a fresh copy of the template data folder. It stops
// when the test ends.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	tmpl, err := template()
	if err != nil {
		t.Fatalf("sandbox template: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, journalFile), tmpl, 0o600); err != nil {
		t.Fatal(err)
	}
	e := &Env{t: t, Dir: dir}
	e.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.handler.Load().h.ServeHTTP(w, r)
	}))
	e.URL = e.server.URL
	e.opts = sandbox.Config{DataDir: dir, BaseURL: e.URL, TimeScale: TimeScale, NoSync: true, NotifyTimeout: 2 * time.Second}
	for _, o := range opts {
		o(&e.opts)
	}
	e.open()
	t.Cleanup(func() {
		e.stop()
		e.server.Close()
	})
	return e
}

func (e *Env) open() {
	e.t.Helper()
	sb, err := sandbox.Open(e.opts)
	if err != nil {
		e.t.Fatalf("open sandbox: %v", err)
	}
	e.sb = sb
	e.handler.Store(&handlerBox{sb.Handler()})
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() { sb.Run(ctx); close(e.done) }()
}

func (e *Env) stop() {
	if e.sb == nil {
		return
	}
	e.cancel()
	<-e.done
	if err := e.sb.Close(); err != nil {
		e.t.Errorf("close sandbox: %v", err)
	}
	e.sb = nil
}

// Restart stops the sandbox and opens it again on the same data folder, at
// the same URL, as a restarted process would.
func (e *Env) Restart() {
	e.t.Helper()
	e.stop()
	e.handler.Store(&handlerBox{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "sandbox restarting", http.StatusServiceUnavailable)
	})})
	e.open()
}

// Stop stops the sandbox (and its notifications) without restarting it.
func (e *Env) Stop() { e.stop() }

// Sandbox is the running sandbox.
func (e *Env) Sandbox() *sandbox.Sandbox { return e.sb }

// Credentials are the merchant's WeChat Pay credentials.
func (e *Env) Credentials() wechatpay.Credentials { return e.sb.Credentials().WeChatPay }

// HTTPClient reaches the sandbox for requests to WeChat Pay's hosts.
func (e *Env) HTTPClient() *http.Client {
	hc, err := sandboxhttp.Client(e.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	return hc
}

// Helper calls the helper API and decodes the answer into out (if not nil).
// It returns the status code.
func (e *Env) Helper(method, path string, in, out any) int {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			e.t.Fatalf("%s %s: encode the body: %v", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// Pay makes a sandbox user ("" for the default) pay a code and fails the
// test if the sandbox refuses.
func (e *Env) Pay(code, user string) wechatpay.PayResult {
	e.t.Helper()
	var res wechatpay.PayResult
	if st := e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": code, "user": user}, &res); st != http.StatusOK {
		e.t.Fatalf("pay %s: status %d", code, st)
	}
	return res
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// MustParsePEM decodes the first PEM block of s.
func MustParsePEM(t testing.TB, s string) *pem.Block {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("not PEM: %.40q", s)
	}
	return b
}

// MustCertificate parses a PEM certificate.
func MustCertificate(t testing.TB, s string) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(MustParsePEM(t, s).Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
