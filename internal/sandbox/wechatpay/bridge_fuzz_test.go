package wechatpay

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// httpResult checks that s is an absolute http(s) URL whose fragment is
// frag.
func httpResult(t *testing.T, what, s, frag string) {
	t.Helper()
	u, ok := phone.HTTPURL(s)
	if !ok || u.Fragment != frag {
		t.Fatalf("%s %q is not an http(s) URL ending #%s", what, s, frag)
	}
}

// FuzzBridgeCall feeds /phone/wechatpay/jsapi any query: the call is
// accepted only when paySign verifies over exactly the accepted values for
// a JSAPI order of that appid; every URL it leads to is absolute http(s)
// with the result fragment; a refusal is ErrBadCall or ErrUnknownCode; and
// looking never changes the order.
func FuzzBridgeCall(f *testing.F) {
	s := fuzzSimulator(f)
	now := time.Now()
	o := &Order{
		Key: "fuzz-jsapi", MchID: s.creds.MchID, AppID: s.creds.AppID, OutTradeNo: "FUZZJS1", TradeType: TradeJSAPI,
		Desc: "fuzz", NotifyURL: "https://merchant.example/n", Total: 1, Currency: "CNY", State: StateNotPay, CreatedAt: now,
		PrepayID: "wx" + now.Format("20060102150405") + "0123456789abcdef0123", OpenID: users.OpenID("buyer-li", s.creds.AppID),
	}
	s.mu.Lock()
	if err := s.putOrder(o); err != nil {
		f.Fatal(err)
	}
	s.mu.Unlock()
	key, err := sandboxkeys.ParsePrivateKey(s.creds.MerchantPrivateKey)
	if err != nil {
		f.Fatal(err)
	}
	ts := "1700000000"
	pkg := "prepay_id=" + o.PrepayID
	sig, err := wechatpayv3.Sign(key, []byte(s.creds.AppID+"\n"+ts+"\nnonce42\n"+pkg+"\n"))
	if err != nil {
		f.Fatal(err)
	}
	good := url.Values{"appId": {s.creds.AppID}, "timeStamp": {ts}, "nonceStr": {"nonce42"}, "package": {pkg},
		"signType": {"RSA"}, "paySign": {sig}, "return_url": {"https://shop.example/pay?x=1#frag"}}
	wallet := s.Phone()
	if _, err := wallet.Lookup("http://sandbox.test" + bridgePath + "?" + good.Encode()); err != nil {
		f.Fatalf("the seed call is refused: %v", err)
	}
	f.Add(good.Encode())
	for _, k := range bridgeParams {
		q := url.Values{}
		for kk, v := range good {
			if kk != k {
				q[kk] = v
			}
		}
		f.Add(q.Encode())
		q[k] = append(good[k], "x")
		f.Add(q.Encode())
	}
	f.Add(strings.Replace(good.Encode(), "return_url=https", "return_url=javascript", 1))
	f.Add("package=prepay_id%3D" + o.PrepayID + "&return_url=%zz")
	f.Add("")
	f.Add("\r0")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		link := "http://sandbox.test" + bridgePath + "?" + rawQuery
		s.mu.Lock()
		before := *o
		s.mu.Unlock()
		call, parseErr := parseBridgeCall(rawQuery)
		if parseErr != nil && !errors.Is(parseErr, phone.ErrBadCall) {
			t.Fatalf("parse refusal %v is not ErrBadCall", parseErr)
		}
		if _, err := url.Parse(link); err == nil && !wallet.Recognizes(link) {
			t.Fatalf("%q is not recognized", link)
		}
		got, err := wallet.Lookup(link)
		s.mu.Lock()
		after := *o
		s.mu.Unlock()
		if !reflect.DeepEqual(before, after) {
			t.Fatal("Lookup changed the order")
		}
		if fail := wallet.(phone.Bridge).FailURL(link); fail != "" {
			httpResult(t, "fail URL", fail, bridgeFail)
		}
		if err != nil {
			if !errors.Is(err, phone.ErrBadCall) && !errors.Is(err, phone.ErrUnknownCode) {
				t.Fatalf("Lookup: %v", err)
			}
			return
		}
		if parseErr != nil {
			t.Fatalf("Lookup accepted what parse refused: %v", parseErr)
		}
		if call.PrepayID != o.PrepayID || call.SignType != "RSA" || (call.AppID != o.AppID) ||
			wechatpayv3.Verify(&key.PublicKey, call.message(), call.PaySign) != nil {
			t.Fatalf("accepted %+v", call)
		}
		if got.Code != o.PrepayID || got.Payer != "buyer-li" {
			t.Fatalf("Lookup = %+v", got)
		}
		httpResult(t, "return URL", got.ReturnURL, bridgeOK)
		httpResult(t, "cancel URL", got.CancelURL, bridgeCancel)
	})
}

// FuzzOAuth feeds the authorization page and the code exchange any query:
// an accepted authorization names a known appid, a supported scope and an
// http(s) redirect_uri; the exchange always answers JSON, an openid only
// for a live code, which it uses up.
func FuzzOAuth(f *testing.F) {
	s := fuzzSimulator(f)
	h := s.OAuthHandler()
	code, err := s.IssueOAuthCode(s.creds.AppID, "buyer-wang", ScopeBase)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(url.Values{"appid": {s.creds.AppID}, "redirect_uri": {"https://shop.example/cb?x=1"}, "response_type": {"code"}, "scope": {ScopeBase}, "state": {"s"}}.Encode())
	f.Add(url.Values{"appid": {s.creds.AppID}, "secret": {s.creds.AppSecret}, "code": {code}, "grant_type": {"authorization_code"}}.Encode())
	f.Add(url.Values{"appid": {"wx8888888888888888"}, "redirect_uri": {"//shop.example"}, "response_type": {"code"}, "scope": {ScopeUserInfo}}.Encode())
	f.Add("appid=%zz")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		// A malformed query (the seed appid=%zz) is part of the input: the
		// pairs that did parse are what a handler sees too.
		q, _ := url.ParseQuery(rawQuery)
		if a, err := s.parseAuthorize(q); err == nil {
			if _, _, ok := s.app(a.appID); !ok || (a.scope != ScopeBase && a.scope != ScopeUserInfo) || len(a.state) > maxStateLen {
				t.Fatalf("accepted %+v", a)
			}
			if _, ok := phone.HTTPURL(a.redirect.String()); !ok {
				t.Fatalf("redirect to %q", a.redirect)
			}
		}
		get := func(path string) *httptest.ResponseRecorder {
			req := httptest.NewRequest("GET", path, nil)
			req.URL.RawQuery = rawQuery
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		rec := get("/connect/oauth2/authorize")
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("authorization page: %d", rec.Code)
		}

		s.mu.Lock()
		codes := len(s.codes)
		s.mu.Unlock()
		rec = get("/sns/oauth2/access_token")
		var a struct {
			OpenID  string `json:"openid"`
			ErrCode int    `json:"errcode"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != 200 || (a.OpenID == "") == (a.ErrCode == 0) {
			t.Fatalf("exchange: %d %s", rec.Code, rec.Body)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.codes) != codes {
			t.Fatal("the exchange added or dropped codes")
		}
		if a.OpenID != "" && a.OpenID != users.OpenID("buyer-wang", s.creds.AppID) {
			t.Fatalf("openid %s", a.OpenID)
		}
	})
}
