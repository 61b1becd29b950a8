package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/api"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// FuzzCreatePaymentBody: any body gets a well-formed answer, and any body
// that is refused writes nothing. No wallet is configured, so a valid body
// stops at "method unavailable" without calling out.
func FuzzCreatePaymentBody(f *testing.F) {
	db := storetest.SQLite(f)
	svc := &gateway.Service{DB: db, Accounts: map[string]gateway.Account{}}
	m, _ := svc.MerchantService().Create(context.Background(), merchant.Merchant{Name: "fuzz"})
	_, key, _ := svc.MerchantService().CreateKey(context.Background(), m.ID)
	h := (&api.Server{Svc: svc}).Handler()
	f.Add(`{"merchant_order_id":"x","amount":1,"currency":"CNY","description":"d","method":"wechatpay.native","buyer":{"id":"b"}}`)
	f.Add(`{"amount":"1"}`)
	f.Add(`{"metadata":{"":""}}`)
	f.Add(`[]`)
	f.Add(`{"amount":1,"amount":2}`)
	f.Add(`{"merchant_order_id":"x"}]`)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/payments", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusCreated || rec.Code >= 500 {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("%q: answer without an error object: %s", body, rec.Body)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM payments`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%q wrote a payment", body)
		}
	})
}
