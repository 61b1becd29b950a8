package console_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/console"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// access is who may use each route of the console, written down apart
// from the code so that a change to either shows here: A admin, O
// operations, F finance, S support, M merchant (its own merchant only).
var access = map[string]string{
	"POST /console/logout":                         "AOFSM",
	"POST /console/logout-everywhere":              "AOFSM",
	"GET /console/{$}":                             "AOFSM",
	"GET /console/payments":                        "AOFSM",
	"GET /console/payments/{id}":                   "AOFSM",
	"POST /console/payments/{id}/refund":           "AFSM", // operations ramp wallets; they do not move money
	"POST /console/payments/{id}/query":            "AOFSM",
	"POST /console/events/{id}/resend":             "AOFSM",
	"GET /console/audit":                           "AOFSM",
	"GET /console/analytics":                       "AOFSM",
	"GET /console/analytics.csv":                   "AOFSM",
	"GET /console/merchants":                       "AOFS",
	"POST /console/merchants/{id}/invite":          "AO",
	"POST /console/contracts/{id}/{action}":        "AO",
	"GET /console/campaigns":                       "AOFS",
	"GET /console/campaigns/{id}":                  "AOFS",
	"POST /console/campaigns/{id}/remind":          "AO",
	"GET /console/money":                           "AOFSM",
	"POST /console/money/settle":                   "AF",
	"GET /console/recon":                           "AOFS",
	"GET /console/recon/{id}":                      "AOFS",
	"POST /console/recon/{id}/items/{seq}/resolve": "AF",
	"GET /console/keys":                            "AOFSM",
	"POST /console/keys":                           "AM",
	"POST /console/keys/{id}/revoke":               "AM",
	"GET /console/webhooks":                        "AOFSM",
	"POST /console/webhooks":                       "AM",
	"POST /console/webhooks/{id}/delete":           "AM",
	"GET /console/statement":                       "AOFSM",
	"GET /console/statement.csv":                   "AOFSM",
	"GET /console/test-payments":                   "AOM", // finance and support do not start payments
	"POST /console/test-payments":                  "AOM",
	"GET /console/test-payments/{id}":              "AOM",
	"POST /console/test-payments/{id}/sandbox-pay": "AOM",
	"GET /console/rollout":                         "AOFS",
	"GET /console/rollout/explain":                 "AOFS",
	"GET /console/rollout/{method}":                "AOFS",
	"POST /console/rollout/{method}/preview":       "AO", // finance cannot change a rollout
	"POST /console/rollout/{method}/save":          "AO",
	"POST /console/rollout/{method}/kill":          "AO",
	"POST /console/rollout/{method}/unkill":        "AO",
	"POST /console/rollout/{method}/revert":        "AO",
	"GET /console/jobs":                            "AOFS",
	"POST /console/jobs/{id}/retry":                "AO",
	"GET /console/feedback":                        "AOFSM",
}

var roleLetters = map[accounts.Role]string{accounts.RoleAdmin: "A", accounts.RoleOperations: "O", accounts.RoleFinance: "F",
	accounts.RoleSupport: "S", accounts.RoleMerchant: "M"}

// TestEveryRouteAndRole crosses every route of the console with every
// role, on a database with no payments: a role the table above does not
// name is refused (403) and nothing it asked for happens; a role it names
// is let through to the page (which may still say the object is missing,
// or ask for a field). A route missing from the table fails the test, and
// so does a page a permitted role cannot open on an empty database.
func TestEveryRouteAndRole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		for _, u := range []accounts.AddUserParams{
			{Email: "admin@hutong.test", Name: "管理员", Role: accounts.RoleAdmin, Password: password},
			{Email: "finance@hutong.test", Name: "财务", Role: accounts.RoleFinance, Password: password},
		} {
			if _, err := e.Accounts.AddUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		people := map[accounts.Role]*browser{}
		for role, email := range map[accounts.Role]string{accounts.RoleAdmin: "admin@hutong.test", accounts.RoleOperations: "ops@hutong.test",
			accounts.RoleFinance: "finance@hutong.test", accounts.RoleSupport: "support@hutong.test", accounts.RoleMerchant: "shop-b@hutong.test"} {
			b := newBrowser(t, e.URL)
			b.login(email)
			people[role] = b
		}
		routes := console.New(console.Config{Gateway: e.Svc, Accounts: e.Accounts}).Routes()
		seen := map[string]bool{}
		for _, rt := range routes {
			seen[rt.Pattern] = true
			want, ok := access[rt.Pattern]
			if !ok {
				t.Errorf("%s is not in the access table: say who may use it", rt.Pattern)
				continue
			}
			method, path, _ := strings.Cut(rt.Pattern, " ")
			path = strings.NewReplacer("{$}", "", "{id}", "none", "{action}", "suspend", "{seq}", "1", "{method}", "wechatpay.native").Replace(path)
			for role, b := range people {
				if rt.Pattern == "POST /console/logout" || rt.Pattern == "POST /console/logout-everywhere" {
					continue // ends the session the rest of the test uses; TestSignInAndSessions covers them
				}
				var form url.Values
				if method == http.MethodPost {
					form = url.Values{"csrf": {b.csrf("/console/payments")}}
				}
				target := path
				if method == http.MethodGet && role != accounts.RoleMerchant && slices.Contains([]string{"/console/keys", "/console/webhooks", "/console/statement", "/console/statement.csv", "/console/test-payments"}, path) {
					target += "?merchant=" + e.Merchants[0].ID // a platform role names the merchant
				}
				if path == "/console/analytics.csv" {
					target += "?report=share"
				}
				st, _, body := b.do(method, target, form)
				allowed := strings.Contains(want, roleLetters[role])
				switch {
				case !allowed && st != http.StatusForbidden:
					t.Errorf("%s as %s: %d, want 403", rt.Pattern, role, st)
				case allowed && st == http.StatusForbidden && !strings.Contains(body, "防伪"):
					t.Errorf("%s as %s: refused, but the role may use it", rt.Pattern, role)
				case allowed && method == http.MethodGet && !strings.Contains(path, "none") && st >= 500:
					t.Errorf("%s as %s on an empty database: %d", rt.Pattern, role, st)
				case allowed && method == http.MethodGet && !strings.Contains(path, "none") && !strings.Contains(rt.Pattern, "{") &&
					st != http.StatusOK && st != http.StatusSeeOther:
					t.Errorf("%s as %s on an empty database: %d, want the page", rt.Pattern, role, st)
				}
			}
		}
		for p := range access {
			if !seen[p] {
				t.Errorf("the access table names %s, which the console does not serve", p)
			}
		}
	})
}

// TestSupportRefundLimit: support refunds a complaint up to its limit;
// above it the refund is refused and nothing is refunded, and finance
// refunds the larger sum.
func TestSupportRefundLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		if _, err := e.Accounts.AddUser(context.Background(), accounts.AddUserParams{Email: "finance@hutong.test", Name: "财务",
			Role: accounts.RoleFinance, Password: password}); err != nil {
			t.Fatal(err)
		}
		p := e.Paid(0, "big-order", 80000)
		sup := newBrowser(t, e.URL)
		sup.login("support@hutong.test")
		path := "/console/payments/" + p.ID
		if st, _, body := sup.do("POST", path+"/refund", url.Values{"csrf": {sup.csrf(path)}, "amount": {"500.01"}, "kind": {"refund_only"}}); st != http.StatusForbidden || !strings.Contains(body, "¥500.00") {
			t.Fatalf("support refunding ¥500.01: %d, want 403 naming the limit", st)
		}
		if list, err := e.Svc.RefundService().List(context.Background(), e.Merchants[0].ID, p.ID, "", 10); err != nil || len(list) != 0 {
			t.Fatalf("a refused refund left %d refunds (%v)", len(list), err)
		}
		if st, _, _ := sup.do("POST", path+"/refund", url.Values{"csrf": {sup.csrf(path)}, "amount": {"500.00"}, "kind": {"refund_only"}}); st != http.StatusSeeOther {
			t.Fatalf("support refunding ¥500.00: %d", st)
		}
		fin := newBrowser(t, e.URL)
		fin.login("finance@hutong.test")
		if st, _, _ := fin.do("POST", path+"/refund", url.Values{"csrf": {fin.csrf(path)}, "amount": {"300.00"}, "kind": {"refund_only"}}); st != http.StatusSeeOther {
			t.Fatalf("finance refunding ¥300.00: %d", st)
		}
	})
}
