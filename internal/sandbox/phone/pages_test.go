package phone_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"html/template"
	"image"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

// nativeOrder creates a WeChat Native order through the official SDK and
// returns its out_trade_no and code_url.
func nativeOrder(t testing.TB, e *sandboxtest.Env, total int64, notifyURL string) (string, string, *core.Client) {
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
	no := outTradeNo("PH")
	resp, _, err := (&native.NativeApiService{Client: client}).Prepay(t.Context(), native.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("沙箱手机测试 · 煎饼果子"),
		OutTradeNo: core.String(no), NotifyUrl: core.String(notifyURL), Amount: &native.Amount{Total: core.Int64(total)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return no, *resp.CodeUrl, client
}

var seq atomic.Int64

func outTradeNo(prefix string) string {
	return fmt.Sprintf("%s%d%06d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// browserless is an HTTP client that keeps cookies out and does not follow
// redirects, to look at each step.
var browserless = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, u string) (int, string, string) {
	t.Helper()
	resp, err := browserless.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, resp)
}

func postForm(t *testing.T, u string, v url.Values) (int, string, string) {
	t.Helper()
	resp, err := browserless.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, resp)
}

// readAnswer reads and closes resp's body and returns the status, the
// Location and the body.
func readAnswer(t *testing.T, resp *http.Response) (int, string, string) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// imageForm is a multipart form with one image file, as the phone's scan
// form sends it; it returns the body and its Content-Type.
func imageForm(t *testing.T, name string, data []byte) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("image", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &body, mw.FormDataContentType()
}

func balance(t *testing.T, e *sandboxtest.Env, user, wallet string) int64 {
	u, err := e.Sandbox().WeChatPay().Users().Get(user)
	if err != nil {
		t.Fatal(err)
	}
	return u.Balances[wallet]
}

func TestScanConfirmAndHistory(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 1234, "https://merchant.example/n")

	st, _, body := get(t, e.URL+"/phone/")
	if st != 200 || !strings.Contains(body, "张伟") || !strings.Contains(body, "¥100000.00") {
		t.Fatalf("index %d:\n%s", st, body)
	}
	st, loc, _ := postForm(t, e.URL+"/phone/u/buyer-li/scan", url.Values{"code": {"  " + code + "\n"}, "wallet": {"alipay"}})
	if st != http.StatusSeeOther || !strings.Contains(loc, "wallet=wechatpay") {
		t.Fatalf("scan: %d %s", st, loc)
	}
	st, _, body = get(t, e.URL+loc)
	if st != 200 || !strings.Contains(body, "¥12.34") || !strings.Contains(body, "hutong 沙箱商户") || !strings.Contains(body, "煎饼果子") {
		t.Fatalf("order page %d:\n%s", st, body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"wallet": {"wechatpay"}, "code": {u.Query().Get("code")}, "pin": {"000000"}}
	before := balance(t, e, "buyer-li", "wechatpay")
	st, _, body = postForm(t, e.URL+"/phone/u/buyer-li/pay", form)
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "支付密码错误") {
		t.Fatalf("wrong PIN: %d", st)
	}
	if balance(t, e, "buyer-li", "wechatpay") != before {
		t.Fatal("a wrong PIN moved money")
	}
	form.Set("pin", phone.PIN)
	st, loc, _ = postForm(t, e.URL+"/phone/u/buyer-li/pay", form)
	if st != http.StatusSeeOther || !strings.Contains(loc, "/done?") {
		t.Fatalf("pay: %d %s", st, loc)
	}
	st, _, body = get(t, e.URL+loc)
	if st != 200 || !strings.Contains(body, "支付成功") || !strings.Contains(body, "4200") {
		t.Fatalf("done %d:\n%s", st, body)
	}
	if got := balance(t, e, "buyer-li", "wechatpay"); got != before-1234 {
		t.Fatalf("balance %d, want %d", got, before-1234)
	}
	// Paying again is refused and changes nothing.
	st, _, body = postForm(t, e.URL+"/phone/u/buyer-li/pay", form)
	if st == http.StatusSeeOther || !strings.Contains(body, "不能支付") && !strings.Contains(body, "已支付") {
		t.Fatalf("second payment: %d\n%s", st, body)
	}
	_, _, body = get(t, e.URL+"/phone/u/buyer-li?wallet=wechatpay")
	if !strings.Contains(body, "-¥12.34") {
		t.Fatalf("history lacks the payment:\n%s", body)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 5000, "https://merchant.example/n")

	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
		want       string
	}{
		{"unknown user", "/phone/u/nobody/scan", url.Values{"code": {code}}, 404, "没有这个沙箱用户"},
		{"unknown wallet", "/phone/u/buyer-li/scan", url.Values{"code": {code}, "wallet": {"paypal"}}, 400, "没有这个钱包"},
		{"empty", "/phone/u/buyer-li/scan", url.Values{"code": {"  "}}, 400, "请粘贴"},
		{"unknown code", "/phone/u/buyer-li/scan", url.Values{"code": {"weixin://wxpay/bizpayurl?pr=nope"}}, 404, ""},
		{"nonsense", "/phone/u/buyer-li/scan", url.Values{"code": {"hello"}}, 400, "没有钱包认得"},
		{"too long", "/phone/u/buyer-li/scan", url.Values{"code": {strings.Repeat("x", 5000)}}, 400, "超过"},
		{"broke buyer", "/phone/u/buyer-broke/pay", url.Values{"wallet": {"wechatpay"}, "code": {code}, "pin": {phone.PIN}}, 422, "余额不足"},
	} {
		st, loc, body := postForm(t, e.URL+tc.path, tc.form)
		if st == http.StatusSeeOther { // a code that looks right is looked up on the order page
			st, _, body = get(t, e.URL+loc)
		}
		if st != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d, want %d with %q", tc.name, st, tc.status, tc.want)
		}
	}
	if balance(t, e, "buyer-broke", "wechatpay") != 100 {
		t.Fatal("a refused payment moved money")
	}
}

func TestQRImageUpload(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 88, "https://merchant.example/n")
	matrix, err := qrcode.NewQRCodeWriter().Encode(code, gozxing.BarcodeFormat_QR_CODE, 300, 300, nil)
	if err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	if err := png.Encode(&img, matrix); err != nil {
		t.Fatal(err)
	}
	upload := func(name string, data []byte) (int, string, string) {
		body, contentType := imageForm(t, name, data)
		req, err := http.NewRequest("POST", e.URL+"/phone/u/buyer-wang/scan", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := browserless.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return readAnswer(t, resp)
	}
	st, loc, _ := upload("qr.png", img.Bytes())
	if st != http.StatusSeeOther || !strings.Contains(loc, url.QueryEscape(code)) {
		t.Fatalf("QR upload: %d %s", st, loc)
	}
	st, _, body := upload("notes.txt", []byte("not an image"))
	if st != http.StatusBadRequest || !strings.Contains(body, "无法识别") {
		t.Fatalf("text upload: %d", st)
	}
	if text, err := phone.DecodeQR(bytes.NewReader(img.Bytes())); err != nil || text != code {
		t.Fatalf("DecodeQR: %q %v", text, err)
	}
}

func TestWeChatH5LinkReturnsToMerchant(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	// An H5 link with the merchant's redirect_url, as real WeChat H5 uses.
	h5, _ := h5Order(t, e, "https://merchant.example/after-pay?order=42")
	st, loc, _ := get(t, h5)
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/phone/u/") {
		t.Fatalf("h5 landing: %d %s", st, loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	st, loc, _ = postForm(t, e.URL+u.Path[:strings.LastIndex(u.Path, "/")]+"/pay", url.Values{"wallet": {"wechatpay"}, "code": {u.Query().Get("code")}, "pin": {phone.PIN}})
	if st != http.StatusSeeOther {
		t.Fatalf("pay: %d", st)
	}
	_, _, body := get(t, e.URL+loc)
	if !strings.Contains(body, `href="https://merchant.example/after-pay?order=42"`) {
		t.Fatalf("done page lacks the return link:\n%s", body)
	}
}

// h5Order creates a WeChat H5 order and returns its h5_url with the
// merchant's redirect_url appended, and its out_trade_no.
func h5Order(t testing.TB, e *sandboxtest.Env, redirect string) (string, string) {
	t.Helper()
	c := e.Credentials()
	_, _, client := nativeOrder(t, e, 1, "https://merchant.example/n")
	no := outTradeNo("H5")
	res, err := client.Post(t.Context(), "https://api.mch.weixin.qq.com/v3/pay/transactions/h5", map[string]any{
		"appid": c.AppID, "mchid": c.MchID, "description": "H5 测试", "out_trade_no": no,
		"notify_url": "https://merchant.example/n", "amount": map[string]any{"total": 199},
		"scene_info": map[string]any{"payer_client_ip": "203.0.113.9", "h5_info": map[string]string{"type": "Wap"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		H5URL string `json:"h5_url"`
	}
	b, err := io.ReadAll(res.Response.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out.H5URL + "&redirect_url=" + url.QueryEscape(redirect), no
}

// TestLinksOpenWithTheWalletsUserAgent: a merchant's one-code page tells
// wallets apart by User-Agent, so the phone opens links as the wallet's
// in-app browser would.
func TestLinksOpenWithTheWalletsUserAgent(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 321, "https://merchant.example/n")
	var seen atomic.Value
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua := r.Header.Get("User-Agent")
		seen.Store(ua)
		page := `<html><body>请用微信或支付宝扫码</body></html>`
		if strings.Contains(ua, "MicroMessenger") {
			// WeChat scanned the store code: show WeChat's pay code.
			page = `<html><body><a href="` + code + `">打开微信支付</a></body></html>`
		}
		if _, err := io.WriteString(w, page); err != nil {
			t.Errorf("the store code's page: %v", err)
		}
	}))
	defer merchant.Close()

	st, loc, _ := postForm(t, e.URL+"/phone/u/buyer-li/scan", url.Values{"code": {merchant.URL + "/store/42"}, "wallet": {"wechatpay"}})
	if st != http.StatusSeeOther || !strings.Contains(loc, url.QueryEscape(code)) {
		t.Fatalf("WeChat opening the store link: %d %s", st, loc)
	}
	if ua, _ := seen.Load().(string); !strings.Contains(ua, "MicroMessenger/") {
		t.Fatalf("the phone opened the link as %q", ua)
	}
	st, _, body := postForm(t, e.URL+"/phone/u/buyer-li/scan", url.Values{"code": {merchant.URL + "/store/42"}, "wallet": {"alipay"}})
	if ua, _ := seen.Load().(string); st != http.StatusBadRequest || !strings.Contains(ua, "AlipayClient/") || !strings.Contains(body, "没有钱包认得") {
		t.Fatalf("Alipay opening the store link: %d as %q", st, ua)
	}
}

// TestDecodeQRReadsEveryRenderedCode: the phone must read every code a
// screen shows, whatever its content.
func TestDecodeQRReadsEveryRenderedCode(t *testing.T) {
	t.Parallel()
	for i := range 300 {
		code := fmt.Sprintf("weixin://wxpay/bizpayurl?pr=%010d", i*7919)
		if i%2 == 1 {
			code = fmt.Sprintf("https://qr.alipay.com/bax0%021d", i*104729)
		}
		m, err := qrcode.NewQRCodeWriter().Encode(code, gozxing.BarcodeFormat_QR_CODE, 300, 300, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := png.Encode(&b, m); err != nil {
			t.Fatal(err)
		}
		if got, err := phone.DecodeQR(&b); err != nil || got != code {
			t.Fatalf("%s: %q %v", code, got, err)
		}
	}
}

func TestYuan(t *testing.T) {
	t.Parallel()
	for fen, want := range map[int64]string{
		0: "¥0.00", 5: "¥0.05", 100: "¥1.00", 1234: "¥12.34", 100_000_00: "¥100000.00", -1: "-¥0.01", -1234: "-¥12.34",
		math.MaxInt64: "¥92233720368547758.07", math.MinInt64: "-¥92233720368547758.08",
	} {
		if got := phone.Yuan(fen); got != want {
			t.Errorf("Yuan(%d) = %q, want %q", fen, got, want)
		}
	}
}

// TestSwitchUser: the header's picker shows the same order to another
// user, and goes nowhere but the phone's own pages.
func TestSwitchUser(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 777, "https://merchant.example/n")
	order := "/phone/u/buyer-li/order?" + url.Values{"wallet": {"wechatpay"}, "code": {code}}.Encode()
	_, _, body := get(t, e.URL+order)
	if !strings.Contains(body, `action="/phone/switch"`) || !strings.Contains(body, `name="to" value="`+template.HTMLEscapeString(order)+`"`) {
		t.Fatalf("the order page lacks the user switch:\n%s", body)
	}
	switchTo := func(user, to string) (int, string) {
		st, loc, _ := get(t, e.URL+"/phone/switch?"+url.Values{"user": {user}, "to": {to}}.Encode())
		return st, loc
	}
	for _, tc := range []struct{ user, to, want string }{
		{"buyer-zhang", order, "/phone/u/buyer-zhang/order?" + url.Values{"wallet": {"wechatpay"}, "code": {code}}.Encode()},
		{"buyer-zhang", "/phone/u/buyer-li?wallet=alipay", "/phone/u/buyer-zhang?wallet=alipay"},
		{"buyer-zhang", "/phone/u/buyer-li/done?wallet=wechatpay&code=x&trade=4200", "/phone/u/buyer-zhang?wallet=wechatpay"},
		{"buyer-zhang", "/phone/u/buyer-li/order?wallet=wechatpay", "/phone/u/buyer-zhang?wallet=wechatpay"},
		{"buyer-wang", "https://evil.example/phone/u/x/order?code=1", "/phone/u/buyer-wang"},
		{"buyer-wang", "//evil.example/order?code=1", "/phone/u/buyer-wang"},
		{"buyer-wang", "%zz", "/phone/u/buyer-wang"},
		{"buyer-wang", "", "/phone/u/buyer-wang"},
	} {
		if st, loc := switchTo(tc.user, tc.to); st != http.StatusSeeOther || loc != tc.want {
			t.Errorf("switch to %s from %q: %d %q, want %q", tc.user, tc.to, st, loc, tc.want)
		}
	}
	if st, _, body := get(t, e.URL+"/phone/switch?user=nobody&to=/phone/"); st != http.StatusBadRequest || !strings.Contains(body, "没有这个沙箱用户") {
		t.Fatalf("unknown user: %d", st)
	}
}

// TestCrossOriginPostIsRefused: a page elsewhere cannot make the loopback
// sandbox pay by posting a form to it.
func TestCrossOriginPostIsRefused(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 300, "https://merchant.example/n")
	before := balance(t, e, "buyer-li", "wechatpay")
	post := func(site string) (int, string) {
		form := url.Values{"wallet": {"wechatpay"}, "code": {code}, "pin": {phone.PIN}}
		req, err := http.NewRequest("POST", e.URL+"/phone/u/buyer-li/pay", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		resp, err := browserless.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		st, _, b := readAnswer(t, resp)
		return st, b
	}
	for _, site := range []string{"cross-site", "same-site"} {
		if st, body := post(site); st != http.StatusForbidden || !strings.Contains(body, "cross-origin") {
			t.Fatalf("%s POST: %d", site, st)
		}
	}
	if got := balance(t, e, "buyer-li", "wechatpay"); got != before {
		t.Fatalf("a cross-site POST moved money: %d → %d", before, got)
	}
	if o, err := e.Sandbox().WeChatPay().Phone().Lookup(code); err != nil || !o.Payable {
		t.Fatalf("a cross-site POST changed the order: %+v %v", o, err)
	}
	if st, _ := post("same-origin"); st != http.StatusSeeOther {
		t.Fatalf("the phone's own POST: %d", st)
	}
}

// TestOpenedLinks: a link the wallet's browser follows to a code goes to
// the order; one that leads nowhere says where it led.
func TestOpenedLinks(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 321, "https://merchant.example/n")
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-wechat": // a store code's page that sends WeChat straight to its pay code
			http.Redirect(w, r, "/hop", http.StatusFound)
		case "/hop":
			http.Redirect(w, r, code, http.StatusFound)
		case "/start":
			http.Redirect(w, r, "/landing?from=start", http.StatusFound)
		case "/landing":
			if _, err := io.WriteString(w, `<p>欢迎光临</p>`); err != nil {
				t.Errorf("the landing page: %v", err)
			}
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer merchant.Close()
	scan := func(link string) (int, string, string) {
		return postForm(t, e.URL+"/phone/u/buyer-li/scan", url.Values{"code": {link}, "wallet": {"wechatpay"}})
	}

	want := "/phone/u/buyer-li/order?" + url.Values{"wallet": {"wechatpay"}, "code": {code}}.Encode()
	if st, loc, _ := scan(merchant.URL + "/to-wechat"); st != http.StatusSeeOther || loc != want {
		t.Fatalf("redirect to a pay code: %d %q", st, loc)
	}
	st, _, body := scan(merchant.URL + "/start")
	if st != http.StatusBadRequest || !strings.Contains(body, "没有钱包认得") || !strings.Contains(body, "HTTP 200") ||
		!strings.Contains(body, `href="`+merchant.URL+`/landing?from=start" rel="noreferrer" data-link`) {
		t.Fatalf("a page without a code: %d\n%s", st, body)
	}
	if st, _, body := scan(merchant.URL + "/loop"); st != http.StatusBadRequest || !strings.Contains(body, "打开链接失败") || !strings.Contains(body, "redirects") {
		t.Fatalf("a redirect loop: %d\n%s", st, body)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if st, _, body := scan(closed.URL + "/gone"); st != http.StatusBadRequest || !strings.Contains(body, "打开链接失败") {
		t.Fatalf("an unreachable link: %d\n%s", st, body)
	}
}

func TestUploadLimits(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	upload := func(data []byte) (int, string) {
		body, contentType := imageForm(t, "qr.png", data)
		req, err := http.NewRequest("POST", e.URL+"/phone/u/buyer-wang/scan", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := browserless.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		st, _, b := readAnswer(t, resp)
		return st, b
	}
	// A small PNG whose header declares 100000×100000 pixels: decoding it
	// would take 40 GB.
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	bomb := img.Bytes()
	binary.BigEndian.PutUint32(bomb[16:], 100000)
	binary.BigEndian.PutUint32(bomb[20:], 100000)
	binary.BigEndian.PutUint32(bomb[29:], crc32.ChecksumIEEE(bomb[12:29]))
	if _, err := phone.DecodeQR(bytes.NewReader(bomb)); err == nil || !strings.Contains(err.Error(), "100000×100000") {
		t.Fatalf("DecodeQR of a huge picture: %v", err)
	}
	if st, body := upload(bomb); st != http.StatusBadRequest || !strings.Contains(body, "超出范围") {
		t.Fatalf("huge picture: %d", st)
	}
	if st, body := upload(make([]byte, 5<<20+1)); st != http.StatusBadRequest || !strings.Contains(body, "5 MiB") {
		t.Fatalf("5 MiB + 1 byte: %d", st)
	}
	if st, body := upload(make([]byte, 6<<20)); st != http.StatusBadRequest || !strings.Contains(body, "5 MiB") {
		t.Fatalf("6 MiB: %d", st)
	}
	bmp := append([]byte("BM"), make([]byte, 100)...)
	if st, body := upload(bmp); st != http.StatusBadRequest || !strings.Contains(body, "不是 PNG、JPEG 或 GIF") {
		t.Fatalf("BMP: %d", st)
	}
	if _, err := phone.DecodeQR(bytes.NewReader(img.Bytes()[:40])); err == nil {
		t.Fatal("a cut-off PNG decoded")
	}
	if text, err := phone.DecodeQR(bytes.NewReader(img.Bytes())); err == nil {
		t.Fatalf("a blank picture read as %q", text)
	}
}

// TestOrderPageNamesThePayer: a JSAPI order names who pays; someone else
// is told so, and refused without a change.
func TestOrderPageNamesThePayer(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	_, _, client := nativeOrder(t, e, 1, "https://merchant.example/n")
	res, err := client.Post(t.Context(), "https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi", map[string]any{
		"appid": c.AppID, "mchid": c.MchID, "description": "公众号商品", "out_trade_no": outTradeNo("J"),
		"notify_url": "https://merchant.example/n", "amount": map[string]any{"total": 250},
		"payer": map[string]string{"openid": users.OpenID("buyer-wang", c.AppID)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		PrepayID string `json:"prepay_id"`
	}
	b, err := io.ReadAll(res.Response.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	_, _, body := get(t, e.URL+"/phone/u/buyer-li/order?"+url.Values{"wallet": {"wechatpay"}, "code": {out.PrepayID}}.Encode())
	if !strings.Contains(body, "data-payer") || !strings.Contains(body, "buyer-wang") {
		t.Fatalf("the order page does not say who pays:\n%s", body)
	}
	before := balance(t, e, "buyer-li", "wechatpay")
	st, _, body := postForm(t, e.URL+"/phone/u/buyer-li/pay", url.Values{"wallet": {"wechatpay"}, "code": {out.PrepayID}, "pin": {phone.PIN}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "另一位付款人") || balance(t, e, "buyer-li", "wechatpay") != before {
		t.Fatalf("another user paid a JSAPI order: %d", st)
	}
	_, _, body = get(t, e.URL+"/phone/u/buyer-wang/order?"+url.Values{"wallet": {"wechatpay"}, "code": {out.PrepayID}}.Encode())
	if strings.Contains(body, "data-payer") || !strings.Contains(body, "data-confirm") {
		t.Fatalf("the payer is told someone else pays:\n%s", body)
	}
}

func TestLandingNeedsItsCode(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	for path, want := range map[string]string{
		"/phone/wechatpay/h5?package=1":   "缺少 prepay_id",
		"/phone/wechatpay/cashier":        "缺少订单",
		"/phone/alipay/cashier?code=":     "缺少订单",
		"/phone/wechatpay/h5?prepay_id=x": "", // looks right: the order page says it does not exist
	} {
		st, loc, body := get(t, e.URL+path)
		if want == "" {
			if st != http.StatusSeeOther {
				t.Fatalf("%s: %d", path, st)
			}
			st, _, body = get(t, e.URL+loc)
			want = "找不到这个订单"
			if st != http.StatusNotFound {
				t.Errorf("%s: order page %d", path, st)
			}
		} else if st != http.StatusBadRequest {
			t.Errorf("%s: %d", path, st)
		}
		if !strings.Contains(body, want) {
			t.Errorf("%s: body lacks %q", path, want)
		}
	}
}
