package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/api"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// A paged list: its path, who reads it, its default and maximum limit,
// and the ids it must list, in order, read from the store.
type pagedList struct {
	path     string
	key      string
	def, max int
	ids      func() []string
}

// TestEveryListPagesHonestly crosses every list route with more rows than
// its limits: walking its pages two at a time lists every row once, in
// order, with has_more true on every page but the last; the default and
// the documented maximum limit are honoured (a page of the maximum holds
// up to that many, and has_more says whether more follow). A GET route of
// api.Routes that lists and is in neither table fails the test.
func TestEveryListPagesHonestly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		ctx := context.Background()
		m := e.Merchants[0].ID
		key := e.Keys[0]

		// Payments: five on the hosted cashier and one paid, with three
		// refunds.
		for i := range 5 {
			if st := e.Call(key, "POST", "/v1/payments", newPayment("cashier", int64(100+i), fmt.Sprintf("page-%d", i)), nil); st != http.StatusCreated {
				t.Fatalf("create payment: %d", st)
			}
		}
		var paid payment.Payment
		if st := e.Call(key, "POST", "/v1/payments", newPayment("wechatpay.native", 1000, "page-paid"), &paid); st != http.StatusCreated {
			t.Fatalf("create payment: %d", st)
		}
		e.Sandbox.Pay(paid.NextAction.QRCode, "")
		e.Eventually("paid", func() bool { return e.Status(0, paid.ID) == payment.StatusSucceeded })
		for range 3 {
			if st := e.Call(key, "POST", "/v1/payments/"+paid.ID+"/refunds", map[string]any{"amount": 100}, nil); st != http.StatusCreated {
				t.Fatalf("refund: %d", st)
			}
		}
		for i := range 3 {
			if st := e.Call(key, "POST", "/v1/feedback", map[string]any{"buyer_id": fmt.Sprintf("b-%d", i), "method": "wechatpay.native", "rating": 5, "text": "好"}, nil); st != http.StatusCreated {
				t.Fatalf("feedback: %d", st)
			}
		}
		day := chinatime.Date(time.Now())
		for range 3 {
			if st := e.Call(e.Platform, "POST", "/v1/reconciliations", map[string]string{"channel": "wechatpay", "day": day}, nil); st != http.StatusCreated {
				t.Fatalf("reconcile: %d", st)
			}
		}
		// More events and journal entries than a default page holds.
		base := time.Now().Add(-time.Hour)
		for i := range 130 {
			at := store.Micros(base.Add(time.Duration(i) * time.Millisecond))
			if _, err := db.ExecContext(ctx, `INSERT INTO events (id, merchant_id, type, object_id, data, created_at) VALUES ($1, $2, 'test.page', 'x', $3, $4)`,
				fmt.Sprintf("evt_page%03d", i), m, fmt.Sprintf(`{"id":"evt_page%03d","type":"test.page","merchant_id":%q,"data":{}}`, i, m), at); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO ledger_entries (id, kind, merchant_id, payment_id, refund_id, memo, at) VALUES ($1, 'test', $2, '', '', '', $3)`,
				fmt.Sprintf("le_page%03d", i), m, at); err != nil {
				t.Fatal(err)
			}
		}

		column := func(query string, args ...any) func() []string {
			return func() []string {
				rows, err := db.QueryContext(ctx, query, args...)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var out []string
				for rows.Next() {
					var id string
					if err := rows.Scan(&id); err != nil {
						t.Fatal(err)
					}
					out = append(out, id)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return out
			}
		}
		paged := map[string]pagedList{
			"GET /v1/payments": {"/v1/payments", key, 20, 100,
				column(`SELECT id FROM payments WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC`, m)},
			"GET /v1/payments/{id}/refunds": {"/v1/payments/" + paid.ID + "/refunds", key, 20, 100,
				column(`SELECT id FROM refunds WHERE payment_id = $1 ORDER BY created_at, id`, paid.ID)},
			"GET /v1/events": {"/v1/events", key, 100, 100,
				column(`SELECT id FROM events WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC`, m)},
			"GET /v1/ledger/entries": {"/v1/ledger/entries", key, 100, 1000,
				column(`SELECT id FROM ledger_entries WHERE merchant_id = $1 ORDER BY at, id`, m)},
			"GET /v1/feedback": {"/v1/feedback", key, 100, 1000,
				column(`SELECT id FROM feedback WHERE merchant_id = $1 ORDER BY created_at DESC, id`, m)},
			"GET /v1/reconciliations": {"/v1/reconciliations", e.Platform, 20, 100,
				column(`SELECT id FROM recon_runs ORDER BY created_at DESC, id DESC`)},
		}
		// Lists that answer every row they select, unpaged: small by
		// nature (a merchant's endpoints, contracts, a payment's attempts)
		// or exports.
		whole := map[string]bool{
			"GET /v1/webhook_endpoints": true, "GET /v1/payments/{id}/attempts": true, "GET /v1/payments/{id}/wallet_mismatches": true,
			"GET /v1/agreements": true, "GET /v1/contracts": true, "GET /v1/contracts/{id}/transitions": true, "GET /v1/campaigns": true,
			"GET /v1/rollout/rules": true, "GET /v1/rollout/history": true, "GET /v1/feedback.csv": true, "GET /v1/balances": true,
			"GET /v1/reconciliations/{id}/items.csv": true, "GET /v1/share_codes/stats": true, "GET /v1/methods": true,
		}
		for _, route := range api.Routes {
			method, path, _ := strings.Cut(route, " ")
			if method != "GET" || strings.HasSuffix(path, "}") || paged[route].path != "" || whole[route] {
				continue
			}
			switch path {
			case "/v1/return_key", "/v1/rollout/explain", "/v1/statements":
				continue // one object each, not a list
			}
			t.Errorf("%s: a list route neither paged nor listed whole in this test", route)
		}

		for route, l := range paged {
			t.Run(strings.ReplaceAll(route, "/", "_"), func(t *testing.T) {
				want := l.ids()
				if len(want) < 3 {
					t.Fatalf("only %d rows: the test needs more than a page of 2", len(want))
				}
				// Two at a time, following the cursor.
				var got []string
				after := ""
				for {
					ids, more := readPageOf(t, e, l, fmt.Sprintf("limit=2&starting_after=%s", after))
					if len(ids) > 2 {
						t.Fatalf("a page of 2 holds %d", len(ids))
					}
					got = append(got, ids...)
					if more != (len(got) < len(want)) {
						t.Fatalf("has_more %v after %d of %d rows", more, len(got), len(want))
					}
					if !more {
						break
					}
					after = ids[len(ids)-1]
				}
				if !slices.Equal(got, want) {
					t.Fatalf("pages list\n%v\nthe store has\n%v", got, want)
				}
				// The default and the maximum limit.
				for _, limit := range []int{l.def, l.max} {
					ids, more := readPageOf(t, e, l, fmt.Sprintf("limit=%d", limit))
					if n := min(limit, len(want)); len(ids) != n || more != (len(want) > limit) {
						t.Errorf("limit=%d: %d rows, has_more %v; the store has %d", limit, len(ids), more, len(want))
					}
				}
				if ids, more := readPageOf(t, e, l, ""); len(ids) != min(l.def, len(want)) || more != (len(want) > l.def) {
					t.Errorf("no limit: %d rows, has_more %v; default %d of %d", len(ids), more, l.def, len(want))
				}
				// Past the maximum is refused, naming the range.
				var refused struct {
					Error struct{ Param, Message string }
				}
				if st := e.Call(l.key, "GET", l.path+sep(l.path)+fmt.Sprintf("limit=%d", l.max+1), nil, &refused); st != http.StatusBadRequest ||
					refused.Error.Param != "limit" || !strings.Contains(refused.Error.Message, fmt.Sprint(l.max)) {
					t.Errorf("limit=%d: %d %+v", l.max+1, st, refused)
				}
			})
		}
	})
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// readPageOf reads one page of a list.
func readPageOf(t *testing.T, e *gatewaytest.Env, l pagedList, query string) ([]string, bool) {
	t.Helper()
	var page struct {
		Data    []json.RawMessage `json:"data"`
		HasMore *bool             `json:"has_more"`
	}
	path := l.path
	if query != "" {
		path += sep(path) + query
	}
	if st := e.Call(l.key, "GET", path, nil, &page); st != http.StatusOK {
		t.Fatalf("GET %s: %d", path, st)
	}
	if page.HasMore == nil {
		t.Fatalf("GET %s: no has_more", path)
	}
	ids := make([]string, len(page.Data))
	for i, raw := range page.Data {
		var obj struct{ ID string }
		if err := json.Unmarshal(raw, &obj); err != nil || obj.ID == "" {
			t.Fatalf("GET %s: an object without an id: %s", path, raw)
		}
		ids[i] = obj.ID
	}
	return ids, *page.HasMore
}
