package phone_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/sandbox/journal"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

// stubWallet recognizes WeChat-looking pay codes and has no orders.
type stubWallet struct{}

func (stubWallet) Name() string      { return "wechatpay" }
func (stubWallet) Title() string     { return "微信支付" }
func (stubWallet) UserAgent() string { return "stub MicroMessenger/8.0.50" }
func (stubWallet) Recognizes(code string) bool {
	return strings.HasPrefix(strings.TrimSpace(code), "weixin://wxpay/bizpayurl?pr=")
}
func (stubWallet) Lookup(string) (phone.Order, error) { return phone.Order{}, phone.ErrUnknownCode }
func (stubWallet) Pay(string, string) (phone.Receipt, error) {
	return phone.Receipt{}, phone.ErrUnknownCode
}
func (stubWallet) History(string) []phone.Receipt { return nil }

// pageTransport answers every fetched link with the page the fuzzer wrote,
// so that no input reaches the network.
type pageTransport struct{ page string }

func (p pageTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(p.page)), Request: r}, nil
}

// FuzzScan pastes anything into the scan box, and has any link open any
// page: the answer is a redirect to an order page for a code a wallet
// recognizes (no longer than the phone accepts), or a clear refusal;
// never a server error.
func FuzzScan(f *testing.F) {
	j, err := journal.Open(filepath.Join(f.TempDir(), "j"), journal.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { j.Close() })
	dir, err := users.Open(j)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][2]string{
		{"weixin://wxpay/bizpayurl?pr=abc", ""},
		{"  weixin://wxpay/bizpayurl?pr=abc\n", ""},
		{"https://store.example/42", `<a href="weixin://wxpay/bizpayurl?pr=Xy12">pay</a>`},
		{"http://store.example/", `<a href="http://127.0.0.1:8090/phone/wechatpay/h5?prepay_id=wx1&amp;package=2">h5</a>`},
		{"https://store.example/", "weixin://wxpay/bizpayurl?pr=" + strings.Repeat("A", 5000)},
		{"http://[::1", ""}, {"ftp://store.example/", ""}, {"javascript:alert(1)", ""}, {"", ""}, {"hello", "hello"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, code, page string) {
		h := phone.New(phone.Config{Wallets: []phone.Wallet{stubWallet{}}, Users: dir,
			Client: &http.Client{Transport: pageTransport{page}}})
		req := httptest.NewRequest("POST", "/phone/u/buyer-li/scan", strings.NewReader(url.Values{"code": {code}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusSeeOther:
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || loc.Path != "/phone/u/buyer-li/order" || loc.Query().Get("wallet") != "wechatpay" {
				t.Fatalf("scan of %q redirects to %q", code, rec.Header().Get("Location"))
			}
			if got := loc.Query().Get("code"); !(stubWallet{}).Recognizes(got) || len(got) > 4096 {
				t.Fatalf("scan of %q goes to the order for %q", code, got)
			}
		case http.StatusBadRequest:
			if !strings.Contains(rec.Body.String(), `role="alert"`) {
				t.Fatalf("refusal of %q without a message:\n%s", code, rec.Body)
			}
		default:
			t.Fatalf("scan of %q: %d\n%s", code, rec.Code, rec.Body)
		}
	})
}
