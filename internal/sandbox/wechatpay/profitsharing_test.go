package wechatpay_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	partnernative "github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/profitsharing"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

var psSeq atomic.Int64

func psNo(prefix string) string {
	return fmt.Sprintf("%s%d%04d", prefix, time.Now().UnixNano()%1e9, psSeq.Add(1))
}

// paidPartnerOrder makes a partner-mode NATIVE payment of total fen for
// sub, with or without profit sharing, pays it, and returns its
// transaction_id and out_trade_no.
func paidPartnerOrder(t *testing.T, e *sandboxtest.Env, client *core.Client, sub string, total int64, sharing bool) (string, string) {
	t.Helper()
	c := e.Credentials()
	out := psNo("PS")
	req := partnernative.PrepayRequest{
		SpAppid: core.String(c.AppID), SpMchid: core.String(c.MchID), SubMchid: core.String(sub),
		Description: core.String("分账测试"), OutTradeNo: core.String(out), NotifyUrl: core.String("https://shop.example/notify"),
		Amount: &partnernative.Amount{Total: core.Int64(total)},
	}
	if sharing {
		req.SettleInfo = &partnernative.SettleInfo{ProfitSharing: core.Bool(true)}
	}
	resp, _, err := (&partnernative.NativeApiService{Client: client}).Prepay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return e.Pay(*resp.CodeUrl, "").TransactionID, out
}

func addPlatformReceiver(t *testing.T, client *core.Client, c wechatpay.Credentials, sub string) {
	t.Helper()
	resp, _, err := (&profitsharing.ReceiversApiService{Client: client}).AddReceiver(ctx, profitsharing.AddReceiverRequest{
		SubMchid: core.String(sub), Appid: core.String(c.AppID), Type: profitsharing.RECEIVERTYPE_MERCHANT_ID.Ptr(),
		Account: core.String(c.MchID), Name: core.String("hutong 沙箱商户"), RelationType: profitsharing.RECEIVERRELATIONTYPE_SERVICE_PROVIDER.Ptr(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if *resp.Account != c.MchID || *resp.Type != profitsharing.RECEIVERTYPE_MERCHANT_ID || resp.Name == nil || *resp.Name != "hutong 沙箱商户" {
		t.Fatalf("add receiver answered %v", resp)
	}
}

func shareReq(c wechatpay.Credentials, sub, txn, no string, amount int64, unfreeze bool) profitsharing.CreateOrderRequest {
	return profitsharing.CreateOrderRequest{
		SubMchid: core.String(sub), Appid: core.String(c.AppID), TransactionId: core.String(txn), OutOrderNo: core.String(no),
		Receivers: []profitsharing.CreateOrderReceiver{{Type: core.String("MERCHANT_ID"), Account: core.String(c.MchID),
			Amount: core.Int64(amount), Description: core.String("平台佣金")}},
		UnfreezeUnsplit: core.Bool(unfreeze),
	}
}

func unsplitAmount(t *testing.T, client *core.Client, txn string) int64 {
	t.Helper()
	resp, _, err := (&profitsharing.TransactionsApiService{Client: client}).QueryOrderAmount(ctx, profitsharing.QueryOrderAmountRequest{TransactionId: core.String(txn)})
	if err != nil {
		t.Fatal(err)
	}
	if *resp.TransactionId != txn {
		t.Fatalf("amounts of %s answered %s", txn, *resp.TransactionId)
	}
	return *resp.UnsplitAmount
}

func refund(client *core.Client, sub, outTradeNo string, amount, total int64) error {
	_, _, err := (&refunddomestic.RefundsApiService{Client: client}).Create(ctx, refunddomestic.CreateRequest{
		SubMchid: core.String(sub), OutTradeNo: core.String(outTradeNo), OutRefundNo: core.String(psNo("R")),
		Amount: &refunddomestic.AmountReq{Refund: core.Int64(amount), Total: core.Int64(total), Currency: core.String("CNY")},
	})
	return err
}

// TestProfitSharing shares a payment through the SDK: the share, its
// query, the same request again, an over-share, a refund beyond what is
// left, the unfreeze, and the amounts after each.
func TestProfitSharing(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	client := publicKeyClient(t, e)
	sub := e.Sandbox().WeChatPay().SubMerchants()[0].SubMchID
	orders := &profitsharing.OrdersApiService{Client: client}
	txn, outTradeNo := paidPartnerOrder(t, e, client, sub, 10000, true)

	if got := unsplitAmount(t, client, txn); got != 10000 {
		t.Fatalf("unsplit before sharing: %d", got)
	}
	// The platform is not a receiver yet.
	no := psNo("S")
	_, _, err := orders.CreateOrder(ctx, shareReq(c, sub, txn, no, 1500, false))
	if ae := apiError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest); ae.Message == "" {
		t.Fatal("no message")
	}
	addPlatformReceiver(t, client, c, sub)
	addPlatformReceiver(t, client, c, sub) // idempotent

	first, _, err := orders.CreateOrder(ctx, shareReq(c, sub, txn, no, 1500, false))
	if err != nil {
		t.Fatal(err)
	}
	if *first.State != profitsharing.ORDERSTATUS_FINISHED || len(first.Receivers) != 1 || *first.Receivers[0].Amount != 1500 ||
		*first.Receivers[0].Result != profitsharing.DETAILSTATUS_SUCCESS || *first.OutOrderNo != no || *first.TransactionId != txn || *first.OrderId == "" {
		t.Fatalf("share answered %v", first)
	}
	if got := unsplitAmount(t, client, txn); got != 8500 {
		t.Fatalf("unsplit after sharing 1500: %d", got)
	}
	// The same out_order_no again is the same order; no more is shared.
	again, _, err := orders.CreateOrder(ctx, shareReq(c, sub, txn, no, 1500, false))
	if err != nil || *again.OrderId != *first.OrderId {
		t.Fatalf("the same request again: %v, %v", again, err)
	}
	if got := unsplitAmount(t, client, txn); got != 8500 {
		t.Fatalf("unsplit after a repeated request: %d", got)
	}
	// Another body under the same out_order_no is refused.
	_, _, err = orders.CreateOrder(ctx, shareReq(c, sub, txn, no, 1600, false))
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)
	q, _, err := orders.QueryOrder(ctx, profitsharing.QueryOrderRequest{SubMchid: core.String(sub), TransactionId: core.String(txn), OutOrderNo: core.String(no)})
	if err != nil || *q.OrderId != *first.OrderId || *q.State != profitsharing.ORDERSTATUS_FINISHED || q.Receivers[0].FinishTime == nil {
		t.Fatalf("query: %v, %v", q, err)
	}
	_, _, err = orders.QueryOrder(ctx, profitsharing.QueryOrderRequest{SubMchid: core.String(sub), TransactionId: core.String(txn), OutOrderNo: core.String("nope")})
	wantAPIError(t, err, http.StatusNotFound, wechatpayv3.CodeResourceNotExists)

	// More than is unsplit.
	_, _, err = orders.CreateOrder(ctx, shareReq(c, sub, txn, psNo("S"), 8501, false))
	wantAPIError(t, err, http.StatusForbidden, wechatpayv3.CodeNotEnough)
	// A refund may not take what was shared.
	wantAPIError(t, refund(client, sub, outTradeNo, 8501, 10000), http.StatusForbidden, wechatpayv3.CodeNotEnough)
	if err := refund(client, sub, outTradeNo, 500, 10000); err != nil {
		t.Fatal(err)
	}
	if got := unsplitAmount(t, client, txn); got != 8000 {
		t.Fatalf("unsplit after a refund of 500: %d", got)
	}

	// The rest is unfrozen to the sub-merchant.
	uno := psNo("U")
	u, _, err := orders.UnfreezeOrder(ctx, profitsharing.UnfreezeOrderRequest{SubMchid: core.String(sub), TransactionId: core.String(txn),
		OutOrderNo: core.String(uno), Description: core.String("解冻全部剩余资金")})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Receivers) != 1 || *u.Receivers[0].Account != sub || *u.Receivers[0].Amount != 8000 || *u.State != profitsharing.ORDERSTATUS_FINISHED {
		t.Fatalf("unfreeze answered %v", u)
	}
	if got := unsplitAmount(t, client, txn); got != 0 {
		t.Fatalf("unsplit after unfreezing: %d", got)
	}
	_, _, err = orders.UnfreezeOrder(ctx, profitsharing.UnfreezeOrderRequest{SubMchid: core.String(sub), TransactionId: core.String(txn),
		OutOrderNo: core.String(psNo("U")), Description: core.String("再解冻")})
	wantAPIError(t, err, http.StatusForbidden, wechatpayv3.CodeNotEnough)
	_, _, err = orders.CreateOrder(ctx, shareReq(c, sub, txn, psNo("S"), 1, false))
	wantAPIError(t, err, http.StatusForbidden, wechatpayv3.CodeNotEnough)
	// The unfrozen money is the sub-merchant's: it can still be refunded.
	if err := refund(client, sub, outTradeNo, 8000, 10000); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, refund(client, sub, outTradeNo, 1, 10000), http.StatusForbidden, wechatpayv3.CodeNotEnough)
}

// TestProfitSharingUnfreezeUnsplit shares and unfreezes in one request.
func TestProfitSharingUnfreezeUnsplit(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	client := publicKeyClient(t, e)
	sub := e.Sandbox().WeChatPay().SubMerchants()[1].SubMchID
	txn, _ := paidPartnerOrder(t, e, client, sub, 2999, true)
	addPlatformReceiver(t, client, c, sub)
	o, _, err := (&profitsharing.OrdersApiService{Client: client}).CreateOrder(ctx, shareReq(c, sub, txn, psNo("S"), 300, true))
	if err != nil {
		t.Fatal(err)
	}
	var platform, rest int64
	for _, r := range o.Receivers {
		switch *r.Account {
		case c.MchID:
			platform += *r.Amount
		case sub:
			rest += *r.Amount
		}
	}
	if platform != 300 || rest != 2699 || unsplitAmount(t, client, txn) != 0 {
		t.Fatalf("platform %d, unfrozen %d: %v", platform, rest, o)
	}
}

// TestProfitSharingRefusals: what cannot be shared, and PARAM_ERROR naming
// the field.
func TestProfitSharingRefusals(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	client := publicKeyClient(t, e)
	sub := e.Sandbox().WeChatPay().SubMerchants()[0].SubMchID
	orders := &profitsharing.OrdersApiService{Client: client}
	addPlatformReceiver(t, client, c, sub)

	plain, _ := paidPartnerOrder(t, e, client, sub, 1000, false)
	_, _, err := orders.CreateOrder(ctx, shareReq(c, sub, plain, psNo("S"), 100, false))
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)
	if unsplitAmount(t, client, plain) != 0 {
		t.Fatal("an order without profit sharing has an unsplit amount")
	}
	_, _, err = orders.CreateOrder(ctx, shareReq(c, sub, "4200000000000000000000000000", psNo("S"), 100, false))
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)

	txn, _ := paidPartnerOrder(t, e, client, sub, 1000, true)
	// A receiver the sub-merchant never added.
	req := shareReq(c, sub, txn, psNo("S"), 100, false)
	req.Receivers[0].Account = core.String("1900009999")
	_, _, err = orders.CreateOrder(ctx, req)
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)
	// The receivers of another sub-merchant are not this one's.
	other := e.Sandbox().WeChatPay().SubMerchants()[1].SubMchID
	txn2, _ := paidPartnerOrder(t, e, client, other, 1000, true)
	_, _, err = orders.CreateOrder(ctx, shareReq(c, other, txn2, psNo("S"), 100, false))
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)

	for _, tc := range []struct {
		field string
		edit  func(r *profitsharing.CreateOrderRequest)
	}{
		{"/out_order_no", func(r *profitsharing.CreateOrderRequest) { r.OutOrderNo = core.String("") }},
		{"/out_order_no", func(r *profitsharing.CreateOrderRequest) { r.OutOrderNo = core.String("空 格") }},
		{"/receivers", func(r *profitsharing.CreateOrderRequest) { r.Receivers = nil }},
		{"/receivers/0/amount", func(r *profitsharing.CreateOrderRequest) { r.Receivers[0].Amount = core.Int64(0) }},
		{"/receivers/0/description", func(r *profitsharing.CreateOrderRequest) { r.Receivers[0].Description = core.String("") }},
		{"/receivers/0/type", func(r *profitsharing.CreateOrderRequest) { r.Receivers[0].Type = core.String("BANK") }},
	} {
		r := shareReq(c, sub, txn, psNo("S"), 100, false)
		tc.edit(&r)
		_, _, err := orders.CreateOrder(ctx, r)
		ae := apiError(t, err, http.StatusBadRequest, wechatpayv3.CodeParamError)
		var body wechatpayv3.Error
		if json.Unmarshal([]byte(ae.Body), &body) != nil || body.Detail == nil || body.Detail.Field != tc.field {
			t.Errorf("%s: PARAM_ERROR %s", tc.field, ae.Body)
		}
	}
	if got := unsplitAmount(t, client, txn); got != 1000 {
		t.Fatalf("refusals changed the unsplit amount: %d", got)
	}
}

// TestProfitSharingRestart: receivers, sharing orders and the orders'
// reservations survive a restart; a delayed order finishes after it.
func TestProfitSharingRestart(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	client := publicKeyClient(t, e)
	sub := e.Sandbox().WeChatPay().SubMerchants()[0].SubMchID
	orders := &profitsharing.OrdersApiService{Client: client}
	txn, _ := paidPartnerOrder(t, e, client, sub, 5000, true)
	addPlatformReceiver(t, client, c, sub)
	if st := e.Helper("POST", "/sandbox/v1/wechatpay/profit_sharing", map[string]int64{"delay_ms": 300}, nil); st != http.StatusOK {
		t.Fatalf("set delay: %d", st)
	}
	no := psNo("S")
	first, _, err := orders.CreateOrder(ctx, shareReq(c, sub, txn, no, 700, false))
	if err != nil {
		t.Fatal(err)
	}
	if *first.State != profitsharing.ORDERSTATUS_PROCESSING || *first.Receivers[0].Result != profitsharing.DETAILSTATUS_PENDING {
		t.Fatalf("a delayed share answered %v", first)
	}

	e.Restart()

	if got := unsplitAmount(t, client, txn); got != 4300 {
		t.Fatalf("unsplit after restart: %d", got)
	}
	query := func() *profitsharing.OrdersEntity {
		q, _, err := orders.QueryOrder(ctx, profitsharing.QueryOrderRequest{SubMchid: core.String(sub), TransactionId: core.String(txn), OutOrderNo: core.String(no)})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	sandboxtest.Eventually(t, 10*time.Second, "the delayed share finishes", func() bool {
		return *query().State == profitsharing.ORDERSTATUS_FINISHED
	})
	if q := query(); *q.OrderId != *first.OrderId || *q.Receivers[0].Result != profitsharing.DETAILSTATUS_SUCCESS {
		t.Fatalf("after restart: %v", q)
	}
	var settings wechatpay.SharingSettings
	e.Helper("GET", "/sandbox/v1/wechatpay/profit_sharing", nil, &settings)
	if settings.DelayMS != 300 {
		t.Fatalf("the delay did not survive the restart: %+v", settings)
	}
	e.Helper("POST", "/sandbox/v1/wechatpay/profit_sharing", map[string]int64{"delay_ms": 0}, nil)
	// The receiver survived too: sharing again needs no new add.
	if _, _, err := orders.CreateOrder(ctx, shareReq(c, sub, txn, psNo("S"), 300, true)); err != nil {
		t.Fatal(err)
	}
	if got := unsplitAmount(t, client, txn); got != 0 {
		t.Fatalf("unsplit after the unfreeze: %d", got)
	}
	if st := e.Helper("POST", "/sandbox/v1/wechatpay/profit_sharing", map[string]int64{"delay_ms": -1}, nil); st != http.StatusBadRequest {
		t.Fatalf("a negative delay: %d", st)
	}
}
