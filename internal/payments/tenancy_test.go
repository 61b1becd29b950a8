package payments_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sharecodes"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestSalesCreditOnlyTheMerchantsOwnShareCodes: a payment naming another
// merchant's share code is refused as naming no code; one stored before
// that check (its data naming the other's code) is paid without crediting
// it, while a payment naming the merchant's own code credits that code.
func TestSalesCreditOnlyTheMerchantsOwnShareCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		ctx := context.Background()
		svc := e.Svc
		a, b := e.Merchants[0], e.Merchants[1]
		codeA, err := svc.ShareCodeService().Create(ctx, a.ID, sharecodes.Request{Target: "store", TargetID: a.ID, Source: "wechat_group"})
		if err != nil {
			t.Fatal(err)
		}
		codeB, err := svc.ShareCodeService().Create(ctx, b.ID, sharecodes.Request{Target: "store", TargetID: b.ID, Source: "wechat_group"})
		if err != nil {
			t.Fatal(err)
		}
		req := func(order, code string) payment.Request {
			return payment.Request{MerchantOrderID: order, Amount: 700, Currency: "CNY", Description: "分享", Method: "wechatpay.native",
				Buyer: payment.Buyer{ID: "b-" + order}, ShareCode: code}
		}
		for _, code := range []string{codeA.ID, payment.NewID("sc")} {
			_, err := svc.PaymentService().CreatePayment(ctx, b, req("foreign-"+code, code))
			var nf *gateway.NotFoundError
			if !errors.As(err, &nf) || nf.Param != "share_code" || !errors.Is(err, gateway.ErrNotFound) || err.Error() != "no share code "+code+" for this merchant" {
				t.Fatalf("B's payment naming share code %s: %v, want no share code %[1]s for this merchant", code, err)
			}
		}
		// A payment of B's whose stored data names A's code, as one made
		// before the check would.
		old, err := svc.PaymentService().CreatePayment(ctx, b, req("old-1", ""))
		if err != nil {
			t.Fatal(err)
		}
		old.ShareCode = codeA.ID
		data, err := json.Marshal(old)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE payments SET data = $2 WHERE id = $1`, old.ID, string(data)); err != nil {
			t.Fatal(err)
		}
		own, err := svc.PaymentService().CreatePayment(ctx, b, req("own-1", codeB.ID))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []payment.Payment{old, own} {
			e.Sandbox.Pay(p.NextAction.QRCode, "")
			e.Eventually("paid "+p.ID, func() bool { return e.Status(1, p.ID) == payment.StatusSucceeded })
		}
		gotA, err := svc.ShareCodeService().Get(ctx, a.ID, codeA.ID)
		if err != nil {
			t.Fatal(err)
		}
		gotB, err := svc.ShareCodeService().Get(ctx, b.ID, codeB.ID)
		if err != nil {
			t.Fatal(err)
		}
		if gotA.PaidOrders != 0 || gotA.PaidAmount != 0 {
			t.Errorf("B's sale credited A's share code: %d orders, %d fen", gotA.PaidOrders, gotA.PaidAmount)
		}
		if gotB.PaidOrders != 1 || gotB.PaidAmount != 700 {
			t.Errorf("B's own share code: %d orders, %d fen, want 1 and 700", gotB.PaidOrders, gotB.PaidAmount)
		}
	})
}
