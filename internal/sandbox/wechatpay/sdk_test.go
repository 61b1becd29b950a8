package wechatpay_test

// These tests drive the sandbox with the official wechatpay-go SDK, unchanged
// but for the *http.Client that points it at the sandbox.

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/downloader"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

var ctx = context.Background()

// publicKeyClient is an SDK client in platform-public-key mode, the default
// for merchants who joined WeChat Pay after 2024.
func publicKeyClient(t testing.TB, e *sandboxtest.Env) *core.Client {
	t.Helper()
	c := e.Credentials()
	key := mustPrivateKey(t, c.MerchantPrivateKey)
	pub, err := utils.LoadPublicKey(c.PlatformPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := core.NewClient(ctx,
		option.WithHTTPClient(e.HTTPClient()),
		option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, key, c.PlatformPublicKeyID, pub),
	)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// certificateClient is an SDK client in platform-certificate mode, its
// certificates downloaded automatically from GET /v3/certificates.
func certificateClient(t *testing.T, e *sandboxtest.Env) (*core.Client, *downloader.CertificateDownloaderMgr) {
	t.Helper()
	c := e.Credentials()
	key := mustPrivateKey(t, c.MerchantPrivateKey)
	bootstrap, err := core.NewClient(ctx,
		option.WithHTTPClient(e.HTTPClient()),
		option.WithMerchantCredential(c.MchID, c.MerchantSerialNo, key),
		option.WithoutValidator(),
	)
	if err != nil {
		t.Fatal(err)
	}
	mgr := downloader.NewCertificateDownloaderMgr(ctx)
	t.Cleanup(mgr.Stop)
	if err := mgr.RegisterDownloaderWithClient(ctx, bootstrap, c.MchID, c.APIv3Key); err != nil {
		t.Fatalf("certificate download: %v", err)
	}
	client, err := core.NewClient(ctx,
		option.WithHTTPClient(e.HTTPClient()),
		option.WithWechatPayAutoAuthCipherUsingDownloaderMgr(c.MchID, c.MerchantSerialNo, key, mgr),
	)
	if err != nil {
		t.Fatal(err)
	}
	return client, mgr
}

func mustPrivateKey(t testing.TB, pem string) *rsa.PrivateKey {
	t.Helper()
	k, err := utils.LoadPrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// wantAPIError asserts err is the platform's error with this status and
// code.
func wantAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var ae *core.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %d %s, got %v", status, code, err)
	}
	if ae.StatusCode != status || ae.Code != code {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, ae.StatusCode, ae.Code, ae.Message)
	}
}

// apiError is wantAPIError that also returns the error, for a test that
// reads its message.
func apiError(t *testing.T, err error, status int, code string) *core.APIError {
	t.Helper()
	wantAPIError(t, err, status, code)
	var ae *core.APIError
	errors.As(err, &ae)
	return ae
}

// merchant is a merchant's notify endpoint that verifies and decrypts each
// notification with the SDK's own handler. failFirst answers 500 to that
// many attempts first.
type merchant struct {
	t         *testing.T
	server    *httptest.Server
	handler   *notify.Handler
	mu        sync.Mutex
	failFirst int
	attempts  int
	events    []merchantEvent
	rejected  []error
}

type merchantEvent struct {
	ID        string
	EventType string
	Plaintext string
}

func newMerchant(t *testing.T, e *sandboxtest.Env, verifier func(c wechatpay.Credentials) *notify.Handler) *merchant {
	m := &merchant{t: t}
	if verifier == nil {
		verifier = func(c wechatpay.Credentials) *notify.Handler {
			pub, err := utils.LoadPublicKey(c.PlatformPublicKey)
			if err != nil {
				t.Fatal(err)
			}
			h, err := notify.NewRSANotifyHandler(c.APIv3Key, verifiers.NewSHA256WithRSAPubkeyVerifier(c.PlatformPublicKeyID, *pub))
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
	}
	m.handler = verifier(e.Credentials())
	m.server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.server.Close)
	return m
}

func (m *merchant) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.attempts++
	fail := m.attempts <= m.failFirst
	m.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		if _, err := w.Write([]byte(`{"code":"FAIL","message":"失败"}`)); err != nil {
			m.t.Errorf("the merchant answers a notification: %v", err)
		}
		return
	}
	content := map[string]any{}
	req, err := m.handler.ParseNotifyRequest(r.Context(), r, &content)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.rejected = append(m.rejected, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	m.events = append(m.events, merchantEvent{ID: req.ID, EventType: req.EventType, Plaintext: req.Resource.Plaintext})
	w.WriteHeader(http.StatusNoContent)
}

func (m *merchant) Events() []merchantEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]merchantEvent{}, m.events...)
}

func (m *merchant) URL() string { return m.server.URL + "/notify/wechatpay" }

func (m *merchant) waitFor(n int) []merchantEvent {
	m.t.Helper()
	sandboxtest.Eventually(m.t, 10*time.Second, "merchant received notifications", func() bool { return len(m.Events()) >= n })
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.rejected) > 0 {
		m.t.Fatalf("the SDK rejected a notification: %v", m.rejected[0])
	}
	return append([]merchantEvent{}, m.events...)
}
