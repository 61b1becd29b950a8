package sandboxhttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClientSendsWalletHostsToTheSandbox(t *testing.T) {
	t.Parallel()
	sandbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The signed parts of the request arrive untouched.
		if _, err := io.WriteString(w, "sandbox "+r.Method+" "+r.RequestURI+" host="+r.Host); err != nil {
			t.Errorf("the sandbox answers: %v", err)
		}
	}))
	defer sandbox.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.WriteString(w, "other"); err != nil {
			t.Errorf("the other host answers: %v", err)
		}
	}))
	defer other.Close()

	hc, err := Client(sandbox.URL)
	if err != nil {
		t.Fatal(err)
	}
	get := func(url string) string {
		resp, err := hc.Get(url)
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
	if got := get("https://api.mch.weixin.qq.com/v3/pay/transactions/id/42?mchid=1"); got != "sandbox GET /v3/pay/transactions/id/42?mchid=1 host=api.mch.weixin.qq.com" {
		t.Fatalf("wallet host: %q", got)
	}
	for _, u := range []string{
		"https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx1&scope=snsapi_base",
		"https://api.weixin.qq.com/sns/oauth2/access_token?appid=wx1&code=c",
		"https://openauth.alipay.com/oauth2/publicAppAuthorize.htm?app_id=1&scope=auth_base",
	} {
		want := u[strings.Index(u[len("https://"):], "/")+len("https://"):]
		host := u[len("https://") : len(u)-len(want)]
		if got := get(u); got != "sandbox GET "+want+" host="+host {
			t.Errorf("%s: %q", host, got)
		}
	}
	if got := get(other.URL + "/x"); got != "other" {
		t.Fatalf("other host: %q", got)
	}
	for _, bad := range []string{"", "ftp://x", "127.0.0.1:8090", "http://"} {
		if _, err := Client(bad); err == nil {
			t.Errorf("Client(%q) accepted", bad)
		}
	}
}
