// Package console is hutong's operators' console and merchants' portal,
// served at /console by `hutong serve` and the demo: Go templates, one
// small stylesheet, no script, all embedded.
//
// Everyone signs in with a console account (package accounts). Platform
// roles (admin, operations, finance, support) see every merchant; the
// merchant role is the portal, bound to its one merchant: every id it
// sends is looked up within that merchant, and another merchant's object
// is answered exactly as one that does not exist. Every action that
// changes something is recorded in the audit log, with who, when, what,
// and the object before and after, in the transaction of the change
// itself (auditRecord), so the two commit together or not at all.
//
// A POST is refused unless it comes from the console's own pages: from
// this origin (http.CrossOriginProtection) and carrying the session's
// anti-forgery token.
package console

import (
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/gateway"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console/"

// CookieName is the session cookie.
const CookieName = "hutong_console"

// Config is what the console serves from.
type Config struct {
	Gateway  *gateway.Service
	Accounts *accounts.Service
	Logger   *slog.Logger
	// SecureCookies marks the session cookie Secure: set it when the
	// console is reached over HTTPS (a TLS proxy in front).
	SecureCookies bool
	// SupportRefundLimit is the largest refund, in fen, the support role
	// may make at once: support settles a buyer's complaint, finance moves
	// larger sums. 0 means DefaultSupportRefundLimit.
	SupportRefundLimit int64
	// Sandbox is the wallet sandbox's test buyer when the gateway's wallet
	// accounts point at a sandbox (SandboxHelper), nil with real wallets:
	// the portal's test payment then offers to have it pay.
	Sandbox SandboxBuyer
}

// DefaultSupportRefundLimit is ¥500.
const DefaultSupportRefundLimit = 50000

// Handler serves the console.
type Handler struct {
	cfg    Config
	mux    *http.ServeMux
	tmpl   *template.Template
	csrf   *http.CrossOriginProtection
	routes []Route
}

// Route is a page or action of the console and the roles that may use it.
type Route struct {
	Pattern string // as registered: "POST /console/payments/{id}/refund"
	Roles   []accounts.Role
}

// Routes lists every route behind a sign-in, for tests that cross each
// with every role.
func (h *Handler) Routes() []Route { return slices.Clone(h.routes) }

// route serves pattern to signed-in users of roles.
func (h *Handler) route(pattern string, roles []accounts.Role, fn func(http.ResponseWriter, *http.Request, *visit)) {
	h.routes = append(h.routes, Route{Pattern: pattern, Roles: roles})
	h.mux.HandleFunc(pattern, h.signedIn(roles, fn))
}

// New returns the console.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection()}
	h.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"yuan": yuan, "when": when, "roleName": roleName, "statusName": statusName, "tierName": tierName,
	}).ParseFS(templateFS, "templates/*.html"))
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /console/login", h.loginPage)
	h.mux.HandleFunc("POST /console/login", h.login)
	h.route("POST /console/logout", allRoles, h.logout)
	h.route("POST /console/logout-everywhere", allRoles, h.logoutEverywhere)
	// The platform's administrators, operations and finance open on the
	// analytics dashboard; support, who answer buyers from the payment
	// search, and a merchant on the payments.
	h.route("GET /console/{$}", allRoles, func(w http.ResponseWriter, r *http.Request, v *visit) {
		if v.scope == "" && v.user.Role != accounts.RoleSupport {
			http.Redirect(w, r, "/console/analytics", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/console/payments", http.StatusSeeOther)
	})
	h.route("GET /console/payments", allRoles, h.payments)
	h.route("GET /console/payments/{id}", allRoles, h.payment)
	h.route("POST /console/payments/{id}/refund", refundRoles, h.refund)
	h.route("POST /console/payments/{id}/query", allRoles, h.queryWallet)
	h.route("POST /console/events/{id}/resend", allRoles, h.resend)
	h.route("GET /console/audit", allRoles, h.audit)
	h.portalRoutes()
	h.testPaymentRoutes()
	h.moneyRoutes()
	h.rolloutRoutes()
	h.analyticsRoutes()
	h.opsRoutes()
	return h
}

// ServeHTTP refuses cross-origin POSTs before any route sees them.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Cache-Control", "no-store")
	h.csrf.Handler(h.mux).ServeHTTP(w, r)
}

// Beside serves the console under Prefix and other everywhere else.
func (h *Handler) Beside(other http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", other)
	mux.Handle(Prefix, h)
	mux.Handle("/console", http.RedirectHandler(Prefix, http.StatusSeeOther))
	return mux
}

// Who may do what. Every signed-in role reads; a refund moves money, so
// operations (who ramp wallets, not money) may not.
var (
	allRoles    = []accounts.Role{accounts.RoleAdmin, accounts.RoleOperations, accounts.RoleFinance, accounts.RoleSupport, accounts.RoleMerchant}
	refundRoles = []accounts.Role{accounts.RoleAdmin, accounts.RoleFinance, accounts.RoleSupport, accounts.RoleMerchant}
)

// visit is a signed-in request: who, and which merchant's objects they
// may see ("" for every merchant's).
type visit struct {
	user    accounts.User
	session accounts.Session
	scope   string
	ip      string
}

// signedIn serves next to a signed-in user of one of roles; anyone else
// is sent to sign in (GET) or refused (POST). A POST must also carry the
// session's anti-forgery token.
func (h *Handler) signedIn(roles []accounts.Role, next func(http.ResponseWriter, *http.Request, *visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(CookieName)
		var v visit
		if err == nil {
			v.user, v.session, err = h.cfg.Accounts.Session(r.Context(), c.Value)
		}
		if err != nil {
			if !errors.Is(err, accounts.ErrNoSession) && !errors.Is(err, http.ErrNoCookie) {
				h.cfg.Logger.Error("console: reading a session", "err", err)
				h.fail(w, r, nil, http.StatusInternalServerError, "暂时无法读取登录状态，请稍后再试。")
				return
			}
			if r.Method != http.MethodGet {
				h.fail(w, r, nil, http.StatusUnauthorized, "登录已失效，请重新登录。")
				return
			}
			http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !slices.Contains(roles, v.user.Role) {
			h.fail(w, r, &v, http.StatusForbidden, "你的角色（"+roleName(v.user.Role)+"）不能做这件事。")
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				h.fail(w, r, &v, http.StatusBadRequest, "表单无法读取。")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(v.session.CSRF)) != 1 {
				h.fail(w, r, &v, http.StatusForbidden, "页面已过期（防伪标记不符），请刷新后再试。")
				return
			}
		}
		if v.user.Role == accounts.RoleMerchant {
			v.scope = v.user.MerchantID
		}
		v.ip = clientIP(r)
		ctx := accounts.WithClientIP(accounts.WithActor(r.Context(), v.user), v.ip)
		next(w, r.WithContext(ctx), &v)
	}
}

// page is what every template gets.
type page struct {
	Title   string
	User    *accounts.User
	CSRF    string
	Nav     string
	Error   string
	Info    string
	Data    any
	Now     time.Time
	Portal  bool // a merchant's portal, not the operators' console
	Message string
	// Refresh, when set, is a meta refresh's content ("2; url=…"): a page
	// waiting on a wallet reloads itself, without script.
	Refresh string
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, v *visit, p page) {
	if v != nil {
		p.User, p.CSRF, p.Portal = &v.user, v.session.CSRF, v.user.Role == accounts.RoleMerchant
	}
	var b strings.Builder
	if err := h.tmpl.ExecuteTemplate(&b, name, p); err != nil {
		h.cfg.Logger.Error("console: rendering", "template", name, "err", err)
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) {
	h.render(w, status, "error.html", v, page{Title: "出错了", Error: msg})
}

// clientIP is the TCP peer: the console does not trust forwarded headers.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// safeNext is where to go after signing in: a path of the console only,
// never another site.
func safeNext(next string) string {
	if strings.HasPrefix(next, Prefix) && !strings.HasPrefix(next, "//") && !strings.Contains(next, `\`) {
		return next
	}
	return "/console/payments"
}
