package phone_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	alipaysdk "github.com/smartwalle/alipay/v3"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// jsapiOrder places a JSAPI order for user through the official SDK,
// which also signs the getBrandWCPayRequest parameters.
func jsapiOrder(t testing.TB, e *sandboxtest.Env, total int64, user string) (string, *jsapi.PrepayWithRequestPaymentResponse, *jsapi.JsapiApiService) {
	t.Helper()
	c := e.Credentials()
	key, err := utils.LoadPrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := utils.LoadPublicKey(c.PlatformPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := core.NewClient(t.Context(), option.WithHTTPClient(e.HTTPClient()),
		option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, key, c.PlatformPublicKeyID, pub))
	if err != nil {
		t.Fatal(err)
	}
	svc := &jsapi.JsapiApiService{Client: client}
	no := outTradeNo("JS")
	resp, _, err := svc.PrepayWithRequestPayment(t.Context(), jsapi.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("公众号收银台 · 糖葫芦"),
		OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/notify"),
		Amount: &jsapi.Amount{Total: core.Int64(total)}, Payer: &jsapi.Payer{Openid: core.String(users.OpenID(user, c.AppID))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return no, resp, svc
}

// wxCall is what bridge.js sends for WeixinJSBridge.invoke.
func wxCall(p *jsapi.PrepayWithRequestPaymentResponse, returnURL string) url.Values {
	return url.Values{"appId": {*p.Appid}, "timeStamp": {*p.TimeStamp}, "nonceStr": {*p.NonceStr}, "package": {*p.Package},
		"signType": {*p.SignType}, "paySign": {*p.PaySign}, "return_url": {returnURL}}
}

func orderState(t *testing.T, svc *jsapi.JsapiApiService, e *sandboxtest.Env, no string) string {
	t.Helper()
	tx, _, err := svc.QueryOrderByOutTradeNo(t.Context(), jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(e.Credentials().MchID)})
	if err != nil {
		t.Fatal(err)
	}
	return *tx.TradeState
}

func TestBridgeScript(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	resp, err := http.Get(e.URL + "/phone/static/bridge.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("bridge.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"window.WeixinJSBridge", "getBrandWCPayRequest", "/phone/wechatpay/jsapi",
		"window.AlipayJSBridge", "tradePay", "/phone/alipay/jsapi", "return_url", "WeixinJSBridgeReady", "AlipayJSBridgeReady"} {
		if !strings.Contains(js, want) {
			t.Errorf("bridge.js lacks %q", want)
		}
	}
}

// TestUserCookie: viewing a user's phone pages remembers the user for the
// authorization pages.
func TestUserCookie(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	resp, err := browserless.Get(e.URL + "/phone/u/buyer-wang?wallet=alipay")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var got *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == phone.UserCookie {
			got = c
		}
	}
	if got == nil || got.Value != "buyer-wang" || got.Path != "/" || !got.HttpOnly || got.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie %+v", got)
	}
	resp, err = browserless.Get(e.URL + "/phone/u/nobody")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 0 {
		t.Fatalf("an unknown user is remembered: %v", resp.Cookies())
	}
}

func TestWeChatBridgePayAndReturn(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	no, p, svc := jsapiOrder(t, e, 888, "buyer-wang")
	before := balance(t, e, "buyer-wang", "wechatpay")
	back := "https://shop.example/cashier/P1?x=1"

	// The call lands on the order page of the payer the order names, with
	// the whole call as the code.
	st, loc, body := get(t, e.URL+"/phone/wechatpay/jsapi?"+wxCall(p, back+"#old").Encode())
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/phone/u/buyer-wang/order?") {
		t.Fatalf("bridge: %d %q\n%s", st, loc, body)
	}
	st, _, body = get(t, e.URL+loc)
	if st != 200 || !strings.Contains(body, "¥8.88") || !strings.Contains(body, "付款人 王芳") ||
		!strings.Contains(body, `href="`+back+`#wechatpay=cancel" data-cancel`) {
		t.Fatalf("order page %d:\n%s", st, body)
	}
	code, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"wallet": {"wechatpay"}, "code": {code.Query().Get("code")}, "pin": {"111111"}}
	if st, _, body = postForm(t, e.URL+"/phone/u/buyer-wang/pay", form); st != http.StatusUnprocessableEntity ||
		!strings.Contains(body, `#wechatpay=cancel" data-cancel`) {
		t.Fatalf("wrong PIN: %d\n%s", st, body)
	}
	form.Set("pin", phone.PIN)
	st, loc, body = postForm(t, e.URL+"/phone/u/buyer-wang/pay", form)
	if st != http.StatusSeeOther {
		t.Fatalf("pay: %d\n%s", st, body)
	}
	st, _, body = get(t, e.URL+loc)
	if st != 200 || !strings.Contains(body, `href="`+back+`#wechatpay=ok" data-return`) {
		t.Fatalf("done %d:\n%s", st, body)
	}
	if s := orderState(t, svc, e, no); s != "SUCCESS" {
		t.Fatalf("order %s", s)
	}
	if got := balance(t, e, "buyer-wang", "wechatpay"); got != before-888 {
		t.Fatalf("balance %d, want %d", got, before-888)
	}
	// The same call again shows the order paid.
	_, loc, _ = get(t, e.URL+"/phone/wechatpay/jsapi?"+wxCall(p, back).Encode())
	if _, _, body = get(t, e.URL+loc); !strings.Contains(body, "这笔订单不能支付（SUCCESS）") {
		t.Fatalf("paid order:\n%s", body)
	}
}

func TestWeChatBridgeRefusals(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	no, p, svc := jsapiOrder(t, e, 500, "buyer-li")
	_, nativeCode, _ := nativeOrder(t, e, 500, "https://merchant.example/n")
	native, err := e.Sandbox().WeChatPay().Phone().Lookup(nativeCode)
	if err != nil {
		t.Fatal(err)
	}
	key, err := sandboxkeys.ParsePrivateKey(e.Credentials().MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(v url.Values) url.Values {
		v.Set("paySign", must(wechatpayv3.Sign(key, []byte(v.Get("appId")+"\n"+v.Get("timeStamp")+"\n"+v.Get("nonceStr")+"\n"+v.Get("package")+"\n"))))
		return v
	}
	back := "https://shop.example/back"
	good := wxCall(p, back)
	with := func(k, v string) url.Values {
		q := url.Values{}
		for k, vs := range good {
			q[k] = append([]string{}, vs...)
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	flipped := []byte(*p.PaySign)
	flipped[10] ^= 1
	dup := with("paySign", *p.PaySign)
	dup.Add("paySign", *p.PaySign)

	for _, tc := range []struct {
		name   string
		q      url.Values
		status int
		want   string
		fail   bool // a link back with #wechatpay=fail
	}{
		{"bad paySign", with("paySign", string(flipped)), 400, "paySign 验签失败", true},
		{"paySign over other content", with("nonceStr", "someothernonce"), 400, "paySign 验签失败", true},
		{"unknown prepay", sign(with("package", "prepay_id=wx20990101000000abcdefabcdefabcdef12")), 404, "找不到预支付交易", true},
		{"native order", sign(with("package", "prepay_id="+native.Code)), 400, "JSAPI", true},
		{"another appid", sign(with("appId", "wx8888888888888888")), 400, "不是下单时的 appid", true},
		{"signType", with("signType", "MD5"), 400, "signType 应为 RSA", true},
		{"package", with("package", *p.Package+"x"), 400, "package 应为 prepay_id=", true},
		{"no paySign", with("paySign", ""), 400, "缺少参数 paySign", true},
		{"timeStamp", sign(with("timeStamp", "12:00")), 400, "timeStamp", true},
		{"twice", dup, 400, "出现了不止一次", true},
		{"no return_url", with("return_url", ""), 400, "缺少 return_url", false},
		{"relative return_url", with("return_url", "/back"), 400, "return_url 应为 http(s) 绝对地址", false},
		{"javascript return_url", with("return_url", "javascript:alert(1)"), 400, "return_url 应为 http(s) 绝对地址", false},
	} {
		link := e.URL + "/phone/wechatpay/jsapi?" + tc.q.Encode()
		st, loc, body := get(t, link)
		hasFail := strings.Contains(body, `href="`+back+`#wechatpay=fail"`)
		if st != tc.status || loc != "" || !strings.Contains(body, tc.want) || hasFail != tc.fail || strings.Contains(body, `href="javascript:`) {
			t.Errorf("%s: %d %q, want %d with %q (fail link %v)\n%s", tc.name, st, loc, tc.status, tc.want, tc.fail, body)
		}
		// Nor does the call pay when posted to the phone directly.
		st, _, _ = postForm(t, e.URL+"/phone/u/buyer-li/pay", url.Values{"wallet": {"wechatpay"}, "code": {link}, "pin": {phone.PIN}})
		if st == http.StatusSeeOther {
			t.Errorf("%s: paid", tc.name)
		}
	}
	if s := orderState(t, svc, e, no); s != "NOTPAY" {
		t.Fatalf("order %s after refusals", s)
	}
}

// alipayCreate makes a trade.create for user, as a cashier does after
// learning the buyer's user_id.
func alipayCreate(t testing.TB, e *sandboxtest.Env, amount, user string) (string, string, *alipaysdk.Client) {
	t.Helper()
	c := e.Sandbox().Credentials().Alipay
	client, err := alipaysdk.New(c.AppID, c.AppPrivateKey, true,
		alipaysdk.WithProductionGateway(e.URL+"/gateway.do"), alipaysdk.WithTimeLocation(chinatime.Location))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.LoadAliPayPublicKey(c.AlipayPublicKey); err != nil {
		t.Fatal(err)
	}
	no := outTradeNo("AC")
	tc := alipaysdk.TradeCreate{BuyerId: alipay.BuyerID(user)}
	tc.OutTradeNo, tc.Subject, tc.TotalAmount, tc.ProductCode = no, "生活号收银台 · 驴打滚", amount, "JSAPI_PAY"
	res, err := client.TradeCreate(tc)
	if err != nil || !res.IsSuccess() {
		t.Fatalf("create: %v %+v", err, res)
	}
	return no, res.TradeNo, client
}

func TestAlipayBridgePayAndReturn(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	no, tradeNo, client := alipayCreate(t, e, "6.60", "buyer-li")
	back := "https://shop.example/cashier/A1"
	st, loc, body := get(t, e.URL+"/phone/alipay/jsapi?"+url.Values{"tradeNO": {tradeNo}, "return_url": {back}}.Encode())
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/phone/u/buyer-li/order?") {
		t.Fatalf("bridge: %d %q\n%s", st, loc, body)
	}
	st, _, body = get(t, e.URL+loc)
	if st != 200 || !strings.Contains(body, "¥6.60") || !strings.Contains(body, `href="`+back+`#alipay=6001" data-cancel`) {
		t.Fatalf("order page %d:\n%s", st, body)
	}
	code, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	st, loc, _ = postForm(t, e.URL+"/phone/u/buyer-li/pay", url.Values{"wallet": {"alipay"}, "code": {code.Query().Get("code")}, "pin": {phone.PIN}})
	if st != http.StatusSeeOther {
		t.Fatalf("pay: %d", st)
	}
	if st, _, body = get(t, e.URL+loc); st != 200 || !strings.Contains(body, `href="`+back+`#alipay=9000" data-return`) {
		t.Fatalf("done %d:\n%s", st, body)
	}
	if q, err := client.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: no}); err != nil || q.TradeStatus != alipaysdk.TradeStatusSuccess || q.BuyerUserId != alipay.BuyerID("buyer-li") {
		t.Fatalf("query: %v %+v", err, q)
	}
}

func TestAlipayBridgeRefusals(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, tradeNo, client := alipayCreate(t, e, "1.00", "buyer-wang")
	pre := alipaysdk.TradePreCreate{}
	pre.OutTradeNo, pre.Subject, pre.TotalAmount = outTradeNo("PC"), "扫码", "1.00"
	pc, err := client.TradePreCreate(pre)
	if err != nil || !pc.IsSuccess() {
		t.Fatal(err)
	}
	precreated, err := e.Sandbox().Alipay().Phone().Lookup(pc.QRCode)
	if err != nil {
		t.Fatal(err)
	}
	back := "https://shop.example/back"
	for _, tc := range []struct {
		name   string
		q      url.Values
		status int
		want   string
		fail   bool
	}{
		{"unknown trade", url.Values{"tradeNO": {"2099010122001000000000000000"}, "return_url": {back}}, 404, "找不到交易", true},
		{"precreated trade", url.Values{"tradeNO": {precreated.Code}, "return_url": {back}}, 400, "alipay.trade.create", true},
		{"no tradeNO", url.Values{"return_url": {back}}, 400, "缺少参数 tradeNO", true},
		{"twice", url.Values{"tradeNO": {tradeNo, tradeNo}, "return_url": {back}}, 400, "出现了不止一次", true},
		{"no return_url", url.Values{"tradeNO": {tradeNo}}, 400, "缺少 return_url", false},
		{"ftp return_url", url.Values{"tradeNO": {tradeNo}, "return_url": {"ftp://shop.example/"}}, 400, "return_url 应为 http(s) 绝对地址", false},
	} {
		link := e.URL + "/phone/alipay/jsapi?" + tc.q.Encode()
		st, loc, body := get(t, link)
		hasFail := strings.Contains(body, `href="`+back+`#alipay=4000"`)
		if st != tc.status || loc != "" || !strings.Contains(body, tc.want) || hasFail != tc.fail {
			t.Errorf("%s: %d %q, want %d with %q (fail link %v)\n%s", tc.name, st, loc, tc.status, tc.want, tc.fail, body)
		}
		st, _, _ = postForm(t, e.URL+"/phone/u/buyer-wang/pay", url.Values{"wallet": {"alipay"}, "code": {link}, "pin": {phone.PIN}})
		if st == http.StatusSeeOther {
			t.Errorf("%s: paid", tc.name)
		}
	}
	if q, err := client.TradeQuery(alipaysdk.TradeQuery{TradeNo: precreated.Code}); err != nil || q.TradeStatus != alipaysdk.TradeStatusWaitBuyerPay {
		t.Fatalf("the precreated trade: %v %+v", err, q)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
