package alipay_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// TestCloseBeforeScanLocksTheCode: a precreated code closed before anyone
// scanned it is answered ACQ.TRADE_NOT_EXIST, as Alipay does, and yet can
// no longer be paid on any path: the phone's scan, its order page and pay
// form, the helper API. Queries still find no trade, and the same
// precreate again answers the same, still unpayable, code.
func TestCloseBeforeScanLocksTheCode(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	w := e.Sandbox().Alipay().Phone()
	no, qr := precreate(t, client, "", "6.66")

	res, err := client.TradeClose(alipaysdk.TradeClose{OutTradeNo: no})
	if err != nil || res.Code != "40004" || res.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("close before the scan: %v %+v", err, res)
	}

	// The phone's scan is refused with Alipay's words.
	_, err = w.Lookup(qr)
	if !errors.Is(err, alipay.ErrTradeClosed) || !strings.Contains(err.Error(), "本笔交易已关闭") {
		t.Fatalf("scanning the closed code: %v", err)
	}
	// So are the order page and the pay form, PIN and all.
	p := browse(t, e, "GET", e.URL+"/phone/u/buyer-wang/order?"+url.Values{"wallet": {"alipay"}, "code": {qr}}.Encode(), nil)
	if p.status != http.StatusNotFound || !strings.Contains(p.body, "本笔交易已关闭") {
		t.Fatalf("order page: %d %s", p.status, p.body)
	}
	p = browse(t, e, "POST", e.URL+"/phone/u/buyer-wang/pay", url.Values{"wallet": {"alipay"}, "code": {qr}, "pin": {phone.PIN}})
	if p.status == http.StatusSeeOther || !strings.Contains(p.body, "本笔交易已关闭") {
		t.Fatalf("pay form: %d %s %s", p.status, p.location, p.body)
	}
	if _, err := w.Pay(qr, "buyer-wang"); !errors.Is(err, alipay.ErrTradeClosed) || !strings.Contains(err.Error(), "本笔交易已关闭") {
		t.Fatalf("paying the closed code: %v", err)
	}
	if st, code := payRefused(t, e, qr, ""); st != http.StatusConflict || code != "order_closed" {
		t.Fatalf("helper pay of the closed code: %d %s", st, code)
	}
	if h := w.History("buyer-wang"); len(h) != 0 {
		t.Fatalf("the buyer paid: %+v", h)
	}

	// The merchant still finds no trade, and closing again says so too.
	if q := queryTrade(t, client, no); q.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("query after the refused scan: %+v", q)
	}
	if res, _ := client.TradeClose(alipaysdk.TradeClose{OutTradeNo: no}); res.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("close again: %+v", res)
	}

	// The same precreate again answers the same code, still closed.
	again := alipaysdk.TradePreCreate{}
	again.OutTradeNo, again.Subject, again.TotalAmount = no, "hutong 测试商品 · 豆浆", "6.66"
	pr, err := client.TradePreCreate(again)
	if err != nil || !pr.IsSuccess() || pr.QRCode != qr {
		t.Fatalf("precreate after the close: %v %+v", err, pr)
	}
	if st, code := payRefused(t, e, pr.QRCode, ""); st != http.StatusConflict || code != "order_closed" {
		t.Fatalf("the code answered again was paid: %d %s", st, code)
	}
	// Other content under the out_trade_no is refused: the trade is closed.
	again.TotalAmount = "7.00"
	if pr, err := client.TradePreCreate(again); err != nil || pr.SubCode != "ACQ.TRADE_HAS_CLOSE" {
		t.Fatalf("precreate of other content after the close: %v %+v", err, pr)
	}

	// A code closed after its scan is an ordinary closed trade.
	no2, qr2 := precreate(t, client, "", "1.00")
	if _, err := w.Lookup(qr2); err != nil {
		t.Fatal(err)
	}
	if res, _ := client.TradeClose(alipaysdk.TradeClose{OutTradeNo: no2}); !res.IsSuccess() {
		t.Fatalf("close after the scan: %+v", res)
	}
	if q := queryTrade(t, client, no2); q.TradeStatus != alipaysdk.TradeStatusClosed {
		t.Fatalf("query of a trade closed after its scan: %+v", q)
	}
}
