package api_test

import (
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestAmbiguousBodiesAreRefused: a body that two JSON parsers could read
// differently (a key twice, something after the object) or that is not
// declared as JSON is refused with a code naming the problem, and writes
// nothing; a refused Content-Type is not kept under the Idempotency-Key, so
// the corrected request runs.
func TestAmbiguousBodiesAreRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		valid := `{"merchant_order_id":"x","amount":1,"currency":"CNY","description":"d","method":"wechatpay.native","buyer":{"id":"b"}}`
		for _, tc := range []struct {
			body, contentType string
			status            int
			code, param, msg  string
		}{
			{strings.Replace(valid, `"amount":1`, `"amount":1,"amount":100`, 1), "", 400, "duplicate_key", "amount", `the key "amount" appears twice`},
			{strings.Replace(valid, `"amount":1`, `"amount":1,"Amount":100`, 1), "", 400, "duplicate_key", "Amount", `both set amount`},
			{strings.Replace(valid, `"id":"b"`, `"id":"b","id":"c"`, 1), "", 400, "duplicate_key", "buyer.id", `the key "id" appears twice in buyer`},
			{strings.Replace(valid, `"method"`, `"metadata":{"k":"1","k":"2"},"method"`, 1), "", 400, "duplicate_key", "metadata.k", `appears twice in metadata`},
			{valid + "]", "", 400, "trailing_data", "", `data after its JSON value`},
			{valid + "}", "", 400, "trailing_data", "", `data after its JSON value`},
			{valid + valid, "", 400, "trailing_data", "", `data after its JSON value`},
			{strings.Replace(valid, `"buyer":{"id":"b"}`, `"buyer":{"id":"b","nick":"x"}`, 1), "", 400, "unknown_field", "buyer.nick", `buyer.nick is not a field of this request`},
			{valid, "text/plain", 415, "unsupported_media_type", "", `Content-Type must be application/json, got text/plain`},
			{valid, "application/x-www-form-urlencoded", 415, "unsupported_media_type", "", `got application/x-www-form-urlencoded`},
			{valid, "application/json; charset=gbk", 415, "unsupported_media_type", "", `charset gbk`},
		} {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			var ev errorView
			e.call("POST", "/v1/payments", e.keyA, tc.body, &ev, tc.status, "Content-Type", ct)
			if ev.Error.Code != tc.code || ev.Error.Param != tc.param || !strings.Contains(ev.Error.Message, tc.msg) {
				t.Errorf("%.60s (%s): %s %q %q, want %s %q %q", tc.body, ct, ev.Error.Code, ev.Error.Param, ev.Error.Message, tc.code, tc.param, tc.msg)
			}
		}
		var list struct{ Data []paymentView }
		e.call("GET", "/v1/payments", e.keyA, nil, &list, 200)
		if len(list.Data) != 0 {
			t.Fatalf("%d payments after refused bodies", len(list.Data))
		}

		// The same key, the same body: first under a wrong type, then right.
		e.call("POST", "/v1/payments", e.keyA, valid, nil, 415, "Content-Type", "text/plain", "Idempotency-Key", "k-415")
		e.call("POST", "/v1/payments", e.keyA, valid, nil, 201, "Idempotency-Key", "k-415")
		// A body that is not one JSON value is not kept either.
		e.call("POST", "/v1/payments", e.keyA, valid+"]", nil, 400, "Idempotency-Key", "k-trailing")
		e.call("POST", "/v1/payments", e.keyA, strings.Replace(valid, `"x"`, `"y"`, 1), nil, 201, "Idempotency-Key", "k-trailing")

		// An optional body may be left out, with no Content-Type; one that is
		// there must say it is JSON.
		var p paymentView
		e.call("GET", "/v1/payments", e.keyA, nil, &list, 200)
		p = list.Data[0]
		e.call("POST", "/v1/payments/"+p.ID+"/pay_for_me", e.keyA, nil, nil, 201, "Content-Type", "")
		e.call("POST", "/v1/payments/"+p.ID+"/pay_for_me", e.keyA, `{}`, nil, 415, "Content-Type", "")
	})
}
