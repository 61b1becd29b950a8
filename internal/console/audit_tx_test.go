package console_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// breakAuditLog makes every write to the audit log fail (its table is
// moved away) until the returned function puts it back.
func breakAuditLog(t *testing.T, db *store.DB) (restore func()) {
	t.Helper()
	rename := func(from, to string) {
		t.Helper()
		if err := db.Tx(context.Background(), func(tx *sql.Tx) error {
			_, err := tx.ExecContext(context.Background(), "ALTER TABLE "+from+" RENAME TO "+to)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	rename("audit_log", "audit_log_away")
	return func() { rename("audit_log_away", "audit_log") }
}

// TestAuditCommitsWithTheChange: a console action and its audit record
// are one transaction. With the audit log failing, every action below is
// refused and changes nothing: a key is neither made nor revoked (the old
// one keeps working), no endpoint is added, no refund reserved, no test
// payment stored, and the sandbox is not asked to pay (its request could
// not be recorded first). With the log back, the same actions are done,
// each recorded exactly once.
func TestAuditCommitsWithTheChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		b := e.Merchants[1].ID
		paid := e.Paid(1, "audited-refund", 5000)
		waiting := makeTestPayment(t, e, "shop-b@hutong.test", "", false)

		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test") // signing in is audited too: before the log breaks
		token := shop.csrf("/console/keys")
		keys, err := e.Svc.MerchantService().Keys(ctx, b)
		if err != nil || len(keys) != 1 {
			t.Fatalf("B's keys: %+v, %v", keys, err)
		}
		oldKey := keys[0].ID
		refund := url.Values{"csrf": {token}, "amount": {"10.00"}, "kind": {"refund_only"}}
		endpoint := url.Values{"csrf": {token}, "url": {"https://shop.example.com/hooks"}}
		newTestPayment := shop.testPaymentForm("/console/test-payments", "wechatpay.native", "0.02", nil)
		lastBefore := auditOf(t, e, "")[0].ID

		restore := breakAuditLog(t, db)
		for _, c := range []struct {
			what, path string
			form       url.Values
		}{
			{"creating a key", "/console/keys", url.Values{"csrf": {token}}},
			{"revoking a key", "/console/keys/" + oldKey + "/revoke", url.Values{"csrf": {token}}},
			{"adding an endpoint", "/console/webhooks", endpoint},
			{"refunding", "/console/payments/" + paid.ID + "/refund", refund},
			{"making a test payment", "/console/test-payments", newTestPayment},
			{"paying a test payment in the sandbox", "/console/test-payments/" + waiting + "/sandbox-pay", url.Values{"csrf": {token}}},
		} {
			if st, _, _ := shop.do("POST", c.path, c.form); st != http.StatusInternalServerError {
				t.Errorf("%s while the audit log fails: %d, want 500", c.what, st)
			}
		}
		if keys, err := e.Svc.MerchantService().Keys(ctx, b); err != nil || len(keys) != 1 || keys[0].Revoked() {
			t.Errorf("B's keys after unaudited requests: %+v, %v", keys, err)
		}
		if st := e.Call(e.Keys[1], "GET", "/v1/payments", nil, nil); st != http.StatusOK {
			t.Errorf("B's key after an unaudited revocation: %d, want 200", st)
		}
		if eps, err := e.Svc.WebhookService().ListEndpoints(ctx, b); err != nil || len(eps) != 0 {
			t.Errorf("B's endpoints after an unaudited add: %+v, %v", eps, err)
		}
		if list, err := e.Svc.RefundService().List(ctx, b, paid.ID, "", 10); err != nil || len(list) != 0 {
			t.Errorf("refunds after an unaudited refund: %+v, %v", list, err)
		}
		if p, err := e.Svc.PaymentService().GetPayment(ctx, b, paid.ID); err != nil || p.Refunded != 0 {
			t.Errorf("the payment after an unaudited refund: refunded %d, %v", p.Refunded, err)
		}
		if n := len(testPaymentsOf(t, db, b)); n != 1 {
			t.Errorf("%d test payments after an unaudited one, want the 1 made before", n)
		}
		time.Sleep(300 * time.Millisecond) // a payment the sandbox paid would be reported by now
		if got := e.Status(1, waiting); got != payment.StatusRequiresAction {
			t.Errorf("the test payment after an unaudited sandbox payment: %s, want still waiting", got)
		}

		restore()
		if last := auditOf(t, e, "")[0]; last.ID != lastBefore {
			t.Fatalf("a refused action left an audit entry: %+v", last)
		}
		for _, c := range []struct {
			what, path string
			form       url.Values
			action     string
		}{
			{"creating a key", "/console/keys", url.Values{"csrf": {token}}, "key.create"},
			{"revoking a key", "/console/keys/" + oldKey + "/revoke", url.Values{"csrf": {token}}, "key.revoke"},
			{"adding an endpoint", "/console/webhooks", endpoint, "webhook_endpoint.create"},
			{"refunding", "/console/payments/" + paid.ID + "/refund", refund, "payment.refund"},
			{"making a test payment", "/console/test-payments", newTestPayment, "test_payment.create"},
		} {
			if st, _, body := shop.do("POST", c.path, c.form); st != http.StatusOK && st != http.StatusSeeOther {
				t.Errorf("%s with the audit log back: %d %s", c.what, st, body)
			}
			var n int
			for _, a := range auditOf(t, e, "") {
				if a.ID > lastBefore && a.Action == c.action {
					n++
					if a.ActorEmail != "shop-b@hutong.test" || a.MerchantID != b || !strings.Contains(a.Object, ":") || len(a.After) == 0 && c.action != "key.revoke" {
						t.Errorf("%s recorded as %+v", c.what, a)
					}
				}
			}
			if n != 1 {
				t.Errorf("%s recorded %d times, want once", c.what, n)
			}
		}
		if keys, err := e.Svc.MerchantService().Keys(ctx, b); err != nil || len(keys) != 2 {
			t.Errorf("B's keys after the audited requests: %+v, %v", keys, err)
		}
		if list, err := e.Svc.RefundService().List(ctx, b, paid.ID, "", 10); err != nil || len(list) != 1 {
			t.Errorf("refunds after the audited refund: %+v, %v", list, err)
		}
	})
}
