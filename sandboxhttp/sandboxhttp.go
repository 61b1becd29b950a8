// Package sandboxhttp points an unchanged wallet SDK at a hutong sandbox.
//
// The official SDKs build their request URLs from the wallets' real hosts
// (WeChat Pay's https://api.mch.weixin.qq.com). What they all accept is an
// *http.Client, so Client returns one whose transport sends requests for
// those hosts to the sandbox instead. Paths, queries, bodies and headers are
// untouched, so the signatures the SDK computes stay valid:
//
//	hc, _ := sandboxhttp.Client("http://127.0.0.1:8090")
//	client, _ := core.NewClient(ctx, option.WithHTTPClient(hc), option.WithWechatPayPublicKeyAuthCipher(…))
//
// Requests for any other host go out as they are.
package sandboxhttp

import (
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// WalletHosts are the hosts whose requests go to the sandbox.
var WalletHosts = []string{
	"api.mch.weixin.qq.com",  // WeChat Pay API v3
	"api2.mch.weixin.qq.com", // its backup domain
	"open.weixin.qq.com",     // WeChat web OAuth: the authorization page
	"api.weixin.qq.com",      // WeChat web OAuth: the code exchange
	"openauth.alipay.com",    // Alipay's authorization pages
}

// Transport rewrites requests for WalletHosts to the sandbox.
type Transport struct {
	// Sandbox is the sandbox's base URL, such as http://127.0.0.1:8090.
	Sandbox *url.URL
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	for _, h := range WalletHosts {
		if r.URL.Hostname() == h {
			r = r.Clone(r.Context())
			r.URL.Scheme = t.Sandbox.Scheme
			r.URL.Host = t.Sandbox.Host
			break
		}
	}
	return base.RoundTrip(r)
}

// Client returns an *http.Client that reaches the sandbox at sandboxURL
// whenever a request names a wallet host.
func Client(sandboxURL string) (*http.Client, error) {
	u, err := url.Parse(sandboxURL)
	if err != nil {
		return nil, fmt.Errorf("sandboxhttp: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("sandboxhttp: %q is not an http(s) base URL", sandboxURL)
	}
	return &http.Client{Transport: &Transport{Sandbox: u}, Timeout: 30 * time.Second}, nil
}
