package alipay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/channel/alipay"
	sbalipay "github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

var ctx = context.Background()

func connector(t testing.TB, e *sandboxtest.Env) *alipay.Connector {
	t.Helper()
	c := e.Sandbox().Credentials().Alipay
	conn, err := alipay.New(alipay.Config{AppID: c.AppID, SellerID: c.SellerID, AppPrivateKey: c.AppPrivateKey, AlipayPublicKey: c.AlipayPublicKey, Gateway: e.URL + "/gateway.do"})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

var seq atomic.Int64

func no(prefix string) string {
	return fmt.Sprintf("%s%d%05d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

func pay(t *testing.T, e *sandboxtest.Env, code string) {
	t.Helper()
	if st := e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "alipay", "code": code}, nil); st != 200 {
		t.Fatalf("pay: %d", st)
	}
}

func TestEveryMethod(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, method := range []string{channel.AlipayQR, channel.AlipayJSAPI, channel.AlipayWap, channel.AlipayPage, channel.AlipayApp} {
		t.Run(method, func(t *testing.T) {
			p := channel.Prepay{OutTradeNo: no("A"), Method: method, Amount: 1999, Description: "连接器测试", NotifyURL: "https://gw.example/notify/alipay/main",
				ReturnURL: "https://shop.example/back", Payer: sbalipay.BuyerID("buyer-zhang"), ExpiresAt: time.Now().Add(time.Hour)}
			a, err := conn.Prepay(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var code string
			switch method {
			case channel.AlipayQR:
				code = a.QRCode
			case channel.AlipayJSAPI:
				code = a.Params["tradeNO"]
			case channel.AlipayApp:
				code = a.Params["orderStr"]
			default: // the browser goes to the gateway and on to the cashier
				resp, err := noRedirect.Get(a.URL)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				loc, _ := url.Parse(resp.Header.Get("Location"))
				code = loc.Query().Get("code")
			}
			if code == "" {
				t.Fatalf("no code in %+v", a)
			}
			pay(t, e, code)
			tr, err := conn.Query(ctx, p.OutTradeNo, "")
			if err != nil || tr.State != channel.TradePaid || tr.Amount != 1999 || tr.TransactionID == "" || tr.PaidAt.IsZero() {
				t.Fatalf("query: %v %+v", err, tr)
			}
		})
	}
}

func TestCloseRefundNotifications(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	var mu sync.Mutex
	var got []channel.Notification
	inbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := conn.ParseNotification(r)
		if err == nil {
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
		}
		conn.Acknowledge(w, err)
	}))
	defer inbox.Close()

	// A precreated trade nobody scanned: unknown to query, closable.
	unscanned := no("U")
	if _, err := conn.Prepay(ctx, channel.Prepay{OutTradeNo: unscanned, Method: channel.AlipayQR, Amount: 100, Description: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Query(ctx, unscanned, ""); !errors.Is(err, channel.ErrNotFound) {
		t.Fatalf("unscanned query: %v", err)
	}
	if err := conn.Close(ctx, unscanned, ""); err != nil {
		t.Fatalf("close unscanned: %v", err)
	}

	order := no("R")
	a, _ := conn.Prepay(ctx, channel.Prepay{OutTradeNo: order, Method: channel.AlipayQR, Amount: 10000, Description: "退款", NotifyURL: inbox.URL})
	pay(t, e, a.QRCode)
	r, err := conn.Refund(ctx, channel.RefundRequest{OutTradeNo: order, OutRefundNo: "RF1", Amount: 2500, Total: 10000, Reason: "仅退款"})
	if err != nil || r.State != channel.RefundSucceeded {
		t.Fatalf("refund: %v %+v", err, r)
	}
	_, err = conn.Refund(ctx, channel.RefundRequest{OutTradeNo: order, OutRefundNo: "RF2", Amount: 7501, Total: 10000})
	var we *channel.WalletError
	if !errors.As(err, &we) || !strings.Contains(we.Code, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL") {
		t.Fatalf("over-refund: %v", err)
	}
	if q, err := conn.QueryRefund(ctx, order, "RF1", ""); err != nil || q.State != channel.RefundSucceeded || q.Amount != 2500 {
		t.Fatalf("refund query: %v %+v", err, q)
	}
	if _, err := conn.QueryRefund(ctx, order, "RF9", ""); !errors.Is(err, channel.ErrNotFound) {
		t.Fatalf("unknown refund: %v", err)
	}
	sandboxtest.Eventually(t, 10*time.Second, "two notifications", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	var payment, refund *channel.Notification
	for i := range got {
		if got[i].Refund != nil {
			refund = &got[i]
		} else {
			payment = &got[i]
		}
	}
	if payment == nil || payment.Trade.State != channel.TradePaid || payment.Trade.Amount != 10000 || payment.Trade.Merchant == "" {
		t.Fatalf("payment notification: %+v", payment)
	}
	if refund == nil || refund.Refund.OutRefundNo != "RF1" || refund.Refund.Amount != 2500 {
		t.Fatalf("refund notification: %+v", refund)
	}
}

func TestTamperedNotificationIsRefused(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	var body []byte
	done := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the notification: %v", err)
		}
		body = b
		if _, err := w.Write([]byte("success")); err != nil {
			t.Errorf("answering the notification: %v", err)
		}
		done <- struct{}{}
	}))
	defer srv.Close()
	a, err := conn.Prepay(ctx, channel.Prepay{OutTradeNo: no("T"), Method: channel.AlipayQR, Amount: 500, Description: "x", NotifyURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	pay(t, e, a.QRCode)
	<-done
	parse := func(b []byte) error {
		req := httptest.NewRequest("POST", "/notify/alipay/main", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := conn.ParseNotification(req)
		return err
	}
	if err := parse(body); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	if err := parse(bytes.Replace(body, []byte("total_amount=5.00"), []byte("total_amount=0.01"), 1)); err == nil {
		t.Fatal("a tampered amount was accepted")
	}
	if err := parse([]byte("out_trade_no=x&total_amount=1.00&notify_type=trade_status_sync")); err == nil {
		t.Fatal("an unsigned notification was accepted")
	}
}

// FuzzParseNotification: no form is accepted without Alipay's signature,
// and none makes the parser panic.
func FuzzParseNotification(f *testing.F) {
	conn, err := alipay.New(alipay.Config{AppID: "2021", SellerID: "2088621000000001", AppPrivateKey: testKey, AlipayPublicKey: testPub})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("notify_type=trade_status_sync&out_trade_no=x&total_amount=1.00&sign=AAAA&sign_type=RSA2")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, form string) {
		req := httptest.NewRequest("POST", "/notify/alipay/main", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if n, err := conn.ParseNotification(req); err == nil {
			t.Fatalf("accepted %+v", n)
		}
	})
}
