package alipay

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
)

// Lifetimes of authorization, as Alipay grants them.
const (
	authCodeTTL     = 10 * time.Minute
	authTokenTTL    = 365 * 24 * time.Hour
	authRefreshTTL  = 372 * 24 * time.Hour
	kAuthTokenShape = "%sBB%s"
)

// IssueAuthCode is a merchant authorizing the sandbox app: it returns the
// app_auth_code that alipay.open.auth.token.app exchanges for a token.
func (s *Simulator) IssueAuthCode(pid string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.merchants[pid]
	if !ok {
		return "", fmt.Errorf("merchant %q is not a sandbox merchant", pid)
	}
	if m.PID == sandboxPID {
		return "", errors.New("the sandbox app's own merchant needs no authorization")
	}
	c := &AuthCode{Code: "P" + randomLower(31), PID: pid, AppID: s.creds.AppID}
	c.bind(s.authOutcomeFor(pid), s.now())
	if err := s.cfg.Journal.Put(kindAuthCode, c.Code, c); err != nil {
		return "", err
	}
	s.codes[c.Code] = c
	return c.Code, nil
}

type tokenFields struct {
	AppAuthToken    string `json:"app_auth_token"`
	AppRefreshToken string `json:"app_refresh_token"`
	AuthAppID       string `json:"auth_app_id"`
	ExpiresIn       int64  `json:"expires_in"`
	ReExpiresIn     int64  `json:"re_expires_in"`
	UserID          string `json:"user_id"`
}

// authToken is alipay.open.auth.token.app: authorization_code for a new
// token, refresh_token for a fresh one (the old token stops working).
func (s *Simulator) authToken(c *call) answer {
	grant, _ := c.bizString("grant_type")
	code, _ := c.bizString("code")
	refresh, _ := c.bizString("refresh_token")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var pid string
	switch grant {
	case "authorization_code":
		ac, ok := s.codes[code]
		if code == "" || !ok || ac.Used || now.After(ac.ExpiresAt) {
			return businessFailed("isv.code-invalid", "授权码code无效")
		}
		if refusal, ok := ac.reviewRefusal(now); !ok {
			return refusal
		}
		used := *ac
		used.Used = true
		if err := s.cfg.Journal.Put(kindAuthCode, used.Code, used); err != nil {
			return systemError()
		}
		*ac = used
		pid = ac.PID
	case "refresh_token":
		old, ok := s.refreshes[refresh]
		if refresh == "" || !ok || old.Revoked || now.After(old.ExpiresAt.Add(authRefreshTTL-authTokenTTL)) {
			return businessFailed("isv.refresh-token-invalid", "刷新令牌refresh_token无效")
		}
		revoked := *old
		revoked.Revoked = true
		if err := s.cfg.Journal.Put(kindAuthToken, revoked.Token, revoked); err != nil {
			return systemError()
		}
		*old = revoked
		pid = old.PID
	case "":
		return answer{result: alipayapi.Failure(alipayapi.CodeMissingArguments, "isv.missing-grant-type", "缺少参数 grant_type")}
	default:
		return invalidParameter("grant_type 应为 authorization_code 或 refresh_token")
	}
	m := s.merchants[pid]
	month := now.In(chinatime.Location).Format("200601")
	t := &AuthToken{
		Token:        fmt.Sprintf(kAuthTokenShape, month, randomLower(32)),
		RefreshToken: fmt.Sprintf(kAuthTokenShape, month, randomLower(32)),
		PID:          pid,
		AuthAppID:    m.AppID,
		ExpiresAt:    now.Add(authTokenTTL),
	}
	if err := s.cfg.Journal.Put(kindAuthToken, t.Token, t); err != nil {
		return systemError()
	}
	s.tokens[t.Token] = t
	s.refreshes[t.RefreshToken] = t
	f := tokenFields{t.Token, t.RefreshToken, t.AuthAppID, int64(authTokenTTL / time.Second), int64(authRefreshTTL / time.Second), pid}
	return success(struct {
		tokenFields
		Tokens []tokenFields `json:"tokens"`
	}{f, []tokenFields{f}})
}

var authPage = template.Must(template.New("auth").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>支付宝 · 第三方应用授权（沙箱）</title>
<style>body{font-family:system-ui,sans-serif;max-width:420px;margin:0 auto;padding:16px;background:#f5f6f8}
header{background:#1677FF;color:#fff;padding:14px 16px;border-radius:8px;margin-bottom:16px}
form{background:#fff;border-radius:8px;padding:14px;margin:10px 0}button{background:#1677FF;color:#fff;border:0;border-radius:6px;padding:10px 14px;font-size:15px}
.err{color:#c00}</style></head><body>
<header><b>支付宝</b> · 第三方应用授权（hutong 沙箱）</header>
{{if .Error}}<p class="err">{{.Error}}</p>{{else}}
<p>应用 <b>{{.AppID}}</b> 请求代商家调用交易接口。选择以哪个沙箱商家身份授权：</p>
{{range .Merchants}}<form method="post">
<input type="hidden" name="app_id" value="{{$.AppID}}"><input type="hidden" name="redirect_uri" value="{{$.RedirectURI}}">
<input type="hidden" name="state" value="{{$.State}}"><input type="hidden" name="pid" value="{{.PID}}">
<p><b>{{.Name}}</b><br><small>{{.PID}}</small></p><button type="submit">确认授权</button></form>{{end}}{{end}}
</body></html>`))

// authorizePage is the sandbox's stand-in for Alipay's app-to-app
// authorization page: a merchant picks itself and is sent back to the
// platform's redirect_uri with an app_auth_code.
func (s *Simulator) authorizePage(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	data := struct {
		AppID, RedirectURI, State, Error string
		Merchants                        []Merchant
	}{AppID: r.Form.Get("app_id"), RedirectURI: r.Form.Get("redirect_uri"), State: r.Form.Get("state")}
	redirect, err := url.Parse(data.RedirectURI)
	switch {
	case data.AppID != s.creds.AppID:
		data.Error = "app_id 不是沙箱应用的 app_id"
	case err != nil || (redirect.Scheme != "http" && redirect.Scheme != "https") || redirect.Host == "":
		data.Error = "redirect_uri 应为 http(s) 绝对地址"
	}
	if data.Error == "" && r.Method == http.MethodPost {
		code, err := s.IssueAuthCode(r.Form.Get("pid"))
		if err != nil {
			data.Error = err.Error()
		} else {
			q := redirect.Query()
			q.Set("app_id", data.AppID)
			q.Set("source", "alipay_app_auth")
			q.Set("app_auth_code", code)
			if data.State != "" {
				q.Set("state", data.State)
			}
			redirect.RawQuery = q.Encode()
			http.Redirect(w, r, redirect.String(), http.StatusFound)
			return
		}
	}
	for _, m := range s.Merchants() {
		if m.PID != sandboxPID {
			data.Merchants = append(data.Merchants, m)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if data.Error != "" {
		w.WriteHeader(http.StatusBadRequest)
	}
	if err := authPage.Execute(w, data); err != nil {
		slog.Error("alipay sandbox: the authorization page did not render", "err", err)
	}
}

func jsonObject(s string, v *map[string]json.RawMessage) error {
	*v = map[string]json.RawMessage{}
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}
