package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestDueMethods: the wallet orders whose status query is due and the
// payments whose expiry is due are found by their due times, earliest
// first, only while pending, on both backends.
func TestDueMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		seedMerchants(t, db, now, "m_a")
		var pays []payment.Payment
		for i, order := range []string{"o-1", "o-2", "o-3"} {
			p := payment.New("m_a", payment.Request{MerchantOrderID: order, Amount: 100, Currency: "CNY", Description: "豆浆",
				Method: "wechatpay.native", ExpiresIn: int64(60 * (i + 1))}, now)
			if err := pool.PaymentInsert(ctx, p); err != nil {
				t.Fatal(err)
			}
			got, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: p.ID})
			if err != nil || !got.ExpiresAt.Equal(p.ExpiresAt) || p.ExpiresAt.IsZero() {
				t.Fatalf("expiry read back %v (%v), want %v", got.ExpiresAt, err, p.ExpiresAt)
			}
			a := payment.SoleAttempt(p)
			a.PollAt, a.PollStep = now.Add(time.Duration(3-i)*time.Second), i
			if err := pool.AttemptInsert(ctx, a); err != nil {
				t.Fatal(err)
			}
			pays = append(pays, p)
		}
		due := func(at time.Time, limit int) []store.AttemptDue {
			t.Helper()
			got, err := pool.AttemptsDue(ctx, store.DueParams{Now: at, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := due(now, 10); len(got) != 0 {
			t.Fatalf("due before any poll time: %+v", got)
		}
		// Earliest first: o-3's order (due at +1 s, step 2), then o-2's.
		if got, want := due(now.Add(2*time.Second), 10), []store.AttemptDue{{ID: pays[2].ID, Step: 2}, {ID: pays[1].ID, Step: 1}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("due at +2 s: %+v, want %+v", got, want)
		}
		if got := due(now.Add(time.Hour), 1); len(got) != 1 || got[0].ID != pays[2].ID {
			t.Fatalf("limit 1: %+v", got)
		}
		// A query moved on is due later; one with none ahead, or an order
		// no longer pending, is not due at all.
		if err := pool.AttemptPollSet(ctx, store.AttemptPollSetParams{ID: pays[2].ID, At: now.Add(time.Minute), Step: 3}); err != nil {
			t.Fatal(err)
		}
		if err := pool.AttemptPollSet(ctx, store.AttemptPollSetParams{ID: pays[1].ID}); err != nil {
			t.Fatal(err)
		}
		a, err := pool.AttemptGet(ctx, pays[0].ID, false)
		if err != nil || !a.PollAt.Equal(now.Add(3*time.Second)) || a.PollStep != 0 {
			t.Fatalf("a wallet order's poll read back: %v step %d (%v)", a.PollAt, a.PollStep, err)
		}
		a.Status = payment.AttemptSucceeded
		if err := pool.AttemptSave(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got, want := due(now.Add(2*time.Minute), 10), []store.AttemptDue{{ID: pays[2].ID, Step: 3}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("due after the changes: %+v, want %+v", got, want)
		}
		if err := pool.AttemptPollSet(ctx, store.AttemptPollSetParams{ID: "pa_none"}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("AttemptPollSet of no order: %v, want ErrNoRows", err)
		}

		// Expiry: the unpaid payments past their time, earliest first; a
		// paid one is never due.
		paid := pays[0]
		paid.Status = payment.StatusSucceeded
		if err := pool.PaymentSave(ctx, paid); err != nil {
			t.Fatal(err)
		}
		expired, err := pool.PaymentsDue(ctx, store.DueParams{Now: now.Add(150 * time.Second), Limit: 10})
		if err != nil || !reflect.DeepEqual(expired, []string{pays[1].ID}) {
			t.Fatalf("expired at +150 s: %v (%v), want [%s]", expired, err, pays[1].ID)
		}
		if expired, err := pool.PaymentsDue(ctx, store.DueParams{Now: now.Add(time.Hour), Limit: 10}); err != nil || len(expired) != 2 || expired[0] != pays[1].ID {
			t.Fatalf("expired at +1 h: %v (%v)", expired, err)
		}
	})
}
