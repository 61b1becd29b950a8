package console_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestBrowserMerchantTestPayment: a merchant's user signs in to the portal
// in Chromium, opens 测试支付 from the menu, asks for ¥1.50 by Alipay,
// sees the wallet's code and the cashier link, has the sandbox's test
// buyer pay, sees the payment succeeded, and follows the link to its
// timeline, where it is paid.
func TestBrowserMerchantTestPayment(t *testing.T) {
	shop := browsertest.Start(t, "merchant", browsertest.Options{Width: 1280, Height: 900})
	e := start(t, storetest.SQLite(t))
	var status, id, timeline string
	shop.Do(
		S("open the console", chromedp.Navigate(e.URL+"/console/login")),
		S("type the email", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "shop-b@hutong.test")),
		S("type the password", chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password)),
		S("sign in", browsertest.Click(chromedp.CSS(`form[data-login] button[type=submit]`))),
		S("see the portal", chromedp.WaitVisible(chromedp.CSS(`[data-user]`))),
		S("open the test payment", browsertest.Click(chromedp.CSS(`nav a[href="/console/test-payments"]`))),
		S("see the form", chromedp.WaitVisible(chromedp.CSS(`form[data-test-payment-form]`))),
		S("choose Alipay", chromedp.SetValue(chromedp.CSS(`[data-test-method]`), "alipay.precreate")),
		S("type the amount", chromedp.SetValue(chromedp.CSS(`[data-test-amount]`), "1.50")),
		S("create it", browsertest.Click(chromedp.CSS(`[data-test-create]`))),
		S("see its code", chromedp.WaitVisible(chromedp.CSS(`[data-qr] svg`))),
		S("see the cashier link", chromedp.WaitVisible(chromedp.CSS(`[data-cashier-link]`))),
		S("read its id", browsertest.Text(`[data-payment-id]`, &id)),
	)
	shop.Screenshot("console-test-payment-waiting")
	shop.Do(
		S("pay in the sandbox", browsertest.Click(chromedp.CSS(`[data-sandbox-pay]`))),
		S("see it succeeded", chromedp.WaitVisible(chromedp.CSS(`[data-succeeded]`))),
		S("read the status", browsertest.Text(`[data-status]`, &status)),
	)
	shop.Screenshot("console-test-payment-paid")
	if status != "已支付" {
		t.Fatalf("after the sandbox paid the page says %q, want 已支付", status)
	}
	shop.Do(
		S("open its timeline", browsertest.Click(chromedp.CSS(`[data-timeline-link]`))),
		S("see the timeline", chromedp.WaitVisible(chromedp.CSS(`[data-timeline]`))),
		S("read the payment's status", browsertest.Text(`[data-status]`, &timeline)),
	)
	if timeline != "已支付" {
		t.Fatalf("the payment's timeline says %q, want 已支付", timeline)
	}
	p, err := e.Svc.PaymentService().GetPayment(t.Context(), e.Merchants[1].ID, strings.TrimSpace(id))
	if err != nil || p.Status != payment.StatusSucceeded || p.Amount != 150 || p.Channel != "alipay" {
		t.Fatalf("the test payment as stored: %+v, %v", p, err)
	}
	shop.LookAt("console-test-payment-form", e.URL+"/console/test-payments", browsertest.Desktop, browsertest.Phone)
	shop.LookAt("console-test-payment", e.URL+"/console/test-payments/"+p.ID, browsertest.Desktop, browsertest.Phone)
}
