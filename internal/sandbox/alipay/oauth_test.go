package alipay_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

// browse reaches the sandbox through sandboxhttp, so that Alipay's real
// host (openauth.alipay.com) works, without following redirects.
func browse(t *testing.T, e *sandboxtest.Env, method, u string, form url.Values, header ...string) page {
	t.Helper()
	hc := e.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header.Get("Location"), string(b), resp.Header}
}

// userAuthCode plays the person on the authorization page the SDK links
// to, and returns where the browser is sent back.
func userAuthCode(t *testing.T, e *sandboxtest.Env, client *alipaysdk.Client, user string) url.Values {
	t.Helper()
	link, err := client.PublicAppAuthorize([]string{"auth_base"}, "https://shop.example/cashier?order=A1", "st-42")
	if err != nil {
		t.Fatal(err)
	}
	if p := browse(t, e, "GET", link.String(), nil); p.status != 200 {
		t.Fatalf("authorization page %d:\n%s", p.status, p.body)
	}
	p := browse(t, e, "POST", link.String(), url.Values{"user": {user}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("allow: %d\n%s", p.status, p.body)
	}
	back, err := url.Parse(p.location)
	if err != nil || back.Host != "shop.example" {
		t.Fatalf("sent back to %q", p.location)
	}
	return back.Query()
}

func TestUserAuthorizationSDK(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	appID := e.Sandbox().Credentials().Alipay.AppID

	link, err := client.PublicAppAuthorize([]string{"auth_base"}, "https://shop.example/cashier?order=A1", "st-42")
	if err != nil {
		t.Fatal(err)
	}
	if link.Host != "openauth.alipay.com" {
		t.Fatalf("the SDK links to %s", link)
	}
	p := browse(t, e, "GET", link.String(), nil, "Cookie", phone.UserCookie+"=buyer-li")
	if p.status != 200 || !strings.Contains(p.body, "hutong 沙箱商家") || !strings.Contains(p.body, "请求获取你的支付宝身份") ||
		!strings.Contains(p.body, `value="buyer-li" checked`) {
		t.Fatalf("authorization page %d:\n%s", p.status, p.body)
	}
	p = browse(t, e, "POST", link.String(), url.Values{"user": {"buyer-li"}})
	want := "https://shop.example/cashier?order=A1&app_id=" + appID + "&source=alipay_wallet&scope=auth_base&auth_code="
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, want) || !strings.HasSuffix(p.location, "&state=st-42") {
		t.Fatalf("allow: %d %q", p.status, p.location)
	}
	back, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	code := back.Query().Get("auth_code")

	tok, err := client.SystemOauthToken(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: code})
	if err != nil || !tok.IsSuccess() {
		t.Fatalf("SystemOauthToken: %v %+v", err, tok)
	}
	if tok.UserId != alipay.BuyerID("buyer-li") || len(tok.UserId) != 16 || !strings.HasPrefix(tok.UserId, "2088") ||
		tok.OpenId != alipay.BuyerOpenID("buyer-li", appID) || tok.ExpiresIn <= 0 || tok.ReExpiresIn <= tok.ExpiresIn ||
		tok.RefreshToken == "" || tok.AuthStart == "" {
		t.Fatalf("token: %+v", tok)
	}

	// A code works once; the refusal is error_response 40002 isv.code-invalid.
	_, err = client.SystemOauthToken(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: code})
	var ae *alipaysdk.Error
	if !errors.As(err, &ae) || ae.Code != "40002" || ae.SubCode != "isv.code-invalid" {
		t.Fatalf("second exchange: %v", err)
	}
	// The refresh token gives the same buyer.
	again, err := client.SystemOauthToken(alipaysdk.SystemOauthToken{GrantType: "refresh_token", RefreshToken: tok.RefreshToken})
	if err != nil || again.UserId != tok.UserId || again.OpenId != tok.OpenId || again.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %v %+v", err, again)
	}

	// The user_id is the buyer_id of trade.create: only 李娜 pays it.
	no := outTradeNo("OA")
	tc := alipaysdk.TradeCreate{BuyerId: tok.UserId}
	tc.OutTradeNo, tc.Subject, tc.TotalAmount = no, "授权后下单", "3.20"
	cr, err := client.TradeCreate(tc)
	if err != nil || !cr.IsSuccess() {
		t.Fatalf("create: %v %+v", err, cr)
	}
	if st, code := payRefused(t, e, cr.TradeNo, "buyer-wang"); st != http.StatusConflict || code != "wrong_payer" {
		t.Fatalf("another buyer paid: %d %s", st, code)
	}
	if res := pay(t, e, cr.TradeNo, ""); res.User != "buyer-li" {
		t.Fatalf("paid by %s", res.User)
	}
	// So is the open_id.
	tc = alipaysdk.TradeCreate{BuyerOpenId: tok.OpenId}
	tc.OutTradeNo, tc.Subject, tc.TotalAmount = outTradeNo("OB"), "授权后下单", "1.00"
	if cr, err = client.TradeCreate(tc); err != nil || !cr.IsSuccess() {
		t.Fatalf("create by open_id: %v %+v", err, cr)
	}
	if res := pay(t, e, cr.TradeNo, ""); res.User != "buyer-li" {
		t.Fatalf("paid by %s", res.User)
	}
}

// TestUserTokenAnswers looks at the wire: a success has no code or msg, a
// failure is error_response, both signed.
func TestUserTokenAnswers(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	code := userAuthCode(t, e, client, "buyer-zhang").Get("auth_code")
	call := func(p alipaysdk.SystemOauthToken) string {
		t.Helper()
		v, err := client.URLValues(p)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.PostForm(e.URL+"/gateway.do", v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ok := call(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: code})
	if !strings.HasPrefix(ok, `{"alipay_system_oauth_token_response":{"access_token":"authusrB`) || strings.Contains(ok, `"code"`) ||
		!strings.Contains(ok, `"user_id":"`+alipay.BuyerID("buyer-zhang")+`"`) || !strings.Contains(ok, `"expires_in":1296000`) ||
		!strings.Contains(ok, `,"sign":"`) {
		t.Fatalf("success: %s", ok)
	}
	used := call(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: code})
	if !strings.HasPrefix(used, `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"授权码code无效"},"sign":"`) {
		t.Fatalf("used code: %s", used)
	}
	// The gateway's own refusals of this method are error_response too.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	bad := newClientWithKey(t, e, sandboxkeys.PrivatePEM(other))
	v, err := bad.URLValues(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: "x"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(e.URL+"/gateway.do", v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(string(b), `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature"`) {
		t.Fatalf("bad signature: %s", b)
	}
}

func TestUserTokenRefusals(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := sandboxtest.Start(t, sandboxtest.WithNow(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
	client := newClient(t, e)
	refused := func(p alipaysdk.SystemOauthToken, code, subCode string) {
		t.Helper()
		res, err := client.SystemOauthToken(p)
		var ae *alipaysdk.Error
		if !errors.As(err, &ae) || string(ae.Code) != code || ae.SubCode != subCode {
			t.Errorf("%+v: %v %+v, want %s %s", p, err, res, code, subCode)
		}
	}
	refused(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: "4b203fe6c11548bcabd8da5bb087a83b"}, "40002", "isv.code-invalid")
	refused(alipaysdk.SystemOauthToken{GrantType: "authorization_code"}, "40001", "isv.missing-code")
	refused(alipaysdk.SystemOauthToken{}, "40001", "isv.missing-grant-type")
	refused(alipaysdk.SystemOauthToken{GrantType: "password", Code: "x"}, "40002", "isv.grant-type-invalid")
	refused(alipaysdk.SystemOauthToken{GrantType: "refresh_token", RefreshToken: "authusrBnot-a-token"}, "40002", "isv.refresh-token-invalid")
	// An auth_code is good for 3 minutes.
	code := userAuthCode(t, e, client, "buyer-wang").Get("auth_code")
	offset.Store(int64(3*time.Minute + time.Second))
	refused(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: code}, "40002", "isv.code-invalid")
}

func TestUserAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	appID := e.Sandbox().Credentials().Alipay.AppID
	base := url.Values{"app_id": {appID}, "scope": {"auth_base"}, "redirect_uri": {"https://shop.example/back"}}
	for _, tc := range []struct{ name, key, value, want string }{
		{"no app_id", "app_id", "", "缺少参数 app_id"},
		{"unknown app_id", "app_id", "2021000000000000", "app_id 无效"},
		{"no scope", "scope", "", "缺少参数 scope"},
		{"unknown scope", "scope", "auth_base,auth_zhima", "scope 无效"},
		{"no redirect_uri", "redirect_uri", "", "缺少参数 redirect_uri"},
		{"relative redirect_uri", "redirect_uri", "/back", "redirect_uri 应为 http(s) 绝对地址"},
		{"javascript redirect_uri", "redirect_uri", "javascript:alert(1)", "redirect_uri 应为 http(s) 绝对地址"},
		{"long state", "state", strings.Repeat("s", 101), "state 超过 100"},
	} {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		q.Set(tc.key, tc.value)
		u := "https://openauth.alipay.com/oauth2/publicAppAuthorize.htm?" + q.Encode()
		if p := browse(t, e, "GET", u, nil); p.status != 400 || !strings.Contains(p.body, tc.want) || strings.Contains(p.body, "data-allow") {
			t.Errorf("%s: GET %d, want 400 with %q", tc.name, p.status, tc.want)
		}
		if p := browse(t, e, "POST", u, url.Values{"user": {"buyer-li"}}); p.status != 400 || p.location != "" {
			t.Errorf("%s: POST %d %q", tc.name, p.status, p.location)
		}
	}
	u := e.URL + "/oauth2/publicAppAuthorize.htm?" + base.Encode()
	if p := browse(t, e, "POST", u, url.Values{"user": {"nobody"}}); p.status != 400 || p.location != "" {
		t.Errorf("unknown user: %d %q", p.status, p.location)
	}
	if p := browse(t, e, "POST", u, url.Values{"user": {"buyer-li"}}, "Sec-Fetch-Site", "cross-site"); p.status != 403 || p.location != "" {
		t.Errorf("cross-site POST: %d %q", p.status, p.location)
	}
	// With the parameters right, the merchants' authorization page beside
	// it still answers.
	if p := browse(t, e, "GET", e.URL+"/oauth2/appToAppAuth.htm?app_id="+appID+"&redirect_uri=https://isv.example/cb", nil); p.status != 200 {
		t.Errorf("appToAppAuth: %d", p.status)
	}
}

// TestUserAuthCodesSurviveRestart: an auth_code issued before a restart
// works after it, once.
func TestUserAuthCodesSurviveRestart(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	code := userAuthCode(t, e, client, "buyer-wang").Get("auth_code")
	e.Restart()
	tok, err := client.SystemOauthToken(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: code})
	if err != nil || tok.UserId != alipay.BuyerID("buyer-wang") {
		t.Fatalf("after restart: %v %+v", err, tok)
	}
	e.Restart()
	if _, err := client.SystemOauthToken(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: code}); err == nil {
		t.Fatal("a used code worked after a restart")
	}
}
