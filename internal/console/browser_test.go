package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

func S(name string, a chromedp.Action[chromedp.Void]) browsertest.Step {
	return browsertest.Step{Name: name, Action: a}
}

// TestBrowserSupportAnswersIPaid: a buyer says "I paid, why is my order
// unpaid?". The wallet took the money but its notification was lost. A
// support agent signs in to the console in Chromium, finds the payment by
// the merchant's order number, asks the wallet, sees it paid, and finds
// the action in the audit log.
func TestBrowserSupportAnswersIPaid(t *testing.T) {
	agent := browsertest.Start(t, "support", browsertest.Options{Width: 1280, Height: 900})
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{NoWorker: true})
	if _, err := e.Accounts.AddUser(context.Background(), accounts.AddUserParams{Email: "support@hutong.test", Name: "客服小李",
		Role: accounts.RoleSupport, Password: password}); err != nil {
		t.Fatal(err)
	}
	// Paid at the wallet; no notification, no poll (the worker is off).
	if st := e.Sandbox.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "notify_drop_rate": 1}, nil); st != 200 {
		t.Fatalf("sandbox faults: %d", st)
	}
	p, err := e.Svc.PaymentService().CreatePayment(context.Background(), e.Merchants[0], paymentRequest("i-paid-1"))
	if err != nil {
		t.Fatal(err)
	}
	e.Sandbox.Pay(p.NextAction.QRCode, "buyer-li")

	var status, audit string
	agent.Do(
		S("open the console", chromedp.Navigate(e.URL+"/console")),
		S("see the sign-in", chromedp.WaitVisible(chromedp.CSS(`form[data-login]`))),
		S("type the email", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "support@hutong.test")),
		S("type the password", chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password)),
		S("sign in", browsertest.Click(chromedp.CSS(`form[data-login] button[type=submit]`))),
		S("see the search", chromedp.WaitVisible(chromedp.CSS(`form[data-search]`))),
		S("type the order number", chromedp.SendKeys(chromedp.CSS(`form[data-search] input[name=id]`), "i-paid-1")),
		S("search", browsertest.Click(chromedp.CSS(`form[data-search] button[type=submit]`))),
		S("open the payment", browsertest.Click(chromedp.CSS(`[data-payment="`+p.ID+`"] a`))),
		S("see it unpaid", chromedp.WaitVisible(chromedp.CSS(`[data-status]`))),
		S("ask the wallet", browsertest.Click(chromedp.CSS(`[data-query]`))),
		S("see the answer", chromedp.WaitVisible(chromedp.CSS(`[data-info]`))),
		S("read the status", browsertest.Text(`[data-status]`, &status)),
	)
	agent.Screenshot("console-payment-paid")
	if status != "已支付" {
		t.Fatalf("after asking the wallet the console shows %q, want 已支付", status)
	}
	agent.Do(
		S("open the audit log", browsertest.Click(chromedp.CSS(`nav a[href="/console/audit"]`))),
		S("see the query", chromedp.WaitVisible(chromedp.CSS(`[data-audit-entry="payment.query_wallet"]`))),
		S("read it", browsertest.Text(`[data-audit-entry="payment.query_wallet"]`, &audit)),
	)
	agent.Screenshot("console-audit")
	if !strings.Contains(audit, "support@hutong.test") || !strings.Contains(audit, "payment:"+p.ID) {
		t.Fatalf("the audit entry reads %q", audit)
	}
	// No missing glyph and nothing overflowing, on a desktop and a phone.
	agent.LookAt("console-payments", e.URL+"/console/payments?id=i-paid-1", browsertest.Desktop, browsertest.Phone)
	agent.LookAt("console-analytics", e.URL+"/console/analytics", browsertest.Desktop, browsertest.Phone)
}
