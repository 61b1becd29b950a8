package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/console"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestBrowserEveryPageEveryRole signs in as each role in Chromium and
// opens every page the role may read, at 1280×800 and 390×844: each must
// draw every character (no missing glyph) and fit its window. The pages
// with an object in their path are opened on a real payment and method.
func TestBrowserEveryPageEveryRole(t *testing.T) {
	people := map[accounts.Role]*browsertest.Person{}
	for _, role := range accounts.Roles {
		people[role] = browsertest.Start(t, string(role), browsertest.Options{Width: 1280, Height: 800})
	}
	e := start(t, storetest.SQLite(t))
	ctx := context.Background()
	for _, u := range []accounts.AddUserParams{
		{Email: "admin@hutong.test", Name: "管理员", Role: accounts.RoleAdmin, Password: password},
		{Email: "finance@hutong.test", Name: "财务", Role: accounts.RoleFinance, Password: password},
	} {
		if _, err := e.Accounts.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	paid := e.Paid(0, "every-page", 12800)
	theirs := e.Paid(1, "every-page-b", 5600)
	// Test payments: the county shop's paid in the sandbox (what the
	// platform's roles open), the city shop's waiting with its code (what
	// its own user opens).
	testPaid, testWaiting := makeTestPayment(t, e, "admin@hutong.test", e.Merchants[0].ID, true), makeTestPayment(t, e, "shop-b@hutong.test", "", false)
	emails := map[accounts.Role]string{accounts.RoleAdmin: "admin@hutong.test", accounts.RoleOperations: "ops@hutong.test",
		accounts.RoleFinance: "finance@hutong.test", accounts.RoleSupport: "support@hutong.test", accounts.RoleMerchant: "shop-b@hutong.test"}
	routes := console.New(console.Config{Gateway: e.Svc, Accounts: e.Accounts}).Routes()
	for _, role := range accounts.Roles {
		p := people[role]
		p.Do(
			browsertest.Step{Name: "open the sign-in", Action: chromedp.Navigate(e.URL + "/console/login")},
			browsertest.Step{Name: "type the email", Action: chromedp.SendKeys(chromedp.CSS(`input[name=email]`), emails[role])},
			browsertest.Step{Name: "type the password", Action: chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password)},
			browsertest.Step{Name: "sign in", Action: browsertest.Click(chromedp.CSS(`form[data-login] button[type=submit]`))},
			browsertest.Step{Name: "see the console", Action: chromedp.WaitVisible(chromedp.CSS(`[data-user]`))},
		)
		for _, rt := range routes {
			method, path, _ := strings.Cut(rt.Pattern, " ")
			if method != "GET" || !strings.Contains(access[rt.Pattern], roleLetters[role]) || strings.HasSuffix(path, ".csv") || path == "/console/{$}" {
				continue
			}
			payment, testPayment := paid.ID, testPaid
			if role == accounts.RoleMerchant {
				payment, testPayment = theirs.ID, testWaiting // the portal's own merchant
			}
			switch {
			case strings.Contains(path, "{id}") && strings.HasPrefix(path, "/console/payments/"):
				path = strings.Replace(path, "{id}", payment, 1)
			case strings.Contains(path, "{id}") && strings.HasPrefix(path, "/console/test-payments/"):
				path = strings.Replace(path, "{id}", testPayment, 1)
			case strings.Contains(path, "{method}"):
				path = strings.Replace(path, "{method}", "wechatpay.native", 1)
			case strings.Contains(path, "{"):
				continue // campaigns and reconciliation runs have their own tests
			}
			if role != accounts.RoleMerchant && (path == "/console/keys" || path == "/console/webhooks" || path == "/console/statement" ||
				strings.HasPrefix(path, "/console/test-payments")) {
				path += "?merchant=" + e.Merchants[0].ID
			}
			name := "console-" + string(role) + strings.NewReplacer("/console", "", "/", "-", "?", "-", "=", "-", ".", "-").Replace(path)
			p.LookAt(name, e.URL+path, browsertest.Desktop, browsertest.Phone)
		}
	}
}
