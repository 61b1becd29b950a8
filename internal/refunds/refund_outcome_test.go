package refunds_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// faultyRefunds is a real connector whose refund calls go wrong the way
// networks and wallets do: the answer lost after the wallet refunded, a
// system error before it did, or a final business refusal.
type faultyRefunds struct {
	channel.Connector
	mode  string // "lost_answer", "system_error", "refused"
	calls atomic.Int32
}

func (f *faultyRefunds) Refund(ctx context.Context, r channel.RefundRequest) (channel.Refund, error) {
	if f.calls.Add(1) > 1 {
		return f.Connector.Refund(ctx, r) // the fault hits the first call only
	}
	switch f.mode {
	case "lost_answer":
		if _, err := f.Connector.Refund(ctx, r); err != nil {
			return channel.Refund{}, err
		}
		return channel.Refund{}, errors.New("read tcp: connection reset by peer")
	case "system_error":
		return channel.Refund{}, &channel.WalletError{Status: http.StatusInternalServerError, Code: "SYSTEM_ERROR", Message: "系统错误"}
	}
	return channel.Refund{}, &channel.WalletError{Status: http.StatusBadRequest, Code: "INVALID_REQUEST", Message: "订单已全额退款", Final: true}
}

// TestRefundOutcomeIsTheWallets: a refund whose call failed without a
// final refusal stays pending and is settled by what the wallet says when
// asked again, never marked failed by the failed call; a final refusal
// fails it and gives the amount back to the payment.
func TestRefundOutcomeIsTheWallets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range []struct {
			mode, want string
			calls      int32 // refund calls the wallet saw
		}{
			{"lost_answer", payment.RefundSucceeded, 1}, // asked about, found refunded: not called again
			{"system_error", payment.RefundSucceeded, 2},
			{"refused", payment.RefundFailed, 1},
		} {
			t.Run(c.mode, func(t *testing.T) {
				e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
				f := &faultyRefunds{Connector: e.Svc.Accounts["wechatpay"].Connector, mode: c.mode}
				e.Svc.Accounts["wechatpay"] = gateway.Account{Name: "main", Connector: f}
				e.StartWorker()
				ctx := context.Background()
				p := e.Paid(0, "outcome-"+c.mode, 1000)
				r, err := e.Svc.RefundService().Create(ctx, e.Merchants[0].ID, p.ID, 400, "outcome", "")
				if err != nil {
					t.Fatal(err)
				}
				e.Eventually("the refund settled", func() bool {
					got, err := e.Svc.RefundService().Get(ctx, e.Merchants[0].ID, r.ID)
					return err == nil && got.Status != payment.RefundPending
				})
				got, _ := e.Svc.RefundService().Get(ctx, e.Merchants[0].ID, r.ID)
				pay, _ := e.Svc.PaymentService().GetPayment(ctx, e.Merchants[0].ID, p.ID)
				if got.Status != c.want {
					t.Fatalf("refund %s, want %s", got.Status, c.want)
				}
				wantRefunded := int64(400)
				if c.want == payment.RefundFailed {
					wantRefunded = 0
				}
				if pay.Refunded != wantRefunded {
					t.Errorf("payment refunded %d, want %d", pay.Refunded, wantRefunded)
				}
				if n := f.calls.Load(); n != c.calls {
					t.Errorf("the wallet was asked to refund %d times, want %d", n, c.calls)
				}
				gatewaytest.CheckBooks(t, e.Svc, c.mode)
			})
		}
	})
}
