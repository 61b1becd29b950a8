package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
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

const password = "correct horse battery staple"

// paymentRequest is a WeChat Native payment of ¥88.00 under order.
func paymentRequest(order string) payment.Request {
	return payment.Request{MerchantOrderID: order, Amount: 8800, Currency: "CNY", Description: "羽绒服", Method: "wechatpay.native",
		Buyer: payment.Buyer{ID: "b-" + order}}
}

// browser is a person's cookie jar on the console, not following
// redirects so each answer is seen.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request as the console's own page would (same origin), and
// returns the status, the Location and the body.
func (b *browser) do(method, path string, form url.Values) (int, string, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Location"), string(raw)
}

func (b *browser) login(email string) {
	b.t.Helper()
	if st, loc, body := b.do("POST", "/console/login", url.Values{"email": {email}, "password": {password}}); st != http.StatusSeeOther || loc != "/console/payments" {
		b.t.Fatalf("login as %s: %d %s %s", email, st, loc, body)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the anti-forgery token of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	st, _, body := b.do("GET", path, nil)
	m := csrfField.FindStringSubmatch(body)
	if st != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, no csrf token", path, st)
	}
	return m[1]
}

type env struct {
	*gatewaytest.Env
	acc *accounts.Service
}

func start(t *testing.T, db *store.DB, opts ...gatewaytest.Options) *env {
	var o gatewaytest.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	e := gatewaytest.Start(t, db, o)
	acc := e.Accounts
	ctx := context.Background()
	for _, u := range []accounts.AddUserParams{
		{Email: "ops@hutong.test", Name: "运营小王", Role: accounts.RoleOperations, Password: password},
		{Email: "support@hutong.test", Name: "客服小李", Role: accounts.RoleSupport, Password: password},
		{Email: "shop-b@hutong.test", Name: "城市服饰店长", Role: accounts.RoleMerchant, MerchantID: e.Merchants[1].ID, Password: password},
	} {
		if _, err := acc.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return &env{Env: e, acc: acc}
}

// TestSignInAndSessions: the console is behind a sign-in; the session
// cookie is HttpOnly, SameSite and for the console's path only; wrong
// passwords are refused and, repeated, throttled; logging out everywhere
// ends every browser's session.
func TestSignInAndSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		b := newBrowser(t, e.URL)
		if st, loc, _ := b.do("GET", "/console/payments?id=x", nil); st != http.StatusSeeOther || loc != "/console/login?next="+url.QueryEscape("/console/payments?id=x") {
			t.Fatalf("signed out: %d %s, want the login page", st, loc)
		}
		if st, _, body := b.do("POST", "/console/login", url.Values{"email": {"ops@hutong.test"}, "password": {"wrong password!"}}); st != http.StatusUnauthorized || !strings.Contains(body, "邮箱或密码不对") {
			t.Fatalf("a wrong password: %d", st)
		}
		// Another site's page posting the login form is refused.
		req, _ := http.NewRequest("POST", e.URL+"/console/login", strings.NewReader(url.Values{"email": {"ops@hutong.test"}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if res, err := b.hc.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("a cross-site login: %v %v, want 403", res.StatusCode, err)
		} else {
			res.Body.Close()
		}

		st, loc, _ := b.do("POST", "/console/login", url.Values{"email": {"ops@hutong.test"}, "password": {password}, "next": {"https://evil.example/"}})
		if st != http.StatusSeeOther || loc != "/console/payments" {
			t.Fatalf("login: %d %s, want the payments (never another site)", st, loc)
		}
		u, _ := url.Parse(e.URL + "/console/")
		var session *http.Cookie
		for _, c := range b.hc.Jar.Cookies(u) {
			if c.Name == console.CookieName {
				session = c
			}
		}
		if session == nil {
			t.Fatal("no session cookie")
		}
		// The jar hides the attributes; ask for them on a fresh login.
		req, _ = http.NewRequest("POST", e.URL+"/console/login", strings.NewReader(url.Values{"email": {"ops@hutong.test"}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		set := res.Header.Get("Set-Cookie")
		for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/console/"} {
			if !strings.Contains(set, want) {
				t.Errorf("session cookie %q lacks %s", set, want)
			}
		}
		other := newBrowser(t, e.URL)
		other.login("ops@hutong.test")

		// A POST without the page's token is refused, and changes nothing.
		if st, _, _ := b.do("POST", "/console/logout-everywhere", url.Values{}); st != http.StatusForbidden {
			t.Fatalf("a POST without the token: %d, want 403", st)
		}
		if st, _, _ := other.do("GET", "/console/payments", nil); st != http.StatusOK {
			t.Fatalf("the other browser after a refused logout: %d", st)
		}
		if st, loc, _ := b.do("POST", "/console/logout-everywhere", url.Values{"csrf": {b.csrf("/console/payments")}}); st != http.StatusSeeOther || loc != "/console/login" {
			t.Fatalf("logout everywhere: %d %s", st, loc)
		}
		if st, _, _ := other.do("GET", "/console/payments", nil); st != http.StatusSeeOther {
			t.Fatalf("the other browser after logging out everywhere: %d, want sent to sign in", st)
		}

		// Five wrong passwords, then even the right one waits.
		for range 5 {
			b.do("POST", "/console/login", url.Values{"email": {"support@hutong.test"}, "password": {"not it at all"}})
		}
		req, _ = http.NewRequest("POST", e.URL+"/console/login", strings.NewReader(url.Values{"email": {"support@hutong.test"}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err = b.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Fatalf("after five failures: %d Retry-After %q, want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
		}
	})
}

// TestPaymentsAndActions: an operator finds a payment by the merchant's
// order number and by the wallet's, sees its timeline, and support
// refunds it and asks the wallet; each action is in the audit log with
// who and the payment before. Operations may not refund; a merchant sees
// only its own payments, another's as not there.
func TestPaymentsAndActions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		p := e.Paid(0, "console-1", 8800)

		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		for _, id := range []string{"console-1", p.WalletTradeNo, p.ID} {
			st, _, body := ops.do("GET", "/console/payments?id="+url.QueryEscape(id), nil)
			if st != http.StatusOK || !strings.Contains(body, `data-payment="`+p.ID+`"`) {
				t.Fatalf("search by %q: %d, payment not listed", id, st)
			}
		}
		st, _, body := ops.do("GET", "/console/payments/"+p.ID, nil)
		if st != http.StatusOK {
			t.Fatalf("the payment: %d", st)
		}
		for _, want := range []string{"创建", "钱包订单", "钱包通知", "支付成功", "记账", "payment.succeeded", "Webhook"} {
			if !strings.Contains(body, want) {
				t.Errorf("the timeline lacks %s", want)
			}
		}
		if strings.Contains(body, "data-refund-form") {
			t.Error("operations is offered a refund")
		}
		if st, _, _ := ops.do("POST", "/console/payments/"+p.ID+"/refund", url.Values{"csrf": {ops.csrf("/console/payments/" + p.ID)}, "amount": {"1.00"}}); st != http.StatusForbidden {
			t.Fatalf("operations refunding: %d, want 403", st)
		}

		sup := newBrowser(t, e.URL)
		sup.login("support@hutong.test")
		token := sup.csrf("/console/payments/" + p.ID)
		if st, _, body := sup.do("POST", "/console/payments/"+p.ID+"/refund", url.Values{"csrf": {token}, "amount": {"99.99"}, "kind": {"refund_only"}}); st != http.StatusUnprocessableEntity || !strings.Contains(body, "退款未受理") {
			t.Fatalf("a refund above the payment: %d", st)
		}
		if st, _, body := sup.do("POST", "/console/payments/"+p.ID+"/refund", url.Values{"csrf": {token}, "amount": {"12.3x"}}); st != http.StatusBadRequest || !strings.Contains(body, "退款金额") {
			t.Fatalf("an amount that is not one: %d", st)
		}
		st, loc, _ := sup.do("POST", "/console/payments/"+p.ID+"/refund", url.Values{"csrf": {token}, "amount": {"12.30"}, "kind": {"refund_only"}, "reason": {"少发一件"}})
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/payments/"+p.ID) {
			t.Fatalf("refund: %d %s", st, loc)
		}
		refunds, err := e.Svc.RefundService().List(context.Background(), e.Merchants[0].ID, p.ID, "", 10)
		if err != nil || len(refunds) != 1 || refunds[0].Amount != 1230 || refunds[0].Reason != "少发一件" {
			t.Fatalf("refunds after the console's: %+v %v", refunds, err)
		}
		if st, _, _ := sup.do("POST", "/console/payments/"+p.ID+"/query", url.Values{"csrf": {token}}); st != http.StatusSeeOther {
			t.Fatalf("asking the wallet: %d", st)
		}
		log, err := e.acc.AuditLog(context.Background(), accounts.AuditQuery{Object: "payment:" + p.ID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, a := range log {
			actions = append(actions, a.Action)
			if a.ActorEmail != "support@hutong.test" || a.MerchantID != e.Merchants[0].ID || len(a.Before) == 0 || len(a.After) == 0 {
				t.Errorf("audit entry %+v: want support's, the merchant's, with before and after", a)
			}
		}
		if strings.Join(actions, ",") != "payment.query_wallet,payment.refund" {
			t.Errorf("audited %v, want the query and the refund, newest first", actions)
		}
		if _, _, body := ops.do("GET", "/console/audit", nil); !strings.Contains(body, `data-audit-entry="payment.refund"`) {
			t.Error("the audit page does not list the refund")
		}

		// The merchant portal: its own payments only.
		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		if st, _, _ := shop.do("GET", "/console/payments/"+p.ID, nil); st != http.StatusNotFound {
			t.Fatalf("merchant B opening A's payment: %d, want 404", st)
		}
		if _, _, body := shop.do("GET", "/console/payments?id=console-1", nil); strings.Contains(body, p.ID) {
			t.Fatal("merchant B's search shows A's payment")
		}
		if _, _, body := shop.do("GET", "/console/audit", nil); strings.Contains(body, `data-audit-entry="payment.refund"`) {
			t.Fatal("merchant B's audit log shows A's refund")
		}
		if st, _, _ := shop.do("POST", "/console/payments/"+p.ID+"/refund", url.Values{"csrf": {shop.csrf("/console/payments")}, "amount": {"1.00"}}); st != http.StatusNotFound {
			t.Fatalf("merchant B refunding A's payment: %d, want 404", st)
		}
		if refunds, _ := e.Svc.RefundService().List(context.Background(), e.Merchants[0].ID, p.ID, "", 10); len(refunds) != 1 {
			t.Fatalf("B's refused refund changed A's refunds: %d", len(refunds))
		}
	})
}
