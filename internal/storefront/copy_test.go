package storefront

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/browsertest"
)

// marketTokens are the Latin letters a marketplace page may show: the T of
// T恤 (the Chinese word for a T-shirt), order numbers (shop-…), and the
// share message's brand tag, written by the gateway's internal/sharecode.
var marketTokens = []*regexp.Regexp{
	regexp.MustCompile(`T恤`),
	regexp.MustCompile(`\bshop-[0-9a-f]+\b`),
	regexp.MustCompile(`【互通】`),
}

// TestShopperPagesReadAsChinese renders every marketplace page in each of
// its states and fails on English or half-width punctuation next to
// Chinese (browsertest.CopyProblems), on emoji, on a raw status, and on a
// share code's id shown to the shopper.
func TestShopperPagesReadAsChinese(t *testing.T) {
	h, err := New(Config{API: client.New("http://127.0.0.1:1", "sk_platform_x"), BaseURL: "http://127.0.0.1:8070", Merchants: DemoMerchants()})
	if err != nil {
		t.Fatal(err)
	}
	s := h.(*server)
	at := time.Date(2026, 12, 2, 12, 15, 0, 0, time.UTC) // 20:15 in Beijing
	base := func(title string) view {
		return view{Title: title, Path: "/", Buyer: buyers[0], Buyers: buyers, Gateway: "http://127.0.0.1:8080", Merchants: s.merchants, Sources: shareSources}
	}
	jeans := s.products["city-jeans"]
	tshirt := s.products["city-tshirt"]
	shared := &client.ShareCode{ID: "sc_7QX2", Text: "￥AB23CD45EF6￥", Message: "【互通】复制这条消息 ￥AB23CD45EF6￥ 打开付款页查看「牛仔裤」", Source: "wechat_group"}
	order := order{ID: "shop-0123456789abcdef", MerchantID: "m_demo_city", BuyerID: "buyer-zhang", PaymentID: "pay_1", CheckoutURL: "http://127.0.0.1:8080/pay/pay_1",
		Description: "城市服饰：纯棉T恤", Amount: 7900, Items: []client.Item{{Title: "纯棉T恤", Quantity: 1, Amount: 7900}}, ShareCode: "sc_7QX2", ShareText: "￥AB23CD45EF6￥", Created: at}
	ov := func(status string, f func(*orderView)) *orderView {
		o := orderView{order: order, Merchant: s.byID["m_demo_city"], Status: status}
		if f != nil {
			f(&o)
		}
		return &o
	}
	withPFM := order
	withPFM.PayForMe = &client.PayForMe{ID: "pfm_1", URL: "http://127.0.0.1:8080/pfm/pfm_1", QRCodeURL: "http://127.0.0.1:8080/pfm/pfm_1/qr.svg", ShareCode: shared}

	type page struct {
		name, tmpl string
		v          view
		want       []string
	}
	var pages []page
	add := func(name, tmpl string, v view, want ...string) { pages = append(pages, page{name, tmpl, v, want}) }

	v := base("互通集市")
	add("home", "home.html", v, "县城超市", "豆浆", "¥3.50", "加入购物车", "到店付款码", "谁在购物", "张伟（河北唐县）")
	v = base("互通集市")
	v.Error = "请选择列表中的买家。"
	add("home refused", "home.html", v)
	v = s.productView(httptest.NewRequest("GET", "/p/city-jeans", nil), jeans)
	add("product", "product.html", v, "牛仔裤", "¥199.00", "生成分享口令", "微信朋友圈", "双十一广告")
	v = s.productView(httptest.NewRequest("GET", "/p/city-jeans", nil), jeans)
	v.ShareIn, v.ShareText, v.Notice = "sc_7QX2", "￥AB23CD45EF6￥", "你是通过朋友的分享来到这里的。"
	add("product through a share", "product.html", v, "计入分享口令 ￥AB23CD45EF6￥")
	v = s.productView(httptest.NewRequest("GET", "/p/city-jeans", nil), jeans)
	v.Share, v.Notice = shared, "分享口令已生成，复制下面的消息发给朋友吧。"
	add("product shared", "product.html", v, "口令 ￥AB23CD45EF6￥")
	v = s.productView(httptest.NewRequest("GET", "/p/city-tshirt", nil), tshirt)
	v.Error = "分享口令分享的是另一件商品，这次购买不会计入分享。"
	add("product with a wrong share code", "product.html", v)
	v = base("购物车")
	add("empty cart", "cart.html", v, "购物车是空的。", "去逛逛")
	v = base("购物车")
	v.Cart = s.groups([]line{{ProductID: "county-soymilk", Quantity: 2}, {ProductID: "city-jeans", Quantity: 1, ShareCode: "sc_7QX2", ShareText: "￥AB23CD45EF6￥"}})
	v.CartTotal, v.CartCount, v.Notice = 20600, 3, "已加入购物车：豆浆。"
	add("cart of two stores", "cart.html", v, "将按店铺拆成 2 笔订单，分别支付。", "朋友分享", "去结算")
	v = base("我的订单")
	add("no orders", "orders.html", v, "还没有订单。")
	v = base("我的订单")
	v.Orders = []orderView{*ov("requires_action", nil), *ov("succeeded", nil), *ov("canceled", nil), *ov("succeeded", func(o *orderView) { o.Refunded = o.Amount }),
		*ov("succeeded", func(o *orderView) { o.Refunded = 100 }), *ov("unknown", func(o *orderView) {
			o.Problem = "读取支付状态失败：暂时连不上收款网关，请稍后再试。"
		})}
	v.Notice = "已按店铺拆成 2 个订单，请分别支付。"
	add("orders", "orders.html", v, "待付款", "已付款", "已关闭", "已退款", "部分退款", "状态未知", "下单时间 2026年12月2日 20:15")
	v = base("订单详情")
	v.Order = ov("requires_action", nil)
	add("unpaid order", "order.html", v, "去付款", "找人代付", "计入朋友的分享口令 ￥AB23CD45EF6￥")
	v = base("订单详情")
	v.Order = ov("requires_action", func(o *orderView) { o.order = withPFM })
	add("order with pay-for-me", "order.html", v, "把链接或二维码发给朋友：", "重新生成代付链接")
	v = base("订单详情")
	v.Order = ov("succeeded", func(o *orderView) {
		o.PaidMethod, o.Payer, o.PaidAt = "wechatpay.native", "friend", at.Add(time.Minute)
	})
	v.Return = &returnView{Verified: true, Status: "succeeded"}
	add("paid order back from the cashier", "order.html", v, "已核对收银台的签名：已付款。", "微信扫码支付", "朋友代付", "付款时间 2026年12月2日 20:16")
	v = base("订单详情")
	v.Order = ov("succeeded", nil)
	v.Return = &returnView{Message: "这个链接的参数与订单不符或已过期，请以下面的订单状态为准。"}
	add("a return that does not verify", "order.html", v, "没有通过核对")
	v = base("出错了")
	v.Error = "没有这件商品。"
	add("error", "error.html", v, "返回首页")

	for _, c := range pages {
		w := httptest.NewRecorder()
		s.render(w, 200, c.tmpl, c.v)
		html := w.Body.String()
		if !strings.Contains(html, "</html>") {
			t.Errorf("%s: the page did not render:\n%s", c.name, html)
			continue
		}
		for _, problem := range browsertest.CopyProblems(html, marketTokens...) {
			t.Errorf("%s: %s", c.name, problem)
		}
		text := browsertest.VisibleText(html)
		for _, want := range c.want {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the page does not say %q:\n%s", c.name, want, text)
			}
		}
		words := regexp.MustCompile(`[a-z]+://\S+`).ReplaceAllString(text, " ")
		for _, raw := range []string{"requires_action", "succeeded", "canceled", "unknown", "sc_", "pay_", "wechat_group", "wechatpay", "alipay"} {
			if strings.Contains(words, raw) {
				t.Errorf("%s: the page shows the raw name %q", c.name, raw)
			}
		}
		if strings.ContainsFunc(html, func(r rune) bool { return unicode.Is(unicode.So, r) && r >= 0x1F000 }) {
			t.Errorf("%s: the page has emoji, which show as empty boxes where no emoji font is installed", c.name)
		}
		if c.v.Error != "" && strings.Count(text, c.v.Error) != 1 {
			t.Errorf("%s: the message %q is shown %d times", c.name, c.v.Error, strings.Count(text, c.v.Error))
		}
	}
}

// TestEveryProductIsDrawn: each demo product has its own drawing, served
// as SVG.
func TestEveryProductIsDrawn(t *testing.T) {
	h, err := New(Config{API: client.New("http://127.0.0.1:1", "sk_platform_x"), BaseURL: "http://127.0.0.1:8070", Merchants: DemoMerchants()})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, m := range DemoMerchants() {
		for _, p := range m.Products {
			if p.Picture == "" || p.Picture == "parcel" || seen[p.Picture] != "" {
				t.Errorf("%s: picture %q (also %s's)", p.ID, p.Picture, seen[p.Picture])
			}
			seen[p.Picture] = p.ID
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/assets/products/"+p.Picture+".svg", nil))
			if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" || !strings.Contains(w.Body.String(), "<svg") {
				t.Errorf("%s: /assets/products/%s.svg: %d %s", p.ID, p.Picture, w.Code, w.Header().Get("Content-Type"))
			}
		}
	}
}

// TestMessagesReadAsChinese reads every string literal of storefront.go
// that holds Chinese (the messages handlers put on pages) with the same
// check.
func TestMessagesReadAsChinese(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "storefront.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil || !strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
			return true
		}
		s = regexp.MustCompile(`%[0-9]*[dsqv]`).ReplaceAllString(s, "1")
		for _, problem := range browsertest.CopyProblems(strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(s), marketTokens...) {
			t.Errorf("%s: %s", fset.Position(lit.Pos()), problem)
		}
		return true
	})
}
