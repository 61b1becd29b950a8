package phone

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"image"
	_ "image/gif" // the QR images people upload
	_ "image/jpeg"
	_ "image/png"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

// PIN is every sandbox user's payment password.
const PIN = "123456"

// Limits on what people hand the phone.
const (
	maxUpload     = 5 << 20
	maxPixels     = 16 << 20 // a 4096×4096 picture; a few MiB of PNG can declare far more
	maxCodeLen    = 4096
	maxFetchBytes = 1 << 20
	fetchTimeout  = 5 * time.Second
	maxRedirects  = 5
)

//go:embed templates/*.html static/*
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"yuan":      Yuan,
	"time":      func(t time.Time) string { return t.In(beijing).Format("01-02 15:04") },
	"initial":   Initial,
	"orderPath": orderPath,
}).ParseFS(assets, "templates/*.html"))

var beijing = time.FixedZone("Asia/Shanghai", 8*3600)

// Yuan shows fen as ¥12.34, exactly.
func Yuan(fen int64) string {
	sign, abs := "", uint64(fen)
	if fen < 0 {
		sign, abs = "-", -abs // two's complement: exact even for math.MinInt64
	}
	return fmt.Sprintf("%s¥%d.%02d", sign, abs/100, abs%100)
}

// Config of the phone pages.
type Config struct {
	Wallets []Wallet
	Users   *users.Directory
	Logger  *slog.Logger
	// Client fetches links no wallet recognizes; nil means a client with
	// the limits above.
	Client *http.Client
}

// Handler serves /phone/.
type Handler struct {
	cfg Config
	mux *http.ServeMux
	// Any web page the developer visits could post a form to the
	// loopback sandbox; browsers say where a POST comes from, and only
	// the phone's own pages may pay or make it fetch a link.
	csrf *http.CrossOriginProtection
}

// New returns the phone pages.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout: fetchTimeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= maxRedirects {
					return fmt.Errorf("more than %d redirects", maxRedirects)
				}
				if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
					return http.ErrUseLastResponse
				}
				return nil
			},
		}
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection()}
	h.mux.HandleFunc("GET /phone/{$}", h.index)
	h.mux.HandleFunc("GET /phone/switch", h.switchUser)
	h.mux.HandleFunc("GET /phone/open", h.openAs)
	h.mux.Handle("GET /phone/static/", http.StripPrefix("/phone/", http.FileServerFS(assets)))
	h.mux.HandleFunc("GET /phone/u/{user}", h.home)
	h.mux.HandleFunc("POST /phone/u/{user}/scan", h.scan)
	h.mux.HandleFunc("GET /phone/u/{user}/order", h.order)
	h.mux.HandleFunc("POST /phone/u/{user}/pay", h.pay)
	h.mux.HandleFunc("GET /phone/u/{user}/done", h.done)
	h.mux.HandleFunc("GET /phone/wechatpay/h5", h.landing("wechatpay"))
	for _, w := range cfg.Wallets {
		h.mux.HandleFunc("GET /phone/"+w.Name()+"/cashier", h.cashier(w.Name()))
		if b, ok := w.(Bridge); ok {
			h.mux.HandleFunc("GET /phone/"+w.Name()+"/jsapi", h.bridge(w, b))
		}
	}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.csrf.Check(r); err != nil {
		h.render(w, http.StatusForbidden, "index.html", view{Title: "沙箱手机", Users: h.cfg.Users.List(), Wallets: h.cfg.Wallets,
			Error: "拒绝来自其他网站的提交 (cross-origin POST refused): 请在沙箱手机页面上操作"})
		return
	}
	h.mux.ServeHTTP(w, r)
}

// view is what every page template gets.
type view struct {
	Title   string
	User    users.User
	Users   []users.User
	Wallet  Wallet
	Wallets []Wallet
	Path    string // the current page, for the user switcher
	Error   string
	Info    string
	Link    string // shown after Info: where an opened link led

	Code    string
	Order   *Order
	Receipt *Receipt
	History []Receipt
	PIN     string

	// The authorization page: who asks, the form's target, the user
	// preselected.
	Auth   *AuthRequest
	Action string
	Chosen string
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, v view) {
	if err := renderPage(w, status, name, v); err != nil {
		h.cfg.Logger.Error("phone: render", "page", name, "err", err)
	}
}

// renderPage writes a page, or a plain 500 if its template fails.
func renderPage(w http.ResponseWriter, status int, name string, v view) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, v); err != nil {
		http.Error(w, "page error", http.StatusInternalServerError)
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// base fills the parts every page of a user shows; a bad user or wallet
// name is answered here.
func (h *Handler) base(w http.ResponseWriter, r *http.Request) (view, bool) {
	u, err := h.cfg.Users.Get(r.PathValue("user"))
	if err != nil {
		h.render(w, http.StatusNotFound, "index.html", view{Title: "沙箱手机", Users: h.cfg.Users.List(), Wallets: h.cfg.Wallets,
			Error: fmt.Sprintf("没有这个沙箱用户: %q", r.PathValue("user"))})
		return view{}, false
	}
	wallet := h.cfg.Wallets[0]
	if name := r.FormValue("wallet"); name != "" {
		wallet = nil
		for _, x := range h.cfg.Wallets {
			if x.Name() == name {
				wallet = x
			}
		}
		if wallet == nil {
			h.render(w, http.StatusBadRequest, "index.html", view{Title: "沙箱手机", Users: h.cfg.Users.List(), Wallets: h.cfg.Wallets,
				Error: fmt.Sprintf("没有这个钱包: %q", name)})
			return view{}, false
		}
	}
	path := r.URL.RequestURI()
	if r.Method != http.MethodGet { // switching user after a POST lands on the home page
		path = "/phone/u/" + url.PathEscape(u.ID) + "?wallet=" + wallet.Name()
	} else {
		setUserCookie(w, u.ID) // who holds the phone, for the authorization pages
	}
	return view{Title: wallet.Title(), User: u, Users: h.cfg.Users.List(), Wallet: wallet, Wallets: h.cfg.Wallets, Path: path}, true
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "index.html", view{Title: "沙箱手机", Users: h.cfg.Users.List(), Wallets: h.cfg.Wallets})
}

// switchUser is the header's user picker: the same page as another user.
// Only the home and order pages carry over; a receipt belongs to its payer.
func (h *Handler) switchUser(w http.ResponseWriter, r *http.Request) {
	u, err := h.cfg.Users.Get(r.FormValue("user"))
	if err != nil {
		h.scanFailed(w, r, fmt.Sprintf("没有这个沙箱用户: %q", r.FormValue("user")))
		return
	}
	q := url.Values{}
	to, err := url.Parse(r.FormValue("to"))
	if err == nil && to.Scheme == "" && to.Host == "" {
		for _, k := range []string{"wallet", "code"} {
			if v := to.Query().Get(k); v != "" {
				q.Set(k, v)
			}
		}
	}
	page := ""
	if err == nil && strings.HasSuffix(to.Path, "/order") && q.Get("code") != "" {
		page = "/order"
	} else {
		q.Del("code")
	}
	target := "/phone/u/" + url.PathEscape(u.ID) + page
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	v, ok := h.base(w, r)
	if !ok {
		return
	}
	v.History = v.Wallet.History(v.User.ID)
	h.render(w, http.StatusOK, "home.html", v)
}

// scan reads what the person "scanned": pasted text or link, or a QR image.
func (h *Handler) scan(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload+64<<10)
	if err := r.ParseMultipartForm(maxUpload); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		h.scanFailed(w, r, "上传的内容超过 5 MiB 或不是表单")
		return
	}
	v, ok := h.base(w, r)
	if !ok {
		return
	}
	code := strings.TrimSpace(r.FormValue("code"))
	if f, hdr, err := r.FormFile("image"); err == nil {
		defer f.Close()
		text, err := DecodeQR(f)
		if err != nil {
			v.Error = fmt.Sprintf("二维码图片 %q 无法识别: %v", hdr.Filename, err)
			v.History = v.Wallet.History(v.User.ID)
			h.render(w, http.StatusBadRequest, "home.html", v)
			return
		}
		code = text
	}
	if code == "" {
		v.Error = "请粘贴付款码内容、链接，或上传二维码图片"
		v.History = v.Wallet.History(v.User.ID)
		h.render(w, http.StatusBadRequest, "home.html", v)
		return
	}
	if len(code) > maxCodeLen {
		v.Error = fmt.Sprintf("内容超过 %d 字节", maxCodeLen)
		v.History = v.Wallet.History(v.User.ID)
		h.render(w, http.StatusBadRequest, "home.html", v)
		return
	}
	wallet, found := h.recognize(code)
	if !found && isLink(code) {
		var op opened
		if op, found = h.open(r.Context(), v.Wallet, code); found {
			code, wallet = op.code, op.wallet
		} else {
			v.Info, v.Link = op.describe(v.Wallet)
		}
	}
	if !found {
		v.Error = "没有钱包认得这个码: " + truncate(code, 120)
		v.Code = truncate(code, maxCodeLen)
		v.History = v.Wallet.History(v.User.ID)
		h.render(w, http.StatusBadRequest, "home.html", v)
		return
	}
	http.Redirect(w, r, orderPath(v.User.ID, wallet.Name(), code), http.StatusSeeOther)
}

func (h *Handler) scanFailed(w http.ResponseWriter, r *http.Request, msg string) {
	h.render(w, http.StatusBadRequest, "index.html", view{Title: "沙箱手机", Users: h.cfg.Users.List(), Wallets: h.cfg.Wallets, Error: msg})
}

func orderPath(user, wallet, code string) string {
	return "/phone/u/" + url.PathEscape(user) + "/order?" + url.Values{"wallet": {wallet}, "code": {code}}.Encode()
}

func (h *Handler) recognize(code string) (Wallet, bool) {
	for _, w := range h.cfg.Wallets {
		if w.Recognizes(code) {
			return w, true
		}
	}
	return nil, false
}

func isLink(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// codeInPage finds wallet codes inside a fetched page.
var codeInPage = regexp.MustCompile(`weixin://wxpay/bizpayurl\?pr=[0-9A-Za-z]+|https://qr\.alipay\.com/[0-9A-Za-z]+|https?://[^\s"'<>]+/phone/[a-z]+/(?:h5|cashier)\?[^\s"'<>]+`)

// opened is where following a link led.
type opened struct {
	code   string // the code found, when found
	wallet Wallet
	final  string // the last URL reached
	status int
	err    error
}

// describe tells the person what the wallet's browser saw, and the link to
// open the page themselves.
func (op opened) describe(w Wallet) (string, string) {
	if op.err != nil {
		return fmt.Sprintf("用%s打开链接失败: %v", w.Title(), op.err), ""
	}
	info := fmt.Sprintf("用%s打开后到达 (HTTP %d)，页面里没有付款码:", w.Title(), op.status)
	if !isLink(op.final) {
		return info + " " + truncate(op.final, 200), ""
	}
	return info, op.final
}

// open follows a link as the wallet's in-app browser would, with its
// User-Agent, and looks for a code at the end of it: in the final URL or
// in the page.
func (h *Handler) open(ctx context.Context, wallet Wallet, link string) (opened, bool) {
	op := opened{final: link}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		op.err = err
		return op, false
	}
	req.Header.Set("User-Agent", wallet.UserAgent())
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		h.cfg.Logger.Info("phone: open link", "url", link, "err", err)
		op.err = err
		return op, false
	}
	defer resp.Body.Close()
	op.status = resp.StatusCode
	op.final = resp.Request.URL.String()
	if loc := resp.Header.Get("Location"); loc != "" { // a redirect to a wallet scheme, not followed
		op.final = loc
	}
	if w, ok := h.recognize(op.final); ok && len(op.final) <= maxCodeLen {
		op.code, op.wallet = op.final, w
		return op, true
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxFetchBytes))
	for _, m := range codeInPage.FindAllString(string(body), -1) {
		m = strings.ReplaceAll(m, "&amp;", "&")
		if w, ok := h.recognize(m); ok && len(m) <= maxCodeLen {
			op.code, op.wallet = m, w
			return op, true
		}
	}
	return op, false
}

func (h *Handler) order(w http.ResponseWriter, r *http.Request) {
	v, ok := h.base(w, r)
	if !ok {
		return
	}
	v.Code = r.FormValue("code")
	o, err := v.Wallet.Lookup(v.Code)
	if err != nil {
		v.Error = lookupError(err)
		v.History = v.Wallet.History(v.User.ID)
		h.render(w, http.StatusNotFound, "home.html", v)
		return
	}
	v.Order = &o
	h.render(w, http.StatusOK, "order.html", v)
}

func lookupError(err error) string {
	if errors.Is(err, ErrUnknownCode) {
		return "找不到这个订单（付款码不存在或已失效）"
	}
	return "无法打开订单: " + err.Error()
}

// pay confirms with the PIN. A wrong PIN, like any refusal, changes
// nothing; success redirects (so a reload does not pay twice).
func (h *Handler) pay(w http.ResponseWriter, r *http.Request) {
	v, ok := h.base(w, r)
	if !ok {
		return
	}
	v.Code = r.FormValue("code")
	o, err := v.Wallet.Lookup(v.Code)
	if err != nil {
		v.Error = lookupError(err)
		v.History = v.Wallet.History(v.User.ID)
		h.render(w, http.StatusNotFound, "home.html", v)
		return
	}
	v.Order = &o
	if r.FormValue("pin") != PIN {
		v.Error = "支付密码错误，请重试（沙箱用户的支付密码都是 " + PIN + "）"
		h.render(w, http.StatusUnprocessableEntity, "failed.html", v)
		return
	}
	receipt, err := v.Wallet.Pay(v.Code, v.User.ID)
	if err != nil {
		v.Error = payError(err)
		h.render(w, http.StatusUnprocessableEntity, "failed.html", v)
		return
	}
	q := url.Values{"wallet": {v.Wallet.Name()}, "code": {v.Code}, "trade": {receipt.TradeNo}}
	http.Redirect(w, r, "/phone/u/"+url.PathEscape(v.User.ID)+"/done?"+q.Encode(), http.StatusSeeOther)
}

func payError(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, users.ErrInsufficientBalance):
		return "余额不足: " + msg
	case strings.Contains(msg, "closed"):
		return "订单已关闭: " + msg
	case strings.Contains(msg, "already paid"):
		return "订单已支付: " + msg
	case strings.Contains(msg, "another"):
		return "这笔订单指定了另一位付款人: " + msg
	}
	return "支付失败: " + msg
}

func (h *Handler) done(w http.ResponseWriter, r *http.Request) {
	v, ok := h.base(w, r)
	if !ok {
		return
	}
	v.Code = r.FormValue("code")
	trade := r.FormValue("trade")
	for _, rc := range v.Wallet.History(v.User.ID) {
		if rc.TradeNo == trade {
			rc := rc
			v.Receipt = &rc
		}
	}
	if v.Receipt == nil {
		v.Error = "找不到这笔支付记录"
		h.render(w, http.StatusNotFound, "home.html", v)
		return
	}
	// The return URL comes from the order, which signs it where the
	// wallet signs returns.
	if o, err := v.Wallet.Lookup(v.Code); err == nil {
		v.Receipt.ReturnURL = o.ReturnURL
	}
	h.render(w, http.StatusOK, "done.html", v)
}

// landing sends a wallet's pay link (WeChat's h5_url) to the order page of
// the person holding the phone (UserCookie, else the default user), keeping
// the whole link as the code so that its redirect_url survives. The wallet
// pays as whoever is signed in to it, never as someone the link names.
func (h *Handler) landing(wallet string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("prepay_id") == "" {
			h.scanFailed(w, r, "支付链接缺少 prepay_id: "+truncate(r.URL.RequestURI(), 200))
			return
		}
		link := "http://" + r.Host + r.URL.RequestURI()
		http.Redirect(w, r, orderPath(CurrentUser(r, h.cfg.Users), wallet, link), http.StatusSeeOther)
	}
}

// cashier is where a wallet's web cashier (Alipay page/wap pay) sends the
// browser: the order page of the person holding the phone (UserCookie, else
// the default user).
func (h *Handler) cashier(wallet string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code := r.URL.Query().Get("code")
		if code == "" {
			h.scanFailed(w, r, "收银台链接缺少订单: "+truncate(r.URL.RequestURI(), 200))
			return
		}
		http.Redirect(w, r, orderPath(CurrentUser(r, h.cfg.Users), wallet, code), http.StatusSeeOther)
	}
}

// bridge is where bridge.js sends a page's in-wallet payment call
// (WeixinJSBridge getBrandWCPayRequest, AlipayJSBridge tradePay): the
// wallet checks the call, and the order page of the payer the order names
// (else of the person holding the phone) takes over, with the whole link
// as the code so that the return URLs survive to paying. A refused call is
// explained, with a link back to the page that made it.
func (h *Handler) bridge(wallet Wallet, b Bridge) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		link := "http://" + r.Host + r.URL.RequestURI()
		o, err := wallet.Lookup(link)
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrUnknownCode) {
				status = http.StatusNotFound
			}
			h.render(w, status, "refused.html", view{Title: wallet.Title(), Wallet: wallet, Error: err.Error(), Link: b.FailURL(link)})
			return
		}
		user := o.Payer
		if user == "" {
			user = CurrentUser(r, h.cfg.Users)
		}
		http.Redirect(w, r, orderPath(user, wallet.Name(), link), http.StatusSeeOther)
	}
}

// DecodeQR reads the text of the QR code in a PNG, JPEG or GIF image of at
// most 5 MiB.
func DecodeQR(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxUpload+1))
	if err != nil {
		return "", err
	}
	if len(data) > maxUpload {
		return "", errors.New("图片超过 5 MiB")
	}
	// The header first: a small file may declare a picture whose pixels
	// would not fit in memory.
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "png" && format != "jpeg" && format != "gif") {
		return "", errors.New("不是 PNG、JPEG 或 GIF 图片")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return "", fmt.Errorf("图片尺寸 %d×%d 超出范围（最多 %d 像素）", cfg.Width, cfg.Height, maxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("图片已损坏: %w", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	// The detector finds codes in photos but misses about one clean,
	// screen-rendered code in thirty (measured over 300 random pay codes);
	// reading the image as a bare code catches exactly those.
	for _, hints := range []map[gozxing.DecodeHintType]any{
		{gozxing.DecodeHintType_TRY_HARDER: true},
		{gozxing.DecodeHintType_PURE_BARCODE: true},
	} {
		if res, err := qrcode.NewQRCodeReader().Decode(bmp, hints); err == nil {
			return res.GetText(), nil
		}
	}
	return "", errors.New("图片里没有找到二维码")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
