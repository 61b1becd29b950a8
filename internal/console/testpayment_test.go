package console_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/console"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

var orderField = regexp.MustCompile(`name="order" value="([^"]+)"`)

// testOrder is the order number the test payment form at path carries.
func (b *browser) testOrder(path string) string {
	b.t.Helper()
	st, _, body := b.do("GET", path, nil)
	m := orderField.FindStringSubmatch(body)
	if st != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, no test payment form", path, st)
	}
	return m[1]
}

// testPaymentForm is the form at formPath filled in with method and
// amount, plus extra fields.
func (b *browser) testPaymentForm(formPath, method, amount string, extra url.Values) url.Values {
	b.t.Helper()
	f := url.Values{"csrf": {b.csrf(formPath)}, "order": {b.testOrder(formPath)}, "method": {method}, "amount": {amount}}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

var testPaymentLocation = regexp.MustCompile(`^/console/test-payments/(pay_[A-Za-z0-9]+)\?`)

// testPaymentsOf lists every payment the console's test payment page
// made for merchant.
func testPaymentsOf(t *testing.T, db *store.DB, merchant string) []payment.Payment {
	t.Helper()
	found, err := db.Pool().PaymentSearch(context.Background(), store.PaymentSearchParams{MerchantID: merchant, BuyerID: "hutong-console-test", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestTestPaymentPaidInTheSandbox, end to end on both stores: a merchant
// user opens the portal's test payment, creates ¥0.01 by WeChat Pay (a
// merchant field naming another merchant is ignored: the payment is its
// own), sees the wallet's code and the cashier link; the other merchant
// can neither see nor pay it; the sandbox's test buyer pays it; the page
// then shows it succeeded, with a link to its timeline, and the API says
// succeeded too. The form sent twice makes one payment. An administrator
// does the same for the other merchant by Alipay, at the ¥100 cap. Every
// step is in the audit log.
func TestTestPaymentPaidInTheSandbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		portalUsers(t, e)
		ctx := context.Background()
		a, b := e.Merchants[0].ID, e.Merchants[1].ID

		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		st, _, body := shop.do("GET", "/console/test-payments", nil)
		if st != http.StatusOK || !strings.Contains(body, `value="wechatpay.native"`) || !strings.Contains(body, `value="alipay.precreate"`) ||
			!strings.Contains(body, "data-sandbox") || !strings.Contains(body, `href="/console/test-payments"`) {
			t.Fatalf("the test payment form: %d\n%s", st, body)
		}
		form := shop.testPaymentForm("/console/test-payments", "wechatpay.native", "0.01", url.Values{"merchant": {a}})
		st, loc, body := shop.do("POST", "/console/test-payments", form)
		m := testPaymentLocation.FindStringSubmatch(loc)
		if st != http.StatusSeeOther || m == nil || strings.Contains(loc, "merchant=") {
			t.Fatalf("creating a test payment: %d %q %s", st, loc, body)
		}
		id := m[1]
		p, err := e.Svc.PaymentService().GetPayment(ctx, b, id)
		if err != nil || p.Amount != 1 || p.Method != "wechatpay.native" || p.Metadata["hutong_test_payment"] != "console" ||
			p.Metadata["hutong_test_payment_by"] != "shop-b@hutong.test" || p.Status != payment.StatusRequiresAction {
			t.Fatalf("the test payment as stored for B: %+v, %v", p, err)
		}
		if len(testPaymentsOf(t, db, a)) != 0 {
			t.Fatal("a merchant user naming another merchant made a payment for it")
		}
		// The same form again (a double click) is the same payment.
		if st, loc2, _ := shop.do("POST", "/console/test-payments", form); st != http.StatusSeeOther || !strings.HasPrefix(loc2, "/console/test-payments/"+id+"?") {
			t.Fatalf("the form sent twice: %d %s, want the first payment", st, loc2)
		}
		if n := len(testPaymentsOf(t, db, b)); n != 1 {
			t.Fatalf("the form sent twice made %d payments", n)
		}

		st, _, body = shop.do("GET", loc, nil)
		if st != http.StatusOK || !strings.Contains(body, `data-status="requires_action"`) || !strings.Contains(body, "<svg") ||
			!strings.Contains(body, html.EscapeString(p.NextAction.QRCode)) || !strings.Contains(body, html.EscapeString(p.CheckoutURL)) ||
			!strings.Contains(body, "data-sandbox-pay") || !strings.Contains(body, "已创建测试支付") {
			t.Fatalf("the test payment's page: %d\n%s", st, body)
		}

		// The other merchant can neither see nor pay it.
		other := newBrowser(t, e.URL)
		other.login("shop-a@hutong.test")
		if st, _, _ := other.do("GET", "/console/test-payments/"+id, nil); st != http.StatusNotFound {
			t.Fatalf("A reading B's test payment: %d, want 404", st)
		}
		if st, _, _ := other.do("POST", "/console/test-payments/"+id+"/sandbox-pay", url.Values{"csrf": {other.csrf("/console/test-payments")}, "merchant": {b}}); st != http.StatusNotFound {
			t.Fatalf("A paying B's test payment: %d, want 404", st)
		}
		if e.Status(1, id) != payment.StatusRequiresAction {
			t.Fatal("A's refused request paid B's test payment")
		}
		// Nor is a payment the page did not make a test payment.
		real, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[1], paymentRequest("real-order"))
		if err != nil {
			t.Fatal(err)
		}
		if st, _, _ := shop.do("POST", "/console/test-payments/"+real.ID+"/sandbox-pay", url.Values{"csrf": {form.Get("csrf")}}); st != http.StatusNotFound {
			t.Fatalf("paying a real payment as a test: %d, want 404", st)
		}

		st, loc, _ = shop.do("POST", "/console/test-payments/"+id+"/sandbox-pay", url.Values{"csrf": {form.Get("csrf")}})
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/test-payments/"+id+"?") {
			t.Fatalf("paying in the sandbox: %d %s", st, loc)
		}
		e.Eventually("the test payment paid", func() bool {
			_, _, body = shop.do("GET", "/console/test-payments/"+id, nil)
			return strings.Contains(body, "data-succeeded")
		})
		if !strings.Contains(body, `href="/console/payments/`+id+`"`) || strings.Contains(body, "data-sandbox-pay") {
			t.Fatalf("the paid test payment's page:\n%s", body)
		}
		if st, _, body := shop.do("GET", "/console/payments/"+id, nil); st != http.StatusOK || !strings.Contains(body, "已支付") {
			t.Fatalf("its timeline: %d", st)
		}
		if got := e.Status(1, id); got != payment.StatusSucceeded {
			t.Fatalf("the API says %s, want succeeded", got)
		}
		// Paid once; a second request is refused and changes nothing.
		if st, _, body := shop.do("POST", "/console/test-payments/"+id+"/sandbox-pay", url.Values{"csrf": {form.Get("csrf")}}); st != http.StatusConflict || !strings.Contains(body, "不能再付") {
			t.Fatalf("paying twice: %d", st)
		}
		checkAudit(t, e, "payment:"+id, "shop-b@hutong.test", b, "",
			"test_payment.sandbox_paid", "test_payment.sandbox_pay_requested", "test_payment.create")

		// An administrator, for the merchant it names, by Alipay, at the cap.
		admin := newBrowser(t, e.URL)
		admin.login("admin@hutong.test")
		formPath := "/console/test-payments?merchant=" + a
		st, loc, body = admin.do("POST", "/console/test-payments", admin.testPaymentForm(formPath, "alipay.precreate", "100.00", url.Values{"merchant": {a}}))
		if m = testPaymentLocation.FindStringSubmatch(loc); st != http.StatusSeeOther || m == nil || !strings.Contains(loc, "merchant="+a) {
			t.Fatalf("an administrator creating A's test payment: %d %q %s", st, loc, body)
		}
		aid := m[1]
		if st, loc, _ := admin.do("POST", "/console/test-payments/"+aid+"/sandbox-pay", url.Values{"csrf": {admin.csrf(formPath)}, "merchant": {a}}); st != http.StatusSeeOther || !strings.Contains(loc, "merchant="+a) {
			t.Fatalf("an administrator paying it: %d %s", st, loc)
		}
		e.Eventually("A's test payment paid", func() bool { return e.Status(0, aid) == payment.StatusSucceeded })
		if p, _ := e.Svc.PaymentService().GetPayment(ctx, a, aid); p.Amount != 10000 || p.Channel != "alipay" {
			t.Fatalf("A's test payment: %d fen by %s", p.Amount, p.Channel)
		}
		checkAudit(t, e, "payment:"+aid, "admin@hutong.test", a, "",
			"test_payment.sandbox_paid", "test_payment.sandbox_pay_requested", "test_payment.create")
		if st, _, body := admin.do("GET", formPath, nil); st != http.StatusOK || !strings.Contains(body, `data-test-payment="`+aid+`"`) || strings.Contains(body, id) {
			t.Fatalf("A's latest test payments: %d, lists A's: %v, lists B's: %v", st, strings.Contains(body, aid), strings.Contains(body, id))
		}
		if problems, err := e.Svc.MoneyService().VerifyLedger(ctx); err != nil || len(problems) > 0 {
			t.Fatalf("the ledger after the test payments: %v %v", problems, err)
		}
	})
}

// TestTestPaymentRefusals: every bad field is refused with a message
// naming it, and no payment is made; support may not make a
// test payment; a wallet the merchant has no contract with is not offered
// and is refused when named.
func TestTestPaymentRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		b := e.Merchants[1].ID
		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		for _, c := range []struct {
			order, method, amount string
			says                  string
		}{
			{"", "wechatpay.native", "1", "表单已过期"},
			{"test-abc", "wechatpay.native", "1", "表单已过期"},
			{"order-1", "wechatpay.native", "1", "表单已过期"},
			{"*", "", "1", "请选择支付方式"},
			{"*", "alipay.wap", "1", `支付方式 "alipay.wap" 不能用于`},
			{"*", "cashier", "1", `支付方式 "cashier" 不能用于`},
			{"*", "nope", "1", `支付方式 "nope" 不能用于`},
			{"*", "wechatpay.native", "", `金额 "" 应写成元`},
			{"*", "wechatpay.native", "0", `金额 "0" 应大于零`},
			{"*", "wechatpay.native", "0.00", `金额 "0.00" 应大于零`},
			{"*", "wechatpay.native", "-1", `金额 "-1" 应写成元`},
			{"*", "wechatpay.native", "1.234", `金额 "1.234" 应写成元`},
			{"*", "wechatpay.native", "abc", `金额 "abc" 应写成元`},
			{"*", "wechatpay.native", "1e3", `金额 "1e3" 应写成元`},
			{"*", "wechatpay.native", "１", `金额 "１" 应写成元`},
			{"*", "wechatpay.native", "99999999999", `金额 "99999999999" 应写成元`},
			{"*", "wechatpay.native", "100.01", "金额 ¥100.01 太大：测试支付至多 ¥100.00"},
			{"*", "wechatpay.native", "5000", "金额 ¥5000.00 太大"},
		} {
			order := c.order
			if order == "*" {
				order = shop.testOrder("/console/test-payments")
			}
			form := url.Values{"csrf": {shop.csrf("/console/test-payments")}, "order": {order}, "method": {c.method}, "amount": {c.amount}}
			st, _, body := shop.do("POST", "/console/test-payments", form)
			if st != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), c.says) {
				t.Errorf("order %q, method %q, amount %q: %d, want 400 saying %q", c.order, c.method, c.amount, st, c.says)
			}
		}
		if n := len(testPaymentsOf(t, db, b)); n != 0 {
			t.Fatalf("refused forms made %d payments", n)
		}
		for _, a := range auditOf(t, e, "") {
			if strings.HasPrefix(a.Action, "test_payment.") {
				t.Fatalf("a refused form was audited: %+v", a)
			}
		}
		support := newBrowser(t, e.URL)
		support.login("support@hutong.test")
		if st, _, _ := support.do("POST", "/console/test-payments", url.Values{"csrf": {support.csrf("/console/payments")}, "merchant": {b},
			"order": {"test-AAAAAAAAAAAAAAAAAAAAAAAAAA"}, "method": {"wechatpay.native"}, "amount": {"1"}}); st != http.StatusForbidden {
			t.Fatalf("support making a test payment: %d, want 403", st)
		}
		if n := len(testPaymentsOf(t, db, b)); n != 0 {
			t.Fatalf("a refused role made %d payments", n)
		}
	})
}

// TestTestPaymentOnlyPayableWallets: where WeChat Pay needs a contract and
// the merchant has none, the form offers Alipay alone and says why WeChat
// Pay is missing; naming WeChat Pay anyway is refused and makes nothing.
func TestTestPaymentOnlyPayableWallets(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{ContractsRequired: map[string]bool{"wechatpay": true}})
	if _, err := e.Accounts.AddUser(context.Background(), accounts.AddUserParams{Email: "shop-a@hutong.test", Name: "县城超市店长",
		Role: accounts.RoleMerchant, MerchantID: e.Merchants[0].ID, Password: password}); err != nil {
		t.Fatal(err)
	}
	shop := newBrowser(t, e.URL)
	shop.login("shop-a@hutong.test")
	st, _, body := shop.do("GET", "/console/test-payments", nil)
	if st != http.StatusOK || strings.Contains(body, `value="wechatpay.native"`) || !strings.Contains(body, `value="alipay.precreate"`) ||
		!strings.Contains(body, "data-unpayable") || !strings.Contains(body, "微信支付") {
		t.Fatalf("the form without a WeChat Pay contract: %d\n%s", st, body)
	}
	st, _, body = shop.do("POST", "/console/test-payments", shop.testPaymentForm("/console/test-payments", "wechatpay.native", "1", nil))
	if st != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), `支付方式 "wechatpay.native" 不能用于`) {
		t.Fatalf("naming WeChat Pay without a contract: %d", st)
	}
	if n := len(testPaymentsOf(t, e.Svc.DB, e.Merchants[0].ID)); n != 0 {
		t.Fatalf("the refused form made %d payments", n)
	}
}

// TestTestPaymentWithoutSandbox: a console with real wallets (no sandbox)
// says so, shows the code and the cashier link and no sandbox button, and
// refuses a request to pay in the sandbox, changing nothing.
func TestTestPaymentWithoutSandbox(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	srv := httptest.NewServer(console.New(console.Config{Gateway: e.Svc, Accounts: e.Accounts}))
	t.Cleanup(srv.Close)
	shop := newBrowser(t, srv.URL)
	shop.login("shop-b@hutong.test")
	if st, _, body := shop.do("GET", "/console/test-payments", nil); st != http.StatusOK || !strings.Contains(body, "data-no-sandbox") || strings.Contains(body, "data-sandbox>") {
		t.Fatalf("the form without a sandbox: %d", st)
	}
	form := shop.testPaymentForm("/console/test-payments", "wechatpay.native", "12.30", nil)
	st, loc, _ := shop.do("POST", "/console/test-payments", form)
	m := testPaymentLocation.FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("creating: %d %s", st, loc)
	}
	id := m[1]
	if st, _, body := shop.do("GET", loc, nil); st != http.StatusOK || !strings.Contains(body, "data-qr") || !strings.Contains(body, "data-cashier-link") ||
		!strings.Contains(body, "data-no-sandbox") || strings.Contains(body, "data-sandbox-pay") {
		t.Fatalf("the page without a sandbox: %d\n%s", st, body)
	}
	if st, _, body := shop.do("POST", "/console/test-payments/"+id+"/sandbox-pay", url.Values{"csrf": {form.Get("csrf")}}); st != http.StatusConflict || !strings.Contains(body, "没有钱包沙箱") {
		t.Fatalf("asking a console without a sandbox to pay: %d", st)
	}
	if p, err := e.Svc.PaymentService().GetPayment(context.Background(), e.Merchants[1].ID, id); err != nil || p.Amount != 1230 || p.Status != payment.StatusRequiresAction {
		t.Fatalf("the test payment after the refusal: %+v, %v", p, err)
	}
}

// TestTestPaymentWaitsForTheWallet: when the wallet cannot be asked right
// after the sandbox pays (its API fails) and its notification is lost, the
// page says the wallet's word is awaited and reloads itself, a bounded
// number of times, until the wallet's retried notification arrives and
// shows the payment succeeded.
func TestTestPaymentWaitsForTheWallet(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	shop := newBrowser(t, e.URL)
	shop.login("shop-b@hutong.test")
	form := shop.testPaymentForm("/console/test-payments", "wechatpay.native", "0.50", nil)
	_, loc, _ := shop.do("POST", "/console/test-payments", form)
	m := testPaymentLocation.FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("creating: %s", loc)
	}
	id := m[1]
	if st := e.Sandbox.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "api_error_rate": 1, "notify_drop_rate": 1}, nil); st != http.StatusOK {
		t.Fatalf("sandbox faults: %d", st)
	}
	st, loc, _ := shop.do("POST", "/console/test-payments/"+id+"/sandbox-pay", url.Values{"csrf": {form.Get("csrf")}})
	if st != http.StatusSeeOther || !strings.Contains(loc, "paying=1") {
		t.Fatalf("paying while the wallet's API fails: %d %s, want the waiting page", st, loc)
	}
	st, _, body := shop.do("GET", loc, nil)
	if st != http.StatusOK || !strings.Contains(body, "data-paying") || !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, "paying=2") {
		t.Fatalf("the waiting page: %d\n%s", st, body)
	}
	if _, _, body := shop.do("GET", "/console/test-payments/"+id+"?paying=30", nil); strings.Contains(body, `http-equiv="refresh"`) {
		t.Fatal("the page reloads itself without end")
	}
	// The wallet retries its notification, which now arrives.
	if st := e.Sandbox.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay"}, nil); st != http.StatusOK {
		t.Fatalf("sandbox faults: %d", st)
	}
	e.Eventually("the retried notification", func() bool {
		_, _, body = shop.do("GET", loc, nil)
		return strings.Contains(body, "data-succeeded")
	})
	if strings.Contains(body, `http-equiv="refresh"`) {
		t.Fatal("the paid page still reloads itself")
	}
}

// makeTestPayment is a test payment of ¥0.01 made through the console by
// the user email for merchant (its own when ""), paid in the sandbox when
// pay is true; it returns the payment's id.
func makeTestPayment(t *testing.T, e *env, email, merchant string, pay bool) string {
	t.Helper()
	b := newBrowser(t, e.URL)
	b.login(email)
	formPath, extra := "/console/test-payments", url.Values{}
	if merchant != "" {
		formPath += "?merchant=" + merchant
		extra.Set("merchant", merchant)
	}
	form := b.testPaymentForm(formPath, "wechatpay.native", "0.01", extra)
	_, loc, body := b.do("POST", "/console/test-payments", form)
	m := testPaymentLocation.FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("%s making a test payment: %s %s", email, loc, body)
	}
	if pay {
		extra.Set("csrf", form.Get("csrf"))
		if st, _, _ := b.do("POST", "/console/test-payments/"+m[1]+"/sandbox-pay", extra); st != http.StatusSeeOther {
			t.Fatalf("%s paying a test payment: %d", email, st)
		}
	}
	return m[1]
}
