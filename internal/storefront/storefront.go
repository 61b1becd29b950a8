// Package storefront is 互通集市, the demo marketplace that `hutong demo`
// runs beside the gateway. It is a client of the merchant API exactly like
// any merchant's system: it holds a platform API key, names the merchant
// per call (client.Client.Merchant) and never touches the gateway's
// internals or database. Its own data (carts, orders) is in memory; the
// payments are the gateway's.
//
// Pages (plain Go templates, in Chinese only, as a shopper in China reads
// them; a little CSS; product pictures as hand-drawn SVG, never emoji,
// which show as empty boxes where no emoji font is installed; no
// JavaScript; all embedded):
//
//	GET  /                        products by merchant, each merchant's store code on the gateway
//	POST /buyer                   choose the demo buyer (cookie shop_buyer)
//	GET  /p/{product}             a product; ?share_code=sc_… credits the payment to that code
//	                              (the page shows the code's text, never its id)
//	POST /p/{product}/share       make a share code for the product and show its message
//	POST /cart                    add to cart (product, quantity 1–99, share_code)
//	GET  /cart                    the current buyer's cart, by merchant
//	POST /cart/update             set a line's quantity (product, quantity)
//	POST /cart/remove             remove a line (product)
//	POST /cart/checkout           one payment per merchant; one order goes straight to its cashier
//	GET  /orders                  the current buyer's orders
//	GET  /orders/{order}          an order, its payment's status, a verified return from the cashier
//	POST /orders/{order}/pay-for-me  ask a friend to pay (note)
//	GET  /assets/shop.css, /assets/products/{picture}.svg
//
// A cart belongs to the demo buyer chosen in the header, so switching buyer
// switches cart. Forms posted from another site are refused.
//
// Stable data-* attributes, for browser tests:
//
//	every page   data-current-buyer="ID" (header), data-buyer-select (select name=buyer),
//	             data-buyer-submit, data-cart-count (number of pieces), data-error
//	             (an input or API error), data-notice
//	/            data-merchant="ID" (a merchant's section), data-product="ID" (a product
//	             card), data-product-link, data-add-to-cart (button), data-store-link (the
//	             merchant's store code page on the gateway), data-store-qr (its QR image)
//	/p/{id}      data-product-page="ID", data-price="FEN", data-quantity (input),
//	             data-add-to-cart, data-share-code-applied="sc_…" (the share code being
//	             followed, if valid), data-share-source (select), data-share-button,
//	             data-share-code="sc_…" (a share code just made), data-share-message
//	             (textarea), data-share-page (link to the gateway's /s/ page)
//	/cart        data-cart-merchant="ID" (a merchant's group), data-cart-line="PRODUCT",
//	             data-line-quantity (input), data-line-update, data-line-remove,
//	             data-line-share-code="sc_…", data-merchant-total="FEN",
//	             data-cart-total="FEN", data-checkout (button), data-cart-empty
//	/orders      data-order="ORDER" with data-order-merchant="ID" and
//	             data-order-payment="PAYMENT", data-order-status, data-order-link,
//	             data-pay-link (the cashier), data-orders-empty
//	/orders/{id} data-order-page="ORDER", data-order-payment="PAYMENT",
//	             data-order-status="succeeded|requires_action|canceled|unknown",
//	             data-return-verified="true|false" (only when the request carries the
//	             cashier's return parameters), data-paid-method="METHOD",
//	             data-payer="buyer|friend", data-pay-link, data-pfm-note (input),
//	             data-pfm-button, data-pfm-url="URL" (link), data-pfm-qr (image),
//	             data-pfm-message (textarea)
package storefront

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/client"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config of the storefront.
type Config struct {
	API       *client.Client // platform key; BaseURL is the gateway
	BaseURL   string         // where the storefront itself is reached, e.g. http://127.0.0.1:8070
	Merchants []Merchant     // demo merchants with products
	Logger    *slog.Logger
}

// Merchant is a store of the marketplace; it must exist at the gateway
// under the same ID. Name is Chinese first, optionally followed by a space
// and an English name; the Chinese part names the store in payment
// descriptions.
type Merchant struct {
	ID, Name, Category, Region string
	Products                   []Product
}

// Product is one thing a merchant sells. IDs are unique across merchants.
type Product struct {
	ID, Title string
	Price     int64 // fen
	// Picture names one of the embedded drawings in static/products/
	// (Pictures lists them); "" is a parcel.
	Picture string
}

// Pictures are the product drawings the storefront embeds.
func Pictures() []string {
	entries, _ := fs.ReadDir(staticFS, "static/products")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".svg"))
	}
	return out
}

func hasPicture(name string) bool {
	_, err := fs.Stat(staticFS, "static/products/"+name+".svg")
	return idPattern.MatchString(name) && err == nil
}

// DemoMerchants are the two demo merchants, with stable ids: a county
// supermarket and a city clothing shop.
func DemoMerchants() []Merchant {
	return []Merchant{
		{ID: "m_demo_county", Name: "县城超市", Category: "超市", Region: "130627", Products: []Product{
			{ID: "county-soymilk", Title: "豆浆", Price: 350, Picture: "soymilk"},
			{ID: "county-youtiao", Title: "油条", Price: 200, Picture: "youtiao"},
			{ID: "county-rice-5kg", Title: "东北大米 5公斤", Price: 3990, Picture: "rice"},
		}},
		{ID: "m_demo_city", Name: "城市服饰", Category: "服饰", Region: "110105", Products: []Product{
			{ID: "city-tshirt", Title: "纯棉T恤", Price: 7900, Picture: "tshirt"},
			{ID: "city-jeans", Title: "牛仔裤", Price: 19900, Picture: "jeans"},
		}},
	}
}

// buyer is a demo buyer; the gateway is told their region, which decides
// the methods they are offered.
type buyer struct {
	ID, Name, RegionCode, Area string
}

var buyers = []buyer{
	{ID: "buyer-zhang", Name: "张伟", RegionCode: "130627", Area: "河北唐县"},
	{ID: "buyer-li", Name: "李娜", RegionCode: "110105", Area: "北京朝阳"},
	{ID: "buyer-wang", Name: "王芳", RegionCode: "330782", Area: "浙江义乌"},
}

func buyerByID(id string) (buyer, bool) {
	for _, b := range buyers {
		if b.ID == id {
			return b, true
		}
	}
	return buyer{}, false
}

// shareSource is where a share code is meant to be posted.
type shareSource struct{ ID, Label string }

var shareSources = []shareSource{
	{ID: "wechat_moments", Label: "微信朋友圈"},
	{ID: "wechat_group", Label: "微信群"},
	{ID: "ad:double11", Label: "双十一广告"},
}

// Limits.
const (
	maxQuantity = 99    // of one product in a cart
	maxOrders   = 10000 // kept in memory; the oldest go first
	maxNote     = 60    // characters of a pay-for-me note (the gateway's limit)
	buyerCookie = "shop_buyer"
)

// beijing is Asia/Shanghai (UTC+8 all year, no daylight saving), for the
// times buyers see; fixed, so it needs no time zone database.
var beijing = time.FixedZone("CST", 8*3600)

// when is a time as a shopper in China reads it: "2026年12月2日 20:15",
// Beijing time.
func when(t time.Time) string { return t.In(beijing).Format("2006年1月2日 15:04") }

var (
	idPattern        = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,47}$`)
	regionPattern    = regexp.MustCompile(`^[1-9][0-9]{5}$`)
	shareCodePattern = regexp.MustCompile(`^sc_[0-9A-Za-z_-]{1,61}$`)
)

type productRef struct {
	Product
	Merchant *Merchant
}

// line is one product in a cart.
type line struct {
	ProductID string
	Quantity  int64
	ShareCode string // the share code id the buyer came through, if any
	ShareText string // its text, as the shopper pasted it: ids stay out of pages
}

// order is one merchant's part of a checkout, with its payment.
type order struct {
	ID          string // also the payment's merchant_order_id
	MerchantID  string
	BuyerID     string
	PaymentID   string
	CheckoutURL string
	Description string
	Amount      int64
	Items       []client.Item
	ShareCode   string
	ShareText   string
	Created     time.Time
	PayForMe    *client.PayForMe // the latest pay-for-me request
}

type server struct {
	cfg       Config
	gateway   string
	base      string
	secure    bool
	tmpl      *template.Template
	mux       *http.ServeMux
	csrf      *http.CrossOriginProtection
	merchants []*Merchant
	byID      map[string]*Merchant
	products  map[string]productRef

	mu       sync.Mutex
	carts    map[string][]line // by buyer id
	orders   map[string]*order
	orderIDs []string // oldest first

	keyMu     sync.Mutex
	returnKey ed25519.PublicKey
}

// New checks cfg and returns the storefront.
func New(cfg Config) (http.Handler, error) {
	if cfg.API == nil || cfg.API.BaseURL == "" || cfg.API.Key == "" {
		return nil, errors.New("storefront: Config.API must be a client with the gateway's BaseURL and a platform key")
	}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("storefront: BaseURL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	if len(cfg.Merchants) == 0 {
		return nil, errors.New("storefront: no merchants")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{cfg: cfg, gateway: strings.TrimSuffix(cfg.API.BaseURL, "/"), base: base, secure: u.Scheme == "https",
		mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection(), byID: map[string]*Merchant{}, products: map[string]productRef{},
		carts: map[string][]line{}, orders: map[string]*order{}}
	for _, m := range cfg.Merchants {
		switch {
		case !idPattern.MatchString(m.ID):
			return nil, fmt.Errorf("storefront: merchant id %q must be 1 to 48 of a-z, 0-9, _ and -", m.ID)
		case s.byID[m.ID] != nil:
			return nil, fmt.Errorf("storefront: merchant %q is listed twice", m.ID)
		case strings.TrimSpace(m.Name) == "" || utf8.RuneCountInString(m.Name) > 40:
			return nil, fmt.Errorf("storefront: merchant %q: the name must be 1 to 40 characters", m.ID)
		case m.Region != "" && !regionPattern.MatchString(m.Region):
			return nil, fmt.Errorf("storefront: merchant %q: region %q is not a 6-digit region code", m.ID, m.Region)
		case len(m.Products) == 0 || len(m.Products) > 50:
			return nil, fmt.Errorf("storefront: merchant %q must sell 1 to 50 products", m.ID)
		}
		mc := m
		mc.Products = append([]Product(nil), m.Products...)
		for i, p := range mc.Products {
			if p.Picture == "" {
				mc.Products[i].Picture = "parcel"
			}
			switch {
			case !idPattern.MatchString(p.ID):
				return nil, fmt.Errorf("storefront: product id %q must be 1 to 48 of a-z, 0-9, _ and -", p.ID)
			case s.products[p.ID].Merchant != nil:
				return nil, fmt.Errorf("storefront: product %q is listed twice", p.ID)
			case strings.TrimSpace(p.Title) == "" || utf8.RuneCountInString(p.Title) > 40:
				return nil, fmt.Errorf("storefront: product %q: the title must be 1 to 40 characters", p.ID)
			case p.Price <= 0 || p.Price > 10_000_000:
				return nil, fmt.Errorf("storefront: product %q: the price must be 1 to 10000000 fen", p.ID)
			case p.Picture != "" && !hasPicture(p.Picture):
				return nil, fmt.Errorf("storefront: product %q: no picture %q (have %s)", p.ID, p.Picture, strings.Join(Pictures(), ", "))
			}
			s.products[p.ID] = productRef{Product: mc.Products[i], Merchant: &mc}
		}
		s.merchants = append(s.merchants, &mc)
		s.byID[mc.ID] = &mc
	}
	s.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"yuan":   yuan,
		"status": statusLabel,
		"method": methodLabel,
		"short":  shortName,
		"when":   when,
	}).ParseFS(templateFS, "templates/*.html"))
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.HandleFunc("POST /buyer", s.chooseBuyer)
	s.mux.HandleFunc("GET /p/{product}", s.product)
	s.mux.HandleFunc("POST /p/{product}/share", s.share)
	s.mux.HandleFunc("GET /cart", s.cart)
	s.mux.HandleFunc("POST /cart", s.addToCart)
	s.mux.HandleFunc("POST /cart/update", s.updateLine)
	s.mux.HandleFunc("POST /cart/remove", s.removeLine)
	s.mux.HandleFunc("POST /cart/checkout", s.checkout)
	s.mux.HandleFunc("GET /orders", s.orderList)
	s.mux.HandleFunc("GET /orders/{order}", s.orderPage)
	s.mux.HandleFunc("POST /orders/{order}/pay-for-me", s.payForMe)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "没有这个页面。")
	})
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	if err := s.csrf.Check(r); err != nil {
		s.fail(w, r, http.StatusForbidden, "这个表单来自其他网站，已被拒绝。请回到商城重新操作。")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// api is the client acting for one merchant. Each call gets its own copy,
// so concurrent requests never share the Merchant field.
func (s *server) api(merchantID string) *client.Client {
	c := *s.cfg.API
	c.Merchant = merchantID
	return &c
}

// view is what the templates get.
type view struct {
	Title     string
	Path      string
	Buyer     buyer
	Buyers    []buyer
	CartCount int64
	Gateway   string
	Error     string
	Notice    string

	Merchants []*Merchant

	Product      *productRef
	Quantity     string
	ShareIn      string // the share code followed to this page (its id, for the form)
	ShareText    string // and its text, which the page shows
	Sources      []shareSource
	Source       string
	Share        *client.ShareCode
	SharePageURL string

	Cart      []cartGroup
	CartTotal int64

	Orders []orderView
	Order  *orderView
	Return *returnView
	Note   string
}

type cartGroup struct {
	Merchant *Merchant
	Lines    []cartLine
	Total    int64
}

type cartLine struct {
	Product   Product
	Quantity  int64
	Amount    int64
	ShareCode string
	ShareText string
}

type orderView struct {
	order
	Merchant   *Merchant
	Status     string // from the gateway; "unknown" when it could not be read
	Refunded   int64  // fen
	PaidAt     time.Time
	PaidMethod string
	Payer      string // buyer, friend
	Problem    string // why the status is unknown
}

type returnView struct {
	Verified bool
	Status   string
	Message  string
}

func (s *server) view(r *http.Request, title string) view {
	b := s.buyer(r)
	v := view{Title: title, Path: backPath(r), Buyer: b, Buyers: buyers, Gateway: s.gateway, Merchants: s.merchants, Sources: shareSources}
	s.mu.Lock()
	for _, l := range s.carts[b.ID] {
		v.CartCount += l.Quantity
	}
	s.mu.Unlock()
	return v
}

func (s *server) render(w http.ResponseWriter, status int, name string, v view) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, v); err != nil {
		s.cfg.Logger.Error("storefront page", "template", name, "error", err)
		http.Error(w, "page error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := s.view(r, "出错了")
	v.Error = msg
	s.render(w, status, "error.html", v)
}

// apiMessage is what a buyer is shown when the gateway refuses or cannot
// be reached.
func apiMessage(err error) string {
	// The gateway's messages are for developers, in English; a shopper is
	// told what happened in Chinese, and the details go to the log.
	var ae *client.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusNotFound:
			return "收款网关找不到这家店铺或这笔订单。"
		case ae.Status == http.StatusTooManyRequests:
			return "操作太频繁，请稍后再试。"
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			return "商城的收款账号没有权限，请联系商城。"
		case ae.Status >= 500:
			return "收款网关出错了，请稍后再试。"
		}
		return "收款网关拒绝了这个请求。"
	}
	return "暂时连不上收款网关，请稍后再试。"
}

func (s *server) buyer(r *http.Request) buyer {
	if c, err := r.Cookie(buyerCookie); err == nil {
		if b, ok := buyerByID(c.Value); ok {
			return b
		}
	}
	return buyers[0]
}

// localPath is next if it is a path on this site, else "/".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// backPath is where switching buyer returns to: this page, or for a
// form's answer the page the form was on.
func backPath(r *http.Request) string {
	p := r.URL.Path
	if r.Method == http.MethodGet {
		return r.URL.RequestURI()
	}
	switch {
	case strings.HasPrefix(p, "/cart"):
		return "/cart"
	case strings.HasPrefix(p, "/p/"), strings.HasPrefix(p, "/orders/"):
		return "/" + strings.Join(strings.SplitN(strings.TrimPrefix(p, "/"), "/", 3)[:2], "/")
	}
	return "/"
}

func (s *server) chooseBuyer(w http.ResponseWriter, r *http.Request) {
	b, ok := buyerByID(r.PostFormValue("buyer"))
	if !ok {
		v := s.view(r, "互通集市")
		v.Error = "请选择列表中的买家。"
		s.render(w, http.StatusBadRequest, "home.html", v)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: buyerCookie, Value: b.ID, Path: "/", MaxAge: 30 * 24 * 3600, HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *server) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "home.html", s.view(r, "互通集市"))
}

// product is /p/{product}: with ?share_code= it checks the code at the
// gateway and carries it into the cart.
func (s *server) product(w http.ResponseWriter, r *http.Request) {
	ref, ok := s.products[r.PathValue("product")]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "没有这件商品。")
		return
	}
	v := s.productView(r, ref)
	if sc := r.URL.Query().Get("share_code"); sc != "" {
		if info, err := s.checkShareCode(r.Context(), ref, sc); err != nil {
			v.Error = "分享口令" + err.Error() + "，这次购买不会计入分享。"
		} else {
			v.ShareIn, v.ShareText = sc, info.Text
			v.Notice = "你是通过朋友的分享来到这里的。"
		}
	}
	s.render(w, http.StatusOK, "product.html", v)
}

func (s *server) productView(r *http.Request, ref productRef) view {
	v := s.view(r, ref.Title)
	v.Product = &ref
	v.Quantity = "1"
	v.Source = shareSources[0].ID
	v.SharePageURL = s.gateway + "/s/"
	return v
}

func parseQuantity(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 1 || n > maxQuantity {
		return 0, fmt.Errorf("数量须为 1 到 %d 的整数。", maxQuantity)
	}
	return n, nil
}

// checkShareCode accepts a share code id only if the gateway knows it as a
// live code of this product's merchant, for this product. Its error says
// what is wrong in words that follow "分享口令".
func (s *server) checkShareCode(ctx context.Context, ref productRef, id string) (*shareCodeInfo, error) {
	if !shareCodePattern.MatchString(id) {
		return nil, errors.New("格式不对")
	}
	sc, err := s.getShareCode(ctx, ref.Merchant.ID, id)
	if err != nil {
		var ae *client.Error
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return nil, errors.New("不是这家店的")
		}
		s.cfg.Logger.Warn("storefront: share code lookup", "share_code", id, "error", err)
		return nil, errors.New("暂时无法核对")
	}
	switch {
	case sc.Target != "product" || sc.TargetID != ref.ID:
		return nil, errors.New("分享的是另一件商品")
	case sc.Revoked:
		return nil, errors.New("已被撤销")
	case sc.ExpiresAt != nil && !time.Now().Before(*sc.ExpiresAt):
		return nil, errors.New("已过期")
	}
	return sc, nil
}

// shareCodeInfo is GET /v1/share_codes/{id}, with the fields the client's
// ShareCode leaves out.
type shareCodeInfo struct {
	client.ShareCode
	Revoked   bool       `json:"revoked"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// getShareCode reads one of a merchant's share codes. The Go client has no
// call for it, so it is made here the way the client makes its calls.
func (s *server) getShareCode(ctx context.Context, merchantID, id string) (*shareCodeInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.gateway+"/v1/share_codes/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.API.Key)
	req.Header.Set("Hutong-Merchant", merchantID)
	hc := s.cfg.API.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error client.Error }
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
			return nil, &client.Error{Status: resp.StatusCode, Type: "api_error", Code: "unexpected_answer", Message: strings.TrimSpace(string(raw))}
		}
		e.Error.Status = resp.StatusCode
		return nil, &e.Error
	}
	var out shareCodeInfo
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// share makes a share code for a product and shows its message.
func (s *server) share(w http.ResponseWriter, r *http.Request) {
	ref, ok := s.products[r.PathValue("product")]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "没有这件商品。")
		return
	}
	v := s.productView(r, ref)
	source := r.PostFormValue("source")
	known := false
	for _, src := range shareSources {
		known = known || src.ID == source
	}
	if !known {
		v.Error = "请选择列表中的分享渠道。"
		s.render(w, http.StatusBadRequest, "product.html", v)
		return
	}
	v.Source = source
	sc, err := s.api(ref.Merchant.ID).CreateShareCode(r.Context(), client.ShareCodeParams{Target: "product", TargetID: ref.ID,
		Source: source, URL: s.base + "/p/" + ref.ID, Title: ref.Title})
	if err != nil {
		s.cfg.Logger.Warn("storefront: share code refused", "product", ref.ID, "error", err)
		v.Error = "生成分享口令失败：" + apiMessage(err)
		s.render(w, http.StatusBadGateway, "product.html", v)
		return
	}
	v.Share = sc
	v.Notice = "分享口令已生成，复制下面的消息发给朋友吧。"
	s.render(w, http.StatusOK, "product.html", v)
}

// addToCart adds a quantity of a product (with the share code the buyer
// came through) to the current buyer's cart.
func (s *server) addToCart(w http.ResponseWriter, r *http.Request) {
	ref, ok := s.products[r.PostFormValue("product")]
	if !ok {
		v := s.view(r, "互通集市")
		v.Error = "没有这件商品。"
		s.render(w, http.StatusBadRequest, "home.html", v)
		return
	}
	v := s.productView(r, ref)
	v.Quantity = r.PostFormValue("quantity")
	sc, scText := r.PostFormValue("share_code"), ""
	q, err := parseQuantity(v.Quantity)
	if err != nil {
		v.Error = err.Error()
		s.render(w, http.StatusBadRequest, "product.html", v)
		return
	}
	if sc != "" {
		info, err := s.checkShareCode(r.Context(), ref, sc)
		if err != nil {
			v.Error = "分享口令" + err.Error() + "。"
			s.render(w, http.StatusBadRequest, "product.html", v)
			return
		}
		v.ShareIn, v.ShareText, scText = sc, info.Text, info.Text
	}
	b := s.buyer(r)
	s.mu.Lock()
	lines := s.carts[b.ID]
	i := findLine(lines, ref.ID)
	if i >= 0 && lines[i].Quantity+q > maxQuantity {
		have := lines[i].Quantity
		s.mu.Unlock()
		v.Error = fmt.Sprintf("购物车里已有 %d 件，同一商品最多买 %d 件。", have, maxQuantity)
		s.render(w, http.StatusBadRequest, "product.html", v)
		return
	}
	if i >= 0 {
		lines[i].Quantity += q
		if sc != "" {
			lines[i].ShareCode, lines[i].ShareText = sc, scText
		}
	} else {
		s.carts[b.ID] = append(lines, line{ProductID: ref.ID, Quantity: q, ShareCode: sc, ShareText: scText})
	}
	s.mu.Unlock()
	http.Redirect(w, r, "/cart?added="+url.QueryEscape(ref.ID), http.StatusSeeOther)
}

func findLine(lines []line, product string) int {
	for i, l := range lines {
		if l.ProductID == product {
			return i
		}
	}
	return -1
}

// groups splits cart lines by merchant, in the order merchants are listed.
func (s *server) groups(lines []line) []cartGroup {
	var out []cartGroup
	for _, m := range s.merchants {
		g := cartGroup{Merchant: m}
		for _, l := range lines {
			ref, ok := s.products[l.ProductID]
			if !ok || ref.Merchant.ID != m.ID {
				continue
			}
			cl := cartLine{Product: ref.Product, Quantity: l.Quantity, Amount: ref.Price * l.Quantity, ShareCode: l.ShareCode, ShareText: l.ShareText}
			g.Lines = append(g.Lines, cl)
			g.Total += cl.Amount
		}
		if len(g.Lines) > 0 {
			out = append(out, g)
		}
	}
	return out
}

func (s *server) cartView(r *http.Request) view {
	v := s.view(r, "购物车")
	s.mu.Lock()
	lines := append([]line(nil), s.carts[v.Buyer.ID]...)
	s.mu.Unlock()
	v.Cart = s.groups(lines)
	for _, g := range v.Cart {
		v.CartTotal += g.Total
	}
	return v
}

func (s *server) cart(w http.ResponseWriter, r *http.Request) {
	v := s.cartView(r)
	if ref, ok := s.products[r.URL.Query().Get("added")]; ok {
		v.Notice = "已加入购物车：" + ref.Title + "。"
	}
	s.render(w, http.StatusOK, "cart.html", v)
}

// updateLine sets the quantity of a product already in the cart.
func (s *server) updateLine(w http.ResponseWriter, r *http.Request) {
	b := s.buyer(r)
	id := r.PostFormValue("product")
	q, qerr := parseQuantity(r.PostFormValue("quantity"))
	s.mu.Lock()
	i := findLine(s.carts[b.ID], id)
	if i >= 0 && qerr == nil {
		s.carts[b.ID][i].Quantity = q
	}
	s.mu.Unlock()
	if i < 0 || qerr != nil {
		v := s.cartView(r)
		if i < 0 {
			v.Error = "购物车里没有这件商品。"
		} else {
			v.Error = qerr.Error()
		}
		s.render(w, http.StatusBadRequest, "cart.html", v)
		return
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

func (s *server) removeLine(w http.ResponseWriter, r *http.Request) {
	b := s.buyer(r)
	id := r.PostFormValue("product")
	s.mu.Lock()
	lines := s.carts[b.ID]
	i := findLine(lines, id)
	if i >= 0 {
		s.carts[b.ID] = append(lines[:i:i], lines[i+1:]...)
	}
	s.mu.Unlock()
	if i < 0 {
		v := s.cartView(r)
		v.Error = "购物车里没有这件商品。"
		s.render(w, http.StatusBadRequest, "cart.html", v)
		return
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

// checkout makes one payment per merchant in the cart. A single order goes
// straight to its cashier; several are listed on /orders to pay each.
func (s *server) checkout(w http.ResponseWriter, r *http.Request) {
	b := s.buyer(r)
	// Take the lines out of the cart at once, so that a second click
	// cannot pay for them twice.
	s.mu.Lock()
	lines := s.carts[b.ID]
	delete(s.carts, b.ID)
	s.mu.Unlock()
	if len(lines) == 0 {
		v := s.cartView(r)
		v.Error = "购物车是空的。"
		s.render(w, http.StatusBadRequest, "cart.html", v)
		return
	}
	var placed []*order
	var failed []line
	var firstErr error
	for _, g := range s.groups(lines) {
		o, err := s.placeOrder(r.Context(), b, g)
		if err != nil {
			s.cfg.Logger.Warn("storefront: checkout refused", "merchant", g.Merchant.ID, "buyer", b.ID, "error", err)
			for _, l := range lines {
				if s.products[l.ProductID].Merchant.ID == g.Merchant.ID {
					failed = append(failed, l)
				}
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("%s：%s", shortName(g.Merchant.Name), apiMessage(err))
			}
			continue
		}
		placed = append(placed, o)
	}
	if firstErr != nil {
		s.mu.Lock()
		s.carts[b.ID] = mergeLines(failed, s.carts[b.ID])
		s.mu.Unlock()
		v := s.cartView(r)
		v.Error = "下单失败，商品仍在购物车里。" + firstErr.Error()
		if len(placed) > 0 {
			v.Notice = fmt.Sprintf("其他 %d 家店铺的订单已创建，请到“我的订单”支付。", len(placed))
		}
		s.render(w, http.StatusBadGateway, "cart.html", v)
		return
	}
	if len(placed) == 1 && placed[0].CheckoutURL != "" {
		http.Redirect(w, r, placed[0].CheckoutURL, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/orders?placed="+strconv.Itoa(len(placed)), http.StatusSeeOther)
}

// mergeLines puts lines back in front of a cart that may have changed
// meanwhile; a product in both keeps the larger quantity.
func mergeLines(back, now []line) []line {
	out := append([]line(nil), back...)
	for _, l := range now {
		if i := findLine(out, l.ProductID); i >= 0 {
			out[i].Quantity = max(out[i].Quantity, l.Quantity)
			if l.ShareCode != "" {
				out[i].ShareCode = l.ShareCode
			}
			continue
		}
		out = append(out, l)
	}
	return out
}

func newOrderID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "shop-" + hex.EncodeToString(b)
}

// describe is a payment's description, which the cashier shows:
// "县城超市：豆浆等3件".
func describe(g cartGroup) string {
	var pieces int64
	for _, l := range g.Lines {
		pieces += l.Quantity
	}
	d := shortName(g.Merchant.Name) + "：" + g.Lines[0].Product.Title
	switch {
	case len(g.Lines) > 1:
		d += fmt.Sprintf("等%d件", pieces)
	case pieces > 1:
		d += fmt.Sprintf(" ×%d", pieces)
	}
	return d
}

// placeOrder creates the payment of one merchant's part of the cart and
// keeps the order.
func (s *server) placeOrder(ctx context.Context, b buyer, g cartGroup) (*order, error) {
	o := &order{ID: newOrderID(), MerchantID: g.Merchant.ID, BuyerID: b.ID, Description: describe(g), Amount: g.Total, Created: time.Now()}
	for _, l := range g.Lines {
		o.Items = append(o.Items, client.Item{Title: l.Product.Title, Quantity: l.Quantity, Amount: l.Amount})
		if o.ShareCode == "" {
			o.ShareCode, o.ShareText = l.ShareCode, l.ShareText
		}
	}
	params := client.PaymentParams{MerchantOrderID: o.ID, Amount: o.Amount, Currency: "CNY", Description: o.Description, Method: "cashier",
		Buyer: client.Buyer{ID: b.ID, Name: b.Name, RegionCode: b.RegionCode}, ReturnURL: s.base + "/orders/" + o.ID,
		Items: o.Items, ShareCode: o.ShareCode}
	api := s.api(g.Merchant.ID)
	p, err := api.CreatePayment(ctx, params, o.ID)
	var ae *client.Error
	if err != nil && !errors.As(err, &ae) && ctx.Err() == nil {
		// The answer was lost: the same Idempotency-Key makes the retry safe.
		p, err = api.CreatePayment(ctx, params, o.ID)
	}
	if err != nil {
		return nil, err
	}
	o.PaymentID, o.CheckoutURL = p.ID, p.CheckoutURL
	s.mu.Lock()
	s.orders[o.ID] = o
	s.orderIDs = append(s.orderIDs, o.ID)
	if len(s.orderIDs) > maxOrders {
		delete(s.orders, s.orderIDs[0])
		s.orderIDs = s.orderIDs[1:]
	}
	s.mu.Unlock()
	return o, nil
}

// orderCopy is a copy of an order, safe to read without the lock.
func (s *server) orderCopy(id string) (order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return order{}, false
	}
	return *o, true
}

// status reads an order's payment at the gateway.
func (s *server) status(ctx context.Context, o order) orderView {
	ov := orderView{order: o, Merchant: s.byID[o.MerchantID], Status: "unknown"}
	p, err := s.api(o.MerchantID).GetPayment(ctx, o.PaymentID)
	if err != nil {
		s.cfg.Logger.Warn("storefront: payment read", "payment", o.PaymentID, "error", err)
		ov.Problem = "读取支付状态失败：" + apiMessage(err)
		return ov
	}
	ov.Status = p.Status
	ov.Refunded = p.AmountRefunded
	ov.PaidAt = p.PaidAt
	ov.PaidMethod = p.PaidMethod
	if p.CheckoutURL != "" {
		ov.CheckoutURL = p.CheckoutURL
	}
	if p.Payer != nil {
		ov.Payer = "friend"
		if p.Payer.IsBuyer {
			ov.Payer = "buyer"
		}
	}
	return ov
}

// orderList is the current buyer's orders, newest first, with their
// payments' status.
func (s *server) orderList(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "我的订单")
	var mine []order
	s.mu.Lock()
	for i := len(s.orderIDs) - 1; i >= 0 && len(mine) < 50; i-- {
		if o := s.orders[s.orderIDs[i]]; o.BuyerID == v.Buyer.ID {
			mine = append(mine, *o)
		}
	}
	s.mu.Unlock()
	v.Orders = make([]orderView, len(mine))
	var wg sync.WaitGroup
	for i, o := range mine {
		wg.Go(func() { v.Orders[i] = s.status(r.Context(), o) })
	}
	wg.Wait()
	if n, err := strconv.Atoi(r.URL.Query().Get("placed")); err == nil && n > 1 {
		v.Notice = fmt.Sprintf("已按店铺拆成 %d 个订单，请分别支付。", n)
	}
	s.render(w, http.StatusOK, "orders.html", v)
}

// orderPage shows an order; a request that carries the cashier's return
// parameters has them verified with the gateway's return key.
func (s *server) orderPage(w http.ResponseWriter, r *http.Request) {
	o, ok := s.orderCopy(r.PathValue("order"))
	if !ok {
		s.fail(w, r, http.StatusNotFound, "没有这个订单。")
		return
	}
	s.renderOrder(w, r, http.StatusOK, o, "", "")
}

func (s *server) renderOrder(w http.ResponseWriter, r *http.Request, status int, o order, errMsg, note string) {
	v := s.view(r, "订单详情")
	ov := s.status(r.Context(), o)
	v.Order = &ov
	v.Error = ov.Problem
	if errMsg != "" {
		v.Error = errMsg
	}
	v.Note = note
	if hasReturn(r.URL.Query()) {
		v.Return = s.verifyReturn(r.Context(), o, r.URL.Query())
	}
	if o.BuyerID != v.Buyer.ID {
		v.Notice = "这是另一位买家的订单。"
	}
	s.render(w, status, "order.html", v)
}

func hasReturn(q url.Values) bool {
	for k := range q {
		if strings.HasPrefix(k, "hutong_") {
			return true
		}
	}
	return false
}

// key is the gateway's return key, fetched once.
func (s *server) key(ctx context.Context, merchantID string) (ed25519.PublicKey, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.returnKey != nil {
		return s.returnKey, nil
	}
	k, err := s.api(merchantID).ReturnKey(ctx)
	if err != nil {
		return nil, err
	}
	s.returnKey = k
	return k, nil
}

func (s *server) verifyReturn(ctx context.Context, o order, q url.Values) *returnView {
	k, err := s.key(ctx, o.MerchantID)
	if err != nil {
		s.cfg.Logger.Warn("storefront: return key", "error", err)
		return &returnView{Message: "无法取得验证公钥：" + apiMessage(err)}
	}
	ret, err := client.VerifyReturn(k, o.MerchantID, q, 10*time.Minute)
	if err == nil && (ret.PaymentID != o.PaymentID || ret.MerchantOrderID != o.ID) {
		err = errors.New("the return is for another order")
	}
	if err != nil {
		s.cfg.Logger.Warn("storefront: a return did not verify", "order", o.ID, "error", err)
		return &returnView{Message: "这个链接的参数与订单不符或已过期，请以下面的订单状态为准。"}
	}
	return &returnView{Verified: true, Status: ret.Status}
}

// payForMe asks a friend to pay the order's payment.
func (s *server) payForMe(w http.ResponseWriter, r *http.Request) {
	o, ok := s.orderCopy(r.PathValue("order"))
	if !ok {
		s.fail(w, r, http.StatusNotFound, "没有这个订单。")
		return
	}
	note := strings.TrimSpace(r.PostFormValue("note"))
	switch {
	case o.BuyerID != s.buyer(r).ID:
		s.renderOrder(w, r, http.StatusForbidden, o, "只有下单的买家才能找人代付，请先切换买家。", note)
		return
	case !utf8.ValidString(note) || utf8.RuneCountInString(note) > maxNote:
		s.renderOrder(w, r, http.StatusBadRequest, o, fmt.Sprintf("留言最多 %d 个字。", maxNote), note)
		return
	}
	pfm, err := s.api(o.MerchantID).CreatePayForMe(r.Context(), o.PaymentID, client.PayForMeParams{Note: note})
	if err != nil {
		s.cfg.Logger.Warn("storefront: pay-for-me refused", "order", o.ID, "error", err)
		s.renderOrder(w, r, http.StatusBadGateway, o, "找人代付失败："+apiMessage(err), note)
		return
	}
	s.mu.Lock()
	if cur, ok := s.orders[o.ID]; ok {
		cur.PayForMe = pfm
	}
	s.mu.Unlock()
	http.Redirect(w, r, "/orders/"+url.PathEscape(o.ID)+"#pay-for-me", http.StatusSeeOther)
}

func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s¥%d.%02d", sign, fen/100, fen%100)
}

// statusLabel is a payment's status in words.
func statusLabel(s string) string {
	switch s {
	case "succeeded":
		return "已付款"
	case "requires_action":
		return "待付款"
	case "canceled":
		return "已关闭"
	}
	return "状态未知"
}

// Label is the order's state in words, refunds included.
func (o orderView) Label() string {
	if o.Status == "succeeded" && o.Refunded > 0 {
		if o.Refunded >= o.Amount {
			return "已退款"
		}
		return "部分退款"
	}
	return statusLabel(o.Status)
}

// methodLabel names the way an order was paid.
func methodLabel(m string) string {
	if l, ok := methodLabels[m]; ok {
		return l
	}
	switch {
	case strings.HasPrefix(m, "wechatpay."):
		return "微信支付"
	case strings.HasPrefix(m, "alipay."):
		return "支付宝"
	}
	return "其他方式"
}

var methodLabels = map[string]string{
	"wechatpay.native": "微信扫码支付", "wechatpay.h5": "微信支付（手机网页）", "wechatpay.jsapi": "微信内支付", "wechatpay.app": "微信支付",
	"alipay.precreate": "支付宝扫码支付", "alipay.wap": "支付宝（手机网页）", "alipay.page": "支付宝网页支付", "alipay.jsapi": "支付宝内支付", "alipay.app": "支付宝",
}

// shortName is a merchant's name up to the first space: its Chinese part.
func shortName(name string) string {
	if f := strings.Fields(name); len(f) > 0 {
		return f[0]
	}
	return name
}
