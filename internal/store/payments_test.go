package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestPaymentMethods: payments, their wallet orders and refunds written,
// read back (whole, within a merchant, locked in a transaction), listed
// and paged, on both backends; what does not exist is ErrNoRows.
func TestPaymentMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		for _, id := range []string{"m_a", "m_b"} {
			if err := pool.MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: id, Name: id}, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		var made []payment.Payment
		for i := range 3 {
			p := payment.New("m_a", payment.Request{MerchantOrderID: fmt.Sprintf("o-%d", i), Amount: int64(100 + i), Currency: "CNY", Description: "豆浆",
				Method: "wechatpay.native", Buyer: payment.Buyer{ID: "buyer-1", RegionCode: "341322", Platform: "ios"}}, now.Add(time.Duration(i)*time.Second))
			if err := pool.PaymentInsert(ctx, p); err != nil {
				t.Fatal(err)
			}
			made = append(made, p)
		}
		dup := made[0]
		dup.ID = "pay_other"
		if err := pool.PaymentInsert(ctx, dup); !store.IsUniqueViolation(err) {
			t.Fatalf("a second payment under one order number: %v, want a unique violation", err)
		}
		if id, err := pool.PaymentIDByOrder(ctx, "m_a", "o-1"); err != nil || id != made[1].ID {
			t.Fatalf("PaymentIDByOrder = %s, %v", id, err)
		}
		if _, err := pool.PaymentIDByOrder(ctx, "m_b", "o-1"); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("another merchant's order number: %v, want ErrNoRows", err)
		}
		if mid, err := pool.PaymentMerchant(ctx, made[0].ID); err != nil || mid != "m_a" {
			t.Fatalf("PaymentMerchant = %s, %v", mid, err)
		}
		if _, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: made[0].ID, MerchantID: "m_b"}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("a payment read as another merchant's: %v, want ErrNoRows", err)
		}

		// Paid, in a transaction that reads it locked.
		paid := made[2]
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			p, err := db.In(tx).PaymentGet(ctx, store.PaymentGetParams{ID: paid.ID, MerchantID: "m_a", Lock: true})
			if err != nil {
				return err
			}
			p.Status, p.PaidAt, p.UpdatedAt, p.Refunded = payment.StatusSucceeded, now.Add(time.Minute), now.Add(time.Minute), 40
			paid = p
			return db.In(tx).PaymentSave(ctx, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: paid.ID})
		if err != nil || got.Status != payment.StatusSucceeded || got.Refunded != 40 || !got.PaidAt.Equal(paid.PaidAt) {
			t.Fatalf("after saving: %+v, %v", got, err)
		}
		var status string
		var paidAt int64
		if err := db.QueryRowContext(ctx, `SELECT status, paid_at FROM payments WHERE id = $1`, paid.ID).Scan(&status, &paidAt); err != nil ||
			status != payment.StatusSucceeded || paidAt != store.Micros(paid.PaidAt) {
			t.Fatalf("the columns after saving: %s, %d, %v", status, paidAt, err)
		}
		missing := paid
		missing.ID = "pay_missing"
		if err := pool.PaymentSave(ctx, missing); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("saving a payment never stored: %v, want ErrNoRows", err)
		}

		page, err := pool.PaymentList(ctx, store.PaymentListParams{MerchantID: "m_a", Limit: 2})
		if err != nil || len(page) != 2 || page[0].ID != made[2].ID || page[1].ID != made[1].ID {
			t.Fatalf("first page: %v, %v", ids(page), err)
		}
		page, err = pool.PaymentList(ctx, store.PaymentListParams{MerchantID: "m_a", After: page[1].ID, Limit: 2})
		if err != nil || len(page) != 1 || page[0].ID != made[0].ID {
			t.Fatalf("second page: %v, %v", ids(page), err)
		}
		if page, err := pool.PaymentList(ctx, store.PaymentListParams{MerchantID: "m_a", Status: payment.StatusSucceeded, Limit: 10}); err != nil || len(page) != 1 {
			t.Fatalf("by status: %v, %v", ids(page), err)
		}
		if _, err := pool.PaymentList(ctx, store.PaymentListParams{MerchantID: "m_b", After: made[0].ID, Limit: 10}); !errors.As(err, new(*notfound.Error)) {
			t.Fatalf("paging after another merchant's payment: %v, want a notfound error", err)
		}

		// Wallet orders.
		a := payment.SoleAttempt(made[0])
		second := a
		second.ID, second.Channel, second.Method, second.CreatedAt = "att_2", "alipay", "alipay.precreate", now.Add(time.Hour)
		for _, x := range []payment.Attempt{a, second} {
			if err := pool.AttemptInsert(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		second.Status = payment.AttemptClosed
		if err := pool.AttemptSave(ctx, second); err != nil {
			t.Fatal(err)
		}
		if got, err := pool.AttemptGet(ctx, second.ID, false); err != nil || got.Status != payment.AttemptClosed || got.Channel != "alipay" || got.PaymentID != made[0].ID {
			t.Fatalf("AttemptGet = %+v, %v", got, err)
		}
		if _, err := pool.AttemptGet(ctx, "att_missing", false); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("an unknown wallet order: %v, want ErrNoRows", err)
		}
		if list, err := pool.AttemptList(ctx, made[0].ID); err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != second.ID {
			t.Fatalf("AttemptList = %+v, %v", list, err)
		}
		if pending, err := pool.AttemptIDsPendingBesides(ctx, made[0].ID, "att_x"); err != nil || len(pending) != 1 || pending[0] != a.ID {
			t.Fatalf("pending besides another: %v, %v", pending, err)
		}
		if pending, err := pool.AttemptIDsPendingBesides(ctx, made[0].ID, a.ID); err != nil || len(pending) != 0 {
			t.Fatalf("pending besides the one pending: %v, %v", pending, err)
		}
		missingAttempt := a
		missingAttempt.ID = "att_missing"
		if err := pool.AttemptSave(ctx, missingAttempt); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("saving an unknown wallet order: %v, want ErrNoRows", err)
		}

		// Refunds.
		var refunds []payment.Refund
		for i := range 3 {
			r := payment.Refund{ID: fmt.Sprintf("re_%d", i), PaymentID: paid.ID, Amount: 10, Kind: payment.RefundOnly, Status: payment.RefundPending,
				CreatedAt: now.Add(time.Duration(i) * time.Minute)}
			if err := pool.RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: "m_a", Insert: true}); err != nil {
				t.Fatal(err)
			}
			refunds = append(refunds, r)
		}
		done := refunds[0]
		done.Status, done.SucceededAt, done.UpdatedAt = payment.RefundSucceeded, now.Add(time.Hour), now.Add(time.Hour)
		if err := pool.RefundSave(ctx, store.RefundSaveParams{Refund: done, MerchantID: "m_a"}); err != nil {
			t.Fatal(err)
		}
		if r, mid, err := pool.RefundGet(ctx, store.RefundGetParams{ID: done.ID}); err != nil || mid != "m_a" || r.Status != payment.RefundSucceeded {
			t.Fatalf("RefundGet = %+v, %s, %v", r, mid, err)
		}
		if _, _, err := pool.RefundGet(ctx, store.RefundGetParams{ID: done.ID, MerchantID: "m_b"}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("a refund read as another merchant's: %v, want ErrNoRows", err)
		}
		list, err := pool.RefundList(ctx, store.RefundListParams{MerchantID: "m_a", PaymentID: paid.ID, After: refunds[0].ID, Limit: 1})
		if err != nil || len(list) != 1 || list[0].ID != refunds[1].ID {
			t.Fatalf("RefundList after the first = %+v, %v", list, err)
		}
		if all, err := pool.RefundsOf(ctx, paid.ID); err != nil || len(all) != 3 {
			t.Fatalf("RefundsOf = %d refunds, %v", len(all), err)
		}
	})
}

func ids(ps []payment.Payment) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}
