package mismatches_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/mismatches"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestNoteAndList: Note keeps only mismatch refusals (also wrapped), under
// the merchant of the payment they name, counting a message's arrivals;
// List shows a merchant only its own payment's, oldest first.
func TestNoteAndList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		a, b := e.Merchants[0], e.Merchants[1]
		mk := func(m int, order string) payment.Payment {
			t.Helper()
			p, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[m], payment.Request{MerchantOrderID: order, Amount: 500, Currency: "CNY",
				Description: "对账", Method: "alipay.precreate", Buyer: payment.Buyer{ID: "b-" + order}})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		pa, pa2, pb := mk(0, "mm-a"), mk(0, "mm-a2"), mk(1, "mm-b")
		start := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
		at := start
		rec := &mismatches.Recorder{DB: db, Now: func() time.Time { return at }}
		list := func(merchantID, paymentID string) []payment.Mismatch {
			t.Helper()
			ms, err := rec.List(ctx, merchantID, paymentID)
			if err != nil {
				t.Fatal(err)
			}
			return ms
		}

		// Not its business: nothing is kept.
		rec.Note(ctx, "alipay", mismatches.SourceNotification, "n-nil", nil)
		rec.Note(ctx, "alipay", mismatches.SourceNotification, "n-other", errors.New("bad signature"))
		rec.Note(ctx, "alipay", mismatches.SourceNotification, "n-status", &payment.StatusError{Payment: pa.ID, Status: "canceled", Err: payment.ErrClosed})
		// Naming a payment hutong does not have: nothing to file it under.
		rec.Note(ctx, "alipay", mismatches.SourceNotification, "n-ghost", &payment.MismatchError{Payment: payment.NewID("pay"), Field: payment.FieldAmount, Want: "1", Got: "2"})
		var kept int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM wallet_mismatches`).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		if kept != 0 {
			t.Fatalf("kept %d refusals that were not mismatches of a known payment", kept)
		}

		amount := &payment.MismatchError{Payment: pa.ID, Field: payment.FieldAmount, Want: "5.00", Got: "5.01"}
		rec.Note(ctx, "alipay", mismatches.SourceNotification, "n-1", fmt.Errorf("applying notification: %w", amount))
		at = start.Add(time.Minute)
		rec.Note(ctx, "alipay", mismatches.SourceNotification, "n-1", amount) // the wallet retries it
		at = start.Add(2 * time.Minute)
		rec.Note(ctx, "alipay", mismatches.SourceQuery, "query:"+pa.ID, &payment.MismatchError{Payment: pa.ID, Field: payment.FieldApp, Want: "2021", Got: "2022"})
		rec.Note(ctx, "alipay", mismatches.SourceNotification, "n-2", &payment.MismatchError{Payment: pa2.ID, Field: payment.FieldCurrency, Want: "CNY", Got: "USD"})
		rec.Note(ctx, "alipay", mismatches.SourceNotification, "n-3", &payment.MismatchError{Payment: pb.ID, Field: payment.FieldMerchant, Want: "2088", Got: "2089"})

		got := list(a.ID, pa.ID)
		want := []payment.Mismatch{
			{Channel: "alipay", MessageID: "n-1", Source: mismatches.SourceNotification, PaymentID: pa.ID, Field: payment.FieldAmount,
				Expected: "5.00", Got: "5.01", Times: 2, FirstAt: start, LastAt: start.Add(time.Minute)},
			{Channel: "alipay", MessageID: "query:" + pa.ID, Source: mismatches.SourceQuery, PaymentID: pa.ID, Field: payment.FieldApp,
				Expected: "2021", Got: "2022", Times: 1, FirstAt: start.Add(2 * time.Minute), LastAt: start.Add(2 * time.Minute)},
		}
		if len(got) != len(want) {
			t.Fatalf("A's payment: %+v, want %+v", got, want)
		}
		for i := range want {
			g := got[i]
			if g.FirstAt.Equal(want[i].FirstAt) && g.LastAt.Equal(want[i].LastAt) {
				g.FirstAt, g.LastAt = want[i].FirstAt, want[i].LastAt
			}
			if g != want[i] {
				t.Errorf("mismatch %d: %+v, want %+v", i, got[i], want[i])
			}
		}
		if ms := list(a.ID, pa2.ID); len(ms) != 1 || ms[0].Field != payment.FieldCurrency {
			t.Errorf("A's other payment: %+v", ms)
		}
		if ms := list(b.ID, pb.ID); len(ms) != 1 || ms[0].Field != payment.FieldMerchant {
			t.Errorf("B's payment: %+v", ms)
		}
		// Scoped by merchant: neither sees the other's.
		if ms := list(b.ID, pa.ID); len(ms) != 0 {
			t.Errorf("B listed A's payment's mismatches: %+v", ms)
		}
		if ms := list(a.ID, pb.ID); len(ms) != 0 {
			t.Errorf("A listed B's payment's mismatches: %+v", ms)
		}
	})
}
