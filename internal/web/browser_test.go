package web_test

// Browser tests: each checkout flow clicked through in real headless
// Chromium, one browser per person. See internal/browsertest for when they
// skip.

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// S names one step of a person's click-through.
func S(name string, a chromedp.Action[chromedp.Void]) browsertest.Step {
	return browsertest.Step{Name: name, Action: a}
}

var desktop = browsertest.Options{UserAgent: desktopUA, Width: 1280, Height: 900}

// chineseMerchants are merchants named as a shopper sees them, for the
// tests that read pages for English.
var chineseMerchants = []merchant.Merchant{{Name: "县城超市"}, {Name: "城市服饰"}}

// merchantSite is a merchant's return page: it verifies the cashier's
// signed return with the Go client, as a merchant would.
func merchantSite(t *testing.T, e *gatewaytest.Env, merchant int) *httptest.Server {
	key, err := e.Client(merchant).ReturnKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		ret, err := client.VerifyReturn(key, e.Merchants[merchant].ID, r.URL.Query(), 5*time.Minute)
		if err != nil {
			fmt.Fprintf(w, `<!doctype html><p data-verified="false">%s</p>`, html.EscapeString(err.Error()))
			return
		}
		fmt.Fprintf(w, `<!doctype html><h1>商户订单页</h1><p data-verified="true">%s %s %d</p>`, ret.MerchantOrderID, ret.Status, ret.Amount)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func payment(t *testing.T, e *gatewaytest.Env, method, order, returnURL string) *client.Payment {
	t.Helper()
	p, err := e.Client(0).CreatePayment(context.Background(), client.PaymentParams{MerchantOrderID: order, Amount: 2590, Currency: "CNY",
		Description: "五常大米 5公斤", Method: method, Buyer: client.Buyer{ID: "buyer-zhang", Name: "张伟"}, ReturnURL: returnURL,
		Items: []client.Item{{Title: "五常大米 5公斤", Quantity: 1, Amount: 2590}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// payOnPhone is a person at the sandbox phone confirming an order page
// with the PIN.
func payOnPhone(who string) []browsertest.Step {
	return []browsertest.Step{
		S(who+" sees the order", chromedp.WaitVisible(chromedp.CSS(`[data-confirm]`))),
		S(who+" types the PIN", chromedp.SendKeys(chromedp.CSS(`#pin`), "123456")),
		S(who+" taps 确认支付", browsertest.Click(chromedp.CSS(`[data-confirm]`))),
		S(who+" sees the receipt", chromedp.WaitVisible(chromedp.CSS(`[data-trade-no]`))),
	}
}

func returnVerified(p *browsertest.Person, e *gatewaytest.Env) {
	var verified string
	p.Do(S("tap 返回商户", browsertest.Click(chromedp.CSS(`[data-return]`))),
		S("reach the merchant's page", chromedp.WaitVisible(chromedp.CSS(`[data-verified]`))),
		S("read its verdict", browsertest.Attr(`[data-verified]`, "data-verified", &verified)))
	if verified != "true" {
		var why string
		if err := chromedp.Do(p.Ctx, browsertest.Text(`[data-verified]`, &why)); err != nil {
			p.T.Fatalf("the merchant could not verify the return, and its page cannot be read: %v", err)
		}
		p.T.Fatalf("the merchant could not verify the return: %s", why)
	}
}

// TestBrowserDesktopQR: on a computer the buyer picks WeChat; its QR code
// is photographed by the phone (the element's picture uploaded to the
// sandbox phone), paid with the PIN; the cashier sees it without reloading
// and returns to the merchant, who verifies the signature.
func TestBrowserDesktopQR(t *testing.T) {
	buyer := browsertest.Start(t, "desktop", desktop)
	phone := browsertest.Start(t, "phone", browsertest.Options{})
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	shop := merchantSite(t, e, 0)
	p := payment(t, e, "cashier", "b-desktop", shop.URL+"/orders/b-desktop")

	buyer.Do(S("open the cashier", chromedp.Navigate(p.CheckoutURL)),
		S("see the amount", chromedp.WaitVisible(chromedp.CSS(`[data-amount]`))),
		S("choose 微信扫码支付", browsertest.Click(chromedp.CSS(`[data-method="wechatpay.native"]`))),
		S("see WeChat's code", chromedp.WaitVisible(chromedp.CSS(`img[data-wallet-qr]`))))
	buyer.Screenshot("cashier-desktop-qr")
	qr, err := chromedp.Run(buyer.Ctx, chromedp.Screenshot(chromedp.CSS(`img[data-wallet-qr]`)))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, qr, 0o644); err != nil {
		t.Fatal(err)
	}

	phone.Do(append([]browsertest.Step{
		S("open the phone as 李娜", chromedp.Navigate(e.Sandbox.URL+"/phone/u/buyer-li?wallet=wechatpay")),
		S("choose the photo", chromedp.SetUploadFiles(chromedp.CSS(`#image`), []string{file})),
		S("tap 识别", browsertest.Click(chromedp.CSS(`form[action$="/scan"] button[type=submit]`))),
	}, payOnPhone("李娜")...)...)
	buyer.Do(S("the cashier turns to the result by itself", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))))
	buyer.Screenshot("cashier-desktop-paid")
	returnVerified(buyer, e)
	if got, err := e.Client(0).GetPayment(context.Background(), p.ID); err != nil || got.Status != "succeeded" || got.PaidMethod != "wechatpay.native" {
		t.Fatalf("payment %+v %v", got, err)
	}
}

// TestBrowserAggregateCode: one code for any wallet. Opened in WeChat it
// asks WeChat who the buyer is and pays in WeChat's sheet; in Alipay the
// same with Alipay's; in any other browser it is the cashier.
func TestBrowserAggregateCode(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{Merchants: chineseMerchants})
	for _, c := range []struct{ wallet, ua, back string }{{"wechatpay", wechatUA, "#wechatpay=ok"}, {"alipay", alipayUA, "#alipay=9000"}} {
		t.Run(c.wallet, func(t *testing.T) {
			person := browsertest.Start(t, "in-"+c.wallet, browsertest.Options{UserAgent: c.ua})
			p := payment(t, e, "aggregate", "b-agg-"+c.wallet, "")
			person.Do(S("scan the one code", chromedp.Navigate(p.NextAction.QRCode)),
				S("the wallet asks who is paying", chromedp.WaitVisible(chromedp.CSS(`[data-allow]`))),
				S("choose 王芳", browsertest.Click(chromedp.CSS(`input[value="buyer-wang"]`))),
				S("tap 允许", browsertest.Click(chromedp.CSS(`[data-allow]`))),
				S("see the in-wallet payment", chromedp.WaitVisible(chromedp.CSS(`[data-pay]`))))
			person.Look("aggregate-" + c.wallet + "-page")
			readsAsChinese(person, "aggregate-"+c.wallet+"-page")
			person.Do(S("tap pay", browsertest.Click(chromedp.CSS(`[data-pay]`))))
			person.Do(payOnPhone("王芳")...)
			person.Do(S("back on the cashier, then the result", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))))
			person.Screenshot("aggregate-" + c.wallet + "-paid")
			got, err := e.Client(0).GetPayment(context.Background(), p.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"wechatpay": "wechatpay.jsapi", "alipay": "alipay.jsapi"}[c.wallet]
			if got.Status != "succeeded" || got.PaidMethod != want {
				t.Fatalf("payment %s by %s; want succeeded by %s", got.Status, got.PaidMethod, want)
			}
		})
	}
	t.Run("plain", func(t *testing.T) {
		person := browsertest.Start(t, "plain", desktop)
		p := payment(t, e, "aggregate", "b-agg-plain", "")
		var title string
		person.Do(S("open the one code", chromedp.Navigate(p.NextAction.QRCode)),
			S("see the methods", chromedp.WaitVisible(chromedp.CSS(`[data-method="alipay.precreate"]`))),
			S("read WeChat's", browsertest.Text(`[data-method="wechatpay.native"]`, &title)))
		if title != "微信扫码支付" {
			t.Fatalf("a plain browser is offered %q for WeChat", title)
		}
		person.Screenshot("aggregate-plain")
	})
}

// TestBrowserPhoneJumpAndReturn: on a phone the buyer jumps to Alipay's
// cashier, pays, and comes back through the gateway to the merchant, who
// verifies the signature.
func TestBrowserPhoneJumpAndReturn(t *testing.T) {
	buyer := browsertest.Start(t, "phone-buyer", browsertest.Options{UserAgent: phoneUA})
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	shop := merchantSite(t, e, 0)
	for _, method := range []string{"alipay.wap", "wechatpay.h5"} {
		p := payment(t, e, "cashier", "b-jump-"+strings.ReplaceAll(method, ".", "-"), shop.URL+"/orders/1")
		buyer.Do(S("open the cashier", chromedp.Navigate(p.CheckoutURL)),
			S("tap "+method, browsertest.Click(chromedp.CSS(`[data-method="`+method+`"]`))))
		buyer.Do(payOnPhone("the buyer")...)
		buyer.Do(S("come back to the result", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))))
		buyer.Screenshot("jump-" + method)
		returnVerified(buyer, e)
	}
}

// TestBrowserPayForMe: the buyer asks a friend; the friend, in another
// browser, sees the order with the buyer's name masked and pays; the
// buyer's cashier learns it without reloading.
func TestBrowserPayForMe(t *testing.T) {
	buyer := browsertest.Start(t, "buyer", desktop)
	friend := browsertest.Start(t, "friend", browsertest.Options{UserAgent: phoneUA})
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	p := payment(t, e, "cashier", "b-pfm", "")
	pfm, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{Note: "老板, 帮我付下米钱"})
	if err != nil {
		t.Fatal(err)
	}
	buyer.Do(S("the buyer waits on the cashier", chromedp.Navigate(p.CheckoutURL)), S("", chromedp.WaitVisible(chromedp.CSS(`[data-amount]`))))
	var ask string
	friend.Do(S("open the link", chromedp.Navigate(pfm.URL)),
		S("see who asks", browsertest.Text(`[data-ask]`, &ask)))
	friend.Screenshot("pay-for-me-friend")
	if !strings.Contains(ask, "张*") || strings.Contains(ask, "张伟") || !strings.Contains(ask, "帮我付下米钱") {
		t.Fatalf("the friend sees %q", ask)
	}
	friend.Do(S("tap 打开微信支付", browsertest.Click(chromedp.CSS(`[data-method="wechatpay.h5"]`))))
	friend.Do(payOnPhone("the friend")...)
	var done string
	friend.Do(S("see it paid", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))), S("", browsertest.Text(`[data-result]`, &done)))
	if !strings.Contains(done, "你已帮 张*") {
		t.Fatalf("the friend's result: %q", done)
	}
	buyer.Do(S("the buyer's page says a friend paid", chromedp.WaitVisible(chromedp.CSS(`[data-paid-by-friend]`))))
	buyer.Screenshot("pay-for-me-buyer")
	got, err := e.Client(0).GetPayment(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Payer == nil || got.Payer.IsBuyer {
		t.Fatalf("payer %+v", got.Payer)
	}
}

// TestBrowserTwoPayers: two friends open the same request at once and each
// shows a wallet's code; the first pays; the second's page says it is paid
// by someone else, and their wallet order no longer takes money.
func TestBrowserTwoPayers(t *testing.T) {
	a := browsertest.Start(t, "friend-a", desktop)
	b := browsertest.Start(t, "friend-b", desktop)
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	p := payment(t, e, "cashier", "b-two", "")
	pfm, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{})
	if err != nil {
		t.Fatal(err)
	}
	var codeB string
	a.Do(S("a opens the link", chromedp.Navigate(pfm.URL)), S("a chooses WeChat", browsertest.Click(chromedp.CSS(`[data-method="wechatpay.native"]`))),
		S("", chromedp.WaitVisible(chromedp.CSS(`[data-qr-text]`))))
	b.Do(S("b opens the link", chromedp.Navigate(pfm.URL)), S("b chooses Alipay", browsertest.Click(chromedp.CSS(`[data-method="alipay.precreate"]`))),
		S("", chromedp.WaitVisible(chromedp.CSS(`[data-qr-text]`))), S("", browsertest.Text(`[data-qr-text]`, &codeB)))
	var codeA string
	a.Do(S("", browsertest.Text(`[data-qr-text]`, &codeA)))
	if st := payAtSandbox(t, e, "wechatpay", codeA, "buyer-li"); st != http.StatusOK {
		t.Fatalf("a pays: %d", st)
	}
	a.Do(S("a sees it paid", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))))
	b.Do(S("b's page says someone else paid", chromedp.WaitVisible(chromedp.CSS(`[data-paid-by-other]`))))
	b.Screenshot("two-payers-second")
	e.Eventually("b's order closed", func() bool {
		return payAtSandbox(t, e, "alipay", codeB, "buyer-wang") == http.StatusConflict
	})
}

// TestBrowserShareCode: a share code pasted inside a whole chat message,
// its letters turned full-width by the chat app, leads to the checkout.
func TestBrowserShareCode(t *testing.T) {
	person := browsertest.Start(t, "sharer", browsertest.Options{UserAgent: phoneUA})
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	p := payment(t, e, "cashier", "b-share", "")
	sc, err := e.Client(0).CreateShareCode(context.Background(), client.ShareCodeParams{Target: "payment", TargetID: p.ID, Source: "wechat_group", Title: "五常大米"})
	if err != nil {
		t.Fatal(err)
	}
	chat := "【群聊】李娜: 大家看看这个 👉 " + strings.Replace(sc.Message, sc.Token, toFullWidthLower(sc.Token), 1) + " 好便宜!"
	person.Do(S("open the paste page", chromedp.Navigate(e.URL+"/s/")),
		S("paste the message", chromedp.SendKeys(chromedp.CSS(`[data-share-text]`), chat)),
		S("tap 打开", browsertest.Click(chromedp.CSS(`form[action="/s/"] button`))),
		S("land on the checkout", chromedp.WaitVisible(chromedp.CSS(`[data-method="alipay.wap"]`))))
	person.Screenshot("share-code-checkout")
	person.Do(S("tap 打开支付宝", browsertest.Click(chromedp.CSS(`[data-method="alipay.wap"]`))))
	person.Do(payOnPhone("the sharer")...)
	person.Do(S("see it paid", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))))
	// The paste and this lookup are the code's two resolves.
	got, err := e.Client(0).ResolveShareCode(context.Background(), sc.Text)
	if err != nil || got.Resolves != 2 {
		t.Fatalf("share code after: %+v %v", got, err)
	}
}

// TestBrowserSigningPage: a merchant's signer opens the link from the
// invitation, reads the agreement, and signs it; the contract records the
// signer and the hash of the text shown.
func TestBrowserSigningPage(t *testing.T) {
	signer := browsertest.Start(t, "signer", desktop)
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{Merchants: chineseMerchants, ContractsRequired: map[string]bool{"wechatpay": true}})
	var ag struct {
		Version    int    `json:"version"`
		TextSHA256 string `json:"text_sha256"`
	}
	if st := e.Call(e.Platform, "POST", "/v1/agreements", map[string]any{"channel": "wechatpay", "title": "微信支付开通服务协议", "body": "第一条 商户同意通过平台接入微信支付。\n第二条 资金由平台托管至买家确认收货。"}, &ag); st != http.StatusCreated {
		t.Fatalf("agreement: %d", st)
	}
	var c struct {
		ID      string `json:"id"`
		SignURL string `json:"sign_url"`
		State   string `json:"state"`
		Sig     *struct {
			Signer   string `json:"signer"`
			TextHash string `json:"text_sha256"`
			IP       string `json:"ip"`
		} `json:"signature"`
	}
	e.Call(e.Platform, "POST", "/v1/contracts", map[string]any{"merchant_id": e.Merchants[0].ID, "channel": "wechatpay"}, &c)
	var hash string
	signer.Do(S("open the signing link", chromedp.Navigate(c.SignURL)),
		S("read the agreement", chromedp.WaitVisible(chromedp.CSS(`[data-agreement-body]`))),
		S("see its hash", browsertest.Text(`[data-agreement-hash]`, &hash)),
		S("type the name", chromedp.SendKeys(chromedp.CSS(`[data-signer]`), "王经理")),
		S("tick agree", browsertest.Click(chromedp.CSS(`[data-agree]`))))
	signer.Look("signing-page")
	readsAsChinese(signer, "signing-page")
	var title string
	signer.Do(S("read the page's title", browsertest.Evaluate(`document.title`, &title)))
	if title != "签署微信支付开通协议 · 互通" {
		t.Errorf("the signing page is titled %q", title)
	}
	signer.Do(S("tap 签署", browsertest.Click(chromedp.CSS(`[data-sign]`))),
		S("see it signed", chromedp.WaitVisible(chromedp.CSS(`[data-signed]`))))
	var here string
	signer.Do(S("", browsertest.Location(&here)))
	signer.LookAt("signing-done", here, browsertest.Phone, browsertest.Desktop)
	readsAsChinese(signer, "signing-done")
	var state string
	signer.Do(S("read the state", browsertest.Text(`[data-contract-state]`, &state)))
	if state != "已签署" {
		t.Errorf("the signed contract's state reads %q", state)
	}
	e.Call(e.Platform, "GET", "/v1/contracts/"+c.ID, nil, &c)
	if c.State != "signed" || c.Sig == nil || c.Sig.Signer != "王经理" || c.Sig.TextHash != ag.TextSHA256 || hash != ag.TextSHA256 || c.Sig.IP == "" {
		t.Fatalf("contract after signing: %+v %+v", c, c.Sig)
	}
	// A link with another token shows nothing.
	signer.Do(S("open a forged link", chromedp.Navigate(e.URL+"/sign/"+c.ID+"?token=forged")),
		S("see it refused", chromedp.WaitVisible(chromedp.CSS(`[data-error]`))))
}
