package phone

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

// UserCookie remembers who holds the phone: it is set whenever a user's
// phone page (/phone/u/{user}…) is viewed, and preselects that user on the
// wallets' authorization pages and bridge calls; the wallets' pay links
// (WeChat's h5_url, Alipay's page/wap cashier) and OpenPath links that name
// no sandbox user open as that user.
const UserCookie = "hutong_phone_user"

// AuthRequest is a web page asking the wallet who holds the phone, as the
// authorization page shows it.
type AuthRequest struct {
	App         string // who asks, as the wallet names it
	Identity    string // what is asked for: "微信身份", "支付宝身份"
	Scope       string // the scope asked for
	RedirectURI string // where the browser goes with the code
}

// Authorizer is a wallet's web authorization (WeChat's OAuth2 snsapi_base,
// Alipay's auth_base): a page sends the browser to the wallet, the person
// holding the phone agrees, and the browser goes back to the page with a
// one-time code that the page's server exchanges for the person's id under
// the app.
type Authorizer interface {
	// CheckAuthorize reads an authorization request: the query of the
	// wallet's authorize URL. A refusal's text is shown to the person.
	CheckAuthorize(q url.Values) (AuthRequest, error)
	// Authorize issues a one-time code for the user and returns where the
	// browser goes next: the redirect_uri with the code and state.
	Authorize(q url.Values, userID string) (string, error)
}

// Consent serves a wallet's authorization page at the wallet's authorize
// URL: GET shows who asks and lets the person say which sandbox user holds
// the phone (preselecting the UserCookie's user); POST, from this page only,
// issues the code and redirects to the page that asked.
func Consent(dir *users.Directory, w Wallet, a Authorizer) http.Handler {
	return &consent{users: dir, wallet: w, auth: a, csrf: http.NewCrossOriginProtection()}
}

type consent struct {
	users  *users.Directory
	wallet Wallet
	auth   Authorizer
	csrf   *http.CrossOriginProtection
}

// render answers with the consent page; a template that fails to render
// is a bug of the sandbox, answered 500 and logged.
func (c *consent) render(w http.ResponseWriter, status int, v view) {
	if err := renderPage(w, status, "consent.html", v); err != nil {
		slog.Error("phone: the consent page did not render", "err", err)
	}
}

func (c *consent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := view{Title: c.wallet.Title() + "授权", Wallet: c.wallet, Users: c.users.List(), Chosen: CurrentUser(r, c.users)}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		v.Error = "授权页只接受 GET 和 POST (method not allowed)"
		c.render(w, http.StatusMethodNotAllowed, v)
		return
	}
	if err := c.csrf.Check(r); err != nil {
		v.Error = "拒绝来自其他网站的提交 (cross-origin POST refused): 请在授权页面上操作"
		c.render(w, http.StatusForbidden, v)
		return
	}
	q := r.URL.Query()
	req, err := c.auth.CheckAuthorize(q)
	if err != nil {
		v.Error = err.Error()
		c.render(w, http.StatusBadRequest, v)
		return
	}
	v.Auth, v.Action = &req, r.URL.RequestURI()
	if r.Method == http.MethodGet {
		c.render(w, http.StatusOK, v)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	u, err := c.users.Get(r.PostFormValue("user"))
	if err != nil {
		v.Error = fmt.Sprintf("请选择一位沙箱用户 (choose a sandbox user): %q", r.PostFormValue("user"))
		c.render(w, http.StatusBadRequest, v)
		return
	}
	to, err := c.auth.Authorize(q, u.ID)
	if err != nil {
		v.Error = "授权失败 (authorization failed): " + err.Error()
		c.render(w, http.StatusInternalServerError, v)
		return
	}
	setUserCookie(w, u.ID)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// CurrentUser is the sandbox user the phone was last used as (UserCookie),
// or the default user.
func CurrentUser(r *http.Request, dir *users.Directory) string {
	if ck, err := r.Cookie(UserCookie); err == nil {
		id, _ := url.PathUnescape(ck.Value)
		if u, err := dir.Get(id); err == nil {
			return u.ID
		}
	}
	return dir.Default()
}

func setUserCookie(w http.ResponseWriter, userID string) {
	http.SetCookie(w, &http.Cookie{
		Name: UserCookie, Value: url.PathEscape(userID), Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}
