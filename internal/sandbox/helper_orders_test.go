package sandbox_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

type ordersAnswer struct {
	Data []struct {
		Wallet, Merchant string
		OutTradeNo       string `json:"out_trade_no"`
		TradeNo          string `json:"trade_no"`
		State            string
		Paid             bool
		PaidAt           time.Time `json:"paid_at"`
		Total, Refunded  int64
		Refunds          []struct {
			OutRefundNo string `json:"out_refund_no"`
			Amount      int64
			Status      string
		}
	}
}

// TestHelperListsOrders: GET /sandbox/v1/orders answers each order with
// the wallet's state, whether it was paid, and its refunds, as the
// official SDK left them; an unknown wallet is refused by name.
func TestHelperListsOrders(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	ctx := context.Background()
	c := e.Credentials()
	key, err := sandboxkeys.ParsePrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sandboxkeys.ParsePublicKey(c.PlatformPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := core.NewClient(ctx, option.WithHTTPClient(e.HTTPClient()), option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, key, c.PlatformPublicKeyID, pub))
	if err != nil {
		t.Fatal(err)
	}
	svc := &native.NativeApiService{Client: client}
	prepay := func(no string, total int64) string {
		resp, _, err := svc.Prepay(ctx, native.PrepayRequest{Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("orders"),
			OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/notify"), Amount: &native.Amount{Total: core.Int64(total)}})
		if err != nil {
			t.Fatal(err)
		}
		return *resp.CodeUrl
	}
	paid := prepay("ORDERS-PAID", 500)
	prepay("ORDERS-UNPAID", 700)
	e.Pay(paid, "")
	if _, _, err := (&refunddomestic.RefundsApiService{Client: client}).Create(ctx, refunddomestic.CreateRequest{
		OutTradeNo: core.String("ORDERS-PAID"), OutRefundNo: core.String("ORDERS-R1"),
		Amount: &refunddomestic.AmountReq{Refund: core.Int64(200), Total: core.Int64(500), Currency: core.String("CNY")}}); err != nil {
		t.Fatal(err)
	}

	var all ordersAnswer
	if st := e.Helper("GET", "/sandbox/v1/orders?wallet=wechatpay", nil, &all); st != http.StatusOK || len(all.Data) != 2 {
		t.Fatalf("orders: %d, %d orders", st, len(all.Data))
	}
	p, u := all.Data[0], all.Data[1]
	if p.OutTradeNo != "ORDERS-PAID" || !p.Paid || p.PaidAt.IsZero() || p.TradeNo == "" || p.Total != 500 || p.Merchant != c.MchID {
		t.Errorf("the paid order: %+v", p)
	}
	if len(p.Refunds) != 1 || p.Refunds[0].OutRefundNo != "ORDERS-R1" || p.Refunds[0].Amount != 200 {
		t.Errorf("the paid order's refunds: %+v", p.Refunds)
	}
	if u.OutTradeNo != "ORDERS-UNPAID" || u.Paid || u.State != "NOTPAY" || u.Refunded != 0 || len(u.Refunds) != 0 {
		t.Errorf("the unpaid order: %+v", u)
	}
	// The refund settles after the wallet's delay; then it counts.
	sandboxtest.Eventually(t, 10*time.Second, "the refund succeeds", func() bool {
		var one ordersAnswer
		e.Helper("GET", "/sandbox/v1/orders?out_trade_no=ORDERS-PAID", nil, &one)
		return len(one.Data) == 1 && one.Data[0].Refunded == 200 && one.Data[0].Refunds[0].Status == "SUCCESS"
	})
	var refused struct{ Code, Message string }
	if st := e.Helper("GET", "/sandbox/v1/orders?wallet=paypal", nil, &refused); st != http.StatusBadRequest || refused.Code != "invalid_wallet" {
		t.Errorf("an unknown wallet: %d %+v", st, refused)
	}
}
