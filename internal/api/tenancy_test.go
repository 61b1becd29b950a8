package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/api"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sharecode"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestTenancy crosses every route of the API with another merchant's ids.
// Merchant A holds one of every object; merchant B (its own key, its own key
// naming A in Hutong-Merchant, and a platform key naming B) then calls every
// route with A's ids: a read of A's object answers exactly as a read of an
// id that does not exist (same status, byte-identical body); a write is
// refused the same way and A's objects read back unchanged; a cursor naming
// A's object answers as a made-up one; a filter naming A's ids returns none
// of A's objects. No answer to B contains any of A's ids. A route of
// api.Routes that the table below does not cross fails the test.
func TestTenancy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		a := setUpVictim(t, e, db)
		for _, as := range []struct {
			name, key, merchant string
			platform            bool
		}{
			{"merchant key", e.Keys[1], "", false},
			{"merchant key naming the other merchant", e.Keys[1], e.Merchants[0].ID, false},
			{"platform key naming the merchant", e.Platform, e.Merchants[1].ID, true},
		} {
			t.Run(as.name, func(t *testing.T) {
				x := &crosser{t: t, url: e.URL, a: a, key: as.key, merchant: as.merchant, platform: as.platform, variant: strings.ReplaceAll(as.name, " ", "-")}
				crossEveryRoute(t, x)
			})
		}
	})
}

// victim is merchant A and one of each of its objects.
type victim struct {
	t        *testing.T
	url      string
	db       *store.DB
	merchant string
	key      string
	// Objects, by id.
	unpaid, paid, refund    string
	orderID, idempotencyKey string
	shareCode, shareText    string
	pfm, pfmCode, pfmText   string
	endpoint, event, entry  string
	contract, feedback      string
	buyer                   string // exposed at A's checkout, in a county
	// ids are every id of A's; no answer to B may contain one.
	ids []string
	// viewPaths are read as A and countArgs counted in the store before
	// and after every write B tries; views holds the first reading.
	viewPaths []string
	countArgs map[string][]any
	views     map[string][]byte
}

// answer is an HTTP answer.
type answer struct {
	status int
	body   []byte
	header http.Header
}

// send makes an API request; merchant, if not "", is sent in
// Hutong-Merchant; headers are name, value pairs.
func send(t *testing.T, base, key, merchant, method, path, body string, headers ...string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if merchant != "" {
		req.Header.Set("Hutong-Merchant", merchant)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return answer{res.StatusCode, raw, res.Header}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setUpVictim gives merchant A one of every object, as A (or the platform,
// for what only the platform makes), and records A's view of each.
func setUpVictim(t *testing.T, e *gatewaytest.Env, db *store.DB) *victim {
	t.Helper()
	a := &victim{t: t, url: e.URL, db: db, merchant: e.Merchants[0].ID, key: e.Keys[0], orderID: "tenancy-a-unpaid", idempotencyKey: "tenancy-a-key", buyer: "tenancy-a-buyer"}
	ctx := context.Background()
	as := func(method, path, body string, want int, out any, headers ...string) {
		t.Helper()
		ans := send(t, e.URL, a.key, "", method, path, body, headers...)
		if ans.status != want {
			t.Fatalf("setting up A: %s %s: %d, want %d: %s", method, path, ans.status, want, ans.body)
		}
		if out != nil {
			if err := json.Unmarshal(ans.body, out); err != nil {
				t.Fatalf("setting up A: %s %s: %v: %s", method, path, err, ans.body)
			}
		}
	}
	newPay := func(order, method string) string {
		return mustJSON(t, map[string]any{"merchant_order_id": order, "amount": 1200, "currency": "CNY", "description": "租户测试 · 大米",
			"method": method, "buyer": map[string]string{"id": a.buyer, "region_code": "330782", "platform": "ios"}})
	}
	var p struct {
		ID         string
		NextAction struct {
			QRCode string `json:"qr_code"`
		} `json:"next_action"`
	}
	as("POST", "/v1/payments", newPay(a.orderID, "wechatpay.native"), 201, &p, "Idempotency-Key", a.idempotencyKey)
	a.unpaid = p.ID
	as("POST", "/v1/payments", newPay("tenancy-a-paid", "wechatpay.native"), 201, &p)
	a.paid = p.ID
	if st := e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": p.NextAction.QRCode}, nil); st != 200 {
		t.Fatalf("paying A's payment at the sandbox: %d", st)
	}
	e.Eventually("A's payment is paid", func() bool { return e.Status(0, a.paid) == payment.StatusSucceeded })
	var rf struct{ ID, Status string }
	as("POST", "/v1/payments/"+a.paid+"/refunds", `{"amount":300,"kind":"return_and_refund"}`, 201, &rf)
	a.refund = rf.ID
	var sc struct{ ID, Text string }
	as("POST", "/v1/share_codes", mustJSON(t, map[string]string{"target": "payment", "target_id": a.unpaid, "source": "wechat_group"}), 201, &sc)
	a.shareCode, a.shareText = sc.ID, sc.Text
	var pfm struct {
		ID        string
		ShareCode struct{ ID, Text string } `json:"share_code"`
	}
	as("POST", "/v1/payments/"+a.unpaid+"/pay_for_me", "", 201, &pfm)
	a.pfm, a.pfmCode, a.pfmText = pfm.ID, pfm.ShareCode.ID, pfm.ShareCode.Text
	var ct struct{ ID string }
	if ans := send(t, e.URL, e.Platform, "", "POST", "/v1/contracts", mustJSON(t, map[string]string{"merchant_id": a.merchant, "channel": "wechatpay"})); ans.status != 201 {
		t.Fatalf("inviting A: %d %s", ans.status, ans.body)
	} else if err := json.Unmarshal(ans.body, &ct); err != nil {
		t.Fatal(err)
	}
	a.contract = ct.ID
	// A's buyer is exposed at A's checkout, in a county: the cohort and
	// tier are A's to know.
	as("GET", "/v1/methods?buyer_id="+a.buyer+"&region_code=330782&platform=ios", "", 200, nil)
	if err := e.Svc.RolloutService().FlushExposures(ctx); err != nil {
		t.Fatal(err)
	}
	var fb struct{ ID, Tier string }
	as("POST", "/v1/feedback", mustJSON(t, map[string]any{"buyer_id": a.buyer, "method": "wechatpay.native", "rating": 5, "text": "好用"}), 201, &fb)
	a.feedback = fb.ID
	if fb.Tier == "" {
		t.Fatal("A's own feedback has no tier: the exposure check below could not fail")
	}
	var events struct{ Data []struct{ ID string } }
	as("GET", "/v1/events", "", 200, &events)
	if len(events.Data) == 0 {
		t.Fatal("A has no events")
	}
	a.event = events.Data[0].ID
	var entries struct{ Data []struct{ ID string } }
	as("GET", "/v1/ledger/entries", "", 200, &entries)
	if len(entries.Data) == 0 {
		t.Fatal("A has no ledger entries")
	}
	a.entry = entries.Data[len(entries.Data)-1].ID
	// The endpoint comes last, so that no delivery of A's events is
	// attempted.
	var ep struct{ ID string }
	as("POST", "/v1/webhook_endpoints", `{"url":"https://hooks.example.com/tenancy"}`, 201, &ep)
	a.endpoint = ep.ID
	// B has objects of its own, so that its lists are not trivially empty.
	if ans := send(t, e.URL, e.Keys[1], "", "POST", "/v1/payments", newPay("tenancy-b-own", "cashier")); ans.status != 201 {
		t.Fatalf("B's own payment: %d %s", ans.status, ans.body)
	}

	a.ids = []string{a.merchant, a.unpaid, a.paid, a.refund, a.shareCode, token(a.shareText), a.pfm, a.pfmCode, token(a.pfmText),
		a.endpoint, a.contract, a.feedback}
	for _, ev := range events.Data {
		a.ids = append(a.ids, ev.ID)
	}
	for _, en := range entries.Data {
		a.ids = append(a.ids, en.ID)
	}
	for _, id := range a.ids {
		if id == "" {
			t.Fatalf("an object of A has no id: %q", a.ids)
		}
	}
	// The polls of A's unpaid payment (0.3 s and 1 s after creation) are
	// done before A's view is taken.
	e.Eventually("A's payment polls ran", func() bool {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state IN ('available', 'running')`, "payment.poll").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	a.viewPaths = []string{"/v1/payments/" + a.unpaid, "/v1/payments/" + a.paid, "/v1/payments", "/v1/payments/" + a.unpaid + "/attempts",
		"/v1/refunds/" + a.refund, "/v1/share_codes/" + a.shareCode, "/v1/share_codes/" + a.pfmCode, "/v1/share_codes/stats?by=code",
		"/v1/pay_for_me/" + a.pfm, "/v1/webhook_endpoints", "/v1/events", "/v1/contracts/" + a.contract, "/v1/contracts/" + a.contract + "/transitions",
		"/v1/feedback", "/v1/ledger/entries", "/v1/balances"}
	// What B might attach to A's objects, counted in the store.
	a.countArgs = map[string][]any{
		`SELECT COUNT(*) FROM payments WHERE share_code = $1`:                                  {a.shareCode},
		`SELECT COUNT(*) FROM pay_for_me WHERE payment_id = $1`:                                {a.unpaid},
		`SELECT COUNT(*) FROM refunds WHERE payment_id = $1`:                                   {a.paid},
		`SELECT COUNT(*) FROM share_codes WHERE target_id IN ($1, $2, $3)`:                     {a.unpaid, a.pfm, a.merchant},
		`SELECT COUNT(*) FROM feedback WHERE payment_id = $1 OR merchant_id = $2`:              {a.paid, a.merchant},
		`SELECT COUNT(*) FROM contracts WHERE merchant_id = $1`:                                {a.merchant},
		`SELECT COUNT(*) FROM jobs WHERE kind = 'webhook.deliver'`:                             {},
		`SELECT COUNT(*) FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL`: {a.merchant},
	}
	a.views = a.read()
	return a
}

// token is the share code token inside a wrapped text.
func token(text string) string {
	tok, err := sharecode.Find(text)
	if err != nil {
		return ""
	}
	return tok.String()
}

// read is A's view of its objects, and the counts of what hangs on them.
func (a *victim) read() map[string][]byte {
	a.t.Helper()
	out := map[string][]byte{}
	for _, path := range a.viewPaths {
		ans := send(a.t, a.url, a.key, "", "GET", path, "")
		if ans.status != 200 {
			a.t.Fatalf("A reading %s: %d %s", path, ans.status, ans.body)
		}
		out["GET "+path] = ans.body
	}
	for q, args := range a.countArgs {
		var n int
		if err := a.db.QueryRow(q, args...).Scan(&n); err != nil {
			a.t.Fatalf("%s: %v", q, err)
		}
		out[q] = []byte(mustJSON(a.t, n))
	}
	var m struct {
		Name, Category, RegionCode, Size string
		Commission                       int
	}
	if err := a.db.QueryRow(`SELECT name, category, region_code, size, commission_bps FROM merchants WHERE id = $1`, a.merchant).
		Scan(&m.Name, &m.Category, &m.RegionCode, &m.Size, &m.Commission); err != nil {
		a.t.Fatal(err)
	}
	out["merchant A"] = []byte(mustJSON(a.t, m))
	return out
}

// crosser is merchant B calling with A's ids.
type crosser struct {
	t        *testing.T
	url      string
	a        *victim
	key      string
	merchant string // Hutong-Merchant sent
	platform bool
	variant  string
}

// do calls as B and checks that the answer names none of A's objects,
// but for an id B sent itself: an error may echo the id it was asked for
// ("no payment pay_… for this merchant"), which tells B nothing; that it
// is answered as a made-up id would be is what same checks.
func (x *crosser) do(method, path, body string, headers ...string) answer {
	x.t.Helper()
	ans := send(x.t, x.url, x.key, x.merchant, method, path, body, headers...)
	for _, id := range x.a.ids {
		if strings.Contains(path+body, id) && ans.status >= 400 {
			continue
		}
		if bytes.Contains(ans.body, []byte(id)) {
			x.t.Errorf("%s %s (body %.120s) answered with A's %s: %d %.300s", method, path, body, id, ans.status, ans.body)
		}
	}
	return ans
}

// ok calls as B and expects a 200.
func (x *crosser) ok(method, path string) {
	x.t.Helper()
	if ans := x.do(method, path, ""); ans.status != http.StatusOK {
		x.t.Errorf("%s %s: %d %s", method, path, ans.status, ans.body)
	}
}

// madeUp is an id of the same kind as id that names nothing.
func madeUp(id string) string {
	if i := strings.LastIndex(id, "_"); i > 0 {
		return payment.NewID(id[:i])
	}
	return payment.NewID("x")
}

// same calls as B once with A's id and once with a made-up id of the same
// kind, put for {x} in the path and body, and checks that both answer want
// with identical bodies, each id it echoes read as {x}: A's object is, to
// B, no object at all.
func (x *crosser) same(method, path, body, foreign string, want int) {
	x.t.Helper()
	x.sameAs(method, path, body, foreign, madeUp(foreign), want)
}

func (x *crosser) sameAs(method, path, body, foreign, missing string, want int) {
	x.t.Helper()
	f := x.do(method, strings.ReplaceAll(path, "{x}", foreign), strings.ReplaceAll(body, "{x}", foreign))
	m := x.do(method, strings.ReplaceAll(path, "{x}", missing), strings.ReplaceAll(body, "{x}", missing))
	fb := bytes.ReplaceAll(f.body, []byte(foreign), []byte("{x}"))
	mb := bytes.ReplaceAll(m.body, []byte(missing), []byte("{x}"))
	if f.status != want || m.status != want || !bytes.Equal(fb, mb) {
		x.t.Errorf("%s %s %s: A's id answers %d %s; a made-up id answers %d %s; want both %d, the same", method, path, body, f.status, f.body, m.status, m.body, want)
	}
}

// unchanged checks that A's objects read back as they were.
func (x *crosser) unchanged(after string) {
	x.t.Helper()
	now := x.a.read()
	for k, before := range x.a.views {
		if !bytes.Equal(before, now[k]) {
			x.t.Errorf("after %s, A's %s changed:\nbefore %s\nafter  %s", after, k, before, now[k])
		}
	}
	x.a.views = now // a change is reported once, at the route that made it

}

// operator crosses a route only a platform key may call: it acts for the
// platform, not for a merchant, so a merchant key is refused (403) whatever
// ids it names, and changes nothing; a platform key may call it for any
// merchant (the operator's side), which is not crossed here.
func (x *crosser) operator(route, path, body, foreign string) {
	x.t.Helper()
	if !api.PlatformOnly[route] {
		x.t.Errorf("%s is crossed as an operator route, but a merchant key may call it", route)
		return
	}
	if x.platform {
		return
	}
	method, _, _ := strings.Cut(route, " ")
	if foreign == "" {
		if ans := x.do(method, path, body); ans.status != http.StatusForbidden {
			x.t.Errorf("%s %s: %d, want 403: %s", method, path, ans.status, ans.body)
		}
	} else {
		x.same(method, path, body, foreign, http.StatusForbidden)
	}
	x.unchanged(route)
}

// noForeignID marks a route that takes no id of another object: it is
// still called where that is harmless, and its answer must name none of
// A's objects.
func (x *crosser) noForeignID(method, path string) {
	x.t.Helper()
	if path != "" {
		x.ok(method, path)
	}
}

func crossEveryRoute(t *testing.T, x *crosser) {
	a := x.a
	payBody := func(order, shareCode string) string {
		m := map[string]any{"merchant_order_id": order, "amount": 500, "currency": "CNY", "description": "跨租户", "method": "cashier",
			"buyer": map[string]string{"id": "tenancy-b-buyer"}}
		if shareCode != "" {
			m["share_code"] = shareCode
		}
		return mustJSON(t, m)
	}
	probes := map[string]func(){
		"POST /v1/payments": func() {
			// A sale credited to A's share code, or to the code of A's
			// pay-for-me request, is refused as one naming no code.
			x.same("POST", "/v1/payments", payBody("tenancy-sc-"+x.variant, "{x}"), a.shareCode, 404)
			x.same("POST", "/v1/payments", payBody("tenancy-pfm-"+x.variant, "{x}"), a.pfmCode, 404)
			// A's merchant_order_id and Idempotency-Key are A's: B's
			// request under them makes B's own payment.
			if ans := x.do("POST", "/v1/payments", payBody(a.orderID, ""), "Idempotency-Key", a.idempotencyKey); ans.status != 201 {
				t.Errorf("B's payment under A's order id and Idempotency-Key: %d %s", ans.status, ans.body)
			}
			x.unchanged("POST /v1/payments")
		},
		"GET /v1/payments": func() {
			x.same("GET", "/v1/payments?starting_after={x}", "", a.unpaid, 404)
			x.ok("GET", "/v1/payments?status=succeeded&limit=100")
			x.ok("GET", "/v1/payments?status=requires_action&limit=100")
		},
		"GET /v1/payments/{id}": func() {
			x.same("GET", "/v1/payments/{x}", "", a.unpaid, 404)
			x.same("GET", "/v1/payments/{x}", "", a.paid, 404)
		},
		"POST /v1/payments/{id}/cancel": func() {
			x.same("POST", "/v1/payments/{x}/cancel", "", a.unpaid, 404)
			x.unchanged("cancel")
		},
		"POST /v1/payments/{id}/refunds": func() {
			x.same("POST", "/v1/payments/{x}/refunds", `{"amount":1}`, a.paid, 404)
			x.same("POST", "/v1/payments/{x}/refunds", `{"amount":1,"kind":"return_and_refund"}`, a.paid, 404)
			x.unchanged("refunds")
		},
		"GET /v1/refunds/{id}": func() { x.same("GET", "/v1/refunds/{x}", "", a.refund, 404) },
		"GET /v1/methods":      func() { x.noForeignID("GET", "/v1/methods?buyer_id=tenancy-b-buyer&region_code=110105") },
		// Creating an endpoint names only a URL.
		"POST /v1/webhook_endpoints": func() { x.noForeignID("POST", "") },
		"GET /v1/webhook_endpoints":  func() { x.ok("GET", "/v1/webhook_endpoints") },
		"DELETE /v1/webhook_endpoints/{id}": func() {
			x.same("DELETE", "/v1/webhook_endpoints/{x}", "", a.endpoint, 404)
			x.unchanged("DELETE /v1/webhook_endpoints")
		},
		"GET /v1/events": func() {
			x.ok("GET", "/v1/events")
			x.same("GET", "/v1/events?starting_after={x}", "", a.event, 404)
		},
		"GET /v1/payments/{id}/refunds": func() {
			x.same("GET", "/v1/payments/{x}/refunds", "", a.paid, 404)
			x.same("GET", "/v1/payments/{x}/refunds", "", a.unpaid, 404)
		},
		"POST /v1/events/{id}/resend": func() {
			x.same("POST", "/v1/events/{x}/resend", "", a.event, 404)
			x.unchanged("resend")
		},
		"GET /v1/payments/{id}/attempts": func() {
			x.same("GET", "/v1/payments/{x}/attempts", "", a.unpaid, 404)
			x.same("GET", "/v1/payments/{x}/attempts", "", a.paid, 404)
		},
		"GET /v1/payments/{id}/wallet_mismatches": func() {
			x.same("GET", "/v1/payments/{x}/wallet_mismatches", "", a.unpaid, 404)
			x.same("GET", "/v1/payments/{x}/wallet_mismatches", "", a.paid, 404)
		},
		"POST /v1/payments/{id}/pay_for_me": func() {
			x.same("POST", "/v1/payments/{x}/pay_for_me", "", a.unpaid, 404)
			x.unchanged("pay_for_me")
		},
		"GET /v1/pay_for_me/{id}": func() { x.same("GET", "/v1/pay_for_me/{x}", "", a.pfm, 404) },
		"POST /v1/pay_for_me/{id}/revoke": func() {
			x.same("POST", "/v1/pay_for_me/{x}/revoke", "", a.pfm, 404)
			x.unchanged("pay_for_me revoke")
		},
		"POST /v1/share_codes": func() {
			x.same("POST", "/v1/share_codes", `{"target":"payment","target_id":"{x}","source":"wechat_group"}`, a.unpaid, 404)
			x.same("POST", "/v1/share_codes", `{"target":"pay_for_me","target_id":"{x}","source":"wechat_group"}`, a.pfm, 404)
			x.same("POST", "/v1/share_codes", `{"target":"store","target_id":"{x}","source":"wechat_group"}`, a.merchant, 400)
			x.unchanged("POST /v1/share_codes")
		},
		"POST /v1/share_codes/resolve": func() {
			for _, text := range []string{a.shareText, a.pfmText} {
				x.sameAs("POST", "/v1/share_codes/resolve", `{"text":"{x}"}`, text, sharecode.Wrap(sharecode.New()), 404)
			}
			x.unchanged("resolve")
		},
		"GET /v1/share_codes/stats": func() {
			x.ok("GET", "/v1/share_codes/stats?by=code")
			x.ok("GET", "/v1/share_codes/stats?by=source")
		},
		"GET /v1/share_codes/{id}": func() {
			x.same("GET", "/v1/share_codes/{x}", "", a.shareCode, 404)
			x.same("GET", "/v1/share_codes/{x}", "", a.pfmCode, 404)
		},
		"POST /v1/share_codes/{id}/revoke": func() {
			x.same("POST", "/v1/share_codes/{x}/revoke", "", a.shareCode, 404)
			x.unchanged("share code revoke")
		},
		"GET /v1/return_key": func() { x.noForeignID("GET", "/v1/return_key") },
		"POST /v1/merchants": func() { x.operator("POST /v1/merchants", "/v1/merchants", `{"name":"冒名"}`, "") },
		"POST /v1/merchants/{id}": func() {
			x.operator("POST /v1/merchants/{id}", "/v1/merchants/{x}", `{"category":"apparel","commission_bps":0}`, a.merchant)
		},
		"POST /v1/agreements": func() {
			x.operator("POST /v1/agreements", "/v1/agreements", `{"channel":"wechatpay","title":"t","body":"b"}`, "")
		},
		"GET /v1/agreements": func() { x.noForeignID("GET", "/v1/agreements") },
		"GET /v1/contracts": func() {
			x.ok("GET", "/v1/contracts?merchant_id="+a.merchant)
			x.ok("GET", "/v1/contracts?channel=wechatpay&state=invited")
		},
		"POST /v1/contracts": func() {
			x.operator("POST /v1/contracts", "/v1/contracts", `{"merchant_id":"{x}","channel":"alipay"}`, a.merchant)
		},
		"GET /v1/contracts/{id}":             func() { x.same("GET", "/v1/contracts/{x}", "", a.contract, 404) },
		"GET /v1/contracts/{id}/transitions": func() { x.same("GET", "/v1/contracts/{x}/transitions", "", a.contract, 404) },
		"POST /v1/contracts/{id}/submit": func() {
			x.operator("POST /v1/contracts/{id}/submit", "/v1/contracts/{x}/submit", "", a.contract)
		},
		"POST /v1/contracts/{id}/suspend": func() {
			x.operator("POST /v1/contracts/{id}/suspend", "/v1/contracts/{x}/suspend", `{"reason":"冒名"}`, a.contract)
		},
		"POST /v1/contracts/{id}/resume": func() {
			x.operator("POST /v1/contracts/{id}/resume", "/v1/contracts/{x}/resume", "", a.contract)
		},
		"POST /v1/campaigns": func() {
			x.operator("POST /v1/campaigns", "/v1/campaigns", `{"channel":"wechatpay","deadline":"2030-01-01T00:00:00Z"}`, "")
		},
		"GET /v1/campaigns":      func() { x.operator("GET /v1/campaigns", "/v1/campaigns", "", "") },
		"GET /v1/campaigns/{id}": func() { x.operator("GET /v1/campaigns/{id}", "/v1/campaigns/{x}", "", payment.NewID("cmp")) },
		"GET /v1/rollout/rules":  func() { x.operator("GET /v1/rollout/rules", "/v1/rollout/rules", "", "") },
		"POST /v1/rollout/rules/{method}": func() {
			x.operator("POST /v1/rollout/rules/{method}", "/v1/rollout/rules/wechatpay.native", `{"rule":{"percent":0},"reason":"x"}`, "")
		},
		"DELETE /v1/rollout/rules/{method}": func() {
			x.operator("DELETE /v1/rollout/rules/{method}", "/v1/rollout/rules/wechatpay.native", `{"reason":"x"}`, "")
		},
		"POST /v1/rollout/rules/{method}/dry_run": func() {
			x.operator("POST /v1/rollout/rules/{method}/dry_run", "/v1/rollout/rules/wechatpay.native/dry_run", `{"rule":{"percent":0}}`, "")
		},
		"POST /v1/rollout/rules/{method}/revert": func() {
			x.operator("POST /v1/rollout/rules/{method}/revert", "/v1/rollout/rules/wechatpay.native/revert", `{"version":1,"reason":"x"}`, "")
		},
		"GET /v1/rollout/history": func() { x.operator("GET /v1/rollout/history", "/v1/rollout/history", "", "") },
		// explain names B's checkout, whatever merchant_id asks for.
		"GET /v1/rollout/explain": func() {
			x.ok("GET", "/v1/rollout/explain?merchant_id="+a.merchant+"&buyer_id=tenancy-b-buyer")
		},
		"POST /v1/feedback": func() {
			x.same("POST", "/v1/feedback", `{"payment_id":"{x}","rating":3,"text":"x"}`, a.paid, 404)
			// A's buyer's cohort and tier at A's checkout are A's: B's
			// feedback naming that buyer learns what a made-up buyer's does.
			fb := func(buyer string) string {
				ans := x.do("POST", "/v1/feedback", mustJSON(t, map[string]any{"buyer_id": buyer, "method": "wechatpay.native", "rating": 3, "text": "x"}))
				var v struct{ Cohort, Tier string }
				if ans.status != 201 || json.Unmarshal(ans.body, &v) != nil {
					t.Errorf("B's feedback: %d %s", ans.status, ans.body)
				}
				return v.Cohort + "/" + v.Tier
			}
			if got, want := fb(a.buyer), fb("tenancy-made-up-buyer"); got != want {
				t.Errorf("B's feedback naming A's buyer got cohort/tier %q from A's checkout; a made-up buyer gets %q", got, want)
			}
		},
		"GET /v1/feedback": func() {
			x.ok("GET", "/v1/feedback?merchant_id="+a.merchant)
			x.ok("GET", "/v1/feedback?method=wechatpay.native&tier=county")
			x.same("GET", "/v1/feedback?starting_after={x}", "", a.feedback, 404)
		},
		"GET /v1/feedback.csv": func() { x.ok("GET", "/v1/feedback.csv?merchant_id="+a.merchant) },
		"POST /v1/payments/{id}/confirm_receipt": func() {
			x.same("POST", "/v1/payments/{x}/confirm_receipt", "", a.paid, 404)
			x.unchanged("confirm_receipt")
		},
		"POST /v1/refunds/{id}/return_received": func() {
			x.same("POST", "/v1/refunds/{x}/return_received", "", a.refund, 404)
			x.unchanged("return_received")
		},
		"POST /v1/refunds/{id}/cancel_return": func() {
			x.same("POST", "/v1/refunds/{x}/cancel_return", "", a.refund, 404)
			x.unchanged("cancel_return")
		},
		"GET /v1/balances": func() { x.ok("GET", "/v1/balances") },
		"GET /v1/ledger/entries": func() {
			x.same("GET", "/v1/ledger/entries?starting_after={x}", "", a.entry, 404)
			x.ok("GET", "/v1/ledger/entries?payment_id="+a.paid)
			x.ok("GET", "/v1/ledger/entries?account="+ledger.Escrow(a.merchant))
		},
		"POST /v1/settlements": func() { x.operator("POST /v1/settlements", "/v1/settlements", `{"day":"2024-09-01"}`, "") },
		// A statement is of the caller's merchant; its dates name nothing.
		"GET /v1/statements": func() { x.noForeignID("GET", "/v1/statements?from=2024-09-01&to=2030-12-31") },
		"POST /v1/reconciliations": func() {
			x.operator("POST /v1/reconciliations", "/v1/reconciliations", `{"channel":"wechatpay","day":"2024-09-01"}`, "")
		},
		"GET /v1/reconciliations": func() { x.operator("GET /v1/reconciliations", "/v1/reconciliations", "", "") },
		"GET /v1/reconciliations/{id}": func() {
			x.operator("GET /v1/reconciliations/{id}", "/v1/reconciliations/{x}", "", payment.NewID("rcn"))
		},
		"GET /v1/reconciliations/{id}/items.csv": func() {
			x.operator("GET /v1/reconciliations/{id}/items.csv", "/v1/reconciliations/{x}/items.csv", "", payment.NewID("rcn"))
		},
	}
	for _, route := range api.Routes {
		probe, ok := probes[route]
		if !ok {
			t.Errorf("%s is not crossed with another merchant's ids: add it to the table of TestTenancy", route)
			continue
		}
		probe()
	}
	for route := range probes {
		if !slices.Contains(api.Routes, route) {
			t.Errorf("TestTenancy crosses %s, which is not a route", route)
		}
	}
}
