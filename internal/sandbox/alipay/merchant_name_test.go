package alipay_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// appAuthToken is seller authorizing the app: its app_auth_token.
func appAuthToken(t *testing.T, e *sandboxtest.Env, client *alipaysdk.Client, seller alipay.Merchant) string {
	t.Helper()
	var code struct {
		AppAuthCode string `json:"app_auth_code"`
	}
	if st := e.Helper("POST", "/sandbox/v1/alipay/app_auth_codes", map[string]string{"merchant": seller.PID}, &code); st != http.StatusOK {
		t.Fatalf("auth code: %d", st)
	}
	tok, err := client.OpenAuthTokenApp(alipaysdk.OpenAuthTokenApp{GrantType: "authorization_code", Code: code.AppAuthCode})
	if err != nil || !tok.IsSuccess() || len(tok.Tokens) != 1 {
		t.Fatalf("token: %v %+v", err, tok)
	}
	return tok.Tokens[0].AppAuthToken
}

// TestPagesNameTheShop: the buyer's pages (the order, the receipt, the
// history, the pay form) name the shop a trade is made for, as WeChat
// Pay's name a sub-merchant: the merchant that authorized the app
// (app_auth_token), on every way to pay; the app's own trades keep the
// sandbox merchant's name.
func TestPagesNameTheShop(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	w := e.Sandbox().Alipay().Phone()
	merchants := e.Sandbox().Alipay().Merchants()
	own, shop := merchants[0], merchants[1]
	if own.Name != "hutong 沙箱商家" || shop.Name == own.Name {
		t.Fatalf("merchants %+v", merchants)
	}
	token := appAuthToken(t, e, client, shop)

	codes := map[string]string{}
	// Face to face (precreate).
	p := alipaysdk.TradePreCreate{}
	p.OutTradeNo, p.Subject, p.TotalAmount, p.AppAuthToken = outTradeNo("N"), "代商家收款", "3.21", token
	pr, err := client.TradePreCreate(p)
	if err != nil || !pr.IsSuccess() {
		t.Fatalf("precreate: %v %+v", err, pr)
	}
	codes["precreate"] = pr.QRCode
	// The cashier of a wap payment.
	wp := alipaysdk.TradeWapPay{}
	wp.OutTradeNo, wp.Subject, wp.TotalAmount, wp.ProductCode, wp.AppAuthToken = outTradeNo("N"), "代商家收款", "3.21", "QUICK_WAP_WAY", token
	link, err := client.TradeWapPay(wp)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(link.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	codes["wap"] = resp.Header.Get("Location")
	// In the wallet (trade.create).
	tc := alipaysdk.TradeCreate{BuyerId: alipay.BuyerID("buyer-wang")}
	tc.OutTradeNo, tc.Subject, tc.TotalAmount, tc.AppAuthToken = outTradeNo("N"), "代商家收款", "3.21", token
	cr, err := client.TradeCreate(tc)
	if err != nil || !cr.IsSuccess() {
		t.Fatalf("create: %v %+v", err, cr)
	}
	codes["create"] = cr.TradeNo
	// An app's order string.
	ap := alipaysdk.TradeAppPay{}
	ap.OutTradeNo, ap.Subject, ap.TotalAmount, ap.AppAuthToken = outTradeNo("N"), "代商家收款", "3.21", token
	codes["app"], err = client.TradeAppPay(ap)
	if err != nil {
		t.Fatal(err)
	}

	for how, code := range codes {
		o, err := w.Lookup(code)
		if err != nil || o.Merchant != shop.Name {
			t.Fatalf("%s: the order names %q, want %q (%v)", how, o.Merchant, shop.Name, err)
		}
		page := browse(t, e, "GET", e.URL+"/phone/u/buyer-wang/order?"+url.Values{"wallet": {"alipay"}, "code": {o.Code}}.Encode(), nil)
		if page.status != http.StatusOK || !strings.Contains(page.body, shop.Name) || strings.Contains(page.body, own.Name) {
			t.Fatalf("%s: the order page does not name the shop: %d %s", how, page.status, page.body)
		}
		r, err := w.Pay(o.Code, "buyer-wang")
		if err != nil || r.Merchant != shop.Name {
			t.Fatalf("%s: the receipt names %q (%v)", how, r.Merchant, err)
		}
	}
	for _, r := range w.History("buyer-wang") {
		if r.Merchant != shop.Name {
			t.Fatalf("history names %q", r.Merchant)
		}
	}

	// The app's own trade names the sandbox merchant.
	_, qr := precreate(t, client, "", "1.00")
	if o, err := w.Lookup(qr); err != nil || o.Merchant != own.Name {
		t.Fatalf("the app's own trade names %q (%v)", o.Merchant, err)
	}
	_ = phone.PIN
}
