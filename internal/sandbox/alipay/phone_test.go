package alipay_test

import (
	"errors"
	"testing"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

func TestPhoneWallet(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	w := e.Sandbox().Alipay().Phone()
	no, qr := precreate(t, client, "", "7.77")
	if !w.Recognizes(qr) || w.Recognizes("weixin://wxpay/bizpayurl?pr=abc") {
		t.Fatal("Recognizes")
	}
	if _, err := w.Lookup("https://qr.alipay.com/baxnope"); !errors.Is(err, phone.ErrUnknownCode) {
		t.Fatalf("unknown code: %v", err)
	}
	o, err := w.Lookup(qr)
	if err != nil || o.Amount != 777 || !o.Payable || o.Merchant != "hutong 沙箱商家" || !w.Recognizes(o.Code) {
		t.Fatalf("lookup: %v %+v", err, o)
	}
	// Scanning makes the trade visible to the merchant's query.
	if q := queryTrade(t, client, no); q.TradeStatus != alipaysdk.TradeStatusWaitBuyerPay {
		t.Fatalf("after scanning: %+v", q)
	}
	r, err := w.Pay(o.Code, "buyer-wang")
	if err != nil || r.Amount != 777 || r.OutTradeNo != no {
		t.Fatalf("pay: %v %+v", err, r)
	}
	if h := w.History("buyer-wang"); len(h) != 1 || h[0].TradeNo != r.TradeNo {
		t.Fatalf("history %+v", h)
	}
	if o, err := w.Lookup(qr); err != nil || o.Payable {
		t.Fatalf("a paid trade is still payable: %+v %v", o, err)
	}
}
