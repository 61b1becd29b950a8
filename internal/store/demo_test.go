package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestDemoPaymentInsertMany: payments written in bulk, across more than
// one statement, read back as PaymentInsert would have stored them; a
// batch holding an order number already used is refused whole.
func TestDemoPaymentInsertMany(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		seedMerchants(t, db, now, "m_a", "m_b")
		var ps []payment.Payment
		for i := range store.PaymentInsertBatch + 7 {
			p := payment.New([]string{"m_a", "m_b"}[i%2], payment.Request{MerchantOrderID: fmt.Sprintf("bulk-%d", i), Amount: int64(100 + i), Currency: "CNY",
				Description: "豆浆", Method: "wechatpay.native", Buyer: payment.Buyer{ID: fmt.Sprintf("buyer-%d", i), RegionCode: "341322", Platform: "ios"},
				Metadata: map[string]string{"demo": "history"}}, now.Add(time.Duration(i)*time.Second))
			if i%3 == 0 {
				p.Status, p.PaidAt, p.PaidMethod, p.WalletTradeNo = payment.StatusSucceeded, p.CreatedAt.Add(time.Minute), p.Method, fmt.Sprintf("demo-%d", i)
				p.ReleasedAt, p.ProfitShareOrder, p.Refunded = p.PaidAt.Add(240*time.Hour), "demo", 10
			}
			ps = append(ps, p)
		}
		if err := db.Tx(ctx, func(tx *sql.Tx) error { return db.In(tx).PaymentInsertMany(ctx, ps) }); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 1, store.PaymentInsertBatch, len(ps) - 1} {
			got, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: ps[i].ID})
			if err != nil {
				t.Fatal(err)
			}
			want := ps[i]
			want.CreatedAt, want.UpdatedAt, want.ExpiresAt = want.CreatedAt.UTC(), want.UpdatedAt.UTC(), want.ExpiresAt.UTC()
			if !want.PaidAt.IsZero() {
				want.PaidAt, want.ReleasedAt = want.PaidAt.UTC(), want.ReleasedAt.UTC()
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("payment %d read back as\n%+v\nwant\n%+v", i, got, want)
			}
		}
		again := []payment.Payment{payment.New("m_a", payment.Request{MerchantOrderID: "fresh", Amount: 1, Currency: "CNY", Method: "alipay.precreate"}, now), ps[5]}
		again[1].ID = payment.NewID("pay")
		err := db.Tx(ctx, func(tx *sql.Tx) error { return db.In(tx).PaymentInsertMany(ctx, again) })
		if !store.IsUniqueViolation(err) {
			t.Fatalf("a batch reusing an order number: %v, want a unique violation", err)
		}
		if _, err := pool.PaymentIDByOrder(ctx, "m_a", "fresh"); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("the refused batch's other payment: %v, want none", err)
		}
		if err := pool.PaymentInsertMany(ctx, nil); err != nil {
			t.Fatalf("no payments: %v", err)
		}
	})
}
