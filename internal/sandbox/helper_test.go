package sandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// TestHelperRefusesWebPages: a web page the developer opens can send the
// loopback sandbox a cross-site text/plain or form POST without a CORS
// preflight. Such a request is refused, naming why, and the order stays
// unpaid; the same request as JSON from a program pays it.
func TestHelperRefusesWebPages(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	ctx := context.Background()
	c := e.Credentials()
	key, err := sandboxkeys.ParsePrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sandboxkeys.ParsePublicKey(c.PlatformPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := core.NewClient(ctx, option.WithHTTPClient(e.HTTPClient()), option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, key, c.PlatformPublicKeyID, pub))
	if err != nil {
		t.Fatal(err)
	}
	svc := &native.NativeApiService{Client: client}
	no := "HELPERGUARD1"
	resp, _, err := svc.Prepay(ctx, native.PrepayRequest{Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("guard"),
		OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/notify"), Amount: &native.Amount{Total: core.Int64(100)}})
	if err != nil {
		t.Fatal(err)
	}
	state := func() string {
		tx, _, err := svc.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
		if err != nil {
			t.Fatal(err)
		}
		return *tx.TradeState
	}
	body, err := json.Marshal(map[string]string{"wallet": "wechatpay", "code": *resp.CodeUrl})
	if err != nil {
		t.Fatal(err)
	}
	own := e.URL // the sandbox's own origin
	post := func(path, contentType string, headers ...string) (int, string) {
		req, err := http.NewRequest("POST", e.URL+path, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(raw)
	}
	for _, tc := range []struct {
		name        string
		contentType string
		headers     []string
		status      int
		says        string
	}{
		{"cross-site text/plain", "text/plain;charset=UTF-8", []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, "another site"},
		{"cross-site form", "application/x-www-form-urlencoded", []string{"Origin", "https://evil.example"}, 403, "https://evil.example"},
		{"cross-site JSON (after a preflight nobody answers)", "application/json", []string{"Origin", "https://evil.example"}, 403, "another site"},
		{"cross-site by Sec-Fetch-Site alone", "application/json", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
		{"another port on localhost", "application/json", []string{"Origin", "http://127.0.0.1:1", "Sec-Fetch-Site", "same-site"}, 403, "another site"},
		{"an opaque origin", "text/plain", []string{"Origin", "null"}, 403, "another site"},
		{"text/plain without Origin", "text/plain", nil, 415, "application/json"},
		{"a form without Origin", "application/x-www-form-urlencoded", nil, 415, "application/json"},
		{"no Content-Type", "", nil, 415, "application/json"},
	} {
		st, msg := post("/sandbox/v1/pay", tc.contentType, tc.headers...)
		if st != tc.status || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, st, msg, tc.status, tc.says)
		}
		if s := state(); s != "NOTPAY" {
			t.Fatalf("%s: the order is %s", tc.name, s)
		}
	}
	// Faults are state too.
	if st, _ := post("/sandbox/v1/faults", "text/plain", "Origin", "https://evil.example"); st != 403 {
		t.Errorf("cross-site faults: %d", st)
	}
	// The sandbox's own page (same origin) and a program (no Origin) pass.
	if st, msg := post("/sandbox/v1/pay", "application/json; charset=utf-8", "Origin", own, "Sec-Fetch-Site", "same-origin"); st != 200 {
		t.Fatalf("same-origin JSON: %d %s", st, msg)
	}
	if s := state(); s != "SUCCESS" {
		t.Fatalf("the order is %s after a JSON pay", s)
	}
	// Reads are not guarded.
	u, err := url.Parse(e.URL + "/sandbox/v1/users")
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "https://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("GET users with an Origin: %d", res.StatusCode)
	}
}
