package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/api"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestIdempotencyKeySurvivesCrashAtEveryStep stops a refund and a payment
// request at each step, as a killed gateway would (the key recorded and
// nothing run; the change made and its answer not yet recorded by the
// API), then retries with the same Idempotency-Key after the lease: each
// key makes exactly one refund or payment, and the retry answers with it.
func TestIdempotencyKeySurvivesCrashAtEveryStep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		var paid payment.Payment
		if st := e.Call(e.Keys[0], "POST", "/v1/payments", newPayment("wechatpay.native", 10000, "crash-steps"), &paid); st != http.StatusCreated {
			t.Fatalf("create: %d", st)
		}
		e.Sandbox.Pay(paid.NextAction.QRCode, "")
		e.Eventually("paid", func() bool { return e.Status(0, paid.ID) == payment.StatusSucceeded })

		// A server of its own over the same gateway, whose requests stop
		// where the test says.
		srv := &api.Server{Svc: e.Svc, IdempotencyLease: 200 * time.Millisecond}
		var crashAt atomic.Value
		crashAt.Store("")
		api.CrashAt(srv, func(step string) bool { return crashAt.Load() == step })
		ts := httptest.NewServer(srv.Handler())
		t.Cleanup(ts.Close)
		post := func(path, key string, body any) (int, map[string]any) {
			t.Helper()
			raw, _ := json.Marshal(body)
			req, _ := http.NewRequest("POST", ts.URL+path, bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+e.Keys[0])
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", key)
			// A connection of its own: Go's transport would resend a request
			// carrying an Idempotency-Key on its own when a reused
			// connection drops.
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			res, err := client.Do(req)
			if err != nil {
				return 0, nil // the "crash": the connection is dropped
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			var out map[string]any
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			return res.StatusCode, out
		}
		count := func(query string, args ...any) int {
			var n int
			if err := db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, step := range []string{"key_held", "handled"} {
			t.Run("refund/"+step, func(t *testing.T) {
				key := "refund-" + step
				before := count(`SELECT COUNT(*) FROM refunds WHERE payment_id = $1`, paid.ID)
				crashAt.Store(step)
				if st, _ := post("/v1/payments/"+paid.ID+"/refunds", key, map[string]any{"amount": 100}); st != 0 {
					t.Fatalf("the request was not stopped at %s: %d", step, st)
				}
				crashAt.Store("")
				time.Sleep(300 * time.Millisecond) // past the lease
				st, got := post("/v1/payments/"+paid.ID+"/refunds", key, map[string]any{"amount": 100})
				if st != http.StatusCreated {
					t.Fatalf("the retry answered %d %v", st, got)
				}
				after := count(`SELECT COUNT(*) FROM refunds WHERE payment_id = $1`, paid.ID)
				if after != before+1 {
					t.Fatalf("one key made %d refunds", after-before)
				}
				if n := count(`SELECT COUNT(*) FROM refunds WHERE id = $1`, got["id"]); n != 1 {
					t.Fatalf("the retry names refund %v, which is not the one made", got["id"])
				}
				// And again: the same answer, replayed.
				if st, again := post("/v1/payments/"+paid.ID+"/refunds", key, map[string]any{"amount": 100}); st != http.StatusCreated || again["id"] != got["id"] {
					t.Fatalf("a third try: %d %v, want the replay of %v", st, again["id"], got["id"])
				}
			})
			t.Run("payment/"+step, func(t *testing.T) {
				key := "payment-" + step
				order := fmt.Sprintf("crash-create-%s", step)
				crashAt.Store(step)
				if st, _ := post("/v1/payments", key, newPayment("wechatpay.native", 500, order)); st != 0 {
					t.Fatalf("the request was not stopped at %s: %d", step, st)
				}
				crashAt.Store("")
				time.Sleep(300 * time.Millisecond)
				st, got := post("/v1/payments", key, newPayment("wechatpay.native", 500, order))
				if st != http.StatusCreated {
					t.Fatalf("the retry answered %d %v", st, got)
				}
				if n := count(`SELECT COUNT(*) FROM payments WHERE merchant_order_id = $1`, order); n != 1 {
					t.Fatalf("one key made %d payments", n)
				}
				if n := count(`SELECT COUNT(*) FROM payments WHERE id = $1`, got["id"]); n != 1 {
					t.Fatalf("the retry names payment %v, which is not the one made", got["id"])
				}
			})
		}
	})
}
