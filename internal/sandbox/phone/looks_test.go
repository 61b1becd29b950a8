package phone_test

import (
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// TestBrowserPhonePagesLook: the wallet pages a buyer sees on the sandbox
// phone, in a phone's 390×844 window and a laptop's 1280×800, with the
// fonts CI installs: a character drawn as an empty box, or a page wider
// than its window, fails the test (browsertest.Person.Look).
func TestBrowserPhonePagesLook(t *testing.T) {
	p := browsertest.Start(t, "buyer", browsertest.Options{})
	e := sandboxtest.Start(t)
	both := []browsertest.Size{browsertest.Phone, browsertest.Desktop}

	_, wechatCode, _ := nativeOrder(t, e, 1990, "https://merchant.example/notify")
	_, _, client := alipayCreate(t, e, "1.00", "buyer-wang")
	pre := alipaysdk.TradePreCreate{}
	pre.OutTradeNo, pre.Subject, pre.TotalAmount = outTradeNo("LK"), "东北大米 5公斤", "25.90"
	pc, err := client.TradePreCreate(pre)
	if err != nil || !pc.IsSuccess() {
		t.Fatalf("precreate: %v %+v", err, pc)
	}
	open := func(wallet, code, as string) string {
		return e.URL + "/phone/open?" + url.Values{"wallet": {wallet}, "code": {code}, "as": {as}}.Encode()
	}

	p.LookAt("phone-index", e.URL+"/phone/", both...)
	p.LookAt("phone-home", e.URL+"/phone/u/buyer-wang", both...)
	p.LookAt("phone-wechat-order", open("wechatpay", wechatCode, "buyer-wang"), both...)
	p.LookAt("phone-alipay-order", open("alipay", pc.QRCode, "buyer-li"), both...)
	p.Do(browsertest.Step{Name: "type the PIN", Action: chromedp.SendKeys(chromedp.CSS(`#pin`), "123456")},
		browsertest.Step{Name: "tap 确认支付", Action: browsertest.Click(chromedp.CSS(`[data-confirm]`))},
		browsertest.Step{Name: "see the receipt", Action: chromedp.WaitVisible(chromedp.CSS(`[data-trade-no]`))})
	p.Look("phone-alipay-paid")
	p.LookAt("phone-history", e.URL+"/phone/u/buyer-li?wallet=alipay", both...)
}
