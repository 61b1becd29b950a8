package wechatpay_test

import (
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	partnernative "github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/h5"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

func TestPhoneRecognizes(t *testing.T) {
	t.Parallel()
	w := sandboxtest.Start(t).Sandbox().WeChatPay().Phone()
	for code, want := range map[string]bool{
		"weixin://wxpay/bizpayurl?pr=abc123":                                      true,
		"  weixin://wxpay/bizpayurl?pr=abc123\n":                                  true,
		"wx20261125081530a1b2c3d4e5f6a7b8c9d0":                                    true,
		"wx2026112508153Xa1b2c3d4e5f6a7b8c9d0":                                    false,
		"wx20261125081530a1b2c3d4e5f6a7b8c9d-":                                    false,
		"http://127.0.0.1:8090/phone/wechatpay/h5?prepay_id=wx1&package=1":        true,
		"https://sandbox.example/phone/wechatpay/h5?prepay_id=wx1&redirect_url=x": true,
		"http://127.0.0.1:8090/phone/wechatpay/h5?package=1":                      false,
		"http://127.0.0.1:8090/phone/alipay/cashier?code=2026":                    false,
		"https://qr.alipay.com/bax01234":                                          false,
		"wx123":                                                                   false,
		"weixin://dl/business/?t=abc":                                             false,
		"":                                                                        false,
	} {
		if got := w.Recognizes(code); got != want {
			t.Errorf("Recognizes(%q) = %v, want %v", code, got, want)
		}
	}
}

// TestPhoneLookupChangesNothing: looking at an order, as the buyer does
// before confirming, leaves it as the merchant sees it.
func TestPhoneLookupChangesNothing(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	w := e.Sandbox().WeChatPay().Phone()
	no, code := nativePrepay(t, client, e, "https://merchant.example/n", 4321)

	o, err := w.Lookup(code)
	if err != nil {
		t.Fatal(err)
	}
	if o.Wallet != wechatpay.Wallet || o.Merchant != "hutong 沙箱商户" || o.Description != "hutong 测试商品" ||
		o.Amount != 4321 || !o.Payable || o.State != wechatpay.StateNotPay || o.Payer != "" || o.ReturnURL != "" ||
		!strings.HasPrefix(o.Code, "wx") {
		t.Fatalf("Lookup: %+v", o)
	}
	if again, err := w.Lookup(o.Code); err != nil || again != o {
		t.Fatalf("the prepay id shows another order: %+v %v", again, err)
	}
	tx, _, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String(no), Mchid: core.String(e.Credentials().MchID)})
	if err != nil || *tx.TradeState != "NOTPAY" {
		t.Fatalf("after Lookup: %v %+v", err, tx)
	}
	if n := e.Sandbox().Notifications(); len(n) != 0 {
		t.Fatalf("Lookup notified: %v", n)
	}
	if _, err := w.Lookup("weixin://wxpay/bizpayurl?pr=nope"); !errors.Is(err, phone.ErrUnknownCode) {
		t.Fatalf("unknown code: %v", err)
	}
	if _, err := w.Pay("wx00000000000000000000000000000000zz", "buyer-li"); !errors.Is(err, phone.ErrUnknownCode) {
		t.Fatalf("paying an unknown code: %v", err)
	}
}

func TestPhoneLookupExpiresOverdueOrder(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := sandboxtest.Start(t, sandboxtest.WithNow(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
	client := publicKeyClient(t, e)
	c := e.Credentials()
	resp, _, err := (&native.NativeApiService{Client: client}).Prepay(ctx, native.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("限时订单"),
		OutTradeNo: core.String(outTradeNo("E")), NotifyUrl: core.String("https://merchant.example/n"),
		TimeExpire: core.Time(time.Now().Add(2 * time.Minute)), Amount: &native.Amount{Total: core.Int64(5)},
	})
	if err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(3 * time.Minute))
	o, err := e.Sandbox().WeChatPay().Phone().Lookup(*resp.CodeUrl)
	if err != nil || o.Payable || o.State != wechatpay.StateClosed {
		t.Fatalf("an overdue order looks payable: %+v %v", o, err)
	}
}

func TestPhoneH5ReturnURL(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	c := e.Credentials()
	w := e.Sandbox().WeChatPay().Phone()
	resp, _, err := (&h5.H5ApiService{Client: client}).Prepay(ctx, h5.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("H5 商品"),
		OutTradeNo: core.String(outTradeNo("H")), NotifyUrl: core.String("https://merchant.example/n"),
		Amount:    &h5.Amount{Total: core.Int64(300)},
		SceneInfo: &h5.SceneInfo{PayerClientIp: core.String("203.0.113.7"), H5Info: &h5.H5Info{Type: core.String("Wap")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for redirect, want := range map[string]string{
		"": "",
		"https://shop.example/paid?order=7&x=中": "https://shop.example/paid?order=7&x=中",
		"http://127.0.0.1:9/back":               "http://127.0.0.1:9/back",
		"javascript:alert(1)":                   "",
		"/relative/path":                        "",
		"ftp://shop.example/x":                  "",
		"https:///no-host":                      "",
	} {
		code := *resp.H5Url
		if redirect != "" {
			code += "&redirect_url=" + url.QueryEscape(redirect)
		}
		if !w.Recognizes(code) {
			t.Fatalf("h5_url not recognized: %s", code)
		}
		o, err := w.Lookup(code)
		if err != nil || o.ReturnURL != want || o.Amount != 300 {
			t.Errorf("redirect_url %q: ReturnURL %q (want %q), %v", redirect, o.ReturnURL, want, err)
		}
	}
	r, err := w.Pay(*resp.H5Url+"&redirect_url="+url.QueryEscape("https://shop.example/paid"), "buyer-wang")
	if err != nil || r.ReturnURL != "https://shop.example/paid" || r.User != "buyer-wang" || !strings.HasPrefix(r.TradeNo, "4200") {
		t.Fatalf("Pay: %+v %v", r, err)
	}
}

func TestPhonePayRefusalsAndHistory(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	c := e.Credentials()
	w := e.Sandbox().WeChatPay().Phone()
	dir := e.Sandbox().WeChatPay().Users()

	// A JSAPI order names its payer; anyone else is refused.
	resp, _, err := (&jsapi.JsapiApiService{Client: client}).Prepay(ctx, jsapi.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("公众号商品"),
		OutTradeNo: core.String(outTradeNo("J")), NotifyUrl: core.String("https://merchant.example/n"),
		Amount: &jsapi.Amount{Total: core.Int64(700)}, Payer: &jsapi.Payer{Openid: core.String(users.OpenID("buyer-wang", c.AppID))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := w.Lookup(*resp.PrepayId); err != nil || o.Payer != "buyer-wang" {
		t.Fatalf("JSAPI order: %+v %v", o, err)
	}
	if _, err := w.Pay(*resp.PrepayId, "buyer-li"); !errors.Is(err, wechatpay.ErrWrongPayer) {
		t.Fatalf("another user paid a JSAPI order: %v", err)
	}

	// The broke buyer cannot pay, and nothing moves.
	_, big := nativePrepay(t, client, e, "https://merchant.example/n", 5000)
	if _, err := w.Pay(big, "buyer-broke"); !errors.Is(err, users.ErrInsufficientBalance) {
		t.Fatalf("broke buyer: %v", err)
	}
	if u, err := dir.Get("buyer-broke"); err != nil || u.Balances[wechatpay.Wallet] != 100 {
		t.Fatalf("broke buyer's balance %d %v", u.Balances[wechatpay.Wallet], err)
	}
	if o, err := w.Lookup(big); err != nil || !o.Payable {
		t.Fatalf("refused order no longer payable: %+v %v", o, err)
	}

	// History: the user's payments only, newest first.
	before := len(w.History("buyer-wang"))
	first, err := w.Pay(*resp.PrepayId, "buyer-wang")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // distinct success times
	second, err := w.Pay(big, "buyer-wang")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Pay(big, "buyer-wang"); !errors.Is(err, wechatpay.ErrOrderPaid) {
		t.Fatalf("paid twice: %v", err)
	}
	h := w.History("buyer-wang")
	if len(h) != before+2 || h[0].TradeNo != second.TradeNo || h[1].TradeNo != first.TradeNo ||
		h[0].Amount != 5000 || h[1].Merchant != "hutong 沙箱商户" || h[1].Description != "公众号商品" || h[0].User != "buyer-wang" {
		t.Fatalf("history: %+v", h)
	}
	for _, r := range w.History("buyer-li") {
		if r.User != "buyer-li" {
			t.Fatalf("buyer-li's history holds %+v", r)
		}
	}
}

// TestPhoneShowsSubMerchant: in service-provider mode the payer sees the
// shop, not the provider.
func TestPhoneShowsSubMerchant(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	c := e.Credentials()
	sub := e.Sandbox().WeChatPay().SubMerchants()[0]
	r, _, err := (&partnernative.NativeApiService{Client: client}).Prepay(ctx, partnernative.PrepayRequest{
		SpAppid: core.String(c.AppID), SpMchid: core.String(c.MchID), SubMchid: core.String(sub.SubMchID),
		Description: core.String("服务商 Native"), OutTradeNo: core.String(outTradeNo("P")),
		NotifyUrl: core.String("https://merchant.example/n"), Amount: &partnernative.Amount{Total: core.Int64(888)},
	})
	if err != nil {
		t.Fatal(err)
	}
	o, err := e.Sandbox().WeChatPay().Phone().Lookup(*r.CodeUrl)
	if err != nil || o.Merchant != sub.Name || sub.Name == "" {
		t.Fatalf("partner order shows %q, want %q (%v)", o.Merchant, sub.Name, err)
	}
}
