package wechatpay_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

// noFollow looks at each answer without following redirects or keeping
// cookies.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func do(t *testing.T, req *http.Request) page {
	t.Helper()
	resp, err := noFollow.Do(req)
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

func fetch(t *testing.T, u string, cookies ...*http.Cookie) page {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return do(t, req)
}

func post(t *testing.T, u string, form url.Values, header ...string) page {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func authorizeURL(e *sandboxtest.Env, appid, redirect, scope, state string) string {
	q := url.Values{"appid": {appid}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {scope}, "state": {state}}
	return e.URL + "/connect/oauth2/authorize?" + q.Encode() + "#wechat_redirect"
}

// authorize plays the person on the authorization page: open it, choose
// user, allow. It returns the code and state the page is sent back with.
func authorize(t *testing.T, e *sandboxtest.Env, appid, redirect, user string) (string, url.Values) {
	t.Helper()
	u := authorizeURL(e, appid, redirect, wechatpay.ScopeBase, "st-42")
	if p := fetch(t, u); p.status != 200 {
		t.Fatalf("authorization page: %d\n%s", p.status, p.body)
	}
	p := post(t, u, url.Values{"user": {user}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("allow: %d\n%s", p.status, p.body)
	}
	back, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	return back.Query().Get("code"), back.Query()
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	OpenID       string `json:"openid"`
	Scope        string `json:"scope"`
	ErrCode      int    `json:"errcode"`
	ErrMsg       string `json:"errmsg"`
}

// exchange calls /sns/oauth2/access_token as a merchant's server does,
// through sandboxhttp with WeChat's real host.
func exchange(t *testing.T, e *sandboxtest.Env, appid, secret, code string) tokenAnswer {
	t.Helper()
	q := url.Values{"appid": {appid}, "secret": {secret}, "code": {code}, "grant_type": {"authorization_code"}}
	resp, err := e.HTTPClient().Get("https://api.weixin.qq.com/sns/oauth2/access_token?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a tokenAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
		t.Fatalf("access_token: %d %v", resp.StatusCode, err)
	}
	return a
}

func TestOAuthOpenID(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(c.AppSecret) {
		t.Fatalf("app_secret %q", c.AppSecret)
	}

	// The page shows who asks and every user, the phone's user chosen.
	u := authorizeURL(e, c.AppID, "https://shop.example/cashier?order=A1", wechatpay.ScopeBase, "st-42")
	p := fetch(t, u, &http.Cookie{Name: phone.UserCookie, Value: "buyer-wang"})
	if p.status != 200 || !strings.Contains(p.body, "hutong 沙箱商户") || !strings.Contains(p.body, "请求获取你的微信身份") ||
		!strings.Contains(p.body, `value="buyer-wang" checked`) || !strings.Contains(p.body, "李娜") {
		t.Fatalf("authorization page %d:\n%s", p.status, p.body)
	}
	// Without the cookie, the default user is chosen.
	if p := fetch(t, u); !strings.Contains(p.body, `value="`+users.Seed[0].ID+`" checked`) {
		t.Fatalf("no default user chosen:\n%s", p.body)
	}

	p = post(t, u, url.Values{"user": {"buyer-li"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "https://shop.example/cashier?order=A1&code=") ||
		!strings.HasSuffix(p.location, "&state=st-42") {
		t.Fatalf("allow: %d %q", p.status, p.location)
	}
	if ck := p.header.Get("Set-Cookie"); !strings.Contains(ck, phone.UserCookie+"=buyer-li") {
		t.Fatalf("the chosen user is not remembered: %q", ck)
	}
	back, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	code := back.Query().Get("code")

	got := exchange(t, e, c.AppID, c.AppSecret, code)
	if got.ErrCode != 0 || got.OpenID != users.OpenID("buyer-li", c.AppID) || got.Scope != wechatpay.ScopeBase ||
		got.ExpiresIn != 7200 || got.AccessToken == "" || got.RefreshToken == "" {
		t.Fatalf("exchange: %+v", got)
	}
	// The openid is the one a JSAPI prepay names its payer by.
	if u, ok := e.Sandbox().WeChatPay().Users().ByOpenID(c.AppID, got.OpenID); !ok || u.ID != "buyer-li" {
		t.Fatalf("openid %s is not 李娜's", got.OpenID)
	}
	// A code works once.
	if again := exchange(t, e, c.AppID, c.AppSecret, code); again.ErrCode != 40163 || again.ErrMsg != "code been used" || again.OpenID != "" {
		t.Fatalf("second exchange: %+v", again)
	}
}

// TestOAuthSubAppID: a sub-merchant's official account (sub_appid) has its
// own secret and openids; a code is good only for the appid it was issued
// under.
func TestOAuthSubAppID(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	subs := e.Sandbox().WeChatPay().SubMerchants()
	sm := subs[0]
	if len(sm.SubAppSecret) != 32 || sm.SubAppSecret == subs[1].SubAppSecret || sm.SubAppSecret == c.AppSecret {
		t.Fatalf("sub_app_secret %q", sm.SubAppSecret)
	}
	var listed struct{ Data []wechatpay.SubMerchant }
	e.Helper("GET", "/sandbox/v1/wechatpay/sub_merchants", nil, &listed)
	if len(listed.Data) != len(subs) || listed.Data[0].SubAppSecret != sm.SubAppSecret {
		t.Fatalf("helper API lists %+v", listed.Data)
	}
	code, _ := authorize(t, e, sm.SubAppID, "http://127.0.0.1:9/back", "buyer-zhang")
	if got := exchange(t, e, c.AppID, c.AppSecret, code); got.ErrCode != 40029 {
		t.Fatalf("a sub_appid's code under the merchant's appid: %+v", got)
	}
	if got := exchange(t, e, sm.SubAppID, c.AppSecret, code); got.ErrCode != 40125 {
		t.Fatalf("the merchant's secret for the sub_appid: %+v", got)
	}
	got := exchange(t, e, sm.SubAppID, sm.SubAppSecret, code)
	if got.ErrCode != 0 || got.OpenID != users.OpenID("buyer-zhang", sm.SubAppID) {
		t.Fatalf("exchange: %+v", got)
	}
}

func TestOAuthAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	base := url.Values{"appid": {c.AppID}, "redirect_uri": {"https://shop.example/back"}, "response_type": {"code"}, "scope": {"snsapi_base"}}
	for _, tc := range []struct {
		name, key, value, want string
	}{
		{"no appid", "appid", "", "10012"},
		{"unknown appid", "appid", "wx0000000000000000", "40013 appid 无效"},
		{"no redirect_uri", "redirect_uri", "", "10011"},
		{"relative redirect_uri", "redirect_uri", "/back", "10003"},
		{"javascript redirect_uri", "redirect_uri", "javascript:alert(1)", "10003"},
		{"ftp redirect_uri", "redirect_uri", "ftp://shop.example/", "10003"},
		{"no host", "redirect_uri", "https:///back", "10003"},
		{"response_type", "response_type", "token", "response_type 应为 code"},
		{"no scope", "scope", "", "10010"},
		{"unknown scope", "scope", "snsapi_login", "10005"},
		{"long state", "state", strings.Repeat("s", 129), "state 超过 128 字节"},
	} {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		q.Set(tc.key, tc.value)
		u := e.URL + "/connect/oauth2/authorize?" + q.Encode()
		if p := fetch(t, u); p.status != 400 || !strings.Contains(p.body, tc.want) || strings.Contains(p.body, "data-allow") {
			t.Errorf("%s: GET %d, want 400 with %q", tc.name, p.status, tc.want)
		}
		if p := post(t, u, url.Values{"user": {"buyer-li"}}); p.status != 400 || p.location != "" {
			t.Errorf("%s: POST %d %q", tc.name, p.status, p.location)
		}
	}
	u := e.URL + "/connect/oauth2/authorize?" + base.Encode()
	if p := post(t, u, url.Values{"user": {"nobody"}}); p.status != 400 || p.location != "" || !strings.Contains(p.body, "请选择一位沙箱用户") {
		t.Errorf("unknown user: %d %q", p.status, p.location)
	}
	// Another site cannot make the sandbox hand out a code.
	if p := post(t, u, url.Values{"user": {"buyer-li"}}, "Sec-Fetch-Site", "cross-site"); p.status != 403 || p.location != "" {
		t.Errorf("cross-site POST: %d %q", p.status, p.location)
	}
}

func TestOAuthTokenRefusals(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := sandboxtest.Start(t, sandboxtest.WithNow(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
	c := e.Credentials()
	code, _ := authorize(t, e, c.AppID, "https://shop.example/back", "buyer-li")
	call := func(q url.Values) tokenAnswer {
		t.Helper()
		p := fetch(t, e.URL+"/sns/oauth2/access_token?"+q.Encode())
		var a tokenAnswer
		if err := json.Unmarshal([]byte(p.body), &a); err != nil || p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
			t.Fatalf("%d %s: %v", p.status, p.body, err)
		}
		return a
	}
	good := url.Values{"appid": {c.AppID}, "secret": {c.AppSecret}, "code": {code}, "grant_type": {"authorization_code"}}
	for _, tc := range []struct {
		key, value string
		code       int
		msg        string
	}{
		{"appid", "", 41002, "appid missing"},
		{"appid", "wx0000000000000000", 40013, "invalid appid"},
		{"secret", "", 41004, "appsecret missing"},
		{"secret", strings.Repeat("0", 32), 40125, "invalid appsecret"},
		{"grant_type", "client_credential", 40002, "invalid grant_type"},
		{"code", "", 41008, "missing code"},
		{"code", "not-a-code", 40029, "invalid code"},
	} {
		q := url.Values{}
		for k, v := range good {
			q[k] = v
		}
		q.Set(tc.key, tc.value)
		if a := call(q); a.ErrCode != tc.code || a.ErrMsg != tc.msg || a.OpenID != "" {
			t.Errorf("%s=%q: %+v, want %d %s", tc.key, tc.value, a, tc.code, tc.msg)
		}
	}
	// None of the refusals used the code.
	if a := call(good); a.ErrCode != 0 || a.OpenID == "" {
		t.Fatalf("the code after refusals: %+v", a)
	}
	// A code not exchanged within 5 minutes is invalid.
	late, _ := authorize(t, e, c.AppID, "https://shop.example/back", "buyer-li")
	offset.Store(int64(5*time.Minute + time.Second))
	good.Set("code", late)
	if a := call(good); a.ErrCode != 40029 {
		t.Fatalf("expired code: %+v", a)
	}
}

// TestOAuthCodesSurviveRestart: a code issued before a restart works after
// it, once.
func TestOAuthCodesSurviveRestart(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	code, _ := authorize(t, e, c.AppID, "https://shop.example/back", "buyer-wang")
	e.Restart()
	if e.Credentials().AppSecret != c.AppSecret {
		t.Fatal("the AppSecret changed across a restart")
	}
	if a := exchange(t, e, c.AppID, c.AppSecret, code); a.OpenID != users.OpenID("buyer-wang", c.AppID) {
		t.Fatalf("after restart: %+v", a)
	}
	e.Restart()
	if a := exchange(t, e, c.AppID, c.AppSecret, code); a.ErrCode != 40163 {
		t.Fatalf("used code after restart: %+v", a)
	}
}

// TestAppSecretCredentials: credentials.json and the helper API carry the
// AppSecret, and a data folder from before AppSecrets gets one that stays.
func TestAppSecretCredentials(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	secret := e.Credentials().AppSecret
	var shown sandbox.Credentials
	if st := e.Helper("GET", "/sandbox/v1/credentials", nil, &shown); st != 200 || shown.WeChatPay.AppSecret != secret {
		t.Fatalf("helper API: %d %q", st, shown.WeChatPay.AppSecret)
	}
	file, err := sandbox.ReadCredentials(e.Dir)
	if err != nil || file.WeChatPay.AppSecret != secret {
		t.Fatalf("credentials.json: %v %q", err, file.WeChatPay.AppSecret)
	}

	e.Stop()
	path := filepath.Join(e.Dir, "sandbox.journal")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := regexp.MustCompile(`\\?"(sub_)?app_secret\\?":\\?"[0-9a-f]{32}\\?",?`).ReplaceAll(b, nil)
	if strings.Contains(string(old), "app_secret") {
		t.Fatal("the journal still holds an AppSecret")
	}
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	e.Restart()
	fresh := e.Credentials().AppSecret
	if len(fresh) != 32 || fresh == secret {
		t.Fatalf("an old data folder got AppSecret %q", fresh)
	}
	for _, sm := range e.Sandbox().WeChatPay().SubMerchants() {
		if len(sm.SubAppSecret) != 32 {
			t.Fatalf("an old data folder's sub-merchant: %+v", sm)
		}
	}
	e.Restart()
	if e.Credentials().AppSecret != fresh {
		t.Fatal("the new AppSecret did not stay")
	}
}

// TestOAuthCodeOnceConcurrently: of many exchanges of one code at once,
// one gets the openid.
func TestOAuthCodeOnceConcurrently(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	code, _ := authorize(t, e, c.AppID, "https://shop.example/back", "buyer-li")
	q := url.Values{"appid": {c.AppID}, "secret": {c.AppSecret}, "code": {code}, "grant_type": {"authorization_code"}}
	type exchange struct {
		a   tokenAnswer
		err error
	}
	answers := make(chan exchange, 8)
	for range cap(answers) {
		go func() {
			var x exchange
			resp, err := http.Get(e.URL + "/sns/oauth2/access_token?" + q.Encode())
			if err != nil {
				answers <- exchange{err: err}
				return
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(&x.a); err != nil {
				x.err = fmt.Errorf("the answer (%d) is not JSON: %w", resp.StatusCode, err)
			}
			answers <- x
		}()
	}
	won, used := 0, 0
	for range cap(answers) {
		x := <-answers
		if x.err != nil {
			t.Fatal(x.err)
		}
		switch a := x.a; {
		case a.OpenID != "":
			won++
		case a.ErrCode == 40163:
			used++
		}
	}
	if won != 1 || used != cap(answers)-1 {
		t.Fatalf("%d exchanges got the openid, %d were told the code was used", won, used)
	}
}
