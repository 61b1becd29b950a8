package wechatpay_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments"
	partnerapp "github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/app"
	partnerh5 "github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/h5"
	partnerjsapi "github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/jsapi"
	partnernative "github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/app"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/h5"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

var orderSeq atomic.Int64

// outTradeNo is unique within a test run.
func outTradeNo(prefix string) string {
	return fmt.Sprintf("%s%d%06d", prefix, time.Now().UnixNano()%1e9, orderSeq.Add(1))
}

func nativePrepay(t *testing.T, client *core.Client, e *sandboxtest.Env, notifyURL string, total int64) (string, string) {
	t.Helper()
	c := e.Credentials()
	no := outTradeNo("N")
	resp, _, err := (&native.NativeApiService{Client: client}).Prepay(ctx, native.PrepayRequest{
		Appid:       core.String(c.AppID),
		Mchid:       core.String(c.MchID),
		Description: core.String("hutong 测试商品"),
		OutTradeNo:  core.String(no),
		NotifyUrl:   core.String(notifyURL),
		Amount:      &native.Amount{Total: core.Int64(total), Currency: core.String("CNY")},
	})
	if err != nil {
		t.Fatalf("native prepay: %v", err)
	}
	if !strings.HasPrefix(*resp.CodeUrl, "weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("code_url = %q", *resp.CodeUrl)
	}
	return no, *resp.CodeUrl
}

func TestNativePayQueryClose(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	c := e.Credentials()
	svc := native.NativeApiService{Client: client}

	no, code := nativePrepay(t, client, e, "https://merchant.example/notify", 1999)
	tx, _, err := svc.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	if err != nil {
		t.Fatal(err)
	}
	if *tx.TradeState != "NOTPAY" || *tx.Amount.Total != 1999 || tx.TransactionId != nil {
		t.Fatalf("before paying: %+v", tx)
	}

	paid := e.Pay(code, "buyer-li")
	if paid.TradeState != "SUCCESS" || paid.Amount != 1999 || !strings.HasPrefix(paid.TransactionID, "4200") || len(paid.TransactionID) != 28 {
		t.Fatalf("pay: %+v", paid)
	}
	tx, _, err = svc.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	if err != nil {
		t.Fatal(err)
	}
	if *tx.TradeState != "SUCCESS" || *tx.TransactionId != paid.TransactionID || *tx.TradeType != "NATIVE" ||
		*tx.Payer.Openid != users.OpenID("buyer-li", c.AppID) || *tx.Amount.PayerTotal != 1999 {
		t.Fatalf("after paying: %+v", tx)
	}
	if _, err := time.Parse(time.RFC3339, *tx.SuccessTime); err != nil || !strings.HasSuffix(*tx.SuccessTime, "+08:00") {
		t.Fatalf("success_time %q is not RFC 3339 in Beijing time", *tx.SuccessTime)
	}
	byID, _, err := svc.QueryOrderById(ctx, native.QueryOrderByIdRequest{TransactionId: core.String(paid.TransactionID), Mchid: core.String(c.MchID)})
	if err != nil || *byID.OutTradeNo != no {
		t.Fatalf("query by id: %v %+v", err, byID)
	}

	// A paid order cannot be closed, nor paid again.
	_, err = svc.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	wantAPIError(t, err, 400, "ORDERPAID")
	if st := e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": code}, nil); st != http.StatusConflict {
		t.Fatalf("paying twice: status %d", st)
	}

	// An unknown order is 404 ORDER_NOT_EXIST.
	_, _, err = svc.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("NOPE000001"), Mchid: core.String(c.MchID)})
	wantAPIError(t, err, 404, "ORDER_NOT_EXIST")
}

func TestCloseThenPayIsRefused(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	c := e.Credentials()
	svc := native.NativeApiService{Client: client}
	no, code := nativePrepay(t, client, e, "https://merchant.example/notify", 100)

	res, err := svc.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	if err != nil || res.Response.StatusCode != http.StatusNoContent {
		t.Fatalf("close: %v", err)
	}
	var refusal map[string]string
	if st := e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": code}, &refusal); st != http.StatusConflict || refusal["code"] != "order_closed" {
		t.Fatalf("paying a closed order: %d %v", st, refusal)
	}
	tx, _, err := svc.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	if err != nil {
		t.Fatal(err)
	}
	if *tx.TradeState != "CLOSED" {
		t.Fatalf("trade_state = %s", *tx.TradeState)
	}
	bal := balance(t, e, "buyer-zhang")
	if bal != users.Seed[0].Balances["wechatpay"] {
		t.Fatalf("the refused payment moved money: balance %d", bal)
	}
}

func balance(t *testing.T, e *sandboxtest.Env, user string) int64 {
	t.Helper()
	u, err := e.Sandbox().WeChatPay().Users().Get(user)
	if err != nil {
		t.Fatal(err)
	}
	return u.Balances[wechatpay.Wallet]
}

func TestDirectPrepayKinds(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	c := e.Credentials()
	openid := users.OpenID("buyer-wang", c.AppID)

	cases := []struct {
		name   string
		prepay func(no string) (string, error)
		user   string
	}{
		{"jsapi", func(no string) (string, error) {
			resp, _, err := (&jsapi.JsapiApiService{Client: client}).Prepay(ctx, jsapi.PrepayRequest{
				Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("JSAPI 商品"),
				OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/n"),
				Amount: &jsapi.Amount{Total: core.Int64(300)}, Payer: &jsapi.Payer{Openid: core.String(openid)},
			})
			if err != nil {
				return "", err
			}
			return *resp.PrepayId, nil
		}, "buyer-wang"},
		{"app", func(no string) (string, error) {
			resp, _, err := (&app.AppApiService{Client: client}).Prepay(ctx, app.PrepayRequest{
				Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("App 商品"),
				OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/n"),
				Amount: &app.Amount{Total: core.Int64(300)},
			})
			if err != nil {
				return "", err
			}
			return *resp.PrepayId, nil
		}, ""},
		{"h5", func(no string) (string, error) {
			resp, _, err := (&h5.H5ApiService{Client: client}).Prepay(ctx, h5.PrepayRequest{
				Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("H5 商品"),
				OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/n"),
				Amount:    &h5.Amount{Total: core.Int64(300)},
				SceneInfo: &h5.SceneInfo{PayerClientIp: core.String("203.0.113.7"), H5Info: &h5.H5Info{Type: core.String("Wap")}},
			})
			if err != nil {
				return "", err
			}
			if !strings.HasPrefix(*resp.H5Url, e.URL+"/phone/wechatpay/h5?prepay_id=wx") {
				return "", fmt.Errorf("h5_url %q", *resp.H5Url)
			}
			return *resp.H5Url, nil
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			no := outTradeNo("K")
			code, err := tc.prepay(no)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name != "h5" && (!strings.HasPrefix(code, "wx") || len(code) != 36) {
				t.Fatalf("prepay_id %q", code)
			}
			// The same request again is the same prepay.
			again, err := tc.prepay(no)
			if err != nil || again != code {
				t.Fatalf("retry: %q %v, want %q", again, err, code)
			}
			res := e.Pay(code, tc.user)
			if res.TradeState != "SUCCESS" {
				t.Fatalf("pay: %+v", res)
			}
		})
	}

	// A JSAPI order is paid by the payer it names, not by someone else.
	no := outTradeNo("J")
	resp, _, err := (&jsapi.JsapiApiService{Client: client}).Prepay(ctx, jsapi.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("x"),
		OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/n"),
		Amount: &jsapi.Amount{Total: core.Int64(1)}, Payer: &jsapi.Payer{Openid: core.String(openid)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": *resp.PrepayId, "user": "buyer-li"}, nil); st != http.StatusConflict {
		t.Fatalf("another user paid a JSAPI order: %d", st)
	}
	// An openid that is no user's under this appid is refused at prepay.
	_, _, err = (&jsapi.JsapiApiService{Client: client}).Prepay(ctx, jsapi.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("x"),
		OutTradeNo: core.String(outTradeNo("J")), NotifyUrl: core.String("https://merchant.example/n"),
		Amount: &jsapi.Amount{Total: core.Int64(1)}, Payer: &jsapi.Payer{Openid: core.String("oUnknownUnknownUnknownUnknown")},
	})
	wantAPIError(t, err, 500, "OPENID_MISMATCH")
}

func TestPartnerPrepayKinds(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	c := e.Credentials()
	sub := e.Sandbox().WeChatPay().SubMerchants()[0]
	notifyURL := core.String("https://merchant.example/n")

	prepays := map[string]func(no string) (string, error){
		"native": func(no string) (string, error) {
			r, _, err := (&partnernative.NativeApiService{Client: client}).Prepay(ctx, partnernative.PrepayRequest{
				SpAppid: core.String(c.AppID), SpMchid: core.String(c.MchID), SubMchid: core.String(sub.SubMchID),
				Description: core.String("服务商 Native"), OutTradeNo: core.String(no), NotifyUrl: notifyURL,
				Amount: &partnernative.Amount{Total: core.Int64(888)},
			})
			if err != nil {
				return "", err
			}
			return *r.CodeUrl, nil
		},
		"jsapi": func(no string) (string, error) {
			r, _, err := (&partnerjsapi.JsapiApiService{Client: client}).Prepay(ctx, partnerjsapi.PrepayRequest{
				SpAppid: core.String(c.AppID), SpMchid: core.String(c.MchID), SubMchid: core.String(sub.SubMchID),
				SubAppid: core.String(sub.SubAppID), Description: core.String("服务商 JSAPI"), OutTradeNo: core.String(no),
				NotifyUrl: notifyURL, Amount: &partnerjsapi.Amount{Total: core.Int64(888)},
				Payer: &partnerjsapi.Payer{SubOpenid: core.String(users.OpenID("buyer-zhang", sub.SubAppID))},
			})
			if err != nil {
				return "", err
			}
			return *r.PrepayId, nil
		},
		"app": func(no string) (string, error) {
			r, _, err := (&partnerapp.AppApiService{Client: client}).Prepay(ctx, partnerapp.PrepayRequest{
				SpAppid: core.String(c.AppID), SpMchid: core.String(c.MchID), SubMchid: core.String(sub.SubMchID),
				Description: core.String("服务商 App"), OutTradeNo: core.String(no), NotifyUrl: notifyURL,
				Amount: &partnerapp.Amount{Total: core.Int64(888)},
			})
			if err != nil {
				return "", err
			}
			return *r.PrepayId, nil
		},
		"h5": func(no string) (string, error) {
			r, _, err := (&partnerh5.H5ApiService{Client: client}).Prepay(ctx, partnerh5.PrepayRequest{
				SpAppid: core.String(c.AppID), SpMchid: core.String(c.MchID), SubMchid: core.String(sub.SubMchID),
				Description: core.String("服务商 H5"), OutTradeNo: core.String(no), NotifyUrl: notifyURL,
				Amount:    &partnerh5.Amount{Total: core.Int64(888)},
				SceneInfo: &partnerh5.SceneInfo{PayerClientIp: core.String("198.51.100.1"), H5Info: &partnerh5.H5Info{Type: core.String("iOS")}},
			})
			if err != nil {
				return "", err
			}
			return *r.H5Url, nil
		},
	}
	for name, prepay := range prepays {
		t.Run(name, func(t *testing.T) {
			no := outTradeNo("P")
			code, err := prepay(no)
			if err != nil {
				t.Fatal(err)
			}
			paid := e.Pay(code, "")
			if paid.SubMchID != sub.SubMchID {
				t.Fatalf("pay: %+v", paid)
			}
			tx, _, err := (&partnernative.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, partnernative.QueryOrderByOutTradeNoRequest{
				OutTradeNo: core.String(no), SpMchid: core.String(c.MchID), SubMchid: core.String(sub.SubMchID),
			})
			if err != nil {
				t.Fatal(err)
			}
			if *tx.TradeState != "SUCCESS" || *tx.SpMchid != c.MchID || *tx.SubMchid != sub.SubMchID || *tx.Payer.SpOpenid == "" {
				t.Fatalf("query: %+v", tx)
			}
			byID, _, err := (&partnernative.NativeApiService{Client: client}).QueryOrderById(ctx, partnernative.QueryOrderByIdRequest{
				TransactionId: tx.TransactionId, SpMchid: core.String(c.MchID), SubMchid: core.String(sub.SubMchID),
			})
			if err != nil || *byID.OutTradeNo != no {
				t.Fatalf("query by id: %v", err)
			}
		})
	}

	// The same out_trade_no in direct mode is another order.
	_, _, err := (&partnernative.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, partnernative.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String("NOPE000001"), SpMchid: core.String(c.MchID), SubMchid: core.String(sub.SubMchID),
	})
	wantAPIError(t, err, 404, "ORDER_NOT_EXIST")

	// A sub-merchant the provider does not serve is refused.
	_, _, err = (&partnernative.NativeApiService{Client: client}).Prepay(ctx, partnernative.PrepayRequest{
		SpAppid: core.String(c.AppID), SpMchid: core.String(c.MchID), SubMchid: core.String("1234567890"),
		Description: core.String("x"), OutTradeNo: core.String(outTradeNo("P")), NotifyUrl: notifyURL,
		Amount: &partnernative.Amount{Total: core.Int64(1)},
	})
	wantAPIError(t, err, 400, "INVALID_REQUEST")

	// Close in partner mode.
	no := outTradeNo("P")
	if _, err := prepays["native"](no); err != nil {
		t.Fatal(err)
	}
	if _, err := (&partnernative.NativeApiService{Client: client}).CloseOrder(ctx, partnernative.CloseOrderRequest{
		OutTradeNo: core.String(no), SpMchid: core.String(c.MchID), SubMchid: core.String(sub.SubMchID),
	}); err != nil {
		t.Fatal(err)
	}
	var _ partnerpayments.Transaction
}

func TestCertificateModeWithAutomaticDownload(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client, mgr := certificateClient(t, e)
	c := e.Credentials()
	certs := mgr.GetCertificateMap(ctx, c.MchID)
	if len(certs) != 1 || certs[c.PlatformSerialNo] == nil {
		t.Fatalf("downloaded certificates %v, want %s", certs, c.PlatformSerialNo)
	}
	want := sandboxtest.MustCertificate(t, c.PlatformCertificate)
	if !certs[c.PlatformSerialNo].Equal(want) {
		t.Fatal("downloaded certificate differs from credentials.json")
	}
	// Every answer is now verified against the downloaded certificate.
	no, code := nativePrepay(t, client, e, "https://merchant.example/n", 42)
	e.Pay(code, "")
	tx, res, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	if err != nil || *tx.TradeState != "SUCCESS" {
		t.Fatalf("query: %v", err)
	}
	if got := res.Response.Header.Get("Wechatpay-Serial"); got != c.PlatformSerialNo {
		t.Fatalf("answer signed by %q, want the certificate %q", got, c.PlatformSerialNo)
	}
}

func TestTimeExpireHonoured(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := sandboxtest.Start(t, sandboxtest.WithNow(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
	client := publicKeyClient(t, e)
	c := e.Credentials()
	no := outTradeNo("E")
	resp, _, err := (&native.NativeApiService{Client: client}).Prepay(ctx, native.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("限时订单"),
		OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/n"),
		TimeExpire: core.Time(time.Now().Add(2 * time.Minute)), Amount: &native.Amount{Total: core.Int64(5)},
	})
	if err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(3 * time.Minute)) // the sandbox's clock moves past time_expire
	var refusal map[string]string
	if st := e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": *resp.CodeUrl}, &refusal); st != http.StatusConflict {
		t.Fatalf("paid after time_expire: %d %v", st, refusal)
	}
	offset.Store(0)
	tx, _, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	if err != nil || *tx.TradeState != "CLOSED" {
		t.Fatalf("after expiry: %v %v", err, tx)
	}
}

func TestInsufficientBalanceLeavesOrderUnpaid(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	no, code := nativePrepay(t, client, e, "https://merchant.example/n", 5000)
	var refusal map[string]string
	if st := e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": code, "user": "buyer-broke"}, &refusal); st != http.StatusPaymentRequired || refusal["code"] != "insufficient_balance" {
		t.Fatalf("broke buyer: %d %v", st, refusal)
	}
	tx, _, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(e.Credentials().MchID)})
	if err != nil {
		t.Fatal(err)
	}
	if *tx.TradeState != "NOTPAY" {
		t.Fatalf("trade_state = %s", *tx.TradeState)
	}
	if n := e.Sandbox().Notifications(); len(n) != 0 {
		t.Fatalf("a refused payment was notified: %v", n)
	}
	e.Pay(code, "buyer-zhang") // someone who can pay still can
}

func TestTransactionShape(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	c := e.Credentials()
	no, code := nativePrepay(t, client, e, "https://merchant.example/n", 7)
	e.Pay(code, "")
	var tx payments.Transaction
	_, res, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{}
	if err := json.NewDecoder(res.Response.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"appid", "mchid", "out_trade_no", "transaction_id", "trade_type", "trade_state", "trade_state_desc", "bank_type", "attach", "success_time", "payer", "amount"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("transaction lacks %q: %v", k, raw)
		}
	}
	_ = tx
}
