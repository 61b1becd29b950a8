package alipay_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

func precreate(t *testing.T, client *alipaysdk.Client, notifyURL, amount string) (string, string) {
	t.Helper()
	no := outTradeNo("A")
	p := alipaysdk.TradePreCreate{}
	p.OutTradeNo, p.Subject, p.TotalAmount, p.NotifyURL = no, "hutong 测试商品 · 豆浆", amount, notifyURL
	res, err := client.TradePreCreate(p)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsSuccess() || !strings.HasPrefix(res.QRCode, "https://qr.alipay.com/bax") || res.OutTradeNo != no {
		t.Fatalf("precreate: %+v", res)
	}
	return no, res.QRCode
}

func queryTrade(t *testing.T, client *alipaysdk.Client, no string) *alipaysdk.TradeQueryRsp {
	t.Helper()
	res, err := client.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: no})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPrecreatePayRefundWithNotifications(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	m := newMerchant(t, e)
	m.failures.Store(1) // the first attempt is answered "fail"
	no, qr := precreate(t, client, m.URL(), "88.80")

	// Until a buyer scans the code, Alipay does not know the trade.
	if q := queryTrade(t, client, no); q.Code != "40004" || q.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("query before scanning: %+v", q)
	}
	paid := pay(t, e, qr, "buyer-li")
	if paid.TradeStatus != alipay.StatusTradeSuccess || len(paid.TradeNo) != 28 || paid.Amount != 8880 {
		t.Fatalf("pay: %+v", paid)
	}
	q := queryTrade(t, client, no)
	if !q.IsSuccess() || q.TradeStatus != alipaysdk.TradeStatusSuccess || q.TotalAmount != "88.80" || q.TradeNo != paid.TradeNo ||
		q.BuyerUserId != alipay.BuyerID("buyer-li") || q.SendPayDate == "" {
		t.Fatalf("query after paying: %+v", q)
	}

	n := m.waitFor(1)[0]
	if n.TradeStatus != alipaysdk.TradeStatusSuccess || n.OutTradeNo != no || n.TotalAmount != "88.80" || n.NotifyType != "trade_status_sync" || n.BuyerId != alipay.BuyerID("buyer-li") {
		t.Fatalf("notification: %+v", n)
	}

	// Partial refunds by out_request_no; the same request again changes no money.
	r, err := client.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no, RefundAmount: "10.00", OutRequestNo: "R1"})
	if err != nil || !r.IsSuccess() || r.FundChange != "Y" || r.RefundFee != "10.00" {
		t.Fatalf("refund: %v %+v", err, r)
	}
	r, err = client.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no, RefundAmount: "10.00", OutRequestNo: "R1"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsSuccess() || r.FundChange != "N" || r.RefundFee != "10.00" {
		t.Fatalf("repeated refund: %+v", r)
	}
	r, err = client.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no, RefundAmount: "78.81", OutRequestNo: "R2"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != "40004" || r.SubCode != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" {
		t.Fatalf("over-refund: %+v", r)
	}
	rq, err := client.TradeFastPayRefundQuery(alipaysdk.TradeFastPayRefundQuery{OutTradeNo: no, OutRequestNo: "R1"})
	if err != nil || !rq.IsSuccess() || rq.RefundStatus != "REFUND_SUCCESS" || rq.RefundAmount != "10.00" || rq.TotalAmount != "88.80" {
		t.Fatalf("refund query: %v %+v", err, rq)
	}
	// The rest closes the trade.
	r, err = client.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no, RefundAmount: "78.80", OutRequestNo: "R2"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsSuccess() || r.RefundFee != "88.80" {
		t.Fatalf("final refund: %+v", r)
	}
	if q := queryTrade(t, client, no); q.TradeStatus != alipaysdk.TradeStatusClosed {
		t.Fatalf("after full refund: %s", q.TradeStatus)
	}
	// The partial refund is notified (TRADE_SUCCESS with refund_fee); the
	// full refund closes the trade, which Alipay does not notify by default.
	m.waitFor(2)
	time.Sleep(50 * time.Millisecond) // time for a wrong third one to arrive
	ns := m.waitFor(2)
	if len(ns) != 2 {
		t.Fatalf("%d notifications, want 2", len(ns))
	}
	refundNote := ns[0]
	if refundNote.RefundFee == "" {
		refundNote = ns[1]
	}
	if refundNote.TradeStatus != alipaysdk.TradeStatusSuccess || refundNote.RefundFee != "10.00" || refundNote.OutBizNo != "R1" || refundNote.GmtRefund == "" {
		t.Fatalf("refund notification: %+v", refundNote)
	}
	u, err := e.Sandbox().Alipay().Users().Get("buyer-li")
	if err != nil {
		t.Fatal(err)
	}
	if u.Balances["alipay"] != 50_000_00 {
		t.Fatalf("buyer balance after full refund: %d", u.Balances["alipay"])
	}
	// A closed trade takes no more refunds and cannot be paid.
	r, err = client.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no, RefundAmount: "0.01", OutRequestNo: "R3"})
	if err != nil {
		t.Fatal(err)
	}
	if r.SubCode != "ACQ.TRADE_HAS_CLOSE" {
		t.Fatalf("refund of a closed trade: %+v", r)
	}
}

func TestCloseCancelAndUnpaidRefund(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)

	// trade.create names its buyer; only that buyer pays.
	no := outTradeNo("C")
	tc := alipaysdk.TradeCreate{BuyerId: alipay.BuyerID("buyer-wang")}
	tc.OutTradeNo, tc.Subject, tc.TotalAmount = no, "小程序订单", "5.00"
	cr, err := client.TradeCreate(tc)
	if err != nil || !cr.IsSuccess() || cr.TradeNo == "" {
		t.Fatalf("create: %v %+v", err, cr)
	}
	r, err := client.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no, RefundAmount: "5.00"})
	if err != nil {
		t.Fatal(err)
	}
	if r.SubCode != "ACQ.TRADE_STATUS_ERROR" {
		t.Fatalf("refund of an unpaid trade: %+v", r)
	}
	if st, code := payRefused(t, e, cr.TradeNo, "buyer-li"); st != http.StatusConflict || code != "wrong_payer" {
		t.Fatalf("another buyer paid: %d %s", st, code)
	}
	closeRes, err := client.TradeClose(alipaysdk.TradeClose{OutTradeNo: no})
	if err != nil || !closeRes.IsSuccess() {
		t.Fatalf("close: %v %+v", err, closeRes)
	}
	if st, code := payRefused(t, e, cr.TradeNo, ""); st != http.StatusConflict || code != "order_closed" {
		t.Fatalf("a closed trade was paid: %d %s", st, code)
	}

	// Cancel of an unpaid trade closes it; of a paid one refunds it.
	no2, qr2 := precreate(t, client, "", "1.00")
	cancel, err := client.TradeCancel(alipaysdk.TradeCancel{OutTradeNo: no2})
	if err != nil {
		t.Fatal(err)
	}
	if !cancel.IsSuccess() || cancel.Action != "close" {
		t.Fatalf("cancel unpaid: %+v", cancel)
	}
	if st, _ := payRefused(t, e, qr2, ""); st != http.StatusConflict {
		t.Fatalf("a cancelled trade was paid: %d", st)
	}
	no3, qr3 := precreate(t, client, "", "2.00")
	pay(t, e, qr3, "")
	closeRes, _ = client.TradeClose(alipaysdk.TradeClose{OutTradeNo: no3})
	if closeRes.SubCode != "ACQ.TRADE_STATUS_ERROR" {
		t.Fatalf("close of a paid trade: %+v", closeRes)
	}
	cancel, err = client.TradeCancel(alipaysdk.TradeCancel{OutTradeNo: no3})
	if err != nil {
		t.Fatal(err)
	}
	if !cancel.IsSuccess() || cancel.Action != "refund" {
		t.Fatalf("cancel paid: %+v", cancel)
	}
	if q := queryTrade(t, client, no3); q.TradeStatus != alipaysdk.TradeStatusClosed {
		t.Fatalf("after cancel: %+v", q)
	}

	// The same out_trade_no with other content is refused.
	p := alipaysdk.TradePreCreate{}
	p.OutTradeNo, p.Subject, p.TotalAmount = no3, "x", "3.00"
	res, err := client.TradePreCreate(p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != "40004" {
		t.Fatalf("reused out_trade_no: %+v", res)
	}
}

func TestTimeoutExpressHonoured(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := sandboxtest.Start(t, sandboxtest.WithNow(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
	client := newClient(t, e)
	p := alipaysdk.TradePreCreate{}
	p.OutTradeNo, p.Subject, p.TotalAmount, p.TimeoutExpress = outTradeNo("T"), "限时", "1.00", "5m"
	res, err := client.TradePreCreate(p)
	if err != nil || !res.IsSuccess() {
		t.Fatal(err, res)
	}
	offset.Store(int64(6 * time.Minute))
	if st, code := payRefused(t, e, res.QRCode, ""); st != http.StatusConflict || code != "order_closed" {
		t.Fatalf("paid after timeout_express: %d %s", st, code)
	}
}

func TestPageAndWapPayReturnSigned(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, kind := range []string{"page", "wap"} {
		t.Run(kind, func(t *testing.T) {
			no := outTradeNo("W")
			var link *url.URL
			var err error
			if kind == "page" {
				p := alipaysdk.TradePagePay{}
				p.OutTradeNo, p.Subject, p.TotalAmount, p.ProductCode, p.ReturnURL = no, "网页支付", "12.34", "FAST_INSTANT_TRADE_PAY", "https://merchant.example/return"
				link, err = client.TradePagePay(p)
			} else {
				p := alipaysdk.TradeWapPay{}
				p.OutTradeNo, p.Subject, p.TotalAmount, p.ProductCode, p.ReturnURL = no, "手机网站支付", "12.34", "QUICK_WAP_WAY", "https://merchant.example/return"
				link, err = client.TradeWapPay(p)
			}
			if err != nil {
				t.Fatal(err)
			}
			// The browser follows the link to the gateway and on to the cashier.
			resp, err := noRedirect.Get(link.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusFound || loc.Path != "/phone/alipay/cashier" {
				t.Fatalf("gateway answered %d %s", resp.StatusCode, loc)
			}
			paid := pay(t, e, loc.Query().Get("code"), "")
			ret, err := url.Parse(paid.ReturnURL)
			if err != nil || !strings.HasPrefix(paid.ReturnURL, "https://merchant.example/return?") {
				t.Fatalf("return url %q", paid.ReturnURL)
			}
			// The merchant verifies the synchronous return with the SDK.
			if err := client.VerifySign(ret.Query()); err != nil {
				t.Fatalf("return signature: %v", err)
			}
			if ret.Query().Get("out_trade_no") != no || ret.Query().Get("total_amount") != "12.34" || ret.Query().Get("method") != "alipay.trade."+kind+".pay.return" {
				t.Fatalf("return parameters %v", ret.Query())
			}
			tampered := ret.Query()
			tampered.Set("total_amount", "0.01")
			if client.VerifySign(tampered) == nil {
				t.Fatal("a tampered return verified")
			}
		})
	}
}

func TestAppPayOrderString(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	no := outTradeNo("P")
	p := alipaysdk.TradeAppPay{}
	p.OutTradeNo, p.Subject, p.TotalAmount = no, "App 支付", "0.50"
	orderString, err := client.TradeAppPay(p)
	if err != nil {
		t.Fatal(err)
	}
	paid := pay(t, e, orderString, "buyer-zhang")
	if paid.OutTradeNo != no || paid.Amount != 50 {
		t.Fatalf("pay: %+v", paid)
	}
	if q := queryTrade(t, client, no); q.TradeStatus != alipaysdk.TradeStatusSuccess {
		t.Fatalf("query: %+v", q)
	}
	// A forged order string is refused.
	forged := strings.Replace(strings.Replace(orderString, "0.50", "0.01", 1), no, no+"F", 1)
	if st, code := payRefused(t, e, forged, ""); st != http.StatusBadRequest || code != "refused" {
		t.Fatal("a forged order string was paid")
	}
}

func TestTradeFinished(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	m := newMerchant(t, e)
	no, qr := precreate(t, client, m.URL(), "3.00")
	paid := pay(t, e, qr, "")
	if st := e.Helper("POST", "/sandbox/v1/alipay/finish", map[string]string{"trade_no": paid.TradeNo}, nil); st != http.StatusOK {
		t.Fatalf("finish: %d", st)
	}
	if q := queryTrade(t, client, no); q.TradeStatus != alipaysdk.TradeStatusFinished {
		t.Fatalf("query: %s", q.TradeStatus)
	}
	// The two notifications may arrive in either order.
	ns := m.waitFor(2)
	if ns[0].TradeStatus != alipaysdk.TradeStatusFinished && ns[1].TradeStatus != alipaysdk.TradeStatusFinished {
		t.Fatalf("no TRADE_FINISHED notification: %+v", ns)
	}
	r, err := client.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no, RefundAmount: "1.00"})
	if err != nil {
		t.Fatal(err)
	}
	if r.SubCode != "ACQ.TRADE_HAS_FINISHED" {
		t.Fatalf("refund after finish: %+v", r)
	}
}
