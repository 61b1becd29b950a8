package refunds_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/refunds"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// refundEnv is a gateway with its worker running against the sandbox.
type refundEnv struct {
	*gatewaytest.Env
	svc *refunds.Service
}

func startRefunds(t *testing.T, db *store.DB) *refundEnv {
	t.Helper()
	e := gatewaytest.Start(t, db, gatewaytest.Options{})
	return &refundEnv{Env: e, svc: e.Svc.RefundService()}
}

// settled waits until the refund's status is want.
func (e *refundEnv) settled(merchant int, r payment.Refund, want string) payment.Refund {
	e.T.Helper()
	ctx := context.Background()
	e.Eventually("refund "+r.ID+" "+want, func() bool {
		got, err := e.svc.Get(ctx, e.Merchants[merchant].ID, r.ID)
		return err == nil && got.Status == want
	})
	got, err := e.svc.Get(ctx, e.Merchants[merchant].ID, r.ID)
	if err != nil {
		e.T.Fatal(err)
	}
	return got
}

func (e *refundEnv) refunded(merchant int, paymentID string) int64 {
	e.T.Helper()
	p, err := e.Svc.PaymentService().GetPayment(context.Background(), e.Merchants[merchant].ID, paymentID)
	if err != nil {
		e.T.Fatal(err)
	}
	return p.Refunded
}

func (e *refundEnv) list(merchant int, paymentID string) []payment.Refund {
	e.T.Helper()
	rs, err := e.svc.List(context.Background(), e.Merchants[merchant].ID, paymentID, "", 100)
	if err != nil {
		e.T.Fatal(err)
	}
	return rs
}

// TestRefundOnly: a refund_only reserves its amount at once and succeeds
// at the wallet; a refund above what is left, of no amount, of an unknown
// kind or of an unpaid payment is refused and changes nothing; another
// merchant neither sees nor makes refunds of the payment; the rest can
// then be refunded, and the books hold.
func TestRefundOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startRefunds(t, db)
		ctx := context.Background()
		a, b := e.Merchants[0].ID, e.Merchants[1].ID
		p := e.Paid(0, "ro-1", 1000)

		r, err := e.svc.Create(ctx, a, p.ID, 600, "尺码不合适", "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind != payment.RefundOnly || r.Amount != 600 || r.PaymentID != p.ID {
			t.Errorf("refund %+v, want refund_only of 600 on %s", r, p.ID)
		}
		if n := e.refunded(0, p.ID); n != 600 {
			t.Errorf("the payment reserves %d, want 600 at once", n)
		}
		e.settled(0, r, payment.RefundSucceeded)
		gatewaytest.CheckBooks(t, e.Svc, "a refund of 600")

		unpaid, err := e.Svc.PaymentService().CreatePayment(ctx, e.Merchants[0], payment.Request{MerchantOrderID: "ro-unpaid", Amount: 1000,
			Currency: "CNY", Description: "未付", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-unpaid"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name      string
			merchant  string
			paymentID string
			amount    int64
			kind      string
			check     func(error) bool
		}{
			{"above what is left", a, p.ID, 401, "", func(err error) bool {
				var ex *payment.RefundExceedsError
				return errors.Is(err, payment.ErrRefundExceeds) && errors.As(err, &ex) && ex.Refundable == 400 && ex.Paid == 1000
			}},
			{"above what is left, with a return", a, p.ID, 401, payment.RefundWithReturn, func(err error) bool { return errors.Is(err, payment.ErrRefundExceeds) }},
			{"no amount", a, p.ID, 0, "", func(err error) bool { return isField(err, "amount") }},
			{"a negative amount", a, p.ID, -5, "", func(err error) bool { return isField(err, "amount") }},
			{"an unknown kind", a, p.ID, 100, "exchange", func(err error) bool { return isField(err, "kind") }},
			{"an unpaid payment", a, unpaid.ID, 100, "", func(err error) bool { return errors.Is(err, payment.ErrNotPaid) }},
			{"another merchant's payment", b, p.ID, 100, "", func(err error) bool { return errors.Is(err, notfound.Err) }},
		} {
			if _, err := e.svc.Create(ctx, c.merchant, c.paymentID, c.amount, "no", c.kind); !c.check(err) {
				t.Errorf("%s: %v", c.name, err)
			}
		}
		if n := e.refunded(0, p.ID); n != 600 {
			t.Errorf("refused refunds changed the payment's refunded to %d", n)
		}
		if rs := e.list(0, p.ID); len(rs) != 1 || rs[0].ID != r.ID {
			t.Errorf("refused refunds were stored: %+v", rs)
		}
		if rs := e.list(0, unpaid.ID); len(rs) != 0 {
			t.Errorf("a refund of an unpaid payment was stored: %+v", rs)
		}
		if _, err := e.svc.Get(ctx, b, r.ID); !errors.Is(err, notfound.Err) {
			t.Errorf("B read A's refund: %v", err)
		}
		if _, err := e.svc.List(ctx, b, p.ID, "", 10); !errors.Is(err, notfound.Err) {
			t.Errorf("B listed A's payment's refunds: %v", err)
		}
		gatewaytest.CheckBooks(t, e.Svc, "refused refunds")

		rest, err := e.svc.Create(ctx, a, p.ID, 400, "余款", payment.RefundOnly)
		if err != nil {
			t.Fatal(err)
		}
		e.settled(0, rest, payment.RefundSucceeded)
		if n := e.refunded(0, p.ID); n != 1000 {
			t.Errorf("refunded %d, want all 1000", n)
		}
		if _, err := e.svc.Create(ctx, a, p.ID, 1, "", ""); !errors.Is(err, payment.ErrRefundExceeds) {
			t.Errorf("a refund of a fully refunded payment: %v", err)
		}
		gatewaytest.CheckBooks(t, e.Svc, "the whole payment refunded")
	})
}

func isField(err error, param string) bool {
	var fe *payment.FieldError
	return errors.As(err, &fe) && fe.Param == param
}

// TestReturnAndRefund: a return_and_refund holds its claim on the payment
// and waits, while the worker runs other refunds, until the merchant says
// the goods are back; only a refund awaiting its return can be received
// or canceled, and only by its merchant.
func TestReturnAndRefund(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startRefunds(t, db)
		ctx := context.Background()
		a, b := e.Merchants[0].ID, e.Merchants[1].ID
		p := e.Paid(0, "rr-1", 1000)

		ret, err := e.svc.Create(ctx, a, p.ID, 700, "退货退款", payment.RefundWithReturn)
		if err != nil {
			t.Fatal(err)
		}
		if ret.Status != payment.RefundAwaitingReturn || ret.Kind != payment.RefundWithReturn {
			t.Fatalf("refund %+v, want awaiting_return", ret)
		}
		if _, err := e.svc.Create(ctx, a, p.ID, 301, "", ""); !errors.Is(err, payment.ErrRefundExceeds) {
			t.Errorf("a refund beyond the awaited return's claim: %v", err)
		}
		// Another refund goes through the worker; the awaited one stays.
		ro, err := e.svc.Create(ctx, a, p.ID, 300, "运费", "")
		if err != nil {
			t.Fatal(err)
		}
		e.settled(0, ro, payment.RefundSucceeded)
		if got, err := e.svc.Get(ctx, a, ret.ID); err != nil || got.Status != payment.RefundAwaitingReturn {
			t.Fatalf("the return_and_refund before its goods are back: %+v %v", got, err)
		}
		gatewaytest.CheckBooks(t, e.Svc, "a refund while a return is awaited")

		for _, c := range []struct {
			name, merchant, refund string
			want                   error
		}{
			{"B, of A's refund", b, ret.ID, notfound.Err},
			{"an unknown refund", a, payment.NewID("re"), notfound.Err},
			{"a refund_only", a, ro.ID, refunds.ErrNotAwaitingReturn},
		} {
			if _, err := e.svc.ReturnReceived(ctx, c.merchant, c.refund); !errors.Is(err, c.want) {
				t.Errorf("return received, %s: %v, want %v", c.name, err, c.want)
			}
			if _, err := e.svc.CancelReturn(ctx, c.merchant, c.refund, "no"); !errors.Is(err, c.want) {
				t.Errorf("return canceled, %s: %v, want %v", c.name, err, c.want)
			}
		}
		if got, err := e.svc.Get(ctx, a, ret.ID); err != nil || got.Status != payment.RefundAwaitingReturn {
			t.Fatalf("after refused calls: %+v %v", got, err)
		}

		got, err := e.svc.ReturnReceived(ctx, a, ret.ID)
		if err != nil || got.Status != payment.RefundPending {
			t.Fatalf("return received: %+v %v", got, err)
		}
		e.settled(0, ret, payment.RefundSucceeded)
		if _, err := e.svc.ReturnReceived(ctx, a, ret.ID); !errors.Is(err, refunds.ErrNotAwaitingReturn) {
			t.Errorf("the return received twice: %v", err)
		}
		if _, err := e.svc.CancelReturn(ctx, a, ret.ID, "late"); !errors.Is(err, refunds.ErrNotAwaitingReturn) {
			t.Errorf("a refunded return canceled: %v", err)
		}
		if n := e.refunded(0, p.ID); n != 1000 {
			t.Errorf("refunded %d, want 1000", n)
		}
		gatewaytest.CheckBooks(t, e.Svc, "the return refunded")
	})
}

// TestCancelReturnGivesTheClaimBack: a canceled return_and_refund frees
// its amount, so a refund of the whole payment then succeeds; the canceled
// refund is neither received nor canceled again.
func TestCancelReturnGivesTheClaimBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startRefunds(t, db)
		ctx := context.Background()
		a := e.Merchants[0].ID
		p := e.Paid(0, "cr-1", 1000)
		ret, err := e.svc.Create(ctx, a, p.ID, 1000, "退货", payment.RefundWithReturn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Create(ctx, a, p.ID, 1, "", ""); !errors.Is(err, payment.ErrRefundExceeds) {
			t.Fatalf("a refund while the whole payment awaits a return: %v", err)
		}
		got, err := e.svc.CancelReturn(ctx, a, ret.ID, "买家未寄回")
		if err != nil || got.Status != payment.RefundCanceled || got.CancelReason != "买家未寄回" {
			t.Fatalf("cancel return: %+v %v", got, err)
		}
		if n := e.refunded(0, p.ID); n != 0 {
			t.Errorf("after the cancel the payment still reserves %d", n)
		}
		if _, err := e.svc.CancelReturn(ctx, a, ret.ID, ""); !errors.Is(err, refunds.ErrNotAwaitingReturn) {
			t.Errorf("canceled twice: %v", err)
		}
		if _, err := e.svc.ReturnReceived(ctx, a, ret.ID); !errors.Is(err, refunds.ErrNotAwaitingReturn) {
			t.Errorf("a canceled return received: %v", err)
		}
		whole, err := e.svc.Create(ctx, a, p.ID, 1000, "仅退款", "")
		if err != nil {
			t.Fatalf("a refund of the whole payment after the cancel: %v", err)
		}
		e.settled(0, whole, payment.RefundSucceeded)
		if got, err := e.svc.Get(ctx, a, ret.ID); err != nil || got.Status != payment.RefundCanceled {
			t.Errorf("the canceled return later: %+v %v", got, err)
		}
		// The ledger holds (CheckBooks, but for its count of refunds, which
		// takes the canceled claim for money: TestBooksHoldAfterCanceledReturn).
		if problems, err := e.Svc.MoneyService().VerifyLedger(ctx); err != nil || len(problems) > 0 {
			t.Fatalf("ledger after a canceled return and a whole refund: %v %v", problems, err)
		}
	})
}

// TestBooksHoldAfterCanceledReturn: a canceled return_and_refund moved no
// money, so a payment whose return was canceled and which was then
// refunded in full is refunded exactly once; the books check must say so.
func TestBooksHoldAfterCanceledReturn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startRefunds(t, db)
		ctx := context.Background()
		a := e.Merchants[0].ID
		p := e.Paid(0, "books-cr", 1000)
		ret, err := e.svc.Create(ctx, a, p.ID, 1000, "退货", payment.RefundWithReturn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CancelReturn(ctx, a, ret.ID, "买家未寄回"); err != nil {
			t.Fatal(err)
		}
		whole, err := e.svc.Create(ctx, a, p.ID, 1000, "仅退款", "")
		if err != nil {
			t.Fatal(err)
		}
		e.settled(0, whole, payment.RefundSucceeded)
		gatewaytest.CheckBooks(t, e.Svc, "a canceled return, then a whole refund")
	})
}

// TestConcurrentRefundsNeverExceedThePayment: eight refunds of 30% each at
// once: exactly three are reserved, the others refused as exceeding, and
// the three succeed at the wallet.
func TestConcurrentRefundsNeverExceedThePayment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startRefunds(t, db)
		ctx := context.Background()
		a := e.Merchants[0].ID
		p := e.Paid(0, "cc-1", 1000)
		var mu sync.Mutex
		var made []payment.Refund
		var exceeded atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				r, err := e.svc.Create(ctx, a, p.ID, 300, "并发", "")
				switch {
				case err == nil:
					mu.Lock()
					made = append(made, r)
					mu.Unlock()
				case errors.Is(err, payment.ErrRefundExceeds):
					exceeded.Add(1)
				default:
					t.Errorf("refund: %v", err)
				}
			})
		}
		wg.Wait()
		if len(made) != 3 || exceeded.Load() != 5 {
			t.Fatalf("%d refunds reserved, %d refused as exceeding; want 3 and 5", len(made), exceeded.Load())
		}
		for _, r := range made {
			e.settled(0, r, payment.RefundSucceeded)
		}
		if n := e.refunded(0, p.ID); n != 900 {
			t.Errorf("refunded %d, want 900", n)
		}
		if rs := e.list(0, p.ID); len(rs) != 3 {
			t.Errorf("%d refunds stored, want 3", len(rs))
		}
		gatewaytest.CheckBooks(t, e.Svc, "concurrent refunds")
	})
}
