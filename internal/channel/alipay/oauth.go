package alipay

import (
	"context"
	"fmt"
	"net/url"
	"regexp"

	alipaysdk "github.com/smartwalle/alipay/v3"
)

// DefaultAuthorizeBase is Alipay's web authorization host (auth_base),
// which tells a page opened inside Alipay the buyer's user id for
// alipay.jsapi (trade.create) payments.
const DefaultAuthorizeBase = "https://openauth.alipay.com"

// AuthorizeURL implements channel.BuyerIdentifier.
func (c *Connector) AuthorizeURL(redirectURI, state string) string {
	base := c.cfg.AuthorizeBase
	if base == "" {
		base = DefaultAuthorizeBase
	}
	q := url.Values{"app_id": {c.cfg.AppID}, "scope": {"auth_base"}, "redirect_uri": {redirectURI}, "state": {state}}
	return base + "/oauth2/publicAppAuthorize.htm?" + q.Encode()
}

var userIDPattern = regexp.MustCompile(`^2088[0-9]{12}$`)

// BuyerID implements channel.BuyerIdentifier with alipay.system.oauth.token.
func (c *Connector) BuyerID(ctx context.Context, code string) (string, error) {
	res, err := c.client.SystemOauthToken(alipaysdk.SystemOauthToken{GrantType: "authorization_code", Code: code})
	// A success carries no code: only user_id and access_token say so.
	if err == nil && res != nil && res.IsSuccess() {
		if !userIDPattern.MatchString(res.UserId) {
			return "", fmt.Errorf("alipay: oauth: the answer has no valid user_id")
		}
		return res.UserId, nil
	}
	var sdkRes alipaysdk.Error
	if res != nil {
		sdkRes = res.Error
	}
	if err := check(sdkRes, err); err != nil {
		return "", err
	}
	if !userIDPattern.MatchString(res.UserId) {
		return "", fmt.Errorf("alipay: oauth: the answer has no valid user_id")
	}
	return res.UserId, nil
}
