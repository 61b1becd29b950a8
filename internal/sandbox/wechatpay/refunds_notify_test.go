package wechatpay_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	sdknotify "github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	sbnotify "github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

func refundRequest(no, outRefundNo string, refund, total int64, notifyURL string) refunddomestic.CreateRequest {
	r := refunddomestic.CreateRequest{
		OutTradeNo:  core.String(no),
		OutRefundNo: core.String(outRefundNo),
		Reason:      core.String("仅退款"),
		Amount:      &refunddomestic.AmountReq{Refund: core.Int64(refund), Total: core.Int64(total), Currency: core.String("CNY")},
	}
	if notifyURL != "" {
		r.NotifyUrl = core.String(notifyURL)
	}
	return r
}

func TestRefundsPartialFullAndIdempotent(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	m := newMerchant(t, e, nil)
	svc := refunddomestic.RefundsApiService{Client: client}
	no, code := nativePrepay(t, client, e, m.URL(), 10000)
	before := balance(t, e, "buyer-zhang")
	e.Pay(code, "buyer-zhang")

	r1, _, err := svc.Create(ctx, refundRequest(no, no+"-R1", 3000, 10000, m.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if *r1.Status != refunddomestic.STATUS_PROCESSING || *r1.Amount.Refund != 3000 || len(*r1.RefundId) != 29 {
		t.Fatalf("refund: %+v", r1)
	}
	// The same out_refund_no and content is the same refund, not a second one.
	again, _, err := svc.Create(ctx, refundRequest(no, no+"-R1", 3000, 10000, m.URL()))
	if err != nil || *again.RefundId != *r1.RefundId {
		t.Fatalf("retry: %v %v", err, again)
	}
	// The same out_refund_no with another amount is refused.
	_, _, err = svc.Create(ctx, refundRequest(no, no+"-R1", 3001, 10000, m.URL()))
	wantAPIError(t, err, 400, "INVALID_REQUEST")
	// More than what remains is refused; exactly what remains is not.
	_, _, err = svc.Create(ctx, refundRequest(no, no+"-R2", 7001, 10000, m.URL()))
	wantAPIError(t, err, 400, "INVALID_REQUEST")
	if _, _, err = svc.Create(ctx, refundRequest(no, no+"-R2", 7000, 10000, m.URL())); err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.Create(ctx, refundRequest(no, no+"-R3", 1, 10000, m.URL()))
	wantAPIError(t, err, 400, "INVALID_REQUEST")
	// A wrong order total is refused.
	_, _, err = svc.Create(ctx, refundRequest(no, no+"-R4", 1, 9999, m.URL()))
	wantAPIError(t, err, 400, "INVALID_REQUEST")

	sandboxtest.Eventually(t, 5e9, "both refunds succeed", func() bool {
		for _, out := range []string{no + "-R1", no + "-R2"} {
			r, _, err := svc.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String(out)})
			if err != nil || *r.Status != refunddomestic.STATUS_SUCCESS || r.SuccessTime == nil {
				return false
			}
		}
		return true
	})
	tx, _, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(e.Credentials().MchID)})
	if err != nil {
		t.Fatal(err)
	}
	if *tx.TradeState != "REFUND" {
		t.Fatalf("trade_state after refunds = %s", *tx.TradeState)
	}
	if got := balance(t, e, "buyer-zhang"); got != before {
		t.Fatalf("buyer balance %d after full refund, want %d", got, before)
	}

	// One payment notification and two refund notifications, all verified
	// and decrypted by the SDK.
	events := m.waitFor(3)
	kinds := map[string]int{}
	for _, ev := range events {
		kinds[ev.EventType]++
		if ev.EventType == "REFUND.SUCCESS" {
			var body struct {
				OutTradeNo   string `json:"out_trade_no"`
				RefundStatus string `json:"refund_status"`
				Amount       struct{ Refund, Total int64 }
			}
			if err := json.Unmarshal([]byte(ev.Plaintext), &body); err != nil {
				t.Fatalf("refund notification: %v\n%s", err, ev.Plaintext)
			}
			if body.OutTradeNo != no || body.RefundStatus != "SUCCESS" || body.Amount.Total != 10000 {
				t.Fatalf("refund notification: %s", ev.Plaintext)
			}
		}
	}
	if kinds["TRANSACTION.SUCCESS"] != 1 || kinds["REFUND.SUCCESS"] != 2 {
		t.Fatalf("notifications: %v", kinds)
	}

	_, _, err = svc.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("nope")})
	wantAPIError(t, err, 404, "RESOURCE_NOT_EXISTS")
}

func TestConcurrentRefundsNeverExceedPaid(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	svc := refunddomestic.RefundsApiService{Client: client}
	no, code := nativePrepay(t, client, e, "https://merchant.example/n", 1000)
	e.Pay(code, "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := int64(0)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := svc.Create(ctx, refundRequest(no, no+"-C"+string(rune('a'+i)), 300, 1000, "")); err == nil {
				mu.Lock()
				accepted += 300
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if accepted != 900 {
		t.Fatalf("accepted %d fen of refunds on a 1000 fen order, want 900 (three of 300)", accepted)
	}
}

func TestRefundOfUnpaidOrderIsRefused(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	no, _ := nativePrepay(t, client, e, "https://merchant.example/n", 100)
	_, _, err := (&refunddomestic.RefundsApiService{Client: client}).Create(ctx, refundRequest(no, no+"-R", 100, 100, ""))
	wantAPIError(t, err, 400, "INVALID_REQUEST")
	_, _, err = (&refunddomestic.RefundsApiService{Client: client}).Create(ctx, refundRequest("NOSUCHORDER1", "x-R", 100, 100, ""))
	wantAPIError(t, err, 404, "RESOURCE_NOT_EXISTS")
}

func TestPaymentNotificationVerifiedBySDK(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	m := newMerchant(t, e, nil)
	m.failFirst = 2 // the merchant is down for the first two attempts
	c := e.Credentials()
	no, code := nativePrepay(t, client, e, m.URL(), 2500)
	paid := e.Pay(code, "buyer-li")

	ev := m.waitFor(1)[0]
	if ev.EventType != "TRANSACTION.SUCCESS" {
		t.Fatalf("event %s", ev.EventType)
	}
	var tx payments.Transaction
	if err := json.Unmarshal([]byte(ev.Plaintext), &tx); err != nil {
		t.Fatal(err)
	}
	if *tx.OutTradeNo != no || *tx.TransactionId != paid.TransactionID || *tx.Amount.Total != 2500 ||
		*tx.Mchid != c.MchID || *tx.Payer.Openid != users.OpenID("buyer-li", c.AppID) {
		t.Fatalf("decrypted transaction: %s", ev.Plaintext)
	}

	// The sandbox shows the attempts: two refused, one acknowledged.
	var list struct{ Data []sbnotify.Notification }
	sandboxtest.Eventually(t, 5*time.Second, "the acknowledged attempt is recorded", func() bool {
		e.Helper("GET", "/sandbox/v1/notifications?wallet=wechatpay", nil, &list)
		return len(list.Data) == 1 && list.Data[0].Status == sbnotify.StatusDelivered
	})
	if len(list.Data) != 1 {
		t.Fatalf("notifications: %+v", list)
	}
	n := list.Data[0]
	if n.Status != sbnotify.StatusDelivered || len(n.Attempts) != 3 || n.Attempts[0].StatusCode != 500 || !n.Attempts[2].Acked || n.ID != ev.ID {
		t.Fatalf("notification record: %+v", n)
	}

	// Redelivery sends the same event (same id) again.
	var again sbnotify.Notification
	if st := e.Helper("POST", "/sandbox/v1/notifications/redeliver", map[string]string{"id": n.ID}, &again); st != http.StatusOK {
		t.Fatalf("redeliver: %d", st)
	}
	evs := m.waitFor(2)
	if evs[1].ID != ev.ID {
		t.Fatalf("redelivered id %s, want %s", evs[1].ID, ev.ID)
	}
}

func TestNotificationsInCertificateMode(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	if st := e.Helper("POST", "/sandbox/v1/wechatpay/settings", map[string]string{"signing": "certificate"}, nil); st != 200 {
		t.Fatalf("settings: %d", st)
	}
	client, mgr := certificateClient(t, e)
	m := newMerchant(t, e, func(c wechatpay.Credentials) *sdknotify.Handler {
		h, err := sdknotify.NewRSANotifyHandler(c.APIv3Key, verifiers.NewSHA256WithRSAVerifier(mgr.GetCertificateVisitor(c.MchID)))
		if err != nil {
			t.Fatal(err)
		}
		return h
	})
	_, code := nativePrepay(t, client, e, m.URL(), 1)
	e.Pay(code, "")
	if ev := m.waitFor(1)[0]; ev.EventType != "TRANSACTION.SUCCESS" {
		t.Fatalf("event %+v", ev)
	}
}
