package storefront_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/storefront"
)

// env is a gateway (API and hosted pages) on SQLite, wired to an
// in-process sandbox, with the demo merchants, and the storefront in front
// of it as a separate server holding a platform key.
type env struct {
	t        *testing.T
	sb       *sandboxtest.Env
	gw       string
	shop     string
	platform string
	b        *browser
}

func start(t *testing.T, merchants []storefront.Merchant) *env {
	t.Helper()
	var gms []merchant.Merchant
	for _, m := range storefront.DemoMerchants() {
		gms = append(gms, merchant.Merchant{ID: m.ID, Name: m.Name})
	}
	g := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{Merchants: gms})
	sb, svc, platform := g.Sandbox, g.Svc, g.Platform

	if merchants == nil {
		merchants = storefront.DemoMerchants()
	}
	shop := httptest.NewUnstartedServer(nil)
	shopURL := "http://" + shop.Listener.Addr().String()
	h, err := storefront.New(storefront.Config{API: client.New(svc.BaseURL, platform), BaseURL: shopURL, Merchants: merchants})
	if err != nil {
		t.Fatal(err)
	}
	shop.Config.Handler = h
	shop.Start()
	t.Cleanup(shop.Close)

	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	return &env{t: t, sb: sb, gw: svc.BaseURL, shop: shopURL, platform: platform, b: b}
}

// as is the platform key acting for one merchant.
func (e *env) as(merchant string) *client.Client {
	c := client.New(e.gw, e.platform)
	c.Merchant = merchant
	return c
}

// raw reads an API object as JSON, for the fields the Go client leaves out.
func (e *env) raw(merchant, path string, out any) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.gw+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.platform)
	req.Header.Set("Hutong-Merchant", merchant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
}

// browser is a person's browser: cookies kept, redirects not followed.
type browser struct {
	t  *testing.T
	hc *http.Client
}

type page struct {
	status   int
	body     string
	location string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(body), location: resp.Header.Get("Location")}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

// post sends a form; headers are name, value pairs.
func (b *browser) post(u string, form url.Values, headers ...string) page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

func (p page) want(t *testing.T, status int, what string) page {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, p.status, status, p.body)
	}
	return p
}

func (p page) has(t *testing.T, what string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.body, s) {
			t.Fatalf("%s: the page lacks %q\n%s", what, s, p.body)
		}
	}
}

func (p page) lacks(t *testing.T, what string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(p.body, s) {
			t.Fatalf("%s: the page has %q\n%s", what, s, p.body)
		}
	}
}

// find returns the first group of re in the page, unescaped.
func (p page) find(t *testing.T, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the page has no match for %s\n%s", re, p.body)
	}
	return html.UnescapeString(m[1])
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

type paymentJSON struct {
	ID              string `json:"id"`
	MerchantOrderID string `json:"merchant_order_id"`
	Amount          int64  `json:"amount"`
	Description     string `json:"description"`
	Method          string `json:"method"`
	Status          string `json:"status"`
	ReturnURL       string `json:"return_url"`
	CheckoutURL     string `json:"checkout_url"`
	ShareCode       string `json:"share_code"`
	Buyer           struct {
		ID, Name   string
		RegionCode string `json:"region_code"`
	} `json:"buyer"`
	Items []client.Item `json:"items"`
}

type placed struct{ order, merchant, payment string }

func (e *env) orders() (page, []placed) {
	e.t.Helper()
	p := e.b.get(e.shop+"/orders").want(e.t, 200, "orders")
	var out []placed
	for _, m := range regexp.MustCompile(`data-order="([^"]+)" data-order-merchant="([^"]+)" data-order-payment="([^"]+)"`).FindAllStringSubmatch(p.body, -1) {
		out = append(out, placed{m[1], m[2], m[3]})
	}
	return p, out
}

func (e *env) waitStatus(merchant, id, status string) {
	e.t.Helper()
	sandboxtest.Eventually(e.t, 15*time.Second, id+" becomes "+status, func() bool {
		p, err := e.as(merchant).GetPayment(context.Background(), id)
		return err == nil && p.Status == status
	})
}

// payWithWeChat plays the buyer on the cashier: choose WeChat Pay, then
// have the sandbox wallet pay the code the cashier shows.
func (e *env) payWithWeChat(merchant, paymentID string) {
	e.t.Helper()
	e.b.post(e.gw+"/pay/"+paymentID+"/attempts", form("method", "wechatpay.native"), "Origin", e.gw).want(e.t, http.StatusSeeOther, "choose WeChat Pay")
	var attempts struct {
		Data []struct {
			Method, Status string
			NextAction     struct {
				QRCode string `json:"qr_code"`
			} `json:"next_action"`
		}
	}
	e.raw(merchant, "/v1/payments/"+paymentID+"/attempts", &attempts)
	code := ""
	for _, a := range attempts.Data {
		if a.Method == "wechatpay.native" && a.Status == "pending" {
			code = a.NextAction.QRCode
		}
	}
	if code == "" {
		e.t.Fatalf("no pending WeChat attempt: %+v", attempts)
	}
	e.sb.Pay(code, "")
	e.waitStatus(merchant, paymentID, "succeeded")
}

func TestCheckoutPayReturnAndPayForMe(t *testing.T) {
	e := start(t, nil)
	b := e.b

	home := b.get(e.shop+"/").want(t, 200, "home")
	home.has(t, "home", `data-current-buyer="buyer-zhang"`, `data-merchant="m_demo_county"`, `data-merchant="m_demo_city"`,
		`data-product="county-soymilk"`, `data-product="city-jeans"`, `data-add-to-cart`, "¥3.50", "¥199.00",
		`href="`+e.gw+`/m/m_demo_county" data-store-link`, `src="`+e.gw+`/m/m_demo_city/qr.svg"`)
	b.get(e.gw+"/m/m_demo_county").want(t, 200, "the store code page on the gateway")

	for _, add := range [][2]string{{"county-soymilk", "2"}, {"county-youtiao", "1"}, {"city-tshirt", "1"}} {
		p := b.post(e.shop+"/cart", form("product", add[0], "quantity", add[1])).want(t, http.StatusSeeOther, "add "+add[0])
		if p.location != "/cart?added="+add[0] {
			t.Fatalf("add to cart goes to %q", p.location)
		}
	}
	cart := b.get(e.shop+"/cart").want(t, 200, "cart")
	cart.has(t, "cart", `data-cart-merchant="m_demo_county"`, `data-cart-merchant="m_demo_city"`, `data-cart-line="county-soymilk"`,
		`data-merchant-total="900"`, `data-merchant-total="7900"`, `data-cart-total="8800"`, `data-cart-count>4<`, "data-checkout")

	co := b.post(e.shop+"/cart/checkout", nil).want(t, http.StatusSeeOther, "checkout")
	if co.location != "/orders?placed=2" {
		t.Fatalf("checkout of two stores goes to %q", co.location)
	}
	list := b.get(e.shop+co.location).want(t, 200, "orders")
	list.has(t, "orders", "data-notice", "data-pay-link")
	_, orders := e.orders()
	if len(orders) != 2 {
		t.Fatalf("orders: %+v", orders)
	}
	b.get(e.shop+"/cart").has(t, "cart after checkout", "data-cart-empty", `data-cart-count>0<`)

	want := map[string]struct {
		amount int64
		desc   string
		items  []client.Item
	}{
		"m_demo_county": {900, "县城超市：豆浆等3件", []client.Item{{Title: "豆浆", Quantity: 2, Amount: 700}, {Title: "油条", Quantity: 1, Amount: 200}}},
		"m_demo_city":   {7900, "城市服饰：纯棉T恤", []client.Item{{Title: "纯棉T恤", Quantity: 1, Amount: 7900}}},
	}
	byMerchant := map[string]placed{}
	for _, o := range orders {
		byMerchant[o.merchant] = o
		var p paymentJSON
		e.raw(o.merchant, "/v1/payments/"+o.payment, &p)
		w := want[o.merchant]
		if p.Method != "cashier" || p.Amount != w.amount || p.Description != w.desc || p.Status != "requires_action" ||
			p.MerchantOrderID != o.order || p.ReturnURL != e.shop+"/orders/"+o.order || p.CheckoutURL != e.gw+"/pay/"+o.payment ||
			p.Buyer.ID != "buyer-zhang" || p.Buyer.Name != "张伟" || p.Buyer.RegionCode != "130627" || p.ShareCode != "" {
			t.Errorf("payment of %s: %+v", o.merchant, p)
		}
		if len(p.Items) != len(w.items) {
			t.Fatalf("items of %s: %+v", o.merchant, p.Items)
		}
		for i := range p.Items {
			if p.Items[i] != w.items[i] {
				t.Errorf("item %d of %s: %+v, want %+v", i, o.merchant, p.Items[i], w.items[i])
			}
		}
		list.has(t, "orders", `href="`+e.gw+`/pay/`+o.payment+`" data-pay-link`)
	}
	county, city := byMerchant["m_demo_county"], byMerchant["m_demo_city"]

	// The county order: paid on the cashier, back with a signed return.
	e.payWithWeChat(county.merchant, county.payment)
	done := b.get(e.gw+"/pay/"+county.payment+"/done").want(t, 200, "cashier result")
	back := done.find(t, `href="([^"]+)" data-return`)
	if !strings.HasPrefix(back, e.shop+"/orders/"+county.order+"?") || !strings.Contains(back, "hutong_sig=") {
		t.Fatalf("the cashier returns to %q", back)
	}
	ret := b.get(back).want(t, 200, "order page after the return")
	ret.has(t, "verified return", `data-return-verified="true"`, "已核对收银台的签名", `data-order-status="succeeded"`,
		`data-paid-method="wechatpay.native"`, `data-payer="buyer"`, `data-order-page="`+county.order+`"`)
	ret.lacks(t, "paid order", "data-pay-link", "data-pfm-button")

	u, _ := url.Parse(back)
	tamper := func(what string, change func(q url.Values), path string) {
		t.Helper()
		q := u.Query()
		change(q)
		p := b.get(e.shop+path+"?"+q.Encode()).want(t, 200, what)
		p.has(t, what, `data-return-verified="false"`, `data-order-status="succeeded"`)
		p.lacks(t, what, `data-return-verified="true"`)
	}
	tamper("a changed amount", func(q url.Values) { q.Set("hutong_amount", "1") }, u.Path)
	tamper("a changed status", func(q url.Values) { q.Set("hutong_status", "canceled") }, u.Path)
	tamper("no signature", func(q url.Values) { q.Del("hutong_sig") }, u.Path)
	p := b.get(e.shop+"/orders/"+city.order+"?"+u.RawQuery).want(t, 200, "another order's return")
	p.has(t, "another order's return", `data-return-verified="false"`, `data-order-status="requires_action"`)
	b.get(e.shop+"/orders/"+county.order).lacks(t, "no return", "data-return-verified")

	// The city order: ask a friend to pay.
	op := b.get(e.shop+"/orders/"+city.order).want(t, 200, "unpaid order")
	op.has(t, "unpaid order", `data-order-status="requires_action"`, `href="`+e.gw+`/pay/`+city.payment+`" data-pay-link`, "data-pfm-button")
	op.lacks(t, "unpaid order", "data-pfm-url")

	// Not as another buyer.
	b.post(e.shop+"/buyer", form("buyer", "buyer-li", "next", "/orders")).want(t, http.StatusSeeOther, "switch buyer")
	b.get(e.shop+"/orders").has(t, "li's orders", `data-current-buyer="buyer-li"`, "data-orders-empty")
	b.post(e.shop+"/orders/"+city.order+"/pay-for-me", form("note", "x")).want(t, http.StatusForbidden, "pay-for-me by another buyer").has(t, "refused", "data-error")
	b.post(e.shop+"/buyer", form("buyer", "buyer-zhang")).want(t, http.StatusSeeOther, "switch back")

	pf := b.post(e.shop+"/orders/"+city.order+"/pay-for-me", form("note", "帮我付一下, 谢谢")).want(t, http.StatusSeeOther, "pay-for-me")
	if !strings.HasPrefix(pf.location, "/orders/"+city.order) {
		t.Fatalf("pay-for-me goes to %q", pf.location)
	}
	op = b.get(e.shop+"/orders/"+city.order).want(t, 200, "order with pay-for-me")
	pfmURL := op.find(t, `data-pfm-url="([^"]+)"`)
	if !strings.HasPrefix(pfmURL, e.gw+"/pfm/pfm_") {
		t.Fatalf("pay-for-me url %q", pfmURL)
	}
	op.has(t, "order with pay-for-me", `src="`+pfmURL+`/qr.svg"`, "data-pfm-qr")
	msg := op.find(t, `(?s)<textarea[^>]*data-pfm-message>(.*?)</textarea>`)
	if !strings.Contains(msg, "￥") {
		t.Fatalf("pay-for-me message %q", msg)
	}
	var pfm struct {
		ID, Status, Note string
		PaymentID        string `json:"payment_id"`
	}
	e.raw(city.merchant, "/v1/pay_for_me/"+strings.TrimPrefix(pfmURL, e.gw+"/pfm/"), &pfm)
	if pfm.PaymentID != city.payment || pfm.Status != "open" || pfm.Note != "帮我付一下, 谢谢" {
		t.Fatalf("pay-for-me at the gateway: %+v", pfm)
	}
	b.get(pfmURL).want(t, 200, "the friend's page")

	// The order list shows what was paid.
	l, _ := e.orders()
	l.has(t, "orders", `data-order-status="succeeded"`, `data-order-status="requires_action"`)
}

func TestShareCode(t *testing.T) {
	e := start(t, nil)
	b := e.b
	ctx := context.Background()

	b.get(e.shop+"/p/city-jeans").want(t, 200, "product").has(t, "product", `data-product-page="city-jeans"`, `data-price="19900"`,
		"data-share-source", `value="ad:double11"`, "data-share-button")
	p := b.post(e.shop+"/p/city-jeans/share", form("source", "wechat_group")).want(t, 200, "share")
	id := p.find(t, `data-share-code="(sc_[^"]+)"`)
	msg := p.find(t, `(?s)<textarea[^>]*data-share-message>(.*?)</textarea>`)
	p.has(t, "share", `href="`+e.gw+`/s/" data-share-page`)
	sc, err := e.as("m_demo_city").ResolveShareCode(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if sc.ID != id || sc.Target != "product" || sc.TargetID != "city-jeans" || sc.Source != "wechat_group" || sc.URL != e.shop+"/p/city-jeans" {
		t.Fatalf("resolved share code: %+v", sc)
	}
	b.post(e.shop+"/p/county-rice-5kg/share", form("source", "ad:double11")).want(t, 200, "share with an ad source")

	// A friend pastes the message on the gateway's share page and lands on
	// the product with the code, which the payment is credited to.
	land := b.post(e.gw+"/s/", form("text", msg), "Origin", e.gw).want(t, http.StatusSeeOther, "paste on /s/")
	if land.location != e.shop+"/p/city-jeans?share_code="+id {
		t.Fatalf("the share page goes to %q", land.location)
	}
	b.get(land.location).want(t, 200, "shared product").has(t, "shared product", `data-share-code-applied="`+id+`"`,
		`name="share_code" value="`+id+`"`)
	b.post(e.shop+"/cart", form("product", "city-jeans", "quantity", "1", "share_code", id)).want(t, http.StatusSeeOther, "add shared")
	b.get(e.shop+"/cart").has(t, "cart", `data-line-share-code="`+id+`"`)
	co := b.post(e.shop+"/cart/checkout", nil).want(t, http.StatusSeeOther, "checkout")
	_, orders := e.orders()
	if len(orders) != 1 || co.location != e.gw+"/pay/"+orders[0].payment {
		t.Fatalf("one store's checkout goes to %q; orders %+v", co.location, orders)
	}
	var pay paymentJSON
	e.raw("m_demo_city", "/v1/payments/"+orders[0].payment, &pay)
	if pay.ShareCode != id || pay.Amount != 19900 {
		t.Fatalf("payment: %+v", pay)
	}
}

func TestInputIsChecked(t *testing.T) {
	e := start(t, nil)
	b := e.b
	ctx := context.Background()
	tshirt, err := e.as("m_demo_city").CreateShareCode(ctx, client.ShareCodeParams{Target: "product", TargetID: "city-tshirt",
		Source: "wechat_group", URL: e.shop + "/p/city-tshirt"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		form url.Values
	}{
		{"unknown product", form("product", "nope", "quantity", "1")},
		{"no product", form("quantity", "1")},
		{"quantity 0", form("product", "county-soymilk", "quantity", "0")},
		{"quantity 100", form("product", "county-soymilk", "quantity", "100")},
		{"quantity abc", form("product", "county-soymilk", "quantity", "abc")},
		{"quantity 1.5", form("product", "county-soymilk", "quantity", "1.5")},
		{"no quantity", form("product", "county-soymilk")},
		{"malformed share code", form("product", "county-soymilk", "quantity", "1", "share_code", "bogus")},
		{"unknown share code", form("product", "county-soymilk", "quantity", "1", "share_code", "sc_NOSUCHCODE")},
		{"another store's share code", form("product", "county-soymilk", "quantity", "1", "share_code", tshirt.ID)},
		{"another product's share code", form("product", "city-jeans", "quantity", "1", "share_code", tshirt.ID)},
	} {
		b.post(e.shop+"/cart", c.form).want(t, http.StatusBadRequest, c.name).has(t, c.name, "data-error")
	}
	b.get(e.shop+"/cart").has(t, "cart after refusals", "data-cart-empty", "data-cart-count>0<")
	b.get(e.shop+"/p/city-jeans?share_code="+tshirt.ID).want(t, 200, "product with a wrong share code").lacks(t, "wrong share code", "data-share-code-applied")
	b.get(e.shop+"/p/city-tshirt?share_code="+tshirt.ID).has(t, "product with its share code", `data-share-code-applied="`+tshirt.ID+`"`)

	b.post(e.shop+"/cart", form("product", "county-soymilk", "quantity", "60")).want(t, http.StatusSeeOther, "60 soy milk")
	b.post(e.shop+"/cart", form("product", "county-soymilk", "quantity", "40")).want(t, http.StatusBadRequest, "over 99").has(t, "over 99", "data-error")
	b.post(e.shop+"/cart/update", form("product", "county-soymilk", "quantity", "0")).want(t, http.StatusBadRequest, "update to 0")
	b.post(e.shop+"/cart/update", form("product", "city-jeans", "quantity", "2")).want(t, http.StatusBadRequest, "update a line not in the cart")
	b.post(e.shop+"/cart/remove", form("product", "city-jeans")).want(t, http.StatusBadRequest, "remove a line not in the cart")
	b.get(e.shop+"/cart").has(t, "cart", `data-cart-line="county-soymilk"`, `value="60"`, "data-cart-count>60<")
	b.post(e.shop+"/cart/update", form("product", "county-soymilk", "quantity", "3")).want(t, http.StatusSeeOther, "update to 3")
	b.get(e.shop+"/cart").has(t, "cart", `data-cart-total="1050"`)

	b.post(e.shop+"/buyer", form("buyer", "buyer-evil")).want(t, http.StatusBadRequest, "unknown buyer").has(t, "unknown buyer", "data-error")
	b.get(e.shop+"/").has(t, "buyer kept", `data-current-buyer="buyer-zhang"`)
	if p := b.post(e.shop+"/buyer", form("buyer", "buyer-li", "next", "//evil.example/")); p.status != http.StatusSeeOther || p.location != "/" {
		t.Fatalf("switch buyer with a foreign next: %d %q", p.status, p.location)
	}
	b.get(e.shop+"/cart").has(t, "li's cart", `data-current-buyer="buyer-li"`, "data-cart-empty")
	b.post(e.shop+"/cart/checkout", nil).want(t, http.StatusBadRequest, "checkout of an empty cart").has(t, "empty", "data-error")
	b.post(e.shop+"/buyer", form("buyer", "buyer-zhang")).want(t, http.StatusSeeOther, "switch back")

	b.post(e.shop+"/p/county-soymilk/share", form("source", "weibo")).want(t, http.StatusBadRequest, "unknown source").has(t, "unknown source", "data-error")
	b.post(e.shop+"/p/nope/share", form("source", "wechat_group")).want(t, http.StatusNotFound, "share an unknown product")
	var stats struct{ Data []json.RawMessage }
	e.raw("m_demo_county", "/v1/share_codes/stats?by=code", &stats)
	if len(stats.Data) != 0 {
		t.Fatalf("a refused share made a code: %s", stats.Data)
	}

	b.get(e.shop+"/p/nope").want(t, http.StatusNotFound, "unknown product page")
	b.get(e.shop+"/orders/shop-nope").want(t, http.StatusNotFound, "unknown order")
	b.post(e.shop+"/cart", form("product", "county-soymilk", "quantity", "1"), "Origin", "http://evil.example").want(t, http.StatusForbidden, "cross-site post")

	b.post(e.shop+"/cart/checkout", nil).want(t, http.StatusSeeOther, "checkout")
	_, orders := e.orders()
	if len(orders) != 1 {
		t.Fatalf("orders: %+v", orders)
	}
	long := strings.Repeat("付", 61)
	b.post(e.shop+"/orders/"+orders[0].order+"/pay-for-me", form("note", long)).want(t, http.StatusBadRequest, "a long note").has(t, "long note", "data-error")

	// An API refusal is shown with its message: a paid order cannot be
	// paid for by a friend.
	e.payWithWeChat(orders[0].merchant, orders[0].payment)
	p := b.post(e.shop+"/orders/"+orders[0].order+"/pay-for-me", form("note", "hi")).want(t, http.StatusBadGateway, "pay-for-me of a paid order")
	p.has(t, "pay-for-me of a paid order", "data-error", "找人代付失败")
}

func TestAPIErrorsAreShown(t *testing.T) {
	ghost := storefront.Merchant{ID: "m_ghost", Name: "幽灵小店", Products: []storefront.Product{{ID: "ghost-candle", Title: "蜡烛", Price: 500}}}
	e := start(t, append(storefront.DemoMerchants(), ghost))
	b := e.b
	b.post(e.shop+"/cart", form("product", "county-soymilk", "quantity", "1")).want(t, http.StatusSeeOther, "add")
	b.post(e.shop+"/cart", form("product", "ghost-candle", "quantity", "2")).want(t, http.StatusSeeOther, "add")
	p := b.post(e.shop+"/cart/checkout", nil).want(t, http.StatusBadGateway, "checkout with a merchant the gateway does not know")
	p.has(t, "refused checkout", "data-error", "幽灵小店：收款网关找不到这家店铺或这笔订单。", "data-notice", `data-cart-line="ghost-candle"`)
	p.lacks(t, "refused checkout", `data-cart-line="county-soymilk"`)
	_, orders := e.orders()
	if len(orders) != 1 || orders[0].merchant != "m_demo_county" {
		t.Fatalf("orders: %+v", orders)
	}
	b.get(e.shop+"/cart").has(t, "cart keeps the refused store's lines", `data-cart-line="ghost-candle"`, "data-cart-count>2<")
}

func TestNewChecksConfig(t *testing.T) {
	api := client.New("http://127.0.0.1:1", "sk_platform_x")
	dup := storefront.DemoMerchants()
	dup[1].Products = append(dup[1].Products, dup[0].Products[0])
	free := storefront.DemoMerchants()
	free[0].Products[0].Price = 0
	drawn := storefront.DemoMerchants()
	drawn[0].Products[0].Picture = "../shop.css"
	for name, cfg := range map[string]storefront.Config{
		"no API":            {BaseURL: "http://127.0.0.1:8070", Merchants: storefront.DemoMerchants()},
		"no base URL":       {API: api, Merchants: storefront.DemoMerchants()},
		"relative base URL": {API: api, BaseURL: "/shop", Merchants: storefront.DemoMerchants()},
		"no merchants":      {API: api, BaseURL: "http://127.0.0.1:8070"},
		"duplicate product": {API: api, BaseURL: "http://127.0.0.1:8070", Merchants: dup},
		"free product":      {API: api, BaseURL: "http://127.0.0.1:8070", Merchants: free},
		"no such picture":   {API: api, BaseURL: "http://127.0.0.1:8070", Merchants: drawn},
		"duplicate merchant": {API: api, BaseURL: "http://127.0.0.1:8070",
			Merchants: append(storefront.DemoMerchants(), storefront.DemoMerchants()[0])},
	} {
		if _, err := storefront.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := storefront.New(storefront.Config{API: api, BaseURL: "http://127.0.0.1:8070/", Merchants: storefront.DemoMerchants()}); err != nil {
		t.Fatal(err)
	}
}
