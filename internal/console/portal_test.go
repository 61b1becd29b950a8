package console_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// portalUsers adds an administrator and the county shop's own user
// (merchant A) beside start's operations, support and shop-b users.
func portalUsers(t *testing.T, e *env) {
	t.Helper()
	for _, u := range []accounts.AddUserParams{
		{Email: "admin@hutong.test", Name: "管理员老张", Role: accounts.RoleAdmin, Password: password},
		{Email: "shop-a@hutong.test", Name: "县城超市店长", Role: accounts.RoleMerchant, MerchantID: e.Merchants[0].ID, Password: password},
	} {
		if _, err := e.acc.AddUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
}

var newSecret = regexp.MustCompile(`data-new-secret>([^<]+)<`)

// secretOn is the secret a page shows once, "" when it shows none.
func secretOn(body string) string {
	m := newSecret.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// portalGet is a GET that also returns the headers (a download's type).
func (b *browser) portalGet(path string) (int, http.Header, string) {
	b.t.Helper()
	res, err := b.hc.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(raw)
}

// auditOf is the audit log of one object, newest first.
func auditOf(t *testing.T, e *env, object string) []accounts.AuditEntry {
	t.Helper()
	log, err := e.acc.AuditLog(context.Background(), accounts.AuditQuery{Object: object, Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// checkAudit holds that object's log is exactly actions (newest first),
// each by actor for merchant, and that secret appears nowhere in it.
func checkAudit(t *testing.T, e *env, object, actor, merchant, secret string, actions ...string) {
	t.Helper()
	log := auditOf(t, e, object)
	var got []string
	for _, a := range log {
		got = append(got, a.Action)
		if a.ActorEmail != actor || a.MerchantID != merchant {
			t.Errorf("audit entry %s of %s by %s for %s, want by %s for %s", a.Action, object, a.ActorEmail, a.MerchantID, actor, merchant)
		}
		if secret != "" && (strings.Contains(string(a.Before), secret) || strings.Contains(string(a.After), secret)) {
			t.Errorf("audit entry %s of %s records the secret", a.Action, object)
		}
	}
	if strings.Join(got, ",") != strings.Join(actions, ",") {
		t.Errorf("audit of %s: %v, want %v", object, got, actions)
	}
}

// TestPortalKeys: a merchant creates an API key and sees its secret once
// (never on the list again, nor in the audit log); the key works against
// the API until the merchant revokes it, then it is refused at once.
// Another merchant cannot revoke it (404, it keeps working); operations
// read keys but may not create them; an administrator creates one for a
// merchant it names; a platform role that names no merchant, or an
// unknown one, is told so.
func TestPortalKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		portalUsers(t, e)
		ctx := context.Background()
		a, b := e.Merchants[0].ID, e.Merchants[1].ID

		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		token := shop.csrf("/console/keys")
		st, _, body := shop.do("POST", "/console/keys", url.Values{"csrf": {token}})
		secret := secretOn(body)
		if st != http.StatusOK || !strings.HasPrefix(secret, "sk_merchant_") || !strings.Contains(body, "唯一一次显示") {
			t.Fatalf("creating a key: %d, secret %q", st, secret)
		}
		keys, err := e.Svc.MerchantService().Keys(ctx, b)
		if err != nil || len(keys) != 2 || !strings.HasPrefix(secret, keys[0].Prefix) {
			t.Fatalf("B's keys after creating one: %+v, %v", keys, err)
		}
		id := keys[0].ID
		for range 2 { // the list, and the list reloaded
			st, _, body := shop.do("GET", "/console/keys", nil)
			if st != http.StatusOK || !strings.Contains(body, `data-key="`+id+`"`) || strings.Contains(body, secret) || secretOn(body) != "" {
				t.Fatalf("the key list: %d, lists the key: %v, shows the secret: %v", st, strings.Contains(body, id), strings.Contains(body, secret))
			}
		}
		if st := e.Call(secret, "GET", "/v1/payments", nil, nil); st != http.StatusOK {
			t.Fatalf("the new key against the API: %d, want 200", st)
		}

		// B cannot revoke A's key: not found, and it keeps working.
		aKeys, err := e.Svc.MerchantService().Keys(ctx, a)
		if err != nil || len(aKeys) != 1 {
			t.Fatalf("A's keys: %+v, %v", aKeys, err)
		}
		if st, _, _ := shop.do("POST", "/console/keys/"+aKeys[0].ID+"/revoke", url.Values{"csrf": {token}}); st != http.StatusNotFound {
			t.Fatalf("B revoking A's key: %d, want 404", st)
		}
		if st := e.Call(e.Keys[0], "GET", "/v1/payments", nil, nil); st != http.StatusOK {
			t.Fatalf("A's key after B's attempt: %d, want 200", st)
		}
		if log := auditOf(t, e, "api_key:"+aKeys[0].ID); len(log) != 0 {
			t.Fatalf("B's refused revocation audited: %+v", log)
		}

		// Operations read a merchant's keys, and may not make one.
		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		if st, _, body := ops.do("GET", "/console/keys?merchant="+b, nil); st != http.StatusOK || !strings.Contains(body, `data-key="`+id+`"`) || strings.Contains(body, "data-create-key") {
			t.Fatalf("operations reading B's keys: %d, offered to create: %v", st, strings.Contains(body, "data-create-key"))
		}
		opsToken := ops.csrf("/console/keys?merchant=" + b)
		if st, _, _ := ops.do("POST", "/console/keys", url.Values{"csrf": {opsToken}, "merchant": {b}}); st != http.StatusForbidden {
			t.Fatalf("operations creating a key: %d, want 403", st)
		}
		if st, _, _ := ops.do("POST", "/console/keys/"+id+"/revoke", url.Values{"csrf": {opsToken}, "merchant": {b}}); st != http.StatusForbidden {
			t.Fatalf("operations revoking a key: %d, want 403", st)
		}
		if st, _, body := ops.do("GET", "/console/keys", nil); st != http.StatusBadRequest || !strings.Contains(body, "请指明商户") {
			t.Fatalf("operations naming no merchant: %d, want 400 saying so", st)
		}
		if st, _, body := ops.do("GET", "/console/keys?merchant=m_nobody", nil); st != http.StatusNotFound || !strings.Contains(body, "没有编号为") {
			t.Fatalf("operations naming an unknown merchant: %d, want 404 saying so", st)
		}
		if keys, _ := e.Svc.MerchantService().Keys(ctx, b); len(keys) != 2 {
			t.Fatalf("B has %d keys after operations' refused requests, want 2", len(keys))
		}

		// B revokes its key: the API refuses it at once.
		st, loc, _ := shop.do("POST", "/console/keys/"+id+"/revoke", url.Values{"csrf": {token}})
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/keys?done=") {
			t.Fatalf("revoking: %d %s", st, loc)
		}
		if st := e.Call(secret, "GET", "/v1/payments", nil, nil); st != http.StatusUnauthorized {
			t.Fatalf("the revoked key against the API: %d, want 401", st)
		}
		if st, _, body := shop.do("GET", loc, nil); st != http.StatusOK || !strings.Contains(body, "data-revoked") || !strings.Contains(body, "已吊销密钥") {
			t.Fatalf("the list after revoking: %d", st)
		}
		checkAudit(t, e, "api_key:"+id, "shop-b@hutong.test", b, secret, "key.revoke", "key.create")

		// An administrator makes a key for the merchant it names.
		admin := newBrowser(t, e.URL)
		admin.login("admin@hutong.test")
		st, _, body = admin.do("POST", "/console/keys", url.Values{"csrf": {admin.csrf("/console/keys?merchant=" + a)}, "merchant": {a}})
		adminSecret := secretOn(body)
		if st != http.StatusOK || adminSecret == "" {
			t.Fatalf("an administrator creating A's key: %d", st)
		}
		aKeys, err = e.Svc.MerchantService().Keys(ctx, a)
		if err != nil || len(aKeys) != 2 {
			t.Fatalf("A's keys after the administrator's: %+v, %v", aKeys, err)
		}
		checkAudit(t, e, "api_key:"+aKeys[0].ID, "admin@hutong.test", a, adminSecret, "key.create")
		if st := e.Call(adminSecret, "GET", "/v1/payments", nil, nil); st != http.StatusOK {
			t.Fatalf("the administrator's key for A: %d, want 200", st)
		}
	})
}

// TestPortalWebhooks: a merchant's endpoint at a private address is
// refused with the reason and not stored; a public one is added, its
// secret shown once and kept out of the audit log; another merchant's
// endpoint cannot be deleted; operations may not add one; the merchant's
// events are listed with a link to the payment each is about.
func TestPortalWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		a, b := e.Merchants[0].ID, e.Merchants[1].ID
		// The test gateway delivers to loopback receivers; the portal's
		// address policy is that of a real one.
		hooks := e.Svc.WebhookService()
		hooks.AllowPrivate = false

		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		token := shop.csrf("/console/webhooks")
		st, _, body := shop.do("POST", "/console/webhooks", url.Values{"csrf": {token}, "url": {"http://127.0.0.1:8080/hooks"}})
		if st != http.StatusUnprocessableEntity || !strings.Contains(body, "loopback address (127.0.0.1)") || !strings.Contains(body, "不能接收") {
			t.Fatalf("a loopback endpoint: %d, want 422 with the reason", st)
		}
		if eps, err := hooks.ListEndpoints(ctx, b); err != nil || len(eps) != 0 {
			t.Fatalf("endpoints after a refused one: %+v, %v", eps, err)
		}

		const public = "https://shop.example.com/hooks"
		st, _, body = shop.do("POST", "/console/webhooks", url.Values{"csrf": {token}, "url": {public}})
		secret := secretOn(body)
		if st != http.StatusOK || !strings.HasPrefix(secret, "whsec_") || !strings.Contains(body, "唯一一次显示") {
			t.Fatalf("a public endpoint: %d, secret %q", st, secret)
		}
		eps, err := hooks.ListEndpoints(ctx, b)
		if err != nil || len(eps) != 1 || eps[0].URL != public {
			t.Fatalf("B's endpoints: %+v, %v", eps, err)
		}
		ep := eps[0].ID
		if st, _, body := shop.do("GET", "/console/webhooks", nil); st != http.StatusOK || !strings.Contains(body, `data-endpoint="`+ep+`"`) || !strings.Contains(body, public) || secretOn(body) != "" {
			t.Fatalf("the endpoint list: %d", st)
		}

		// A's endpoint is not B's to delete; operations may not add one.
		aEp, err := hooks.CreateEndpoint(ctx, a, "https://county.example.com/hooks")
		if err != nil {
			t.Fatal(err)
		}
		if st, _, _ := shop.do("POST", "/console/webhooks/"+aEp.ID+"/delete", url.Values{"csrf": {token}}); st != http.StatusNotFound {
			t.Fatalf("B deleting A's endpoint: %d, want 404", st)
		}
		if eps, err := hooks.ListEndpoints(ctx, a); err != nil || len(eps) != 1 {
			t.Fatalf("A's endpoints after B's attempt: %+v, %v", eps, err)
		}
		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		if st, _, body := ops.do("GET", "/console/webhooks?merchant="+b, nil); st != http.StatusOK || !strings.Contains(body, public) || strings.Contains(body, "data-add-endpoint") {
			t.Fatalf("operations reading B's endpoints: %d", st)
		}
		if st, _, _ := ops.do("POST", "/console/webhooks", url.Values{"csrf": {ops.csrf("/console/webhooks?merchant=" + b)}, "merchant": {b}, "url": {"https://ops.example.com/"}}); st != http.StatusForbidden {
			t.Fatalf("operations adding an endpoint: %d, want 403", st)
		}

		// B deletes its endpoint (before any event, so nothing is
		// delivered out of the test).
		st, loc, _ := shop.do("POST", "/console/webhooks/"+ep+"/delete", url.Values{"csrf": {token}})
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/webhooks?done=") {
			t.Fatalf("deleting: %d %s", st, loc)
		}
		if eps, err := hooks.ListEndpoints(ctx, b); err != nil || len(eps) != 0 {
			t.Fatalf("B's endpoints after deleting: %+v, %v", eps, err)
		}
		checkAudit(t, e, "webhook_endpoint:"+ep, "shop-b@hutong.test", b, secret, "webhook_endpoint.delete", "webhook_endpoint.create")
		if log := auditOf(t, e, "webhook_endpoint:"+aEp.ID); len(log) != 0 {
			t.Fatalf("B's refused deletion audited: %+v", log)
		}

		// The merchant's events, each linked to its payment.
		p := e.Paid(1, "portal-hooks", 8800)
		st, _, body = shop.do("GET", "/console/webhooks", nil)
		if st != http.StatusOK || !strings.Contains(body, "payment.succeeded") || !strings.Contains(body, `href="/console/payments/`+p.ID+`" data-event-payment`) {
			t.Fatalf("B's events: %d, payment linked: %v", st, strings.Contains(body, p.ID))
		}
		if _, _, body := ops.do("GET", "/console/webhooks?merchant="+a, nil); strings.Contains(body, p.ID) {
			t.Fatal("A's events list B's payment")
		}
	})
}

// TestPortalStatement: a payment released to the merchant is on its
// statement, as a page and as CSV (the amount in fen, a number); a date
// that is not one is refused; the merchant sees its own statement only,
// whatever merchant the address names.
func TestPortalStatement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		p := e.Paid(1, "portal-statement", 8800)
		released, err := e.Svc.MoneyService().ConfirmReceipt(ctx, p.MerchantID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		// The payable is credited with the payment less commission and fee.
		net := released.Amount - released.Commission - released.Fee
		if net <= 0 || net >= 8800 {
			t.Fatalf("released %+v: net %d", released, net)
		}
		netYuan := fmt.Sprintf("¥%d.%02d", net/100, net%100)
		today := chinatime.Date(time.Now())
		period := "from=" + today + "&to=" + today

		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		// The merchant named in the address is not the merchant role's to choose.
		for _, path := range []string{"/console/statement?" + period, "/console/statement?merchant=" + e.Merchants[0].ID + "&" + period} {
			st, _, body := shop.do("GET", path, nil)
			if st != http.StatusOK || !strings.Contains(body, p.ID) || !strings.Contains(body, netYuan) || !strings.Contains(body, e.Merchants[1].Name) {
				t.Fatalf("GET %s: %d, lists the payment: %v, its amount %s: %v", path, st, strings.Contains(body, p.ID), netYuan, strings.Contains(body, netYuan))
			}
		}
		if st, _, body := shop.do("GET", "/console/statement", nil); st != http.StatusOK || !strings.Contains(body, p.ID) {
			t.Fatalf("the statement of this month so far: %d, lists the payment: %v", st, strings.Contains(body, p.ID))
		}

		st, h, body := shop.portalGet("/console/statement.csv?" + period)
		if st != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
			t.Fatalf("the CSV: %d %s %s", st, h.Get("Content-Type"), h.Get("Content-Disposition"))
		}
		if !strings.HasPrefix(body, "\ufeff") || !strings.Contains(body, ","+p.ID+",") || !strings.Contains(body, ","+strconv.FormatInt(net, 10)+",") {
			t.Fatalf("the CSV lacks the payment or its amount %d in fen:\n%s", net, body)
		}

		for _, bad := range []string{"from=2024-13-01&to=2024-09-30", "from=2024-09-30&to=2024-09-01", "from=2020-01-01&to=2024-09-30"} {
			if st, _, _ := shop.do("GET", "/console/statement?"+bad, nil); st != http.StatusBadRequest {
				t.Errorf("statement?%s: %d, want 400", bad, st)
			}
			if st, _, _ := shop.do("GET", "/console/statement.csv?"+bad, nil); st != http.StatusBadRequest {
				t.Errorf("statement.csv?%s: %d, want 400", bad, st)
			}
		}

		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		if st, _, body := ops.do("GET", "/console/statement?merchant="+e.Merchants[1].ID+"&"+period, nil); st != http.StatusOK || !strings.Contains(body, p.ID) {
			t.Fatalf("operations reading B's statement: %d", st)
		}
		if st, _, body := ops.do("GET", "/console/statement?merchant="+e.Merchants[0].ID+"&"+period, nil); st != http.StatusOK || strings.Contains(body, p.ID) {
			t.Fatalf("A's statement: %d, lists B's payment: %v", st, strings.Contains(body, p.ID))
		}
		if st, _, _ := ops.do("GET", "/console/statement.csv?"+period, nil); st != http.StatusBadRequest {
			t.Fatalf("operations' CSV naming no merchant: %d, want 400", st)
		}
	})
}
