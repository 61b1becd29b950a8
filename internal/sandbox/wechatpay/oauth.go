package wechatpay

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// WeChat's web OAuth (网页授权), the way a page opened inside WeChat learns
// who its buyer is: the page sends the browser to
// open.weixin.qq.com/connect/oauth2/authorize, WeChat sends it back with a
// code, and the page's server exchanges the code at
// api.weixin.qq.com/sns/oauth2/access_token for the buyer's openid under the
// appid. The sandbox serves both at the same paths; its authorization page
// asks which sandbox user holds the phone.

// Lifetimes, as WeChat grants them.
const (
	oauthCodeTTL  = 5 * time.Minute
	oauthTokenTTL = 7200 * time.Second
	maxStateLen   = 128
)

// The scopes of web OAuth.
const (
	ScopeBase     = "snsapi_base"
	ScopeUserInfo = "snsapi_userinfo"
)

// oauthCode is a code the authorization page issued. Codes are journaled so
// that a used one stays used across a restart; expired ones are dropped.
type oauthCode struct {
	Code      string    `json:"code"`
	AppID     string    `json:"appid"`
	User      string    `json:"user"`
	Scope     string    `json:"scope"`
	ExpiresAt time.Time `json:"expires_at"`
	Used      bool      `json:"used,omitempty"`
}

// OAuthHandler serves the authorization page at /connect/oauth2/authorize
// (open.weixin.qq.com) and the code exchange at /sns/oauth2/access_token
// (api.weixin.qq.com).
func (s *Simulator) OAuthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/connect/oauth2/authorize", phone.Consent(s.cfg.Users, oauthWallet{s.Phone()}, oauthAuthorizer{s}))
	mux.HandleFunc("GET /sns/oauth2/access_token", s.accessToken)
	return mux
}

// oauthWallet is the phone wallet titled as WeChat itself, not its payment
// service, on the authorization page.
type oauthWallet struct{ phone.Wallet }

func (oauthWallet) Title() string { return "微信" }

// app finds an appid the sandbox knows: the merchant's own, or a
// sub-merchant's sub_appid. It returns the account's name and AppSecret.
func (s *Simulator) app(appid string) (name, secret string, ok bool) {
	if appid == s.creds.AppID {
		return sandboxName, s.creds.AppSecret, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sm := range s.subs {
		if sm.SubAppID != "" && sm.SubAppID == appid {
			return sm.Name, sm.SubAppSecret, true
		}
	}
	return "", "", false
}

// appIDs lists the appids the sandbox knows, the merchant's first.
func (s *Simulator) appIDs() []string {
	var subs []string
	for _, sm := range s.SubMerchants() {
		if sm.SubAppID != "" {
			subs = append(subs, sm.SubAppID)
		}
	}
	slices.Sort(subs)
	return append([]string{s.creds.AppID}, subs...)
}

type oauthAuthorizer struct{ s *Simulator }

// authorizeRequest is a checked authorization request.
type authorizeRequest struct {
	appID, appName, scope, state string
	redirect                     *url.URL
}

// parseAuthorize checks the query of /connect/oauth2/authorize in the
// order WeChat does; refusals carry WeChat's error numbers.
func (s *Simulator) parseAuthorize(q url.Values) (authorizeRequest, error) {
	var a authorizeRequest
	a.appID = q.Get("appid")
	if a.appID == "" {
		return a, errors.New("10012 appid 不能为空 (appid is required)")
	}
	name, _, ok := s.app(a.appID)
	if !ok {
		return a, fmt.Errorf("40013 appid 无效 (invalid appid): %q 不是沙箱的公众号；沙箱认得 %s", a.appID, strings.Join(s.appIDs(), "、"))
	}
	a.appName = name
	raw := q.Get("redirect_uri")
	if raw == "" {
		return a, errors.New("10011 redirect_uri 不能为空 (redirect_uri is required)")
	}
	if a.redirect, ok = phone.HTTPURL(raw); !ok {
		return a, fmt.Errorf("10003 redirect_uri 应为 http(s) 绝对地址 (redirect_uri must be an absolute http(s) URL): %q", raw)
	}
	if rt := q.Get("response_type"); rt != "code" {
		return a, fmt.Errorf("response_type 应为 code (response_type must be code): %q", rt)
	}
	switch a.scope = q.Get("scope"); a.scope {
	case ScopeBase, ScopeUserInfo:
	case "":
		return a, errors.New("10010 scope 不能为空 (scope is required): snsapi_base 或 snsapi_userinfo")
	default:
		return a, fmt.Errorf("10005 scope 应为 snsapi_base 或 snsapi_userinfo (unsupported scope): %q", a.scope)
	}
	if a.state = q.Get("state"); len(a.state) > maxStateLen {
		return a, fmt.Errorf("state 超过 %d 字节 (state is longer than %d bytes)", maxStateLen, maxStateLen)
	}
	return a, nil
}

func (o oauthAuthorizer) CheckAuthorize(q url.Values) (phone.AuthRequest, error) {
	a, err := o.s.parseAuthorize(q)
	if err != nil {
		return phone.AuthRequest{}, err
	}
	return phone.AuthRequest{App: a.appName, Identity: "微信身份", Scope: a.scope + " · " + a.appID, RedirectURI: a.redirect.String()}, nil
}

func (o oauthAuthorizer) Authorize(q url.Values, userID string) (string, error) {
	a, err := o.s.parseAuthorize(q)
	if err != nil {
		return "", err
	}
	code, err := o.s.IssueOAuthCode(a.appID, userID, a.scope)
	if err != nil {
		return "", err
	}
	// WeChat appends code and state (empty or not) to redirect_uri.
	return phone.AppendQuery(a.redirect, "code", code, "state", a.state), nil
}

// IssueOAuthCode is a sandbox user agreeing to web OAuth under appid: it
// returns the one-time code /sns/oauth2/access_token exchanges for the
// user's openid, valid for 5 minutes.
func (s *Simulator) IssueOAuthCode(appid, userID, scope string) (string, error) {
	if _, _, ok := s.app(appid); !ok {
		return "", fmt.Errorf("appid %q is not a sandbox appid", appid)
	}
	if _, err := s.cfg.Users.Get(userID); err != nil {
		return "", err
	}
	if scope == "" {
		scope = ScopeBase
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, c := range s.codes { // past their 5 minutes, codes are only clutter
		if now.After(c.ExpiresAt) {
			if err := s.cfg.Journal.Delete(kindOAuthCode, k); err != nil {
				return "", err
			}
			delete(s.codes, k)
		}
	}
	c := &oauthCode{Code: wechatpayv3.RandomString(32), AppID: appid, User: userID, Scope: scope, ExpiresAt: now.Add(oauthCodeTTL)}
	if err := s.cfg.Journal.Put(kindOAuthCode, c.Code, c); err != nil {
		return "", err
	}
	s.codes[c.Code] = c
	return c.Code, nil
}

// oauthError is the body of every refusal of api.weixin.qq.com.
type oauthError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// accessToken is /sns/oauth2/access_token: appid and secret, then the
// code, which works once and for 5 minutes.
func (s *Simulator) accessToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appid, secret, code := q.Get("appid"), q.Get("secret"), q.Get("code")
	_, want, known := s.app(appid)
	var refused *oauthError
	switch {
	case appid == "":
		refused = &oauthError{41002, "appid missing"}
	case !known:
		refused = &oauthError{40013, "invalid appid"}
	case secret == "":
		refused = &oauthError{41004, "appsecret missing"}
	case secret != want:
		refused = &oauthError{40125, "invalid appsecret"}
	case q.Get("grant_type") != "authorization_code":
		refused = &oauthError{40002, "invalid grant_type"}
	case code == "":
		refused = &oauthError{41008, "missing code"}
	}
	if refused != nil {
		writeOAuth(w, refused)
		return
	}
	s.mu.Lock()
	c, ok := s.codes[code]
	switch {
	case !ok || c.AppID != appid || s.now().After(c.ExpiresAt):
		refused = &oauthError{40029, "invalid code"}
	case c.Used:
		refused = &oauthError{40163, "code been used"}
	default:
		used := *c
		used.Used = true
		if err := s.cfg.Journal.Put(kindOAuthCode, used.Code, used); err != nil {
			refused = &oauthError{-1, "system error"}
		} else {
			*c = used
		}
	}
	var user, scope string
	if c != nil {
		user, scope = c.User, c.Scope
	}
	s.mu.Unlock()
	if refused != nil {
		writeOAuth(w, refused)
		return
	}
	writeOAuth(w, map[string]any{
		"access_token":  "86_" + wechatpayv3.RandomString(80),
		"expires_in":    int(oauthTokenTTL / time.Second),
		"refresh_token": "86_" + wechatpayv3.RandomString(80),
		"openid":        users.OpenID(user, appid),
		"scope":         scope,
	})
}

func writeOAuth(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Error("wechatpay sandbox: an OAuth answer did not encode", "err", err)
	}
}
