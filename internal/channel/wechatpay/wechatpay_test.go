package wechatpay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/channel/wechatpay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

var ctx = context.Background()

func connector(t testing.TB, e *sandboxtest.Env) *wechatpay.Connector {
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
	})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

var seq atomic.Int64

func no(prefix string) string {
	return fmt.Sprintf("%s%d%05d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// inbox is a notify endpoint that parses with the connector.
type inbox struct {
	mu     sync.Mutex
	got    []channel.Notification
	errs   []error
	server *httptest.Server
}

func newInbox(t *testing.T, conn *wechatpay.Connector) *inbox {
	in := &inbox{}
	in.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := conn.ParseNotification(r)
		in.mu.Lock()
		if err != nil {
			in.errs = append(in.errs, err)
		} else {
			in.got = append(in.got, n)
		}
		in.mu.Unlock()
		conn.Acknowledge(w, err)
	}))
	t.Cleanup(in.server.Close)
	return in
}

func (in *inbox) wait(t *testing.T, n int) []channel.Notification {
	t.Helper()
	sandboxtest.Eventually(t, 10*time.Second, "notifications", func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return len(in.got) >= n
	})
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]channel.Notification{}, in.got...)
}

func TestEveryMethodBothModes(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	sub := e.Sandbox().WeChatPay().SubMerchants()[0].SubMchID
	openid := users.OpenID("buyer-zhang", e.Credentials().AppID)
	for _, method := range []string{channel.WeChatNative, channel.WeChatJSAPI, channel.WeChatH5, channel.WeChatApp} {
		for _, mode := range []string{"direct", "partner"} {
			t.Run(method+"/"+mode, func(t *testing.T) {
				p := channel.Prepay{OutTradeNo: no("C"), Method: method, Amount: 2000, Description: "连接器测试", NotifyURL: "https://gw.example/notify/wechatpay/main",
					ReturnURL: "https://shop.example/back", Payer: openid, ClientIP: "203.0.113.5", ExpiresAt: time.Now().Add(time.Hour)}
				if mode == "partner" {
					p.SubMerchant = sub
				}
				a, err := conn.Prepay(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				var code string
				switch method {
				case channel.WeChatNative:
					code = a.QRCode
					if a.Type != "qr_code" {
						t.Fatalf("action %+v", a)
					}
				case channel.WeChatH5:
					code = a.URL
					if a.Type != "redirect" || !strings.Contains(a.URL, "redirect_url=https%3A%2F%2Fshop.example%2Fback") {
						t.Fatalf("action %+v", a)
					}
				case channel.WeChatJSAPI:
					code = strings.TrimPrefix(a.Params["package"], "prepay_id=")
					if a.Type != "wallet_sdk" || a.Params["paySign"] == "" || a.Params["signType"] != "RSA" {
						t.Fatalf("action %+v", a)
					}
				case channel.WeChatApp:
					code = a.Params["prepayid"]
					if a.Type != "wallet_sdk" || a.Params["sign"] == "" || a.Params["package"] != "Sign=WXPay" {
						t.Fatalf("action %+v", a)
					}
				}
				tr, err := conn.Query(ctx, p.OutTradeNo, p.SubMerchant)
				if err != nil || tr.State != channel.TradePending || tr.Amount != 2000 {
					t.Fatalf("query before paying: %v %+v", err, tr)
				}
				e.Pay(code, "")
				tr, err = conn.Query(ctx, p.OutTradeNo, p.SubMerchant)
				if err != nil || tr.State != channel.TradePaid || tr.TransactionID == "" || tr.PaidAt.IsZero() || tr.Currency != "CNY" {
					t.Fatalf("query after paying: %v %+v", err, tr)
				}
				// The answer names every identity the payment was made with.
				if want := conn.Expect(p.SubMerchant, ""); tr.Identity != want {
					t.Fatalf("the answer names %+v, want %+v", tr.Identity, want)
				}
			})
		}
	}
}

func TestCloseRefundAndNotifications(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	in := newInbox(t, conn)

	// An unknown order is ErrNotFound.
	if _, err := conn.Query(ctx, "NOSUCHORDER", ""); !errors.Is(err, channel.ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	closed := no("X")
	if _, err := conn.Prepay(ctx, channel.Prepay{OutTradeNo: closed, Method: channel.WeChatNative, Amount: 1, Description: "x", NotifyURL: in.server.URL}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(ctx, closed, ""); err != nil {
		t.Fatal(err)
	}
	if tr, err := conn.Query(ctx, closed, ""); err != nil || tr.State != channel.TradeClosed {
		t.Fatalf("after close: %+v %v", tr, err)
	}

	order := no("R")
	a, err := conn.Prepay(ctx, channel.Prepay{OutTradeNo: order, Method: channel.WeChatNative, Amount: 5000, Description: "退款测试", NotifyURL: in.server.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.Pay(a.QRCode, "")
	paid := in.wait(t, 1)[0]
	if paid.Trade == nil || paid.Trade.OutTradeNo != order || paid.Trade.State != channel.TradePaid || paid.Trade.Amount != 5000 || paid.ID == "" {
		t.Fatalf("payment notification: %+v", paid)
	}
	r, err := conn.Refund(ctx, channel.RefundRequest{OutTradeNo: order, OutRefundNo: order + "-1", Amount: 1500, Total: 5000, Reason: "仅退款", NotifyURL: in.server.URL})
	if err != nil || r.State != channel.RefundPending || r.RefundID == "" {
		t.Fatalf("refund: %v %+v", err, r)
	}
	_, err = conn.Refund(ctx, channel.RefundRequest{OutTradeNo: order, OutRefundNo: order + "-2", Amount: 3501, Total: 5000})
	var we *channel.WalletError
	if !errors.As(err, &we) || we.Code != "INVALID_REQUEST" {
		t.Fatalf("over-refund: %v", err)
	}
	ns := in.wait(t, 2)
	if ns[1].Refund == nil || ns[1].Refund.OutRefundNo != order+"-1" || ns[1].Refund.State != channel.RefundSucceeded || ns[1].Refund.Amount != 1500 {
		t.Fatalf("refund notification: %+v", ns[1].Refund)
	}
	if q, err := conn.QueryRefund(ctx, order, order+"-1", ""); err != nil || q.State != channel.RefundSucceeded {
		t.Fatalf("refund query: %v %+v", err, q)
	}
	if tr, _ := conn.Query(ctx, order, ""); tr.State != channel.TradeRefunded {
		t.Fatalf("after a refund: %+v", tr)
	}
}

func TestForgedAndTamperedNotificationsAreRefused(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	// Capture a genuine notification, then replay it altered.
	var captured *http.Request
	var body []byte
	done := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		captured = r
		w.WriteHeader(http.StatusNoContent)
		done <- struct{}{}
	}))
	defer srv.Close()
	a, _ := conn.Prepay(ctx, channel.Prepay{OutTradeNo: no("F"), Method: channel.WeChatNative, Amount: 100, Description: "x", NotifyURL: srv.URL})
	e.Pay(a.QRCode, "")
	<-done
	replay := func(b []byte, mutate func(h http.Header)) error {
		req := httptest.NewRequest("POST", "/notify/wechatpay/main", bytes.NewReader(b))
		for k, v := range captured.Header {
			req.Header[k] = v
		}
		if mutate != nil {
			mutate(req.Header)
		}
		_, err := conn.ParseNotification(req)
		return err
	}
	if err := replay(body, nil); err != nil {
		t.Fatalf("the genuine notification: %v", err)
	}
	tampered := bytes.Replace(body, []byte(`"summary":"支付成功"`), []byte(`"summary":"支付成功 "`), 1)
	for name, err := range map[string]error{
		"tampered body":   replay(tampered, nil),
		"wrong signature": replay(body, func(h http.Header) { h.Set("Wechatpay-Signature", "AAAA") }),
		"unknown serial":  replay(body, func(h http.Header) { h.Set("Wechatpay-Serial", "PUB_KEY_ID_0000") }),
		"old timestamp":   replay(body, func(h http.Header) { h.Set("Wechatpay-Timestamp", "1500000000") }),
		"no headers":      replay(body, func(h http.Header) { h.Del("Wechatpay-Signature") }),
	} {
		if err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
}
