package alipay

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
)

// A buyer's web authorization (网页授权, auth_base): a page opened in
// Alipay sends the browser to openauth.alipay.com/oauth2/publicAppAuthorize.htm,
// Alipay sends it back with an auth_code, and the page's server exchanges
// the code with alipay.system.oauth.token for the buyer's user_id (the
// buyer_id alipay.trade.create takes) and open_id. The sandbox serves the
// page at the same path, asking which sandbox user holds the phone.

// Lifetimes. An auth_code lives 3 minutes to 24 hours as Alipay sees fit;
// the sandbox gives the least, so a merchant that works here works there.
const (
	userCodeTTL    = 3 * time.Minute
	userTokenTTL   = 15 * 24 * time.Hour
	userRefreshTTL = 30 * 24 * time.Hour
	maxAuthState   = 100
)

// userAuthCode is an auth_code a buyer's authorization produced. Codes are
// journaled so that a used one stays used across a restart; expired ones
// are dropped.
type userAuthCode struct {
	Code      string    `json:"code"`
	AppID     string    `json:"app_id"`
	User      string    `json:"user"`
	Scope     string    `json:"scope"`
	ExpiresAt time.Time `json:"expires_at"`
	Used      bool      `json:"used,omitempty"`
}

// userRefresh is what a refresh_token carries: tokens are signed, not
// stored.
type userRefresh struct {
	User    string `json:"u"`
	AppID   string `json:"a"`
	Scope   string `json:"s"`
	Expires int64  `json:"e"`
}

const kindUserCode = "alipay.usercode"

// userAuthorizer is the page's side of publicAppAuthorize.htm.
type userAuthorizer struct{ s *Simulator }

type userAuthRequest struct {
	appID, scope, state string
	redirect            *url.URL
}

// parseUserAuthorize checks the query of publicAppAuthorize.htm.
func (s *Simulator) parseUserAuthorize(q url.Values) (userAuthRequest, error) {
	var a userAuthRequest
	switch a.appID = q.Get("app_id"); {
	case a.appID == "":
		return a, errors.New("缺少参数 app_id (app_id is required)")
	case a.appID != s.creds.AppID:
		return a, fmt.Errorf("app_id 无效 (invalid app_id): %q 不是沙箱应用；沙箱应用是 %s", a.appID, s.creds.AppID)
	}
	a.scope = q.Get("scope")
	if a.scope == "" {
		return a, errors.New("缺少参数 scope (scope is required): auth_base 或 auth_user")
	}
	for sc := range strings.SplitSeq(a.scope, ",") {
		if sc != "auth_base" && sc != "auth_user" {
			return a, fmt.Errorf("scope 无效 (invalid scope): %q；沙箱支持 auth_base 与 auth_user", sc)
		}
	}
	raw := q.Get("redirect_uri")
	if raw == "" {
		return a, errors.New("缺少参数 redirect_uri (redirect_uri is required)")
	}
	var ok bool
	if a.redirect, ok = phone.HTTPURL(raw); !ok {
		return a, fmt.Errorf("redirect_uri 应为 http(s) 绝对地址 (redirect_uri must be an absolute http(s) URL): %q", raw)
	}
	if a.state = q.Get("state"); len(a.state) > maxAuthState {
		return a, fmt.Errorf("state 超过 %d 个字符 (state is longer than %d characters)", maxAuthState, maxAuthState)
	}
	return a, nil
}

func (u userAuthorizer) CheckAuthorize(q url.Values) (phone.AuthRequest, error) {
	a, err := u.s.parseUserAuthorize(q)
	if err != nil {
		return phone.AuthRequest{}, err
	}
	name := a.appID
	u.s.mu.Lock()
	if m := u.s.merchants[sandboxPID]; m != nil {
		name = m.Name
	}
	u.s.mu.Unlock()
	return phone.AuthRequest{App: name, Identity: "支付宝身份", Scope: a.scope + " · " + a.appID, RedirectURI: a.redirect.String()}, nil
}

func (u userAuthorizer) Authorize(q url.Values, userID string) (string, error) {
	a, err := u.s.parseUserAuthorize(q)
	if err != nil {
		return "", err
	}
	code, err := u.s.IssueUserAuthCode(userID, a.scope)
	if err != nil {
		return "", err
	}
	kv := []string{"app_id", a.appID, "source", "alipay_wallet", "scope", a.scope, "auth_code", code}
	if a.state != "" {
		kv = append(kv, "state", a.state)
	}
	return phone.AppendQuery(a.redirect, kv...), nil
}

// IssueUserAuthCode is a sandbox user authorizing the sandbox app: it
// returns the auth_code alipay.system.oauth.token exchanges for the user's
// user_id and open_id, once, within 3 minutes.
func (s *Simulator) IssueUserAuthCode(userID, scope string) (string, error) {
	if _, err := s.cfg.Users.Get(userID); err != nil {
		return "", err
	}
	if scope == "" {
		scope = "auth_base"
	}
	b := make([]byte, 16)
	rand.Read(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, c := range s.userCodes { // past their time, codes are only clutter
		if now.After(c.ExpiresAt) {
			if err := s.cfg.Journal.Delete(kindUserCode, k); err != nil {
				return "", err
			}
			delete(s.userCodes, k)
		}
	}
	c := &userAuthCode{Code: hex.EncodeToString(b), AppID: s.creds.AppID, User: userID, Scope: scope, ExpiresAt: now.Add(userCodeTTL)}
	if err := s.cfg.Journal.Put(kindUserCode, c.Code, c); err != nil {
		return "", err
	}
	s.userCodes[c.Code] = c
	return c.Code, nil
}

// refreshKey signs refresh tokens; derived from the bill key, it signs
// nothing a bill link would accept.
func (s *Simulator) refreshKey() sandboxkeys.Token {
	return sandboxkeys.Token{Key: append([]byte("alipay.system.oauth.token\x00"), s.billToken.Key...)}
}

type userTokenFields struct {
	AccessToken  string `json:"access_token"`
	AlipayUserID string `json:"alipay_user_id"`
	AuthStart    string `json:"auth_start"`
	ExpiresIn    int64  `json:"expires_in"`
	OpenID       string `json:"open_id"`
	ReExpiresIn  int64  `json:"re_expires_in"`
	RefreshToken string `json:"refresh_token"`
	UserID       string `json:"user_id"`
}

// userToken is alipay.system.oauth.token: an auth_code (once, in time) or
// a refresh_token for the buyer's user_id and open_id under the app. Its
// parameters are outside biz_content; its failures are error_response.
func (s *Simulator) userToken(c *call) answer {
	fail := func(code, sub, msg string) answer {
		return answer{result: alipayapi.Failure(code, sub, msg)}
	}
	appID := c.params.Get("app_id")
	now := s.now()
	var grant userRefresh
	switch c.params.Get("grant_type") {
	case "authorization_code":
		code := c.params.Get("code")
		if code == "" {
			return fail(alipayapi.CodeMissingArguments, "isv.missing-code", "缺少参数 code")
		}
		s.mu.Lock()
		ac, ok := s.userCodes[code]
		if !ok || ac.Used || ac.AppID != appID || now.After(ac.ExpiresAt) {
			s.mu.Unlock()
			return fail(alipayapi.CodeInvalidArguments, "isv.code-invalid", "授权码code无效")
		}
		used := *ac
		used.Used = true
		if err := s.cfg.Journal.Put(kindUserCode, used.Code, used); err != nil {
			s.mu.Unlock()
			return fail(alipayapi.CodeServiceUnavailable, "isp.unknow-error", "系统繁忙")
		}
		*ac = used
		grant = userRefresh{User: ac.User, AppID: ac.AppID, Scope: ac.Scope}
		s.mu.Unlock()
	case "refresh_token":
		var r userRefresh
		tok, _ := strings.CutPrefix(c.params.Get("refresh_token"), "authusrB")
		if !s.refreshKey().Open(tok, &r) || r.AppID != appID || now.Unix() > r.Expires {
			return fail(alipayapi.CodeInvalidArguments, "isv.refresh-token-invalid", "刷新令牌refresh_token无效")
		}
		grant = r
	case "":
		return fail(alipayapi.CodeMissingArguments, "isv.missing-grant-type", "缺少参数 grant_type")
	default:
		return fail(alipayapi.CodeInvalidArguments, "isv.grant-type-invalid", "grant_type 应为 authorization_code 或 refresh_token")
	}
	if _, err := s.cfg.Users.Get(grant.User); err != nil {
		return fail(alipayapi.CodeInvalidArguments, "isv.code-invalid", "授权码code无效")
	}
	grant.Expires = now.Add(userRefreshTTL).Unix()
	userID := BuyerID(grant.User)
	return answer{bare: true, result: alipayapi.Success, fields: userTokenFields{
		AccessToken:  "authusrB" + randomLower(32),
		AlipayUserID: userID,
		AuthStart:    chinatime.DateTime(now),
		ExpiresIn:    int64(userTokenTTL / time.Second),
		OpenID:       BuyerOpenID(grant.User, appID),
		ReExpiresIn:  int64(userRefreshTTL / time.Second),
		RefreshToken: "authusrB" + s.refreshKey().Sign(grant),
		UserID:       userID,
	}}
}
