package web_test

// Every page a shopper (or a merchant's signer) reads, looked at in real
// Chromium with the fonts CI installs, in a phone's 390×844 window and a
// laptop's 1280×800: screenshots are kept ($HUTONG_ARTIFACTS), and a
// character that shows as an empty box, a page wider than its window, or
// English on the page fails the test.

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// readsAsChinese fails the test on English or half-width punctuation in
// the page as the browser holds it now.
func readsAsChinese(p *browsertest.Person, name string) {
	p.T.Helper()
	html, err := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		p.T.Fatal(err)
	}
	for _, problem := range browsertest.CopyProblems(html) {
		p.T.Errorf("%s: %s", name, problem)
	}
}

func TestBrowserShopperPagesLook(t *testing.T) {
	computer := browsertest.Start(t, "computer", browsertest.Options{UserAgent: desktopUA, Width: 1280, Height: 800})
	phone := browsertest.Start(t, "phone", browsertest.Options{UserAgent: phoneUA, Width: 390, Height: 844})
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{Merchants: chineseMerchants})
	ctx := context.Background()
	newPayment := func(order string) *client.Payment {
		p, err := e.Client(0).CreatePayment(ctx, client.PaymentParams{MerchantOrderID: order, Amount: 2590, Currency: "CNY",
			Description: "东北大米 5公斤", Method: "cashier", Buyer: client.Buyer{ID: "buyer-zhang", Name: "张伟"}, ReturnURL: "https://shop.example/orders/" + order,
			Items: []client.Item{{Title: "东北大米 5公斤", Quantity: 1, Amount: 2590}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	both := []browsertest.Size{browsertest.Phone, browsertest.Desktop}
	look := func(p *browsertest.Person, name, u string, sizes ...browsertest.Size) {
		t.Helper()
		p.LookAt(name, u, sizes...)
		readsAsChinese(p, name)
	}

	// The cashier: a computer shows the wallets' codes at any width; a
	// phone's browser is offered the jumps to the wallet apps.
	open := newPayment("20261202001")
	look(computer, "cashier-computer", open.CheckoutURL, both...)
	var shown bool
	computer.Do(S("the one code is there in a narrow window too", chromedp.WaitVisible(chromedp.CSS(`img[data-any-qr]`))),
		S("", browsertest.Evaluate(`document.querySelector("img[data-any-qr]").getBoundingClientRect().width >= 200`, &shown)))
	if !shown {
		t.Error("at 390 px the computer's QR code is smaller than 200 px")
	}
	look(phone, "cashier-phone", open.CheckoutURL, browsertest.Phone)
	phone.Do(S("the phone is offered the jump", chromedp.WaitVisible(chromedp.CSS(`[data-method="alipay.wap"]`))))

	// A wallet's own code, after choosing it.
	computer.Do(S("a laptop window", chromedp.EmulateViewport(1280, 800)), S("open the cashier", chromedp.Navigate(open.CheckoutURL)),
		S("choose 微信扫码支付", browsertest.Click(chromedp.CSS(`[data-method="wechatpay.native"]`))),
		S("see WeChat's code", chromedp.WaitVisible(chromedp.CSS(`img[data-wallet-qr]`))))
	var here string
	computer.Do(S("", browsertest.Location(&here)))
	look(computer, "cashier-wechat-code", here, both...)
	var linkColor string
	computer.Do(S("read a link's colour", browsertest.Evaluate(`getComputedStyle(document.querySelector("[data-attempt] a")).color`, &linkColor)))
	if linkColor == "rgb(0, 0, 238)" || linkColor == "rgb(85, 26, 139)" {
		t.Errorf("the cashier's links are the browser's own blue (%s)", linkColor)
	}

	// Paid: the result page, then the feedback page.
	var code string
	computer.Do(S("", browsertest.Text(`[data-qr-text]`, &code)))
	if st := payAtSandbox(t, e, "wechatpay", code, "buyer-li"); st != http.StatusOK {
		t.Fatalf("pay: %d", st)
	}
	computer.Do(S("the cashier turns to the result", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))))
	look(computer, "done-paid", e.URL+"/pay/"+open.ID+"/done", both...)
	look(computer, "feedback", e.URL+"/feedback/"+open.ID, both...)

	// Pay-for-me, as the friend on a phone.
	asked := newPayment("20261202002")
	pfm, err := e.Client(0).CreatePayForMe(ctx, asked.ID, client.PayForMeParams{Note: "帮我付一下米钱，谢谢！"})
	if err != nil {
		t.Fatal(err)
	}
	look(phone, "pay-for-me", pfm.URL, both...)

	// Closed, and a pay-for-me request that was revoked.
	if _, err := e.Client(0).RevokePayForMe(ctx, pfm.ID); err != nil {
		t.Fatal(err)
	}
	look(phone, "pay-for-me-revoked", pfm.URL, browsertest.Phone)
	closed := newPayment("20261202003")
	if _, err := e.Client(0).CancelPayment(ctx, closed.ID); err != nil {
		t.Fatal(err)
	}
	look(phone, "done-closed", e.URL+"/pay/"+closed.ID+"/done", browsertest.Phone)

	// The store code, the share code page and an error page.
	look(phone, "store-code", e.URL+"/m/"+e.Merchants[0].ID, both...)
	look(phone, "share-code", e.URL+"/s/?text="+url.QueryEscape("复制这条消息 ￥AB23CD45EF6￥ 打开付款页查看"), both...)
	look(phone, "error", e.URL+"/pay/pay_nosuchpayment", both...)
	var errText string
	phone.Do(S("read the error", browsertest.Text(`[data-error]`, &errText)),
		S("there is a way back", chromedp.WaitVisible(chromedp.CSS(`[data-back]`))))
	if errText != "没有找到这笔订单。" {
		t.Errorf("the error page says %q", errText)
	}
}
