package wechatpay_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/profitsharing"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// paidDirectOrder makes a direct NATIVE payment of total fen with profit
// sharing, pays it, and returns its transaction_id.
func paidDirectOrder(t *testing.T, e *sandboxtest.Env, client *core.Client, total int64) string {
	t.Helper()
	c := e.Credentials()
	resp, _, err := (&native.NativeApiService{Client: client}).Prepay(ctx, native.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("直连分账测试"),
		OutTradeNo: core.String(psNo("D")), NotifyUrl: core.String("https://shop.example/notify"),
		Amount:     &native.Amount{Total: core.Int64(total)},
		SettleInfo: &native.SettleInfo{ProfitSharing: core.Bool(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e.Pay(*resp.CodeUrl, "").TransactionID
}

// addDirectReceiver adds a MERCHANT_ID receiver as a direct merchant (no
// sub_mchid).
func addDirectReceiver(t *testing.T, client *core.Client, c wechatpay.Credentials, account string) {
	t.Helper()
	resp, _, err := (&profitsharing.ReceiversApiService{Client: client}).AddReceiver(ctx, profitsharing.AddReceiverRequest{
		Appid: core.String(c.AppID), Type: profitsharing.RECEIVERTYPE_MERCHANT_ID.Ptr(), Account: core.String(account),
		Name: core.String("分账接收方 " + account), RelationType: profitsharing.RECEIVERRELATIONTYPE_SUPPLIER.Ptr(),
	})
	if err != nil {
		t.Fatalf("add receiver %s as a direct merchant: %v", account, err)
	}
	if *resp.Account != account || resp.SubMchid != nil {
		t.Fatalf("add receiver answered %v", resp)
	}
}

func directShare(c wechatpay.Credentials, txn, no string, unfreeze bool, amounts map[string]int64) profitsharing.CreateOrderRequest {
	r := profitsharing.CreateOrderRequest{Appid: core.String(c.AppID), TransactionId: core.String(txn), OutOrderNo: core.String(no), UnfreezeUnsplit: core.Bool(unfreeze)}
	for account, amount := range amounts {
		r.Receivers = append(r.Receivers, profitsharing.CreateOrderReceiver{Type: core.String("MERCHANT_ID"), Account: core.String(account),
			Amount: core.Int64(amount), Description: core.String("供应商货款")})
	}
	return r
}

// paramField asserts err is a PARAM_ERROR naming field.
func paramField(t *testing.T, err error, field string) {
	t.Helper()
	ae := apiError(t, err, http.StatusBadRequest, wechatpayv3.CodeParamError)
	var body wechatpayv3.Error
	if json.Unmarshal([]byte(ae.Body), &body) != nil || body.Detail == nil || body.Detail.Field != field {
		t.Fatalf("want PARAM_ERROR naming %s, got %s", field, ae.Body)
	}
}

// TestProfitSharingDirectMerchant drives every profit-sharing call through
// wechatpay-go as a direct merchant, which sends no sub_mchid: receivers
// added and deleted, a share, its query, the amounts, the 30% maximum
// ratio, and the unfreeze of the rest to the merchant itself. A partner
// payment still needs its sub_mchid.
func TestProfitSharingDirectMerchant(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	client := publicKeyClient(t, e)
	orders := &profitsharing.OrdersApiService{Client: client}
	receivers := &profitsharing.ReceiversApiService{Client: client}
	const supplier, carrier = "1900008001", "1900008002"
	txn := paidDirectOrder(t, e, client, 10000)

	addDirectReceiver(t, client, c, supplier)
	addDirectReceiver(t, client, c, carrier)
	// The merchant cannot receive its own money.
	_, _, err := receivers.AddReceiver(ctx, profitsharing.AddReceiverRequest{
		Appid: core.String(c.AppID), Type: profitsharing.RECEIVERTYPE_MERCHANT_ID.Ptr(), Account: core.String(c.MchID),
		Name: core.String("自己"), RelationType: profitsharing.RECEIVERRELATIONTYPE_SUPPLIER.Ptr(),
	})
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)

	no := psNo("DS")
	first, _, err := orders.CreateOrder(ctx, directShare(c, txn, no, false, map[string]int64{supplier: 2000}))
	if err != nil {
		t.Fatalf("a direct merchant's share: %v", err)
	}
	if *first.State != profitsharing.ORDERSTATUS_FINISHED || first.SubMchid != nil || len(first.Receivers) != 1 || *first.Receivers[0].Amount != 2000 {
		t.Fatalf("share answered %v", first)
	}
	q, _, err := orders.QueryOrder(ctx, profitsharing.QueryOrderRequest{TransactionId: core.String(txn), OutOrderNo: core.String(no)})
	if err != nil || *q.OrderId != *first.OrderId {
		t.Fatalf("query without sub_mchid: %v, %v", q, err)
	}
	if got := unsplitAmount(t, client, txn); got != 8000 {
		t.Fatalf("unsplit after sharing 2000: %d", got)
	}

	// 30% of 10000 is 3000 in all: 2000 + 1001 is too much, 2000 + 1000 is not.
	_, _, err = orders.CreateOrder(ctx, directShare(c, txn, psNo("DS"), false, map[string]int64{carrier: 1001}))
	if ae := apiError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest); !strings.Contains(ae.Message, "分账金额超出最大分账比例") {
		t.Fatalf("over the ratio: %s", ae.Message)
	}
	if got := unsplitAmount(t, client, txn); got != 8000 {
		t.Fatalf("a refused share changed the unsplit amount: %d", got)
	}
	if _, _, err := orders.CreateOrder(ctx, directShare(c, txn, psNo("DS"), false, map[string]int64{carrier: 1000})); err != nil {
		t.Fatalf("a share up to the ratio: %v", err)
	}
	_, _, err = orders.CreateOrder(ctx, directShare(c, txn, psNo("DS"), false, map[string]int64{carrier: 1}))
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)

	// A deleted receiver can no longer be shared to.
	del, _, err := receivers.DeleteReceiver(ctx, profitsharing.DeleteReceiverRequest{
		Appid: core.String(c.AppID), Type: profitsharing.RECEIVERTYPE_MERCHANT_ID.Ptr(), Account: core.String(carrier),
	})
	if err != nil || *del.Account != carrier || del.SubMchid != nil {
		t.Fatalf("delete receiver: %v, %v", del, err)
	}
	_, _, err = receivers.DeleteReceiver(ctx, profitsharing.DeleteReceiverRequest{
		Appid: core.String(c.AppID), Type: profitsharing.RECEIVERTYPE_MERCHANT_ID.Ptr(), Account: core.String(carrier),
	})
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)
	txn2 := paidDirectOrder(t, e, client, 500)
	_, _, err = orders.CreateOrder(ctx, directShare(c, txn2, psNo("DS"), false, map[string]int64{carrier: 10}))
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)

	// The rest is unfrozen to the merchant itself.
	u, _, err := orders.UnfreezeOrder(ctx, profitsharing.UnfreezeOrderRequest{TransactionId: core.String(txn), OutOrderNo: core.String(psNo("DU")),
		Description: core.String("解冻剩余资金")})
	if err != nil {
		t.Fatalf("a direct merchant's unfreeze: %v", err)
	}
	if len(u.Receivers) != 1 || *u.Receivers[0].Account != c.MchID || *u.Receivers[0].Amount != 7000 {
		t.Fatalf("unfreeze answered %v", u)
	}
	if got := unsplitAmount(t, client, txn); got != 0 {
		t.Fatalf("unsplit after the unfreeze: %d", got)
	}

	// A partner payment still needs its sub_mchid; a direct payment is not
	// a sub-merchant's.
	sub := e.Sandbox().WeChatPay().SubMerchants()[0].SubMchID
	partnerTxn, _ := paidPartnerOrder(t, e, client, sub, 1000, true)
	_, _, err = orders.CreateOrder(ctx, directShare(c, partnerTxn, psNo("DS"), false, map[string]int64{supplier: 10}))
	paramField(t, err, "/sub_mchid")
	_, _, err = orders.UnfreezeOrder(ctx, profitsharing.UnfreezeOrderRequest{TransactionId: core.String(partnerTxn), OutOrderNo: core.String(psNo("DU")),
		Description: core.String("解冻")})
	paramField(t, err, "/sub_mchid")
	if got := unsplitAmount(t, client, partnerTxn); got != 1000 {
		t.Fatalf("refusals changed the partner payment: %d", got)
	}
	_, _, err = orders.CreateOrder(ctx, shareReq(c, sub, txn2, psNo("S"), 10, false))
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)
	// The direct merchant's receivers are not the sub-merchant's.
	addPlatformReceiver(t, client, c, sub)
	if _, _, err := orders.CreateOrder(ctx, shareReq(c, sub, partnerTxn, psNo("S"), 100, false)); err != nil {
		t.Fatalf("the partner share: %v", err)
	}
	_, _, err = orders.CreateOrder(ctx, directShare(c, txn2, psNo("DS"), false, map[string]int64{c.MchID: 10}))
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)
}

// TestProfitSharingLimits: 50 receivers per request and 50 requests per
// payment, as the API v3 documents; a sub-merchant's maximum ratio reads
// 3000 (30%) and binds partner shares too.
func TestProfitSharingLimits(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	client := publicKeyClient(t, e)
	orders := &profitsharing.OrdersApiService{Client: client}

	amounts := map[string]int64{}
	for i := range 51 {
		amounts[fmt.Sprintf("19000090%02d", i)] = 1
	}
	txn := paidDirectOrder(t, e, client, 100000)
	_, _, err := orders.CreateOrder(ctx, directShare(c, txn, psNo("DS"), false, amounts))
	paramField(t, err, "/receivers")
	delete(amounts, "1900009050")
	for account := range amounts {
		addDirectReceiver(t, client, c, account)
	}
	o, _, err := orders.CreateOrder(ctx, directShare(c, txn, psNo("DS"), false, amounts))
	if err != nil || len(o.Receivers) != 50 {
		t.Fatalf("50 receivers in one request: %v, %v", o, err)
	}
	// 49 more requests make 50; the 51st is refused.
	for i := range 49 {
		if _, _, err := orders.CreateOrder(ctx, directShare(c, txn, psNo("DS"), false, map[string]int64{"1900009000": 1})); err != nil {
			t.Fatalf("request %d of 50: %v", i+2, err)
		}
	}
	_, _, err = orders.CreateOrder(ctx, directShare(c, txn, psNo("DS"), false, map[string]int64{"1900009000": 1}))
	if ae := apiError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest); !strings.Contains(ae.Message, "50") {
		t.Fatalf("the 51st request: %s", ae.Message)
	}
	if got := unsplitAmount(t, client, txn); got != 100000-99 {
		t.Fatalf("unsplit after 99 fen in 50 requests: %d", got)
	}

	// A sub-merchant's maximum ratio, and a partner share held to it.
	sub := e.Sandbox().WeChatPay().SubMerchants()[1].SubMchID
	ratio, _, err := (&profitsharing.MerchantsApiService{Client: client}).QueryMerchantRatio(ctx, profitsharing.QueryMerchantRatioRequest{SubMchid: core.String(sub)})
	if err != nil || *ratio.MaxRatio != wechatpay.MaxSharingRatioBasisPoints || *ratio.SubMchid != sub {
		t.Fatalf("merchant ratio: %v, %v", ratio, err)
	}
	_, _, err = (&profitsharing.MerchantsApiService{Client: client}).QueryMerchantRatio(ctx, profitsharing.QueryMerchantRatioRequest{SubMchid: core.String("1900007777")})
	wantAPIError(t, err, http.StatusForbidden, wechatpayv3.CodeNoAuth)
	partnerTxn, _ := paidPartnerOrder(t, e, client, sub, 999, true)
	addPlatformReceiver(t, client, c, sub)
	_, _, err = orders.CreateOrder(ctx, shareReq(c, sub, partnerTxn, psNo("S"), 300, true)) // 30% of 999 is 299.7
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)
	if _, _, err := orders.CreateOrder(ctx, shareReq(c, sub, partnerTxn, psNo("S"), 299, true)); err != nil {
		t.Fatalf("a partner share of 299 of 999: %v", err)
	}
}
