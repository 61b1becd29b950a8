package wechatpay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
)

// The hosts of WeChat's web authorization (snsapi_base), which tells a page
// opened inside WeChat the buyer's openid for JSAPI payments.
const (
	DefaultAuthorizeBase = "https://open.weixin.qq.com"
	apiBase              = "https://api.weixin.qq.com"
)

// AuthorizeURL implements channel.BuyerIdentifier: WeChat asks nothing of
// the buyer for snsapi_base and comes back with a code.
func (c *Connector) AuthorizeURL(redirectURI, state string) string {
	base := c.cfg.AuthorizeBase
	if base == "" {
		base = DefaultAuthorizeBase
	}
	q := url.Values{"appid": {c.cfg.AppID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"snsapi_base"}, "state": {state}}
	// WeChat reads the parameters in this order and wants the fragment.
	return base + "/connect/oauth2/authorize?appid=" + q.Get("appid") + "&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code&scope=snsapi_base&state=" + url.QueryEscape(state) + "#wechat_redirect"
}

var openIDPattern = regexp.MustCompile(`^[0-9A-Za-z_\-]{1,64}$`)

// BuyerID implements channel.BuyerIdentifier: the code, used once, for the
// buyer's openid under this account's appid.
func (c *Connector) BuyerID(ctx context.Context, code string) (string, error) {
	if c.cfg.AppSecret == "" {
		return "", fmt.Errorf("wechatpay: no AppSecret is configured for appid %s", c.cfg.AppID)
	}
	q := url.Values{"appid": {c.cfg.AppID}, "secret": {c.cfg.AppSecret}, "code": {code}, "grant_type": {"authorization_code"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiBase+"/sns/oauth2/access_token?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	hc := c.cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("wechatpay: oauth: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("wechatpay: oauth: %w", err)
	}
	return parseAccessToken(body)
}

// parseAccessToken reads the answer of /sns/oauth2/access_token: an openid,
// or {"errcode", "errmsg"}.
func parseAccessToken(body []byte) (string, error) {
	var out struct {
		OpenID  string `json:"openid"`
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", fmt.Errorf("wechatpay: oauth: the answer is not JSON: %w", err)
	}
	if out.ErrCode != 0 {
		return "", fmt.Errorf("wechatpay: oauth: errcode %d: %s", out.ErrCode, out.ErrMsg)
	}
	if !openIDPattern.MatchString(out.OpenID) {
		return "", fmt.Errorf("wechatpay: oauth: the answer has no valid openid")
	}
	return out.OpenID, nil
}
