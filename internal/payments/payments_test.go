package payments_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payforme"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/payments"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

func order(id string) payment.Request {
	return payment.Request{MerchantOrderID: id, Amount: 2500, Currency: "CNY", Description: "棉拖鞋", Method: "wechatpay.native",
		Buyer: payment.Buyer{ID: "b-" + id, RegionCode: "341523"}}
}

func countPayments(t *testing.T, svc *payments.Service, merchantID string) int {
	t.Helper()
	ps, err := svc.ListPayments(context.Background(), merchantID, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(ps)
}

// TestMerchantOrderIDNamesOnePayment: the same order asked for again with
// the same terms, also by several requests at once, is the one payment
// already made; under other terms it is refused and stores nothing; another
// merchant's order of the same id is its own.
func TestMerchantOrderIDNamesOnePayment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		svc := e.Svc.PaymentService()
		a, b := e.Merchants[0], e.Merchants[1]

		first, err := svc.CreatePayment(ctx, a, order("o-1"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := svc.CreatePayment(ctx, a, order("o-1"))
		if err != nil || again.ID != first.ID {
			t.Fatalf("the same order again: %s %v, want %s", again.ID, err, first.ID)
		}
		for name, change := range map[string]func(*payment.Request){
			"amount":      func(r *payment.Request) { r.Amount++ },
			"description": func(r *payment.Request) { r.Description = "棉鞋" },
			"method":      func(r *payment.Request) { r.Method = "alipay.precreate" },
			"buyer":       func(r *payment.Request) { r.Buyer.ID = "someone-else" },
			"return_url":  func(r *payment.Request) { r.ReturnURL = "https://shop.example/done" },
			"items": func(r *payment.Request) {
				r.Items = []payment.Item{{Title: "棉拖鞋", Quantity: 1, Amount: 2500}}
			},
		} {
			req := order("o-1")
			change(&req)
			if _, err := svc.CreatePayment(ctx, a, req); !errors.Is(err, payments.ErrDuplicateOrder) {
				t.Errorf("o-1 with another %s: %v, want ErrDuplicateOrder", name, err)
			}
		}
		if n := countPayments(t, svc, a.ID); n != 1 {
			t.Fatalf("A has %d payments, want 1", n)
		}
		theirs, err := svc.CreatePayment(ctx, b, order("o-1"))
		if err != nil || theirs.ID == first.ID || theirs.MerchantID != b.ID {
			t.Fatalf("B's own o-1: %+v %v", theirs, err)
		}

		// Several requests for a new order at once: one payment.
		var mu sync.Mutex
		ids := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				p, err := svc.CreatePayment(ctx, a, order("o-race"))
				if err != nil {
					t.Errorf("o-race: %v", err)
					return
				}
				mu.Lock()
				ids[p.ID]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(ids) != 1 {
			t.Errorf("o-race made payments %v, want one", ids)
		}
		if n := countPayments(t, svc, a.ID); n != 2 {
			t.Errorf("A has %d payments, want 2", n)
		}
	})
}

// TestSameOrderWithOtherItemsIsRefused: items are terms of an order; the
// same merchant_order_id with the same number of other items is another
// request, not a retry of the first.
func TestSameOrderWithOtherItemsIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		svc := e.Svc.PaymentService()
		req := order("o-items")
		req.Items = []payment.Item{{Title: "棉拖鞋", Quantity: 1, Amount: 2500}}
		if _, err := svc.CreatePayment(ctx, e.Merchants[0], req); err != nil {
			t.Fatal(err)
		}
		req.Items = []payment.Item{{Title: "凉拖鞋", Quantity: 5, Amount: 2500}}
		if _, err := svc.CreatePayment(ctx, e.Merchants[0], req); !errors.Is(err, payments.ErrDuplicateOrder) {
			t.Errorf("o-items with other items: %v, want ErrDuplicateOrder", err)
		}
	})
}

// TestCancel: an unpaid payment is canceled, at its wallet too, and its
// open pay-for-me requests end; a second cancel changes nothing; a
// canceled payment takes no wallet order; another merchant cannot cancel
// it.
func TestCancel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		svc := e.Svc.PaymentService()
		a, b := e.Merchants[0], e.Merchants[1]
		p, err := svc.CreatePayment(ctx, a, order("c-1"))
		if err != nil {
			t.Fatal(err)
		}
		pfm, err := e.Svc.PayForMeService().Create(ctx, a.ID, p.ID, payforme.Request{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CancelPayment(ctx, b.ID, p.ID); !errors.Is(err, notfound.Err) {
			t.Errorf("B canceled A's payment: %v", err)
		}
		if got, err := svc.GetPayment(ctx, a.ID, p.ID); err != nil || got.Status != payment.StatusRequiresAction {
			t.Fatalf("after B's cancel: %+v %v", got, err)
		}

		c, err := svc.CancelPayment(ctx, a.ID, p.ID)
		if err != nil || c.Status != payment.StatusCanceled {
			t.Fatalf("cancel: %+v %v", c, err)
		}
		attempts, err := svc.Attempts(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range attempts {
			if at.Status != payment.AttemptClosed {
				t.Errorf("wallet order %s is %s after the cancel, want closed", at.ID, at.Status)
			}
		}
		if got, err := e.Svc.PayForMeService().Get(ctx, pfm.ID); err != nil || got.Status != "expired" {
			t.Errorf("the pay-for-me request after the cancel: %+v %v, want expired", got, err)
		}
		again, err := svc.CancelPayment(ctx, a.ID, p.ID)
		if err != nil || again.Status != payment.StatusCanceled || !again.UpdatedAt.Equal(c.UpdatedAt) {
			t.Errorf("a second cancel: %+v %v, want the canceled payment unchanged", again, err)
		}
		if _, err := svc.StartAttempt(ctx, p.ID, payments.AttemptRequest{Method: "alipay.precreate"}); !errors.Is(err, payment.ErrClosed) {
			t.Errorf("a wallet order for a canceled payment: %v, want payment.ErrClosed", err)
		}
		if n := len(mustAttempts(t, svc, p.ID)); n != len(attempts) {
			t.Errorf("a refused wallet order was stored: %d orders, had %d", n, len(attempts))
		}
	})
}

func mustAttempts(t *testing.T, svc *payments.Service, paymentID string) []payment.Attempt {
	t.Helper()
	as, err := svc.Attempts(context.Background(), paymentID)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// TestPaidPaymentStaysPaid: a paid payment is not canceled and takes no
// other payer's wallet order; a payment paid at the wallet whose
// notification was lost is found paid by the cancel, not canceled.
func TestPaidPaymentStaysPaid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		svc := e.Svc.PaymentService()
		a := e.Merchants[0]
		p := e.Paid(0, "paid-1", 2500)
		if got, err := svc.CancelPayment(ctx, a.ID, p.ID); !errors.Is(err, payments.ErrAlreadyPaid) || got.Status != payment.StatusSucceeded {
			t.Errorf("cancel of a paid payment: %s %v, want ErrAlreadyPaid", got.Status, err)
		}
		before := len(mustAttempts(t, svc, p.ID))
		for _, m := range []string{"alipay.precreate", "wechatpay.native"} {
			if _, err := svc.StartAttempt(ctx, p.ID, payments.AttemptRequest{Method: m}); !errors.Is(err, payments.ErrPaidByOther) {
				t.Errorf("a %s order for a paid payment: %v, want ErrPaidByOther", m, err)
			}
		}
		if n := len(mustAttempts(t, svc, p.ID)); n != before {
			t.Errorf("refused wallet orders were stored: %d, had %d", n, before)
		}
		if got, err := svc.GetPayment(ctx, a.ID, p.ID); err != nil || got.Status != payment.StatusSucceeded {
			t.Errorf("after the refusals: %+v %v", got, err)
		}

		// Paid at the wallet, its notification lost, nothing polling.
		if st := e.Sandbox.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "notify_drop_rate": 1}, nil); st != http.StatusOK {
			t.Fatalf("sandbox faults: %d", st)
		}
		lost, err := svc.CreatePayment(ctx, a, order("lost-1"))
		if err != nil {
			t.Fatal(err)
		}
		e.Sandbox.Pay(lost.NextAction.QRCode, "")
		// Support asking the wallet now finds it paid; another merchant
		// asking is not found and learns nothing.
		if _, err := svc.QueryNow(ctx, e.Merchants[1].ID, lost.ID); !errors.Is(err, notfound.Err) {
			t.Errorf("another merchant's query: %v, want not found", err)
		}
		lost2, err := svc.CreatePayment(ctx, a, order("lost-2"))
		if err != nil {
			t.Fatal(err)
		}
		e.Sandbox.Pay(lost2.NextAction.QRCode, "")
		if got, err := svc.QueryNow(ctx, a.ID, lost2.ID); err != nil || got.Status != payment.StatusSucceeded {
			t.Errorf("QueryNow of a payment paid at the wallet: %s %v, want succeeded", got.Status, err)
		}
		got, err := svc.CancelPayment(ctx, a.ID, lost.ID)
		if !errors.Is(err, payments.ErrAlreadyPaid) || got.Status != payment.StatusSucceeded {
			t.Errorf("cancel of a payment paid at the wallet: %s %v, want it found paid", got.Status, err)
		}
		if got, err := svc.GetPayment(ctx, a.ID, lost.ID); err != nil || got.Status != payment.StatusSucceeded {
			t.Errorf("the payment paid at the wallet: %+v %v, want succeeded", got, err)
		}
		gatewaytest.CheckBooks(t, e.Svc, "a cancel that found the payment paid")
	})
}

// TestLockPaymentIsTheMerchants: LockPayment finds a merchant's own
// payment, or any payment for "", and another merchant's is not found.
func TestLockPaymentIsTheMerchants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		ctx := context.Background()
		svc := e.Svc.PaymentService()
		a, b := e.Merchants[0], e.Merchants[1]
		p, err := svc.CreatePayment(ctx, a, order("lock-1"))
		if err != nil {
			t.Fatal(err)
		}
		lock := func(merchantID, id string) (payment.Payment, error) {
			var got payment.Payment
			err := db.Tx(ctx, func(tx *sql.Tx) error {
				var err error
				got, err = svc.LockPayment(ctx, tx, id, merchantID)
				return err
			})
			return got, err
		}
		for _, who := range []string{a.ID, ""} {
			if got, err := lock(who, p.ID); err != nil || got.ID != p.ID {
				t.Errorf("lock for %q: %+v %v", who, got, err)
			}
		}
		_, err = lock(b.ID, p.ID)
		var nf *notfound.Error
		if !errors.As(err, &nf) || nf.ID != p.ID || !nf.Scoped {
			t.Errorf("B locked A's payment: %v, want not found for this merchant", err)
		}
		if _, err := lock("", payment.NewID("pay")); !errors.Is(err, notfound.Err) {
			t.Errorf("an unknown payment: %v", err)
		}
		if _, err := svc.GetPayment(ctx, b.ID, p.ID); !errors.Is(err, notfound.Err) {
			t.Errorf("B read A's payment: %v", err)
		}
	})
}
