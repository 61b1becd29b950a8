package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// paymentBody is a valid payment request as JSON, with change applied to
// its fields first (a nil value removes the field).
func paymentBody(t *testing.T, order string, change map[string]any) string {
	t.Helper()
	m := map[string]any{"merchant_order_id": order, "amount": 1990, "currency": "CNY", "description": "豆浆油条", "method": "wechatpay.native",
		"buyer": map[string]any{"id": "buyer-1"}}
	for k, v := range change {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// payNow makes a WeChat Pay payment and has the sandbox's buyer pay it.
func payNow(t *testing.T, e *gatewaytest.Env, order string, amount int64) *client.Payment {
	t.Helper()
	p, err := e.Client(0).CreatePayment(context.Background(), client.PaymentParams{MerchantOrderID: order, Amount: amount, Currency: "CNY",
		Description: "大米", Method: "wechatpay.native", Buyer: client.Buyer{ID: "b-" + order}}, "")
	if err != nil {
		t.Fatal(err)
	}
	e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": p.NextAction.QRCode}, nil)
	e.Eventually("paid", func() bool { return e.Status(0, p.ID) == "succeeded" })
	return p
}

// TestEveryBadInputSaysWhatToFix is every error a merchant (or the
// platform) can get from bad input: for each request, the status, the
// code, the param, and that the message names the field (or the object
// and its id) and what would be accepted.
func TestEveryBadInputSaysWhatToFix(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	ctx := context.Background()
	paid := payNow(t, e, "errors-paid", 10000)
	unpaid, err := e.Client(0).CreatePayment(ctx, client.PaymentParams{MerchantOrderID: "errors-unpaid", Amount: 500, Currency: "CNY",
		Description: "未付", Method: "cashier", Buyer: client.Buyer{ID: "b1"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	// A contract invited to an agreement, not signed.
	var ag struct{ Version int }
	if st := e.Call(e.Platform, "POST", "/v1/agreements", map[string]any{"channel": "wechatpay", "title": "微信支付开通协议", "body": "第一条"}, &ag); st != http.StatusCreated {
		t.Fatalf("agreement: %d", st)
	}
	var ct struct{ ID string }
	if st := e.Call(e.Platform, "POST", "/v1/contracts", map[string]any{"merchant_id": e.Merchants[0].ID, "channel": "wechatpay"}, &ct); st != http.StatusCreated {
		t.Fatalf("invite: %d", st)
	}
	// A request under an Idempotency-Key, for its reuse below.
	if st, _, body := rawCall(t, e, e.Keys[0], "POST", "/v1/payments", paymentBody(t, "errors-keyed", nil), "Idempotency-Key", "k-errors"); st != http.StatusCreated {
		t.Fatalf("keyed payment: %d %s", st, body)
	}

	merchant, platform := e.Keys[0], e.Platform
	items := func(lines ...int64) []map[string]any {
		out := []map[string]any{}
		for i, a := range lines {
			out = append(out, map[string]any{"title": fmt.Sprintf("line %d", i), "quantity": 1, "amount": a})
		}
		return out
	}
	manyKeys := map[string]string{}
	for i := range 21 {
		manyKeys[fmt.Sprintf("k%d", i)] = "v"
	}
	valid := paymentBody(t, "errors-valid", nil)
	for _, tc := range []struct {
		name                string
		key                 string
		method, path, body  string
		headers             []string
		status              int
		code, param         string
		says                []string // substrings of the message
		allow               string   // the Allow header of a 405
		rawBody, noJSONType bool
	}{
		// The body as a whole.
		{name: "array body", body: `[]`, status: 400, code: "invalid_type", says: []string{"the request body must be a JSON object", "got an array"}},
		{name: "string body", body: `"pay"`, status: 400, code: "invalid_type", says: []string{"must be a JSON object", `got the string "pay"`}},
		{name: "number body", body: `12`, status: 400, code: "invalid_type", says: []string{"must be a JSON object", "got the number 12"}},
		{name: "null body", body: `null`, status: 400, code: "invalid_type", says: []string{"must be a JSON object", "got null"}},
		{name: "empty body", body: ``, status: 400, code: "empty_body", says: []string{"the body is empty", "send a JSON object"}},
		{name: "truncated", body: `{"amount":1`, status: 400, code: "invalid_json", says: []string{"not valid JSON", "ends before its value"}},
		{name: "trailing", body: valid + "]", status: 400, code: "trailing_data", says: []string{"data after its JSON value", `"]"`}},
		{name: "unknown field", body: strings.Replace(valid, `"amount"`, `"amont"`, 1), status: 400, code: "unknown_field", param: "amont", says: []string{"amont is not a field of this request"}},
		{name: "duplicate key", body: strings.Replace(valid, `"amount":1990`, `"amount":1,"amount":1990`, 1), status: 400, code: "duplicate_key", param: "amount", says: []string{`the key "amount" appears twice`}},
		{name: "not JSON", body: valid, headers: []string{"Content-Type", "text/plain"}, status: 415, code: "unsupported_media_type", says: []string{"Content-Type must be application/json", "got text/plain"}},
		// amount: absent, 0, negative, not whole, out of range, too large.
		{name: "amount absent", body: paymentBody(t, "e1", map[string]any{"amount": nil}), status: 400, code: "missing_field", param: "amount", says: []string{"amount is required", "whole number of fen", "at least 1"}},
		{name: "amount null", body: strings.Replace(valid, `"amount":1990`, `"amount":null`, 1), status: 400, code: "missing_field", param: "amount", says: []string{"amount is required"}},
		{name: "amount 0", body: paymentBody(t, "e1", map[string]any{"amount": 0}), status: 400, code: "invalid_parameter", param: "amount", says: []string{"amount", "must be at least 1 fen", "got 0"}},
		{name: "amount negative", body: paymentBody(t, "e1", map[string]any{"amount": -5}), status: 400, code: "invalid_parameter", param: "amount", says: []string{"amount", "at least 1 fen", "got -5"}},
		{name: "amount 12.5", body: strings.Replace(valid, `"amount":1990`, `"amount":12.5`, 1), status: 400, code: "invalid_type", param: "amount", says: []string{"amount must be a whole number of fen", "12.5"}},
		{name: "amount 1e20", body: strings.Replace(valid, `"amount":1990`, `"amount":1e20`, 1), status: 400, code: "out_of_range", param: "amount", says: []string{"amount is out of range", "1e20", "9223372036854775807 fen"}},
		{name: "amount 1e2", body: strings.Replace(valid, `"amount":1990`, `"amount":1e2`, 1), status: 400, code: "invalid_type", param: "amount", says: []string{"amount must be written as a plain whole number of fen", "1e2"}},
		{name: "amount string", body: strings.Replace(valid, `"amount":1990`, `"amount":"19.90"`, 1), status: 400, code: "invalid_type", param: "amount", says: []string{"amount must be a whole number of fen", `got the string "19.90"`}},
		{name: "amount too large", body: paymentBody(t, "e1", map[string]any{"amount": 10000000001}), status: 400, code: "invalid_parameter", param: "amount", says: []string{"amount", "at most 10000000000 fen", "got 10000000001"}},
		// The other fields.
		{name: "order id", body: paymentBody(t, "a b", nil), status: 400, code: "invalid_parameter", param: "merchant_order_id", says: []string{"merchant_order_id", "1 to 64 letters, digits, _ or -"}},
		{name: "order id absent", body: paymentBody(t, "", nil), status: 400, code: "invalid_parameter", param: "merchant_order_id", says: []string{"merchant_order_id", "is required"}},
		{name: "currency", body: paymentBody(t, "e1", map[string]any{"currency": "USD"}), status: 400, code: "invalid_parameter", param: "currency", says: []string{"currency", `"CNY"`, `"USD"`}},
		{name: "currency absent", body: paymentBody(t, "e1", map[string]any{"currency": nil}), status: 400, code: "invalid_parameter", param: "currency", says: []string{"currency", "is required", `"CNY"`}},
		{name: "method", body: paymentBody(t, "e1", map[string]any{"method": "paypal"}), status: 400, code: "invalid_parameter", param: "method", says: []string{"method", `"paypal" is not a method`, "wechatpay.native", "cashier"}},
		{name: "description long", body: paymentBody(t, "e1", map[string]any{"description": strings.Repeat("米", 128)}), status: 400, code: "invalid_parameter", param: "description", says: []string{"description", "at most 127 characters"}},
		{name: "description absent", body: paymentBody(t, "e1", map[string]any{"description": nil}), status: 400, code: "invalid_parameter", param: "description", says: []string{"description", "is required"}},
		{name: "buyer absent", body: paymentBody(t, "e1", map[string]any{"buyer": nil}), status: 400, code: "invalid_parameter", param: "buyer.id", says: []string{"buyer.id", "is required"}},
		{name: "buyer array", body: paymentBody(t, "e1", map[string]any{"buyer": []string{"b"}}), status: 400, code: "invalid_type", param: "buyer", says: []string{"buyer must be an object", "got an array"}},
		{name: "buyer id long", body: paymentBody(t, "e1", map[string]any{"buyer": map[string]any{"id": strings.Repeat("b", 65)}}), status: 400, code: "invalid_parameter", param: "buyer.id", says: []string{"buyer.id", "at most 64 bytes"}},
		{name: "buyer region", body: paymentBody(t, "e1", map[string]any{"buyer": map[string]any{"id": "b", "region_code": "12"}}), status: 400, code: "invalid_parameter", param: "buyer.region_code", says: []string{"buyer.region_code", "6-digit GB/T 2260", `"12"`}},
		{name: "buyer platform", body: paymentBody(t, "e1", map[string]any{"buyer": map[string]any{"id": "b", "platform": "tv"}}), status: 400, code: "invalid_parameter", param: "buyer.platform", says: []string{"buyer.platform", "ios, android, h5, miniprogram or pc", `"tv"`}},
		{name: "buyer id type", body: paymentBody(t, "e1", map[string]any{"buyer": map[string]any{"id": 7}}), status: 400, code: "invalid_type", param: "buyer.id", says: []string{"buyer.id must be a string", "got the number 7"}},
		{name: "items sum", body: paymentBody(t, "e1", map[string]any{"items": items(700, 1000)}), status: 400, code: "invalid_parameter", param: "items", says: []string{"items", "sum to 1700 fen", "amount is 1990 fen", "must be equal"}},
		{name: "items quantity", body: paymentBody(t, "e1", map[string]any{"items": []map[string]any{{"title": "豆浆", "quantity": 0, "amount": 1990}}}), status: 400, code: "invalid_parameter", param: "items[0].quantity", says: []string{"items[0].quantity", "1 to 9999"}},
		{name: "items amount type", body: paymentBody(t, "e1", map[string]any{"items": []map[string]any{{"title": "豆浆", "quantity": 1, "amount": 990}, {"title": "油条", "quantity": 1, "amount": 10.5}}}), status: 400, code: "invalid_type", param: "items[1].amount", says: []string{"items[1].amount must be a whole number of fen", "10.5"}},
		{name: "items many", body: paymentBody(t, "e1", map[string]any{"items": items(make([]int64, 51)...)}), status: 400, code: "invalid_parameter", param: "items", says: []string{"items", "at most 50 lines"}},
		{name: "return_url", body: paymentBody(t, "e1", map[string]any{"return_url": "ftp://shop.example/back"}), status: 400, code: "invalid_parameter", param: "return_url", says: []string{"return_url", "absolute http(s) URL", "1024 bytes"}},
		{name: "expires_in", body: paymentBody(t, "e1", map[string]any{"expires_in": 10}), status: 400, code: "invalid_parameter", param: "expires_in", says: []string{"expires_in", "between 60 and 86400 seconds"}},
		{name: "metadata keys", body: paymentBody(t, "e1", map[string]any{"metadata": manyKeys}), status: 400, code: "invalid_parameter", param: "metadata", says: []string{"metadata", "at most 20 keys"}},
		{name: "metadata value", body: paymentBody(t, "e1", map[string]any{"metadata": map[string]string{"note": strings.Repeat("x", 501)}}), status: 400, code: "invalid_parameter", param: "metadata.note", says: []string{"metadata.note", "at most 500 bytes"}},
		{name: "metadata type", body: paymentBody(t, "e1", map[string]any{"metadata": map[string]any{"note": 5}}), status: 400, code: "invalid_type", param: "metadata.note", says: []string{"metadata.note must be a string", "got the number 5"}},
		{name: "share code", body: paymentBody(t, "e1", map[string]any{"share_code": "sc_nothing"}), status: 404, code: "resource_missing", param: "share_code", says: []string{"no share code sc_nothing for this merchant"}},
		// Idempotency-Key.
		{name: "key reused", body: paymentBody(t, "errors-other", nil), headers: []string{"Idempotency-Key", "k-errors"}, status: 422, code: "idempotency_key_reused", param: "Idempotency-Key", says: []string{"Idempotency-Key", "used with another request"}},
		{name: "key long", body: valid, headers: []string{"Idempotency-Key", strings.Repeat("k", 256)}, status: 400, code: "idempotency_key_too_long", param: "Idempotency-Key", says: []string{"Idempotency-Key", "at most 255 characters"}},
		// Lists.
		{name: "limit 0", method: "GET", path: "/v1/payments?limit=0", status: 400, code: "invalid_parameter", param: "limit", says: []string{"limit must be a whole number from 1 to 100", `got "0"`}},
		{name: "limit word", method: "GET", path: "/v1/payments?limit=ten", status: 400, code: "invalid_parameter", param: "limit", says: []string{"limit", "1 to 100", `"ten"`}},
		{name: "cursor", method: "GET", path: "/v1/payments?starting_after=pay_nothing", status: 404, code: "resource_missing", param: "starting_after", says: []string{"starting_after", "no payment", "pay_nothing"}},
		{name: "status filter", method: "GET", path: "/v1/payments?status=paid", status: 400, code: "invalid_parameter", param: "status", says: []string{"status must be requires_action, succeeded or canceled"}},
		// Objects by id.
		{name: "no payment", method: "GET", path: "/v1/payments/pay_nothing", status: 404, code: "resource_missing", param: "id", says: []string{"no payment pay_nothing for this merchant"}},
		{name: "no refund", method: "GET", path: "/v1/refunds/re_nothing", status: 404, code: "resource_missing", param: "id", says: []string{"no refund re_nothing for this merchant"}},
		{name: "no pay-for-me", method: "GET", path: "/v1/pay_for_me/pfm_nothing", status: 404, code: "resource_missing", param: "id", says: []string{"no pay-for-me request pfm_nothing for this merchant"}},
		{name: "no endpoint", method: "DELETE", path: "/v1/webhook_endpoints/we_nothing", status: 404, code: "resource_missing", param: "id", says: []string{"no webhook endpoint we_nothing for this merchant"}},
		{name: "no contract", key: platform, method: "GET", path: "/v1/contracts/ct_nothing", status: 404, code: "resource_missing", param: "id", says: []string{"no contract ct_nothing"}},
		{name: "no reconciliation", key: platform, method: "GET", path: "/v1/reconciliations/rcn_nothing", status: 404, code: "resource_missing", param: "id", says: []string{"no reconciliation rcn_nothing"}},
		// Refunds.
		{name: "refund unpaid", path: "/v1/payments/" + unpaid.ID + "/refunds", body: `{"amount":100}`, status: 409, code: "payment_not_paid", says: []string{"payment " + unpaid.ID + " is requires_action", "only a succeeded payment can be refunded"}},
		{name: "over-refund", path: "/v1/payments/" + paid.ID + "/refunds", body: `{"amount":15000}`, status: 400, code: "refund_exceeds_payment", param: "amount", says: []string{"amount 15000 exceeds the 10000 fen still refundable on " + paid.ID}},
		{name: "refund amount absent", path: "/v1/payments/" + paid.ID + "/refunds", body: `{"reason":"破损"}`, status: 400, code: "missing_field", param: "amount", says: []string{"amount is required", "fen"}},
		{name: "refund amount 0", path: "/v1/payments/" + paid.ID + "/refunds", body: `{"amount":0}`, status: 400, code: "invalid_parameter", param: "amount", says: []string{"amount must be at least 1 fen", "got 0"}},
		{name: "refund kind", path: "/v1/payments/" + paid.ID + "/refunds", body: `{"amount":100,"kind":"exchange"}`, status: 400, code: "invalid_parameter", param: "kind", says: []string{"kind", "refund_only or return_and_refund"}},
		{name: "refund reason", path: "/v1/payments/" + paid.ID + "/refunds", body: `{"amount":100,"reason":"` + strings.Repeat("r", 201) + `"}`, status: 400, code: "invalid_parameter", param: "reason", says: []string{"reason must be at most 200 bytes", "got 201"}},
		{name: "refund of nothing", path: "/v1/payments/pay_nothing/refunds", body: `{"amount":100}`, status: 404, code: "resource_missing", param: "id", says: []string{"no payment pay_nothing for this merchant"}},
		{name: "return not awaited", path: "/v1/refunds/re_nothing/return_received", status: 404, code: "resource_missing", param: "id", says: []string{"no refund re_nothing"}},
		// Receipt.
		{name: "confirm unpaid", path: "/v1/payments/" + unpaid.ID + "/confirm_receipt", status: 409, code: "payment_not_paid", says: []string{"payment " + unpaid.ID + " is requires_action", "only a succeeded payment's receipt can be confirmed"}},
		// Routes and methods.
		{name: "wrong method", method: "DELETE", path: "/v1/payments", status: 405, code: "method_not_allowed", says: []string{"/v1/payments does not take DELETE", "GET, HEAD, POST"}, allow: "GET, HEAD, POST"},
		{name: "wrong method by id", method: "PUT", path: "/v1/payments/pay_x", status: 405, code: "method_not_allowed", says: []string{"takes GET, HEAD"}, allow: "GET, HEAD"},
		{name: "GET an action", method: "GET", path: "/v1/payments/pay_x/confirm_receipt", status: 405, code: "method_not_allowed", says: []string{"takes POST"}, allow: "POST"},
		{name: "no route", method: "GET", path: "/v1/paymens", status: 404, code: "route_not_found", says: []string{"GET /v1/paymens is not a route of the API"}},
		// Keys.
		{name: "no key", key: "-", method: "GET", path: "/v1/payments", status: 401, code: "missing_api_key", says: []string{"Authorization: Bearer"}},
		{name: "bad key", key: "sk_wrong", method: "GET", path: "/v1/payments", status: 401, code: "invalid_api_key", says: []string{"API key is not valid"}},
		{name: "platform names no merchant", key: platform, method: "GET", path: "/v1/payments", status: 400, code: "merchant_required", param: "Hutong-Merchant", says: []string{"Hutong-Merchant header"}},
		{name: "platform route", method: "POST", path: "/v1/settlements", status: 403, code: "platform_key_required", says: []string{"only a platform key may call POST /v1/settlements"}},
		{name: "unknown merchant", key: platform, method: "GET", path: "/v1/payments", headers: []string{"Hutong-Merchant", "m_nothing"}, status: 404, code: "merchant_not_found", param: "Hutong-Merchant", says: []string{`no merchant "m_nothing"`}},
		// Contracts.
		{name: "submit unsigned", key: platform, path: "/v1/contracts/" + ct.ID + "/submit", status: 409, code: "contract_state",
			says: []string{"contract " + ct.ID + " is invited", "only a signed contract", "can be submitted"}},
		{name: "suspend invited", key: platform, path: "/v1/contracts/" + ct.ID + "/suspend", body: `{"reason":"风控"}`, status: 409, code: "contract_state",
			says: []string{"contract " + ct.ID + " is invited", "only an active contract can be suspended"}},
		{name: "suspend without reason", key: platform, path: "/v1/contracts/" + ct.ID + "/suspend", status: 400, code: "invalid_parameter", param: "reason", says: []string{"reason is required"}},
		{name: "invite nobody", key: platform, path: "/v1/contracts", body: `{"merchant_id":"m_nothing","channel":"wechatpay"}`, status: 404, code: "resource_missing", param: "merchant_id", says: []string{"no merchant m_nothing"}},
		// Rollout.
		{name: "remove no rule", key: platform, method: "DELETE", path: "/v1/rollout/rules/wechatpay.native", body: `{"reason":"回到默认"}`, status: 404, code: "resource_missing", param: "method", says: []string{"wechatpay.native has no rollout rule to remove"}},
		{name: "remove not a method", key: platform, method: "DELETE", path: "/v1/rollout/rules/paypal?reason=x", status: 400, code: "invalid_parameter", param: "method", says: []string{`"paypal" is not a wallet method`, "wechatpay.native"}},
		{name: "rule absent", key: platform, path: "/v1/rollout/rules/wechatpay.native", body: `{"reason":"x"}`, status: 400, code: "missing_field", param: "rule", says: []string{"rule is required", "DELETE /v1/rollout/rules/{method}"}},
		{name: "rule null", key: platform, path: "/v1/rollout/rules/wechatpay.native", body: `{"rule":null,"reason":"x"}`, status: 400, code: "missing_field", param: "rule", says: []string{"rule is required", "to remove a method's rule"}},
		{name: "rule reason", key: platform, path: "/v1/rollout/rules/wechatpay.native", body: `{"rule":{"enabled":true}}`, status: 400, code: "invalid_parameter", param: "reason", says: []string{"reason", "is required"}},
		{name: "revert nowhere", key: platform, path: "/v1/rollout/rules/wechatpay.native/revert", body: `{"version":999,"reason":"x"}`, status: 400, code: "invalid_parameter", param: "version", says: []string{"version", "a version of the rule history", "got 999"}},
		// Statements.
		{name: "statement from", method: "GET", path: "/v1/statements?from=2024-9-1&to=2024-09-30", status: 400, code: "invalid_parameter", param: "from", says: []string{"from must be a Beijing date like 2024-09-01", `got "2024-9-1"`}},
		{name: "statement to", method: "GET", path: "/v1/statements?from=2024-09-01", status: 400, code: "invalid_parameter", param: "to", says: []string{"to must be a Beijing date", `got ""`}},
		{name: "statement order", method: "GET", path: "/v1/statements?from=2024-09-30&to=2024-09-01", status: 400, code: "invalid_parameter", param: "to", says: []string{"to (2024-09-01) must not be before from (2024-09-30)"}},
		{name: "statement merchant", key: platform, method: "GET", path: "/v1/statements?from=2024-09-01&to=2024-09-30", status: 400, code: "merchant_required", param: "Hutong-Merchant", says: []string{"Hutong-Merchant header"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			switch key {
			case "":
				key = merchant
			case "-":
				key = ""
			}
			method := tc.method
			if method == "" {
				method = "POST"
			}
			path := tc.path
			if path == "" {
				path = "/v1/payments"
			}
			status, header, body := rawCall(t, e, key, method, path, tc.body, tc.headers...)
			var ev errorView
			if err := json.Unmarshal(body, &ev); err != nil {
				t.Fatalf("%d %s: not an error body: %v", status, body, err)
			}
			if status != tc.status || ev.Error.Code != tc.code || ev.Error.Param != tc.param {
				t.Errorf("%s %s: %d %s param %q (%s), want %d %s param %q", method, path, status, ev.Error.Code, ev.Error.Param, ev.Error.Message, tc.status, tc.code, tc.param)
			}
			for _, s := range tc.says {
				if !strings.Contains(ev.Error.Message, s) {
					t.Errorf("%s %s: message %q does not say %q", method, path, ev.Error.Message, s)
				}
			}
			// The message names the field it is about; a missing object is
			// named by its kind and id instead.
			if tc.param != "" && !strings.Contains(ev.Error.Message, tc.param) && tc.code != "resource_missing" && tc.code != "merchant_not_found" {
				t.Errorf("%s %s: message %q does not name its param %s", method, path, ev.Error.Message, tc.param)
			}
			if got := header.Get("Allow"); got != tc.allow {
				t.Errorf("%s %s: Allow %q, want %q", method, path, got, tc.allow)
			}
		})
	}
	// Nothing above made a payment or a refund.
	var list struct{ Data []json.RawMessage }
	e.Call(merchant, "GET", "/v1/payments?limit=100", nil, &list)
	if len(list.Data) != 3 {
		t.Errorf("%d payments after the refused requests, want the 3 made", len(list.Data))
	}
	e.Call(merchant, "GET", "/v1/payments/"+paid.ID+"/refunds", nil, &list)
	if len(list.Data) != 0 {
		t.Errorf("%d refunds after the refused requests", len(list.Data))
	}
}

// rawCall sends body as it is (declared JSON unless a Content-Type header
// says otherwise), with a key ("" for none), and returns the answer.
func rawCall(t *testing.T, e *gatewaytest.Env, key, method, path, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	hs := []string{}
	if key == "" {
		// send always authenticates; a request without a key is made here.
		req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var raw json.RawMessage
		if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, res.Header, raw
	}
	merchant := ""
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Hutong-Merchant" {
			merchant = headers[i+1]
			continue
		}
		hs = append(hs, headers[i], headers[i+1])
	}
	ans := send(t, e.URL, key, merchant, method, path, body, hs...)
	return ans.status, ans.header, ans.body
}

// TestConfirmReceiptWaitsForAReturn: while a return_and_refund awaits the
// goods, confirming receipt is refused as such (409 return_in_progress,
// no param) and changes nothing, even where the merchant's policy would let
// its payable go negative. Releasing then was what answered
// "payable_insufficient … would be -16": the escrow left after the
// reserved refund was 0, and the release still charged the wallet's whole
// fee (16 fen of 2667) to the payable; where a negative payable was
// allowed, the release went through and left the refund's money in escrow
// for good. After the return completes, receipt is confirmed and the books
// balance.
func TestConfirmReceiptWaitsForAReturn(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	ctx := context.Background()
	m := e.Merchants[0].ID
	p := payNow(t, e, "return-1", 2667)
	var rf struct{ ID, Status string }
	if st := e.Call(e.Keys[0], "POST", "/v1/payments/"+p.ID+"/refunds", map[string]any{"amount": 2667, "kind": "return_and_refund"}, &rf); st != http.StatusCreated || rf.Status != "awaiting_return" {
		t.Fatalf("return_and_refund: %d %+v", st, rf)
	}
	snapshot := func() string {
		var b struct{ Data []money.Balance }
		e.Call(e.Platform, "GET", "/v1/balances", nil, &b)
		var entries struct{ Data []ledger.Entry }
		e.Call(e.Platform, "GET", "/v1/ledger/entries?limit=1000", nil, &entries)
		var pv struct {
			ReleasedAt string `json:"released_at"`
			Refunded   int64  `json:"amount_refunded"`
			Commission int64  `json:"commission"`
		}
		e.Call(e.Keys[0], "GET", "/v1/payments/"+p.ID, nil, &pv)
		return fmt.Sprintf("%+v %d %+v", b.Data, len(entries.Data), pv)
	}
	before := snapshot()
	for _, negativeAllowed := range []bool{false, true} {
		if st := e.Call(e.Platform, "POST", "/v1/merchants/"+m, map[string]any{"allow_negative_payable": negativeAllowed}, nil); st != http.StatusOK {
			t.Fatalf("policy: %d", st)
		}
		status, _, body := rawCall(t, e, e.Keys[0], "POST", "/v1/payments/"+p.ID+"/confirm_receipt", "")
		var ev errorView
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		if status != http.StatusConflict || ev.Error.Code != "return_in_progress" || ev.Error.Param != "" ||
			!strings.Contains(ev.Error.Message, "return_and_refund refund "+rf.ID) || !strings.Contains(ev.Error.Message, "awaits the returned goods") ||
			!strings.Contains(ev.Error.Message, "/v1/refunds/"+rf.ID+"/return_received") {
			t.Fatalf("confirm during a return (negative payable allowed: %v): %d %s", negativeAllowed, status, body)
		}
		if after := snapshot(); after != before {
			t.Fatalf("a refused confirm changed the books:\nbefore %s\nafter  %s", before, after)
		}
	}
	// The goods come back, the wallet refunds, and receipt is confirmed:
	// nothing is left in escrow, the payable bears nothing.
	if st := e.Call(e.Keys[0], "POST", "/v1/refunds/"+rf.ID+"/return_received", nil, &rf); st != http.StatusOK {
		t.Fatalf("return received: %d", st)
	}
	e.Eventually("refunded", func() bool { r, _ := e.Client(0).GetRefund(ctx, rf.ID); return r.Status == "succeeded" })
	if st := e.Call(e.Keys[0], "POST", "/v1/payments/"+p.ID+"/confirm_receipt", nil, nil); st != http.StatusOK {
		t.Fatalf("confirm after the return: %d", st)
	}
	var b struct{ Data []money.Balance }
	e.Call(e.Keys[0], "GET", "/v1/balances", nil, &b)
	for _, x := range b.Data {
		if (x.Account == ledger.Escrow(m) || x.Account == ledger.Payable(m)) && x.Balance != 0 {
			t.Errorf("%s is %d after a full return, want 0", x.Account, x.Balance)
		}
	}
	if problems, err := e.Svc.MoneyService().VerifyLedger(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("ledger: %v %v", problems, err)
	}
}

// TestRolloutRuleRemoved: a method's rule can be taken back to no rule
// (shown to everyone), recorded with its actor and reason like any change,
// and a revert can bring a rule back or remove it again.
func TestRolloutRuleRemoved(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	cohort := func() string {
		var ex struct {
			Data []struct{ Method, Cohort string }
		}
		e.Call(e.Keys[0], "GET", "/v1/rollout/explain?buyer_id=b1", nil, &ex)
		for _, d := range ex.Data {
			if d.Method == "wechatpay.native" {
				return d.Cohort
			}
		}
		return ""
	}
	var off rollouts.RuleChange
	if st := e.Call(e.Platform, "POST", "/v1/rollout/rules/wechatpay.native", map[string]any{"rule": map[string]any{"enabled": false}, "reason": "暂停"}, &off); st != http.StatusCreated {
		t.Fatalf("kill switch: %d", st)
	}
	if c := cohort(); c != "off" {
		t.Fatalf("cohort after the kill switch: %q", c)
	}
	var rc rollouts.RuleChange
	if st := e.Call(e.Platform, "DELETE", "/v1/rollout/rules/wechatpay.native", map[string]any{"reason": "恢复默认"}, &rc); st != http.StatusOK || rc.Rule != nil || rc.Version != off.Version+1 {
		t.Fatalf("remove: %d %+v", st, rc)
	}
	if c := cohort(); c != "default" {
		t.Fatalf("cohort after the removal: %q, want default", c)
	}
	var hist struct{ Data []rollouts.RuleChange }
	e.Call(e.Platform, "GET", "/v1/rollout/history?method=wechatpay.native", nil, &hist)
	if len(hist.Data) != 2 || hist.Data[0].Rule != nil || hist.Data[0].Reason != "恢复默认" || !strings.Contains(hist.Data[0].Actor, "test operator") {
		t.Fatalf("history %+v", hist.Data)
	}
	// Revert to the kill switch, then to the version removing it.
	if st := e.Call(e.Platform, "POST", "/v1/rollout/rules/wechatpay.native/revert", map[string]any{"version": off.Version, "reason": "again"}, &rc); st != http.StatusCreated || rc.Rule == nil || rc.Rule.Enabled {
		t.Fatalf("revert to the kill switch: %d %+v", st, rc)
	}
	if c := cohort(); c != "off" {
		t.Fatalf("cohort after the revert: %q", c)
	}
	if st := e.Call(e.Platform, "POST", "/v1/rollout/rules/wechatpay.native/revert", map[string]any{"version": off.Version + 1, "reason": "no rule"}, &rc); st != http.StatusCreated || rc.Rule != nil {
		t.Fatalf("revert to no rule: %d %+v", st, rc)
	}
	if c := cohort(); c != "default" {
		t.Fatalf("cohort after reverting to no rule: %q", c)
	}
}

// TestStatementEchoesDates: a statement says the Beijing dates it was
// asked for, and its period's bounds at +08:00.
func TestStatementEchoesDates(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{NoWorker: true})
	var st map[string]any
	if code := e.Call(e.Keys[0], "GET", "/v1/statements?from=2024-09-01&to=2024-09-30", nil, &st); code != http.StatusOK {
		t.Fatalf("statement: %d", code)
	}
	for k, want := range map[string]string{"from": "2024-09-01", "to": "2024-09-30", "period_start": "2024-09-01T00:00:00+08:00", "period_end": "2024-10-01T00:00:00+08:00"} {
		if st[k] != want {
			t.Errorf("%s = %v, want %s", k, st[k], want)
		}
	}
}

// TestOpenAPIListsEveryErrorCode: every code the API writes (its own
// writeError calls, and jsonbody's codes for refused bodies) is in
// openapi.yaml's ErrorCode enum, and the enum lists nothing else.
func TestOpenAPIListsEveryErrorCode(t *testing.T) {
	t.Parallel()
	written := map[string]bool{}
	sources, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`writeError\([^,]+, [^,]+, "[a-z_]+", "([a-z_]+)"`)
	for _, name := range append(sources, "../jsonbody/jsonbody.go") {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllSubmatch(src, -1) {
			written[string(m[1])] = true
		}
		if strings.HasSuffix(name, "jsonbody.go") {
			for _, m := range regexp.MustCompile(`Code\w+\s+= "([a-z_]+)"`).FindAllSubmatch(src, -1) {
				written[string(m[1])] = true
			}
		}
	}
	if len(written) < 40 {
		t.Fatalf("found only %d codes: the scan is broken", len(written))
	}
	doc, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n    ErrorCode:\n")
	_, enum, _ := strings.Cut(section, "      enum: [")
	enum, _, _ = strings.Cut(enum, "]")
	listed := map[string]bool{}
	for _, c := range strings.Split(enum, ",") {
		listed[strings.TrimSpace(c)] = true
	}
	for c := range written {
		if !listed[c] {
			t.Errorf("openapi.yaml's ErrorCode lacks %s", c)
		}
	}
	for c := range listed {
		if !written[c] {
			t.Errorf("openapi.yaml's ErrorCode lists %s, which the API never writes", c)
		}
	}
}
