package wechatpay_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/channel/wechatpay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

func sharingConnector(t *testing.T, e *sandboxtest.Env) *wechatpay.Connector {
	t.Helper()
	c := e.Credentials()
	key, err := sandboxkeys.ParsePrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sandboxkeys.ParsePublicKey(c.PlatformPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := wechatpay.New(ctx, wechatpay.Config{
		MchID: c.MchID, AppID: c.AppID, MerchantSerialNo: c.MerchantSerialNo, MerchantPrivateKey: key,
		APIv3Key: c.APIv3Key, PlatformPublicKeyID: c.PlatformPublicKeyID, PlatformPublicKey: pub, HTTPClient: e.HTTPClient(),
		ProfitSharing: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// partnerPayment makes and pays a partner-mode payment with conn and
// answers its transaction_id.
func partnerPayment(t *testing.T, e *sandboxtest.Env, conn *wechatpay.Connector, sub string, amount int64) string {
	t.Helper()
	out := no("PS")
	a, err := conn.Prepay(ctx, channel.Prepay{OutTradeNo: out, Method: channel.WeChatNative, Amount: amount, Description: "分账连接器测试",
		NotifyURL: "https://gw.example/notify/wechatpay/main", SubMerchant: sub})
	if err != nil {
		t.Fatal(err)
	}
	e.Pay(a.QRCode, "")
	tr, err := conn.Query(ctx, out, sub)
	if err != nil || tr.State != channel.TradePaid || tr.TransactionID == "" {
		t.Fatalf("query: %+v, %v", tr, err)
	}
	return tr.TransactionID
}

// TestShareProfit settles a partner payment made with profit sharing: the
// platform's commission and the sub-merchant's unfrozen rest add up to the
// payment, and the same settlement again is the same.
func TestShareProfit(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := sharingConnector(t, e)
	var sharer channel.ProfitSharer = conn
	sub := e.Sandbox().WeChatPay().SubMerchants()[0].SubMchID
	txn := partnerPayment(t, e, conn, sub, 12345)

	req := channel.ProfitShare{SubMerchant: sub, TransactionID: txn, OutOrderNo: no("S"), PlatformAmount: 617, Description: "平台佣金 5%"}
	res, err := sharer.ShareProfit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != channel.ProfitShareFinished || res.OrderID == "" || res.PlatformAmount != 617 || res.PlatformAmount+res.Unfrozen != 12345 {
		t.Fatalf("share: %+v", res)
	}
	again, err := sharer.ShareProfit(ctx, req)
	if err != nil || again != res {
		t.Fatalf("the same settlement again: %+v, %v (first %+v)", again, err, res)
	}
	// Nothing is left to share.
	_, err = sharer.ShareProfit(ctx, channel.ProfitShare{SubMerchant: sub, TransactionID: txn, OutOrderNo: no("S"), PlatformAmount: 1})
	var we *channel.WalletError
	if !errors.As(err, &we) || we.Status != http.StatusForbidden || we.Code != "NOT_ENOUGH" {
		t.Fatalf("sharing a settled payment: %v", err)
	}

	// No commission: everything is unfrozen to the sub-merchant.
	txn2 := partnerPayment(t, e, conn, sub, 800)
	res, err = sharer.ShareProfit(ctx, channel.ProfitShare{SubMerchant: sub, TransactionID: txn2, OutOrderNo: no("S")})
	if err != nil || res.PlatformAmount != 0 || res.Unfrozen != 800 || res.State != channel.ProfitShareFinished {
		t.Fatalf("unfreeze: %+v, %v", res, err)
	}
}

// TestShareProfitNeedsSharingPayment: a payment made without profit
// sharing cannot be shared, and a commission above the payment is refused.
func TestShareProfitRefused(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	sub := e.Sandbox().WeChatPay().SubMerchants()[1].SubMchID
	plain := partnerPayment(t, e, connector(t, e), sub, 1000)
	conn := sharingConnector(t, e)
	var we *channel.WalletError
	_, err := conn.ShareProfit(ctx, channel.ProfitShare{SubMerchant: sub, TransactionID: plain, OutOrderNo: no("S"), PlatformAmount: 10})
	if !errors.As(err, &we) || we.Code != "INVALID_REQUEST" {
		t.Fatalf("sharing a payment without profit sharing: %v", err)
	}
	txn := partnerPayment(t, e, conn, sub, 1000)
	_, err = conn.ShareProfit(ctx, channel.ProfitShare{SubMerchant: sub, TransactionID: txn, OutOrderNo: no("S"), PlatformAmount: 1001})
	if !errors.As(err, &we) || we.Code != "NOT_ENOUGH" {
		t.Fatalf("a commission above the payment: %v", err)
	}
	if _, err := conn.ShareProfit(ctx, channel.ProfitShare{SubMerchant: sub, TransactionID: txn, PlatformAmount: 1}); err == nil {
		t.Fatal("a share without out_order_no was sent")
	}
}
