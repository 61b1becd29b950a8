package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestCreatesUnderOneKeyAtOnce: eight creates sent at once under one
// Idempotency-Key, none of which finds the key claimed before it runs,
// answer the same payment, and only one payment is stored.
func TestCreatesUnderOneKeyAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		body, err := json.Marshal(newPayment("alipay.precreate", 880, "at-once"))
		if err != nil {
			t.Fatal(err)
		}
		type answer struct {
			status   int
			id       string
			replayed bool
		}
		answers := make([]answer, 8)
		var wg sync.WaitGroup
		for i := range answers {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", e.url+"/v1/payments", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+e.keyA)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", "one-key")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				var p paymentView
				if err := json.Unmarshal(raw, &p); err != nil {
					t.Errorf("%d: %s", resp.StatusCode, raw)
				}
				answers[i] = answer{resp.StatusCode, p.ID, resp.Header.Get("Idempotent-Replayed") == "true"}
			})
		}
		wg.Wait()
		replays := 0
		for _, a := range answers {
			if a.status != http.StatusCreated || a.id != answers[0].id || a.id == "" {
				t.Fatalf("answers %+v: want one payment, 201 to all", answers)
			}
			if a.replayed {
				replays++
			}
		}
		// One request made the payment; the key answered the seven others
		// with its stored answer, not merchant_order_id finding the same
		// payment again.
		if replays != len(answers)-1 {
			t.Fatalf("answers %+v: %d replayed, want %d", answers, replays, len(answers)-1)
		}
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM payments WHERE merchant_order_id = 'at-once'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d payments stored (%v), want 1", n, err)
		}
	})
}

// TestKeyExpires: a day after its first use an Idempotency-Key names a
// new request; before that, another body under it is refused.
func TestKeyExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		var first, second paymentView
		e.call("POST", "/v1/payments", e.keyA, newPayment("alipay.precreate", 100, "day-1"), &first, 201, "Idempotency-Key", "daily")
		e.call("POST", "/v1/payments", e.keyA, newPayment("alipay.precreate", 100, "day-2"), nil, 422, "Idempotency-Key", "daily")
		dayAgo := store.Micros(time.Now().Add(-25 * time.Hour))
		if _, err := db.ExecContext(context.Background(), `UPDATE idempotency_keys SET created_at = $1`, dayAgo); err != nil {
			t.Fatal(err)
		}
		e.call("POST", "/v1/payments", e.keyA, newPayment("alipay.precreate", 100, "day-2"), &second, 201, "Idempotency-Key", "daily")
		if second.ID == first.ID {
			t.Fatalf("the expired key replayed %s", first.ID)
		}
	})
}
