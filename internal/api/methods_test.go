package api_test

import (
	"net/url"
	"strings"
	"testing"

	sbalipay "github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestEveryMethodEndToEnd: each wallet method goes from create to paid
// through the sandbox, on both stores.
func TestEveryMethodEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		openid := users.OpenID("buyer-wang", e.sandbox.Credentials().AppID)
		for _, tc := range []struct {
			method, buyer, wallet string
			code                  func(p payView) string
		}{
			{"wechatpay.native", "b", "wechatpay", func(p payView) string { return p.NextAction.QRCode }},
			{"wechatpay.jsapi", openid, "wechatpay", func(p payView) string { return strings.TrimPrefix(p.NextAction.Params["package"], "prepay_id=") }},
			{"wechatpay.h5", "b", "wechatpay", func(p payView) string { return p.NextAction.URL }},
			{"wechatpay.app", "b", "wechatpay", func(p payView) string { return p.NextAction.Params["prepayid"] }},
			{"alipay.precreate", "b", "alipay", func(p payView) string { return p.NextAction.QRCode }},
			{"alipay.jsapi", sbalipay.BuyerID("buyer-wang"), "alipay", func(p payView) string { return p.NextAction.Params["tradeNO"] }},
			{"alipay.app", "b", "alipay", func(p payView) string { return p.NextAction.Params["orderStr"] }},
			{"alipay.wap", "b", "alipay", cashierCode},
			{"alipay.page", "b", "alipay", cashierCode},
		} {
			t.Run(tc.method, func(t *testing.T) {
				body := newPayment(tc.method, 1234, "every-"+strings.ReplaceAll(tc.method, ".", "-"))
				body["buyer"] = map[string]string{"id": tc.buyer}
				body["return_url"] = "https://shop.example/back"
				var p payView
				e.call("POST", "/v1/payments", e.keyA, body, &p, 201)
				code := tc.code(p)
				if code == "" {
					t.Fatalf("no code in %+v", p.NextAction)
				}
				if st := e.sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": tc.wallet, "code": code}, nil); st != 200 {
					t.Fatalf("pay: %d", st)
				}
				e.waitStatus(e.keyA, p.ID, "succeeded")
			})
		}
	})
}

type payView struct {
	ID         string `json:"id"`
	NextAction struct {
		Type   string            `json:"type"`
		QRCode string            `json:"qr_code"`
		URL    string            `json:"url"`
		Params map[string]string `json:"params"`
	} `json:"next_action"`
}

// cashierCode follows a wap/page pay link to the sandbox cashier, as the
// buyer's browser would, and returns the trade it opens.
func cashierCode(p payView) string {
	resp, err := noRedirect.Get(p.NextAction.URL)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return ""
	}
	return loc.Query().Get("code")
}
