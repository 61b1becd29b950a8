package alipay_test

// These tests drive the Alipay sandbox with github.com/smartwalle/alipay/v3,
// unchanged: its production gateway option points it at the sandbox.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

func newClient(t testing.TB, e *sandboxtest.Env, opts ...alipaysdk.OptionFunc) *alipaysdk.Client {
	t.Helper()
	c := e.Sandbox().Credentials().Alipay
	return newClientWithKey(t, e, c.AppPrivateKey, opts...)
}

func newClientWithKey(t testing.TB, e *sandboxtest.Env, privateKey string, opts ...alipaysdk.OptionFunc) *alipaysdk.Client {
	t.Helper()
	c := e.Sandbox().Credentials().Alipay
	opts = append([]alipaysdk.OptionFunc{
		alipaysdk.WithProductionGateway(e.URL + "/gateway.do"),
		// Alipay reads timestamp as Beijing time; the SDK writes time.Local
		// unless told.
		alipaysdk.WithTimeLocation(chinatime.Location),
	}, opts...)
	client, err := alipaysdk.New(c.AppID, privateKey, true, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.LoadAliPayPublicKey(c.AlipayPublicKey); err != nil {
		t.Fatal(err)
	}
	return client
}

// merchant is a notify_url that decodes notifications with the SDK (which
// verifies their signature) and answers "success" unless told to fail.
type merchant struct {
	t        *testing.T
	server   *httptest.Server
	client   *alipaysdk.Client
	failures atomic.Int32
	mu       sync.Mutex
	got      []*alipaysdk.Notification
	rejected []error
}

func newMerchant(t *testing.T, e *sandboxtest.Env) *merchant {
	m := &merchant{t: t, client: newClient(t, e)}
	m.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.failures.Load() > 0 {
			m.failures.Add(-1)
			m.answer(w, "fail")
			return
		}
		n, err := m.client.GetTradeNotification(r)
		m.mu.Lock()
		defer m.mu.Unlock()
		if err != nil {
			m.rejected = append(m.rejected, err)
			m.answer(w, "fail")
			return
		}
		m.got = append(m.got, n)
		m.answer(w, "success")
	}))
	t.Cleanup(m.server.Close)
	return m
}

// answer writes the merchant's plain-text answer to a notification; a
// failed write fails the test (Errorf: it runs on the server's goroutine).
func (m *merchant) answer(w http.ResponseWriter, text string) {
	if _, err := io.WriteString(w, text); err != nil {
		m.t.Errorf("the merchant answers %q: %v", text, err)
	}
}

func (m *merchant) URL() string { return m.server.URL + "/notify/alipay" }

func (m *merchant) waitFor(n int) []*alipaysdk.Notification {
	m.t.Helper()
	sandboxtest.Eventually(m.t, 10*time.Second, "notifications arrive", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.got) >= n || len(m.rejected) > 0
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.rejected) > 0 {
		m.t.Fatalf("the SDK rejected a notification: %v", m.rejected[0])
	}
	return append([]*alipaysdk.Notification{}, m.got...)
}

func pay(t *testing.T, e *sandboxtest.Env, code, user string) alipay.PayResult {
	t.Helper()
	var res alipay.PayResult
	if st := e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "alipay", "code": code, "user": user}, &res); st != http.StatusOK {
		t.Fatalf("pay %s: status %d", code, st)
	}
	return res
}

func payRefused(t *testing.T, e *sandboxtest.Env, code, user string) (int, string) {
	t.Helper()
	var res map[string]string
	st := e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "alipay", "code": code, "user": user}, &res)
	return st, res["code"]
}

var seq atomic.Int64

func outTradeNo(prefix string) string {
	return fmt.Sprintf("%s%d%06d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

func sandboxHTTP(h http.HandlerFunc) *httptest.Server { return httptest.NewServer(h) }
