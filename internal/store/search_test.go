package store_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/webhook"
)

// TestPaymentSearch: a payment is found by every number a person may hold
// (ours, the merchant's, the wallet's, a wallet order's, a refund's), by
// buyer, state, method and time, within a merchant or across all, and
// pages newest first; on both backends.
func TestPaymentSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		seedMerchants(t, db, now, "m_a", "m_b")
		var made []payment.Payment
		for i, m := range []string{"m_a", "m_a", "m_b"} {
			p := payment.New(m, payment.Request{MerchantOrderID: "order-" + string(rune('x'+i)), Amount: 100, Currency: "CNY", Description: "豆浆",
				Method: "wechatpay.native", Buyer: payment.Buyer{ID: "buyer-" + string(rune('x'+i))}}, now.Add(time.Duration(i)*time.Minute))
			if i == 1 {
				p.Status, p.PaidMethod, p.WalletTradeNo = payment.StatusSucceeded, "wechatpay.native", "4200001"
			}
			if err := pool.PaymentInsert(ctx, p); err != nil {
				t.Fatal(err)
			}
			a := payment.SoleAttempt(p)
			a.WalletTradeNo = p.WalletTradeNo
			if err := pool.AttemptInsert(ctx, a); err != nil {
				t.Fatal(err)
			}
			made = append(made, p)
		}
		r := payment.Refund{ID: "re_1", PaymentID: made[1].ID, Amount: 50, Kind: payment.RefundOnly, Status: payment.RefundPending, CreatedAt: now, UpdatedAt: now}
		if err := pool.RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: "m_a", Insert: true}); err != nil {
			t.Fatal(err)
		}
		ids := func(p store.PaymentSearchParams) []string {
			t.Helper()
			if p.Limit == 0 {
				p.Limit = 10
			}
			got, err := pool.PaymentSearch(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, g := range got {
				out = append(out, g.ID)
			}
			return out
		}
		a0, a1, b0 := made[0].ID, made[1].ID, made[2].ID
		for _, c := range []struct {
			name string
			p    store.PaymentSearchParams
			want []string
		}{
			{"everything, newest first", store.PaymentSearchParams{}, []string{b0, a1, a0}},
			{"one merchant", store.PaymentSearchParams{MerchantID: "m_a"}, []string{a1, a0}},
			{"our id", store.PaymentSearchParams{ID: a0}, []string{a0}},
			{"the merchant's order number", store.PaymentSearchParams{ID: "order-y"}, []string{a1}},
			{"the wallet's number", store.PaymentSearchParams{ID: "4200001"}, []string{a1}},
			{"a refund's id", store.PaymentSearchParams{ID: "re_1"}, []string{a1}},
			{"another merchant's number", store.PaymentSearchParams{MerchantID: "m_b", ID: "order-y"}, nil},
			{"buyer", store.PaymentSearchParams{BuyerID: "buyer-z"}, []string{b0}},
			{"state", store.PaymentSearchParams{Status: payment.StatusSucceeded}, []string{a1}},
			{"method", store.PaymentSearchParams{Method: "wechatpay.native", MerchantID: "m_a"}, []string{a1, a0}},
			{"time", store.PaymentSearchParams{From: now.Add(time.Minute), To: now.Add(2 * time.Minute)}, []string{a1}},
			{"the page after a1", store.PaymentSearchParams{Before: a1}, []string{a0}},
			{"a page of one", store.PaymentSearchParams{Limit: 1}, []string{b0}},
		} {
			if got := ids(c.p); !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}

		// The timeline's parts: accepted wallet messages, events and their
		// delivery attempts, by the objects they name.
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			in := db.In(tx)
			for i, obj := range []string{a1, "re_1", b0} {
				if _, err := in.WalletEventFirst(ctx, store.WalletEventParams{Channel: "wechatpay", EventID: "ev-" + obj, ObjectID: obj, ReceivedAt: now.Add(time.Duration(i) * time.Second)}); err != nil {
					return err
				}
				ev := webhook.Event{ID: "evt_" + obj, Type: "payment.succeeded", MerchantID: "m_a", Created: now.Add(time.Duration(i) * time.Second)}
				if obj == b0 {
					ev.MerchantID = "m_b"
				}
				if err := in.EventInsert(ctx, ev, obj); err != nil {
					return err
				}
				if err := in.WebhookAttemptRecord(ctx, store.WebhookAttempt{EventID: ev.ID, EndpointID: "we_1", Attempt: 1, At: now.Add(time.Minute), StatusCode: 500, Error: "bad status", Duration: 30 * time.Millisecond}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := pool.WalletMessagesOf(ctx, a1, "re_1")
		if err != nil || len(msgs) != 2 || msgs[0].ObjectID != a1 || msgs[1].EventID != "ev-re_1" || !msgs[0].ReceivedAt.Equal(now) {
			t.Fatalf("WalletMessagesOf = %+v, %v", msgs, err)
		}
		events, err := pool.EventsOf(ctx, "m_a", a1, "re_1", b0)
		if err != nil || len(events) != 2 || events[0].ID != "evt_"+a1 {
			t.Fatalf("EventsOf = %+v, %v; want m_a's two", events, err)
		}
		tries, err := pool.WebhookAttemptsOf(ctx, "evt_"+a1)
		if err != nil || len(tries) != 1 || tries[0].StatusCode != 500 || tries[0].Duration != 30*time.Millisecond || tries[0].Error != "bad status" {
			t.Fatalf("WebhookAttemptsOf = %+v, %v", tries, err)
		}
		if none, err := pool.WalletMessagesOf(ctx); err != nil || none != nil {
			t.Fatalf("WalletMessagesOf() = %v, %v", none, err)
		}
	})
}
