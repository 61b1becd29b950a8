// Package web is hutong's hosted pages for buyers: the cashier at
// /pay/{payment} (which is also the payment's one code for every wallet),
// pay-for-me at /pfm/{request}, a merchant's static store code at
// /m/{merchant}, and the share code page at /s/. Pages are Go templates
// with a little hand-written CSS and JavaScript, all embedded.
//
// The cashier tells wallets apart by the User-Agent of the browser that
// opened it: inside WeChat it learns the buyer's openid through WeChat's
// web authorization and starts a JSAPI payment; inside Alipay it does the
// same with Alipay's; anywhere else it lists the methods the buyer may use,
// as QR codes on a computer and as jumps to the wallet app on a phone.
// Which of the two is the User-Agent's word (internal/useragent), not the
// window's width: a desktop browser has no wallet app to jump to, so it
// shows the codes at any width, and the pages are laid out to work at a
// phone's 390 px as well as on a laptop.
//
// Every page a shopper (or a merchant's signer) reads is in Chinese only,
// with full-width punctuation, Beijing times and states in words; English
// stays in the log, where a developer reads it.
// The page learns the outcome over server-sent events and ends on a result
// page that returns to the merchant with a signed outcome.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/payforme"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/payments"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/sharecode"
	"github.com/hutong-pay/hutong/internal/sharecodes"
	"github.com/hutong-pay/hutong/internal/useragent"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config of the pages.
type Config struct {
	Svc *gateway.Service
	// Onboarding serves the signing pages; nil means the gateway's own
	// (gateway.Service.OnboardingService).
	Onboarding *onboarding.Service
	// Rollouts decides which methods the cashier and the in-wallet pages
	// offer, records those exposures, and takes buyers' feedback; nil
	// means the gateway's own (gateway.Service.RolloutService).
	Rollouts *rollouts.Service
	Logger   *slog.Logger
	// BridgeScript, when set, is loaded by in-wallet pages before they call
	// WeixinJSBridge or AlipayJSBridge: the sandbox's stand-ins for the
	// wallets' own page bridges. Real wallet apps provide their own.
	BridgeScript string
	// SandboxPhone, when set, is the sandbox's phone pages (…/phone/): a
	// page showing a wallet's QR code links there, so a person at one
	// computer can "scan" it.
	SandboxPhone string
	// EventPoll is how often an event stream looks at its payment; 0 means
	// 300 ms.
	EventPoll time.Duration
	// TrustedProxies are the reverse proxies in front of the pages (a load
	// balancer's addresses). A request from one of them is taken to come
	// from the address the proxies recorded in X-Forwarded-For; from any
	// other peer the header is ignored, since a client can write anything
	// there. Empty: the client is the TCP peer.
	TrustedProxies []netip.Prefix
	// Limits replace DefaultLimits for the actions they name.
	Limits map[string]Limits
}

// rollouts is the service that decides what the pages offer.
func (h *Handler) rollouts() *rollouts.Service {
	if h.cfg.Rollouts != nil {
		return h.cfg.Rollouts
	}
	return h.cfg.Svc.RolloutService()
}

// Handler serves the hosted pages.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	tmpl  *template.Template
	csrf  *http.CrossOriginProtection
	limit map[string]limiters // by action: LimitStorePay, …
	// closing ends event streams when the server shuts down: browsers
	// reconnect (to another process, in a rolling restart).
	closing   chan struct{}
	closeOnce sync.Once
}

// Shutdown ends the open event streams, which would otherwise hold a
// graceful shutdown until they time out.
func (h *Handler) Shutdown() { h.closeOnce.Do(func() { close(h.closing) }) }

// Beside serves the pages on their Paths and everything else with other
// (the merchant API), as one handler.
func (h *Handler) Beside(other http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", other)
	for _, p := range Paths {
		mux.Handle(p, h)
	}
	return mux
}

// Paths the pages own, for mounting beside the API.
var Paths = []string{"/pay/", "/pfm/", "/m/", "/s/", "/s", "/assets/", "/sign/", "/feedback/"}

// New returns the pages.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.EventPoll == 0 {
		cfg.EventPoll = 300 * time.Millisecond
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection(), limit: newLimiters(cfg.Limits), closing: make(chan struct{})}
	h.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"yuan":          yuan,
		"title":         methodTitle,
		"wallet":        methodWallet,
		"walletName":    walletName,
		"when":          when,
		"contractState": contractState,
		"signTitle":     signTitle,
	}).ParseFS(templateFS, "templates/*.html"))
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /pay/{id}", h.cashier)
	h.mux.HandleFunc("GET /pay/{id}/qr.svg", h.paymentQR)
	h.mux.HandleFunc("POST /pay/{id}/attempts", h.startAttempt)
	h.mux.HandleFunc("GET /pay/{id}/attempts/{attempt}/qr.svg", h.attemptQR)
	h.mux.HandleFunc("GET /pay/{id}/wallet/{channel}", h.inWallet)
	h.mux.HandleFunc("GET /pay/{id}/events", h.events)
	h.mux.HandleFunc("GET /pay/{id}/status", h.status)
	h.mux.HandleFunc("GET /pay/{id}/done", h.done)
	h.mux.HandleFunc("GET /pfm/{id}", h.payForMe)
	h.mux.HandleFunc("GET /pfm/{id}/qr.svg", h.payForMeQR)
	h.mux.HandleFunc("GET /m/{merchant}", h.storeCode)
	h.mux.HandleFunc("POST /m/{merchant}", h.storePay)
	h.mux.HandleFunc("GET /m/{merchant}/qr.svg", h.storeQR)
	h.mux.HandleFunc("GET /feedback/{id}", h.feedbackPage)
	h.mux.HandleFunc("POST /feedback/{id}", h.feedback)
	h.mux.HandleFunc("GET /sign/{id}", h.signPage)
	h.mux.HandleFunc("POST /sign/{id}", h.sign)
	h.mux.HandleFunc("GET /s", h.sharePage)
	h.mux.HandleFunc("GET /s/{$}", h.sharePage)
	h.mux.HandleFunc("POST /s/{$}", h.shareResolve)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A page of another site must not start payments in the buyer's
	// browser.
	if err := h.csrf.Check(r); err != nil {
		h.fail(w, http.StatusForbidden, "这个表单来自其他网站，已被拒绝。", "a form posted from another site was refused")
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// view is what the templates get.
type view struct {
	Title    string
	Payment  payment.Payment
	Merchant string
	Buyer    string // masked
	Methods  []methodChoice
	Attempt  *payment.Attempt
	PayForMe *payforme.PayForMe
	Mobile   bool
	Return   string
	Bridge   string
	Invoke   template.JS // the in-wallet call's parameters, as JSON
	Channel  string
	Error    string
	Info     string
	Share    *sharecodes.ShareCode
	Text     string
	Amount   string
	Store    string
	StoreID  string
	PaidHere bool
	Signing  *onboarding.SigningPage
	Stars    []int
	Thanks   bool
	Phone    string // the sandbox phone's page for the attempt's code
	Brand    string // the header's name for the page; "" is 收银台
	Back     string // an error page's way back; "" is none
}

type methodChoice struct {
	Method string
	Title  string
	Wallet string
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := h.tmpl.ExecuteTemplate(w, name, v); err != nil {
		h.cfg.Logger.Error("page", "template", name, "error", err)
	}
}

// fail is an error page: the Chinese message once, with a way back; the
// English one is for the log.
func (h *Handler) fail(w http.ResponseWriter, status int, zh, en string) {
	h.cfg.Logger.Info("page refused", "status", status, "why", en)
	h.render(w, status, "error.html", view{Title: "出错了", Error: zh})
}

func yuan(fen int64) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) }

// beijing is Asia/Shanghai (UTC+8 all year), for the times people read;
// fixed, so it needs no time zone database.
var beijing = time.FixedZone("CST", 8*3600)

// when is a time as a person in China reads it: "2026年12月2日 20:15".
func when(t time.Time) string { return t.In(beijing).Format("2006年1月2日 15:04") }

// walletName names the wallet of a method, for sentences such as
// "你觉得用支付宝付款怎么样？".
func walletName(method string) string {
	if w, ok := channel.LookupWallet(methodWallet(method)); ok {
		return w.Title
	}
	return "这种方式"
}

// methodWallet names the wallet (channel) of a method, "" for none.
func methodWallet(method string) string {
	ch, _ := payment.MethodChannel(method)
	return ch
}

// contractStates are a contract's states in words, for its signer.
var contractStates = map[string]string{
	"not_invited": "未邀请", "invited": "已邀请，待签署", "signed": "已签署", "submitted": "审核中",
	"active": "已开通", "rejected": "已拒绝", "suspended": "已暂停",
}

func contractState(s string) string {
	if w, ok := contractStates[s]; ok {
		return w
	}
	return "状态未知"
}

// signTitle is what the signing page is: signing up for a wallet.
func signTitle(ch string) string {
	if w, ok := channel.LookupWallet(ch); ok {
		return "签署" + w.Title + "开通协议"
	}
	return "签署开通协议"
}

// pfmEnded says why a pay-for-me request takes no more payments.
func pfmEnded(status string) string {
	switch status {
	case "revoked":
		return "这个代付请求已被撤销。"
	case "expired":
		return "这个代付请求已过期。"
	case "paid", "closed":
		return "这笔订单已经付过了。"
	}
	return "这个代付请求已结束。"
}

func methodTitle(m string) string {
	if meth, ok := channel.LookupMethod(m); ok {
		return meth.Title
	}
	return m
}

// MaskName shows a pay-for-me payer who is asking without saying who in
// full: the first character, then one star per other character.
func MaskName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "一位朋友"
	}
	r, size := utf8.DecodeRuneInString(name)
	return string(r) + strings.Repeat("*", max(1, utf8.RuneCountInString(name[size:])))
}

func (h *Handler) load(w http.ResponseWriter, r *http.Request) (payment.Payment, string, bool) {
	p, err := h.cfg.Svc.PaymentService().PaymentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, http.StatusNotFound, "没有找到这笔订单。", "no such payment")
		return p, "", false
	}
	m, err := h.cfg.Svc.MerchantService().Get(r.Context(), p.MerchantID)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "商户信息读取失败，请稍后再试。", "the merchant could not be read")
		return p, "", false
	}
	return p, m.Name, true
}

// decide asks the rollout service which methods this buyer sees at this
// checkout (contracts, rollout), from the browser that opened the page.
func (h *Handler) decide(ctx context.Context, p payment.Payment, client useragent.Client) (rollout.Checkout, []rollout.Decision, error) {
	m, _ := h.cfg.Svc.MerchantService().Get(ctx, p.MerchantID)
	c := rollouts.CheckoutOf(p, m)
	if c.Platform == "" {
		c.Platform = platformOf(client)
	}
	c.AppVersion = client.AppVersion
	c.Browser = client.Wallet
	if c.Browser == "" {
		c.Browser = "other"
	}
	ds, err := h.rollouts().Decide(ctx, c)
	return c, ds, err
}

// pageMethods are the methods the cashier offers where it is open: wallet
// QR codes on a computer, jumps to the wallet app on a phone.
func pageMethods(mobile bool) []string {
	flow := channel.FlowQR
	if mobile {
		flow = channel.FlowMobileWeb
	}
	var out []string
	for _, m := range channel.MethodsOfFlow(flow) {
		out = append(out, m.Name)
	}
	return out
}

// choices lists what a browser may pay with now: the methods the gateway
// shows this buyer, narrowed to those that work where the page is open.
// Each decision is recorded as an exposure.
func (h *Handler) choices(ctx context.Context, p payment.Payment, client useragent.Client) []methodChoice {
	c, ds, err := h.decide(ctx, p, client)
	if err != nil {
		h.cfg.Logger.Error("rollout", "error", err)
		return nil
	}
	var out []methodChoice
	var seen []rollout.Decision
	for _, want := range pageMethods(client.Mobile) {
		for _, d := range ds {
			if d.Method != want {
				continue
			}
			seen = append(seen, d)
			if d.Shown {
				out = append(out, methodChoice{Method: want, Title: methodTitle(want), Wallet: methodWallet(want)})
			}
		}
	}
	h.rollouts().RecordExposures(c, seen, p.ID)
	return out
}

// inWalletShown reports whether the in-wallet method of the wallet whose
// browser opened the page is shown to this buyer (and records it).
func (h *Handler) inWalletShown(ctx context.Context, p payment.Payment, client useragent.Client) bool {
	method := channel.InWalletMethod(client.Wallet)
	c, ds, err := h.decide(ctx, p, client)
	if err != nil {
		return false
	}
	for _, d := range ds {
		if d.Method == method {
			h.rollouts().RecordExposures(c, []rollout.Decision{d}, p.ID)
			return d.Shown
		}
	}
	return false
}

// platformOf names the platform a browser runs on, as the rollout rules
// know platforms.
func platformOf(c useragent.Client) string {
	switch {
	case c.MiniProgram:
		return "miniprogram"
	case c.Platform == "ios" || c.Platform == "android":
		if c.Wallet == "" {
			return "h5"
		}
		return c.Platform
	case c.Platform == "pc":
		return "pc"
	}
	return ""
}

// cashier is /pay/{id}: inside a wallet it goes straight to that wallet's
// in-app payment; elsewhere it shows the order and the methods.
func (h *Handler) cashier(w http.ResponseWriter, r *http.Request) {
	p, merchant, ok := h.load(w, r)
	if !ok {
		return
	}
	h.checkout(w, r, p, merchant, nil)
}

func (h *Handler) checkout(w http.ResponseWriter, r *http.Request, p payment.Payment, merchant string, pfm *payforme.PayForMe) {
	if p.Status != payment.StatusRequiresAction || !time.Now().Before(p.ExpiresAt) {
		http.Redirect(w, r, "/pay/"+p.ID+"/done"+pfmQuery(pfm), http.StatusSeeOther)
		return
	}
	client := useragent.Classify(r.UserAgent())
	if client.Wallet != "" && r.URL.Query().Get("attempt") == "" && h.inWalletShown(r.Context(), p, client) {
		if id, ok := h.cfg.Svc.Accounts[client.Wallet].Connector.(channel.BuyerIdentifier); ok {
			state := p.ID
			if pfm != nil {
				state = pfm.ID
			}
			http.Redirect(w, r, id.AuthorizeURL(h.absolute(r, "/pay/"+p.ID+"/wallet/"+client.Wallet), state), http.StatusFound)
			return
		}
	}
	v := view{Title: "收银台", Payment: p, Merchant: merchant, Methods: h.choices(r.Context(), p, client), Mobile: client.Mobile, PayForMe: pfm}
	if pfm != nil {
		v.Title = "帮朋友付款"
		v.Buyer = MaskName(p.Buyer.Name)
	}
	if id := r.URL.Query().Get("attempt"); id != "" {
		attempts, _ := h.cfg.Svc.PaymentService().Attempts(r.Context(), p.ID)
		for i := range attempts {
			if attempts[i].ID == id && attempts[i].Status == payment.AttemptPending {
				v.Attempt = &attempts[i]
			}
		}
	}
	if v.Attempt != nil && v.Attempt.NextAction != nil && v.Attempt.NextAction.QRCode != "" && h.cfg.SandboxPhone != "" {
		v.Phone = sandboxPhoneLink(h.cfg.SandboxPhone, *v.Attempt, p, pfm)
	}
	if v.Attempt != nil && inWallet(v.Attempt.Method) {
		h.walletPage(w, v)
		return
	}
	if len(v.Methods) == 0 {
		v.Error = "这笔订单暂时没有可用的支付方式。"
	}
	h.render(w, http.StatusOK, "cashier.html", v)
}

// sandboxPhoneLink opens an attempt's code on the sandbox phone (its
// /phone/open). On the buyer's own cashier it names the buyer as the payer,
// which the phone takes when the buyer is one of its users (the demo's
// buyers are); on a pay-for-me page it names no one, since whoever pays
// there is not the buyer who asked: the phone pays as the person holding it.
func sandboxPhoneLink(phone string, a payment.Attempt, p payment.Payment, pfm *payforme.PayForMe) string {
	q := url.Values{"wallet": {a.Channel}, "code": {a.NextAction.QRCode}}
	if pfm == nil && p.Buyer.ID != "" {
		q.Set("as", p.Buyer.ID)
	}
	return phone + "open?" + q.Encode()
}

func pfmQuery(pfm *payforme.PayForMe) string {
	if pfm == nil {
		return ""
	}
	return "?pfm=" + pfm.ID
}

// absolute is path on the host the browser used.
func (h *Handler) absolute(r *http.Request, path string) string {
	// The gateway's own address, where it has one: a Host header is the
	// client's word, and these URLs go to wallets as redirect targets.
	if h.cfg.Svc.BaseURL != "" {
		return strings.TrimSuffix(h.cfg.Svc.BaseURL, "/") + path
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// payerOf reads which pay-for-me request (if any) a buyer-side request
// acts under, refusing one that is not open or not of this payment.
func (h *Handler) payerOf(ctx context.Context, p payment.Payment, pfmID string) (payment.Payer, *payforme.PayForMe, error) {
	if pfmID == "" {
		return payment.Payer{IsBuyer: true}, nil, nil
	}
	pfm, err := h.cfg.Svc.PayForMeService().Get(ctx, pfmID)
	if err != nil || pfm.PaymentID != p.ID {
		return payment.Payer{}, nil, gateway.ErrNotFound
	}
	if pfm.Status != "open" {
		return payment.Payer{}, &pfm, gateway.ErrPayForMeClosed
	}
	return payment.Payer{IsBuyer: false, PayForMe: pfm.ID}, &pfm, nil
}

// startAttempt is the buyer choosing a method: a QR method shows its code
// on the cashier, a jump goes to the wallet.
func (h *Handler) startAttempt(w http.ResponseWriter, r *http.Request) {
	p, merchant, ok := h.load(w, r)
	if !ok {
		return
	}
	if !h.allow(w, r, LimitAttempt, p.MerchantID, func(msg string) {
		h.render(w, http.StatusTooManyRequests, "error.html", view{Title: "操作太频繁", Error: msg, Back: "/pay/" + p.ID})
	}) {
		return
	}
	method := r.PostFormValue("method")
	payer, pfm, err := h.payerOf(r.Context(), p, r.PostFormValue("pfm"))
	if err != nil {
		h.attemptFailed(w, r, p, merchant, pfm, err)
		return
	}
	// A page may start any method the cashier offers, on a computer or a
	// phone, that this buyer is shown.
	allowed := slices.Contains(append(pageMethods(false), pageMethods(true)...), method)
	if allowed {
		_, ds, err := h.decide(r.Context(), p, useragent.Classify(r.UserAgent()))
		allowed = err == nil && slices.ContainsFunc(ds, func(d rollout.Decision) bool { return d.Method == method && d.Shown })
	}
	if !allowed {
		h.fail(w, http.StatusBadRequest, "这个支付方式现在不可用，请换一种方式。", "this method is not open for this order")
		return
	}
	back := h.absolute(r, "/pay/"+p.ID+"/done"+pfmQuery(pfm))
	a, err := h.cfg.Svc.PaymentService().StartAttempt(r.Context(), p.ID, payments.AttemptRequest{Method: method, Payer: payer, ReturnURL: back, ClientIP: h.clientIP(r), Session: h.session(w, r)})
	if err != nil {
		h.attemptFailed(w, r, p, merchant, pfm, err)
		return
	}
	switch {
	case a.NextAction != nil && a.NextAction.Type == "redirect":
		// The connector has already appended the way back (WeChat's
		// redirect_url) from the attempt's ReturnURL.
		http.Redirect(w, r, a.NextAction.URL, http.StatusSeeOther)
	default:
		q := "?attempt=" + a.ID
		if pfm != nil {
			http.Redirect(w, r, "/pfm/"+pfm.ID+q, http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/pay/"+p.ID+q, http.StatusSeeOther)
	}
}

func (h *Handler) attemptFailed(w http.ResponseWriter, r *http.Request, p payment.Payment, merchant string, pfm *payforme.PayForMe, err error) {
	switch {
	case errors.Is(err, gateway.ErrPaidByOther):
		http.Redirect(w, r, "/pay/"+p.ID+"/done"+pfmQuery(pfm), http.StatusSeeOther)
	case errors.Is(err, gateway.ErrPayForMeClosed) && (pfm.Status == "paid" || pfm.Status == "closed"):
		http.Redirect(w, r, "/pay/"+p.ID+"/done"+pfmQuery(pfm), http.StatusSeeOther)
	case errors.Is(err, gateway.ErrPayForMeClosed):
		h.render(w, http.StatusConflict, "error.html", view{Title: "代付已结束", Error: pfmEnded(pfm.Status)})
	case errors.Is(err, payment.ErrClosed):
		http.Redirect(w, r, "/pay/"+p.ID+"/done"+pfmQuery(pfm), http.StatusSeeOther)
	case errors.Is(err, gateway.ErrNotFound):
		h.fail(w, http.StatusNotFound, "没有找到这个代付请求。", "no such pay-for-me request")
	default:
		h.cfg.Logger.Warn("attempt refused", "payment", p.ID, "error", err)
		h.fail(w, http.StatusBadGateway, "钱包暂时无法下单，请稍后再试。", "the wallet refused: "+err.Error())
	}
}

// inWallet is where a wallet's authorization comes back with a code: the
// buyer's wallet id, then an in-wallet payment the page starts through
// the wallet's page bridge.
func (h *Handler) inWallet(w http.ResponseWriter, r *http.Request) {
	p, merchant, ok := h.load(w, r)
	if !ok {
		return
	}
	ch := r.PathValue("channel")
	acct, ok := h.cfg.Svc.Accounts[ch]
	ider, ok2 := acct.Connector.(channel.BuyerIdentifier)
	if !ok || !ok2 {
		h.fail(w, http.StatusNotFound, "不支持这个钱包。", "no such wallet")
		return
	}
	state := r.URL.Query().Get("state")
	pfmID := ""
	if strings.HasPrefix(state, "pfm_") {
		pfmID = state
	}
	payer, pfm, err := h.payerOf(r.Context(), p, pfmID)
	if err != nil {
		h.attemptFailed(w, r, p, merchant, pfm, err)
		return
	}
	code := r.URL.Query().Get("code")
	if code == "" {
		code = r.URL.Query().Get("auth_code")
	}
	if code == "" || len(code) > 256 {
		h.fail(w, http.StatusBadRequest, "钱包授权没有完成，请重新打开付款页。", "the wallet's authorization returned no code")
		return
	}
	buyer, err := ider.BuyerID(r.Context(), code)
	if err != nil {
		h.cfg.Logger.Warn("wallet authorization refused", "payment", p.ID, "error", err)
		h.fail(w, http.StatusBadGateway, "钱包授权失败，请重新打开付款页。", "the wallet's authorization failed")
		return
	}
	method := channel.InWalletMethod(ch)
	a, err := h.cfg.Svc.PaymentService().StartAttempt(r.Context(), p.ID, payments.AttemptRequest{Method: method, Payer: payer, WalletPayer: buyer, ClientIP: h.clientIP(r), Session: h.session(w, r)})
	if err != nil {
		h.attemptFailed(w, r, p, merchant, pfm, err)
		return
	}
	// A stable address for the payment page: the wallet's bridge comes
	// back to it, and the one-time code must not be used again.
	base := "/pay/" + p.ID
	if pfm != nil {
		base = "/pfm/" + pfm.ID
	}
	http.Redirect(w, r, base+"?attempt="+a.ID, http.StatusSeeOther)
}

// walletPage is an in-wallet payment waiting for the buyer to confirm it
// in the wallet's own sheet.
func (h *Handler) walletPage(w http.ResponseWriter, v view) {
	invoke, _ := json.Marshal(bridgeCall(*v.Attempt))
	v.Title = "确认付款"
	v.Channel = v.Attempt.Channel
	v.Bridge = h.cfg.BridgeScript
	v.Invoke = template.JS(invoke)
	v.Mobile = true
	h.render(w, http.StatusOK, "wallet.html", v)
}

// session names this browser to its attempts: a random cookie, stored
// hashed.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie("hutong_payer")
	if err != nil || len(c.Value) != 32 {
		b := make([]byte, 16)
		rand.Read(b)
		c = &http.Cookie{Name: "hutong_payer", Value: hex.EncodeToString(b), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 7 * 24 * 3600}
		http.SetCookie(w, c)
	}
	sum := sha256.Sum256([]byte(c.Value))
	return hex.EncodeToString(sum[:8])
}

// paidThrough reports whether the person on pay-for-me request pfm's
// result page paid p. The payment's payer record decides: it names the
// request whose attempt paid, whichever browser (or device) the person chose
// the method in, paid in, or opens the result in. Only one thing overrides
// it: this browser started attempts of p and none of them paid, so another
// person on the same link paid first (two friends who both opened it).
func (h *Handler) paidThrough(r *http.Request, p payment.Payment, pfm payforme.PayForMe) bool {
	if p.Status != payment.StatusSucceeded || p.Payer == nil || p.Payer.IsBuyer || p.Payer.PayForMe != pfm.ID {
		return false
	}
	c, err := r.Cookie("hutong_payer")
	if err != nil {
		return true
	}
	attempts, err := h.cfg.Svc.PaymentService().Attempts(r.Context(), p.ID)
	if err != nil {
		h.cfg.Logger.Warn("attempts of a paid payment", "payment", p.ID, "error", err)
		return true
	}
	sum := sha256.Sum256([]byte(c.Value))
	session, startedHere := hex.EncodeToString(sum[:8]), false
	for _, a := range attempts {
		if a.Session != session {
			continue
		}
		if a.ID == p.PaidAttempt {
			return true
		}
		startedHere = true
	}
	return !startedHere
}

// bridgeCall is what the page hands the wallet's bridge: WeChat's
// getBrandWCPayRequest parameters, or Alipay's tradePay trade number.
func bridgeCall(a payment.Attempt) map[string]string {
	if a.NextAction == nil {
		return nil
	}
	return a.NextAction.Params
}

// events streams the payment's status to the page (server-sent events)
// until it is final or the browser leaves.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// The stream lasts up to 10 minutes, past the server's ReadTimeout and
	// WriteTimeout (internal/httpserve): lift both for this response only.
	// Its end is bounded here instead (deadline, final status, shutdown).
	rc := http.NewResponseController(w)
	if err := errors.Join(rc.SetWriteDeadline(time.Time{}), rc.SetReadDeadline(time.Time{})); err != nil {
		h.cfg.Logger.Warn("the status stream keeps the server's deadlines (a ResponseWriter wrapper lacks Unwrap)", "err", err)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	flusher, _ := w.(http.Flusher)
	last := ""
	tick := time.NewTicker(h.cfg.EventPoll)
	defer tick.Stop()
	deadline := time.After(10 * time.Minute)
	for {
		p, err := h.cfg.Svc.PaymentService().PaymentByID(r.Context(), id)
		if err != nil {
			return
		}
		status := p.Status
		if status == payment.StatusRequiresAction && !time.Now().Before(p.ExpiresAt) {
			status = payment.StatusCanceled
		}
		if status != last {
			fmt.Fprintf(w, "event: status\ndata: {\"status\":%q}\n\n", status)
			if flusher != nil {
				flusher.Flush()
			}
			last = status
		}
		if status != payment.StatusRequiresAction {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-deadline:
			return
		case <-h.closing:
			return
		case <-tick.C:
		}
	}
}

// status is the same as JSON, for pages without EventSource.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	p, err := h.cfg.Svc.PaymentService().PaymentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"status": p.Status}) // a map of strings always encodes
}

// done is the result page: paid, or closed; with the way back to the
// merchant, signed.
func (h *Handler) done(w http.ResponseWriter, r *http.Request) {
	p, merchant, ok := h.load(w, r)
	if !ok {
		return
	}
	v := view{Title: "支付结果", Payment: p, Merchant: merchant}
	if id := r.URL.Query().Get("pfm"); id != "" {
		if pfm, err := h.cfg.Svc.PayForMeService().Get(r.Context(), id); err == nil && pfm.PaymentID == p.ID {
			v.PayForMe = &pfm
			v.Buyer = MaskName(p.Buyer.Name)
			v.PaidHere = h.paidThrough(r, p, pfm)
		}
	}
	if v.PayForMe == nil && p.Status != payment.StatusRequiresAction {
		// Only the buyer goes back to the merchant; a friend who paid stays.
		ret, err := h.cfg.Svc.PaymentService().ReturnURL(r.Context(), p)
		if err != nil {
			h.cfg.Logger.Error("return url", "payment", p.ID, "error", err)
		}
		v.Return = ret
	}
	h.render(w, http.StatusOK, "done.html", v)
}

func (h *Handler) svg(w http.ResponseWriter, text string) {
	b, err := QRSVG(text)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Write(b)
}

// paymentQR is the payment's one code for every wallet.
func (h *Handler) paymentQR(w http.ResponseWriter, r *http.Request) {
	p, _, ok := h.load(w, r)
	if !ok {
		return
	}
	h.svg(w, h.absolute(r, "/pay/"+p.ID))
}

// attemptQR is a wallet's own code (code_url, qr_code) of one attempt.
func (h *Handler) attemptQR(w http.ResponseWriter, r *http.Request) {
	attempts, err := h.cfg.Svc.PaymentService().Attempts(r.Context(), r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	for _, a := range attempts {
		if a.ID == r.PathValue("attempt") && a.NextAction != nil && a.NextAction.QRCode != "" {
			h.svg(w, a.NextAction.QRCode)
			return
		}
	}
	http.NotFound(w, r)
}

// payForMe is the page the friend opens.
func (h *Handler) payForMe(w http.ResponseWriter, r *http.Request) {
	pfm, err := h.cfg.Svc.PayForMeService().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, http.StatusNotFound, "没有找到这个代付请求。", "no such pay-for-me request")
		return
	}
	p, err := h.cfg.Svc.PaymentService().PaymentByID(r.Context(), pfm.PaymentID)
	if err != nil {
		h.fail(w, http.StatusNotFound, "没有找到这笔订单。", "no such payment")
		return
	}
	m, _ := h.cfg.Svc.MerchantService().Get(r.Context(), p.MerchantID)
	if pfm.Status != "open" && p.Status == payment.StatusRequiresAction {
		h.render(w, http.StatusGone, "error.html", view{Title: "代付已结束", Error: pfmEnded(pfm.Status)})
		return
	}
	h.checkout(w, r, p, m.Name, &pfm)
}

func (h *Handler) payForMeQR(w http.ResponseWriter, r *http.Request) {
	pfm, err := h.cfg.Svc.PayForMeService().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h.svg(w, pfm.URL)
}

// storeCode is a merchant's static code: the buyer enters the amount.
func (h *Handler) storeCode(w http.ResponseWriter, r *http.Request) {
	m, err := h.cfg.Svc.MerchantService().Get(r.Context(), r.PathValue("merchant"))
	if err != nil {
		h.fail(w, http.StatusNotFound, "没有找到这家店。", "no such store")
		return
	}
	h.render(w, http.StatusOK, "store.html", view{Title: m.Name, Store: m.Name, StoreID: m.ID})
}

func (h *Handler) storeQR(w http.ResponseWriter, r *http.Request) {
	m, err := h.cfg.Svc.MerchantService().Get(r.Context(), r.PathValue("merchant"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h.svg(w, h.absolute(r, "/m/"+m.ID))
}

// storePay makes a payment of the amount the buyer entered and goes to its
// cashier, which inside a wallet goes straight to that wallet.
func (h *Handler) storePay(w http.ResponseWriter, r *http.Request) {
	m, err := h.cfg.Svc.MerchantService().Get(r.Context(), r.PathValue("merchant"))
	if err != nil {
		h.fail(w, http.StatusNotFound, "没有找到这家店。", "no such store")
		return
	}
	v := view{Title: m.Name, Store: m.Name, StoreID: m.ID, Amount: r.PostFormValue("amount")}
	if !h.allow(w, r, LimitStorePay, m.ID, func(msg string) {
		v.Error = msg
		h.render(w, http.StatusTooManyRequests, "store.html", v)
	}) {
		return
	}
	amount, err := payment.ParseYuan(r.PostFormValue("amount"))
	if err != nil {
		v.Error = "请输入付款金额，例如 12.50。"
		h.render(w, http.StatusBadRequest, "store.html", v)
		return
	}
	note := strings.TrimSpace(r.PostFormValue("note"))
	if note == "" || utf8.RuneCountInString(note) > 60 {
		note = "到店付款 " + m.Name
	}
	order := payment.NewID("store")
	p, err := h.cfg.Svc.PaymentService().CreatePayment(r.Context(), m, payment.Request{MerchantOrderID: order, Amount: amount, Currency: "CNY",
		Description: note, Method: "cashier", Buyer: payment.Buyer{ID: "walkin_" + order[len("store_"):]}, ExpiresIn: 15 * 60})
	if err != nil {
		var fe *payment.FieldError
		if errors.As(err, &fe) {
			h.cfg.Logger.Info("store payment refused", "merchant", m.ID, "error", fe)
			v.Error = "这个金额无法付款，请检查后重试。"
			h.render(w, http.StatusBadRequest, "store.html", v)
			return
		}
		h.fail(w, http.StatusBadGateway, "下单失败，请稍后再试。", err.Error())
		return
	}
	http.Redirect(w, r, "/pay/"+p.ID, http.StatusSeeOther)
}

// sharePage is where a person pastes a message with a share code.
func (h *Handler) sharePage(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "share.html", view{Title: "打开分享口令", Text: r.URL.Query().Get("text")})
}

func (h *Handler) shareResolve(w http.ResponseWriter, r *http.Request) {
	text := r.PostFormValue("text")
	v := view{Title: "打开分享口令", Text: text}
	if !h.allow(w, r, LimitShareResolve, "", func(msg string) {
		v.Error = msg
		h.render(w, http.StatusTooManyRequests, "share.html", v)
	}) {
		return
	}
	if len(text) > 8<<10 {
		v.Error = "内容太长了，请只粘贴朋友发来的那条消息。"
		h.render(w, http.StatusBadRequest, "share.html", v)
		return
	}
	sc, err := h.cfg.Svc.ShareCodeService().Resolve(r.Context(), "", text)
	if err != nil {
		status, msg := shareRefusal(err)
		v.Error = msg
		h.render(w, status, "share.html", v)
		return
	}
	target := sc.URL
	if sc.Target == "product" || sc.Target == "store" {
		// The merchant's page credits its payment to the code.
		if u, err := url.Parse(target); err == nil {
			q := u.Query()
			q.Set("share_code", sc.ID)
			u.RawQuery = q.Encode()
			target = u.String()
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func shareRefusal(err error) (int, string) {
	switch {
	case errors.Is(err, sharecode.ErrNoToken):
		return http.StatusBadRequest, "没有找到口令：请粘贴包含 ￥口令￥ 的整段消息。"
	case errors.Is(err, sharecode.ErrMistyped):
		return http.StatusBadRequest, "口令有误，请检查是否抄错。"
	case errors.Is(err, gateway.ErrShareUnknown):
		return http.StatusNotFound, "这个口令不存在。"
	case errors.Is(err, gateway.ErrShareExpired):
		return http.StatusGone, "这个口令已过期。"
	case errors.Is(err, gateway.ErrShareRevoked):
		return http.StatusGone, "这个口令已被撤销。"
	case errors.Is(err, gateway.ErrShareUsedUp):
		return http.StatusGone, "这个口令的使用次数已满。"
	}
	return http.StatusInternalServerError, "出错了，请稍后再试。"
}

// onboarding is the service of the signing pages.
func (h *Handler) onboarding() *onboarding.Service {
	if h.cfg.Onboarding != nil {
		return h.cfg.Onboarding
	}
	return h.cfg.Svc.OnboardingService()
}

// signPage is the merchant-facing page where a merchant's signer reads the
// channel's agreement and signs it. The link carries the contract's secret
// token.
func (h *Handler) signPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	page, err := h.onboarding().ForSigning(r.Context(), r.PathValue("id"), token)
	if err != nil {
		h.fail(w, http.StatusForbidden, "签署链接无效，请使用平台发给你的最新链接。", "the signing link is not valid")
		return
	}
	h.render(w, http.StatusOK, "sign.html", view{Title: signTitle(page.Contract.Channel), Brand: "商户签约", Merchant: page.Merchant.Name, Signing: &page, Text: token})
}

func (h *Handler) sign(w http.ResponseWriter, r *http.Request) {
	id, token := r.PathValue("id"), r.PostFormValue("token")
	version, _ := strconv.Atoi(r.PostFormValue("version"))
	if r.PostFormValue("agree") != "yes" {
		h.fail(w, http.StatusBadRequest, "请先勾选“我已阅读并同意以上协议”。", "tick the box to agree")
		return
	}
	_, err := h.onboarding().Sign(r.Context(), id, token, version, r.PostFormValue("text_sha256"), r.PostFormValue("signer"), h.clientIP(r))
	if err != nil {
		page, perr := h.onboarding().ForSigning(r.Context(), id, token)
		if perr != nil {
			h.fail(w, http.StatusForbidden, "签署链接无效，请使用平台发给你的最新链接。", "the signing link is not valid")
			return
		}
		h.cfg.Logger.Info("signing refused", "contract", id, "error", err)
		h.render(w, http.StatusBadRequest, "sign.html", view{Title: signTitle(page.Contract.Channel), Brand: "商户签约", Merchant: page.Merchant.Name, Signing: &page, Text: token, Error: signRefusal(err)})
		return
	}
	http.Redirect(w, r, "/sign/"+id+"?token="+url.QueryEscape(token), http.StatusSeeOther)
}

// feedbackPage asks a buyer who paid how the method was: the feedback the
// rollout of a new wallet is judged by.
func (h *Handler) feedbackPage(w http.ResponseWriter, r *http.Request) {
	p, merchant, ok := h.load(w, r)
	if !ok {
		return
	}
	if p.Status != payment.StatusSucceeded {
		h.fail(w, http.StatusConflict, "付款完成后才能评价。", "feedback comes after paying")
		return
	}
	h.render(w, http.StatusOK, "feedback.html", view{Title: "评价", Payment: p, Merchant: merchant, Stars: []int{5, 4, 3, 2, 1}})
}

func (h *Handler) feedback(w http.ResponseWriter, r *http.Request) {
	p, merchant, ok := h.load(w, r)
	if !ok {
		return
	}
	rating, _ := strconv.Atoi(r.PostFormValue("rating"))
	v := view{Title: "评价", Payment: p, Merchant: merchant, Stars: []int{5, 4, 3, 2, 1}}
	if p.Status != payment.StatusSucceeded {
		h.fail(w, http.StatusConflict, "付款完成后才能评价。", "feedback comes after paying")
		return
	}
	if !h.allow(w, r, LimitFeedback, p.MerchantID, func(msg string) {
		v.Error = msg
		h.render(w, http.StatusTooManyRequests, "feedback.html", v)
	}) {
		return
	}
	_, err := h.rollouts().CreateFeedback(r.Context(), rollouts.Feedback{MerchantID: p.MerchantID, PaymentID: p.ID, Rating: rating, Text: r.PostFormValue("text")})
	if err != nil {
		h.cfg.Logger.Info("feedback refused", "payment", p.ID, "error", err)
		v.Error = feedbackRefusal(err)
		h.render(w, http.StatusBadRequest, "feedback.html", v)
		return
	}
	v.Thanks = true
	h.render(w, http.StatusOK, "feedback.html", v)
}

// signRefusal tells a signer why the signature was not taken.
func signRefusal(err error) string {
	var fe *payment.FieldError
	if errors.As(err, &fe) {
		switch fe.Param {
		case "signer":
			return "请填写签署人姓名，最多 40 个字。"
		case "agreement":
			return "协议在你阅读时更新了，请阅读新版本后再签署。"
		}
	}
	return "未能签署，请刷新页面后重试。"
}

// feedbackRefusal tells a buyer why the feedback was not taken.
func feedbackRefusal(err error) string {
	var fe *payment.FieldError
	if errors.As(err, &fe) {
		switch fe.Param {
		case "rating":
			return "请选择 1 到 5 星。"
		case "text":
			return "感受最多写 1000 个字。"
		}
	}
	return "未能提交，请稍后再试。"
}

// inWallet says method pays inside its wallet's own browser (JSAPI).
func inWallet(method string) bool {
	m, ok := channel.LookupMethod(method)
	return ok && m.Flow == channel.FlowInWallet
}
