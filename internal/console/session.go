package console

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
)

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "login.html", nil, page{Title: "登录", Data: loginForm{Next: safeNext(r.URL.Query().Get("next"))}})
}

type loginForm struct {
	Email, Next string
}

// login signs a user in: a session cookie that scripts cannot read
// (HttpOnly), that other sites' requests do not carry (SameSite=Lax, and
// the cross-origin check refuses their POSTs anyway), for the console's
// path only. Throttled logins are told when to try again.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, nil, http.StatusBadRequest, "表单无法读取。")
		return
	}
	form := loginForm{Email: r.PostFormValue("email"), Next: safeNext(r.PostFormValue("next"))}
	_, session, token, err := h.cfg.Accounts.Login(r.Context(), accounts.LoginParams{Email: form.Email, Password: r.PostFormValue("password"),
		IP: clientIP(r), UserAgent: r.UserAgent()})
	var throttled *accounts.ThrottledError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", fmt.Sprint(int(throttled.RetryAfter.Seconds()+0.999)))
		h.render(w, http.StatusTooManyRequests, "login.html", nil, page{Title: "登录", Data: form,
			Error: fmt.Sprintf("登录失败次数过多，请 %d 分钟后再试。", int(throttled.RetryAfter.Minutes())+1)})
		return
	case errors.Is(err, accounts.ErrBadCredentials):
		h.render(w, http.StatusUnauthorized, "login.html", nil, page{Title: "登录", Data: form, Error: "邮箱或密码不对。"})
		return
	case err != nil:
		h.cfg.Logger.Error("console: login", "err", err)
		h.fail(w, r, nil, http.StatusInternalServerError, "暂时无法登录，请稍后再试。")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: Prefix, HttpOnly: true, Secure: h.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, Expires: session.ExpiresAt})
	http.Redirect(w, r, form.Next, http.StatusSeeOther)
}

func (h *Handler) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: h.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: -1, Expires: time.Unix(1, 0)})
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, v *visit) {
	c, err := r.Cookie(CookieName)
	if err == nil {
		if err := h.cfg.Accounts.Logout(r.Context(), c.Value); err != nil {
			h.cfg.Logger.Error("console: logout", "err", err)
			h.fail(w, r, v, http.StatusInternalServerError, "暂时无法退出，请稍后再试。")
			return
		}
	}
	h.clearCookie(w)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// logoutEverywhere ends every session of the user: a lost laptop, a
// shared password.
func (h *Handler) logoutEverywhere(w http.ResponseWriter, r *http.Request, v *visit) {
	if _, err := h.cfg.Accounts.LogoutEverywhere(r.Context(), v.user.ID); err != nil {
		h.cfg.Logger.Error("console: logout everywhere", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法退出，请稍后再试。")
		return
	}
	h.clearCookie(w)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}
