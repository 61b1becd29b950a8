package api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// This file is a third wallet, "testpay", written the way a new wallet
// joins hutong: it registers itself with channel.Register and brings a
// Connector; nothing else in hutong changes. TestThirdWallet takes a
// payment, a refund and their notifications through the API with it.

func init() {
	channel.Register(channel.Wallet{
		Name: "testpay", Title: "测试钱包", Rank: 90,
		Methods: []channel.Method{{Name: "testpay.qr", Title: "测试钱包扫码", Flow: channel.FlowQR}},
	})
}

// testWallet is the wallet itself, in memory: orders and refunds, and
// notifications signed with HMAC-SHA256 under a key it shares with its
// merchants.
type testWallet struct {
	key      []byte
	app, mch string

	mu      sync.Mutex
	orders  map[string]*testOrder // by out_trade_no
	refunds map[string]*channel.Refund
	seq     int
}

type testOrder struct {
	trade     channel.Trade
	notifyURL string
}

func newTestWallet() *testWallet {
	return &testWallet{key: []byte("testpay shared key"), app: "tp_app_1", mch: "tp_mch_1",
		orders: map[string]*testOrder{}, refunds: map[string]*channel.Refund{}}
}

// testNotice is the wallet's notification body.
type testNotice struct {
	ID     string          `json:"id"`
	Trade  *channel.Trade  `json:"trade,omitempty"`
	Refund *channel.Refund `json:"refund,omitempty"`
}

// notify signs a notice and posts it to url, answering the status hutong
// acknowledged it with.
func (w *testWallet) notify(ctx context.Context, url string, n testNotice) (int, error) {
	body, err := json.Marshal(n)
	if err != nil {
		return 0, err
	}
	mac := hmac.New(sha256.New, w.key)
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Testpay-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// pay is the buyer paying an order: the wallet records it and notifies.
func (w *testWallet) pay(ctx context.Context, outTradeNo string, as channel.Identity) (int, error) {
	w.mu.Lock()
	o, ok := w.orders[outTradeNo]
	if !ok {
		w.mu.Unlock()
		return 0, fmt.Errorf("testpay: no order %s", outTradeNo)
	}
	w.seq++
	o.trade.State, o.trade.TransactionID, o.trade.PaidAt, o.trade.Payer = channel.TradePaid, fmt.Sprintf("tp_tx_%d", w.seq), time.Now().UTC(), "tp_user_1"
	t := o.trade
	t.Identity = as
	url := o.notifyURL
	w.mu.Unlock()
	return w.notify(ctx, url, testNotice{ID: "tp_evt_pay_" + outTradeNo, Trade: &t})
}

// completeRefund settles a refund hutong asked for and notifies.
func (w *testWallet) completeRefund(ctx context.Context, outRefundNo, notifyURL string) (int, error) {
	w.mu.Lock()
	r, ok := w.refunds[outRefundNo]
	if !ok {
		w.mu.Unlock()
		return 0, fmt.Errorf("testpay: no refund %s", outRefundNo)
	}
	r.State, r.SucceededAt = channel.RefundSucceeded, time.Now().UTC()
	n := *r
	w.mu.Unlock()
	return w.notify(ctx, notifyURL, testNotice{ID: "tp_evt_refund_" + outRefundNo, Refund: &n})
}

// testConnector is hutong's Connector for the wallet.
type testConnector struct {
	w *testWallet

	mu        sync.Mutex
	refundURL map[string]string // out_refund_no → notify URL hutong gave
}

func (c *testConnector) Channel() string { return "testpay" }

func (c *testConnector) Expect(sub, seller string) channel.Identity {
	return channel.Identity{App: c.w.app, Merchant: c.w.mch, SubMerchant: sub}
}

func (c *testConnector) Prepay(_ context.Context, p channel.Prepay) (channel.Action, error) {
	if p.Method != "testpay.qr" {
		return channel.Action{}, &channel.WalletError{Status: 400, Code: "METHOD", Message: p.Method + " is not testpay's", Final: true}
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	c.w.orders[p.OutTradeNo] = &testOrder{notifyURL: p.NotifyURL, trade: channel.Trade{
		Identity: channel.Identity{App: c.w.app, Merchant: c.w.mch}, OutTradeNo: p.OutTradeNo, State: channel.TradePending, Amount: p.Amount, Currency: "CNY"}}
	return channel.Action{Type: "qr_code", QRCode: "testpay://pay/" + p.OutTradeNo}, nil
}

func (c *testConnector) Query(_ context.Context, outTradeNo, _ string) (channel.Trade, error) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	o, ok := c.w.orders[outTradeNo]
	if !ok {
		return channel.Trade{}, channel.ErrNotFound
	}
	return o.trade, nil
}

func (c *testConnector) Close(_ context.Context, outTradeNo, _ string) error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if o, ok := c.w.orders[outTradeNo]; ok && o.trade.State == channel.TradePending {
		o.trade.State = channel.TradeClosed
	}
	return nil
}

func (c *testConnector) Refund(_ context.Context, r channel.RefundRequest) (channel.Refund, error) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	o, ok := c.w.orders[r.OutTradeNo]
	if !ok || o.trade.State != channel.TradePaid {
		return channel.Refund{}, &channel.WalletError{Status: 400, Code: "NOT_PAID", Message: "the order is not paid", Final: true}
	}
	if old, ok := c.w.refunds[r.OutRefundNo]; ok {
		return *old, nil
	}
	c.w.seq++
	ref := &channel.Refund{Identity: o.trade.Identity, OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, RefundID: fmt.Sprintf("tp_rf_%d", c.w.seq),
		State: channel.RefundPending, Amount: r.Amount, Total: o.trade.Amount}
	c.w.refunds[r.OutRefundNo] = ref
	c.mu.Lock()
	c.refundURL[r.OutRefundNo] = r.NotifyURL
	c.mu.Unlock()
	return *ref, nil
}

func (c *testConnector) QueryRefund(_ context.Context, _, outRefundNo, _ string) (channel.Refund, error) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	r, ok := c.w.refunds[outRefundNo]
	if !ok {
		return channel.Refund{}, channel.ErrNotFound
	}
	return *r, nil
}

func (c *testConnector) ParseNotification(r *http.Request) (channel.Notification, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return channel.Notification{}, err
	}
	sig, err := hex.DecodeString(r.Header.Get("Testpay-Signature"))
	mac := hmac.New(sha256.New, c.w.key)
	mac.Write(body)
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return channel.Notification{}, channel.ErrUnverified
	}
	var n testNotice
	if err := json.Unmarshal(body, &n); err != nil {
		return channel.Notification{}, fmt.Errorf("testpay: notification: %w", err)
	}
	if n.ID == "" || (n.Trade == nil) == (n.Refund == nil) {
		return channel.Notification{}, errors.New("testpay: a notification names one trade or one refund, and has an id")
	}
	return channel.Notification{ID: n.ID, Trade: n.Trade, Refund: n.Refund}, nil
}

func (c *testConnector) Acknowledge(w http.ResponseWriter, err error) {
	if err != nil {
		http.Error(w, "retry", http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// TestThirdWallet runs a payment, a notification, a refund and its
// notification through the API on a wallet hutong's own code never
// names, and sees the identity check apply to it as to the others.
func TestThirdWallet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		wallet := newTestWallet()
		conn := &testConnector{w: wallet, refundURL: map[string]string{}}
		e.Svc.Accounts["testpay"] = gateway.Account{Name: "main", Connector: conn}
		e.StartWorker()
		c := e.Client(0)

		p, err := c.CreatePayment(ctx, client.PaymentParams{MerchantOrderID: "tp-1", Amount: 1234, Currency: "CNY", Description: "测试商品",
			Method: "testpay.qr", Buyer: client.Buyer{ID: "buyer-tp"}}, "tp-key-1")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != "requires_action" || p.NextAction == nil || p.NextAction.QRCode != "testpay://pay/"+p.ID {
			t.Fatalf("created %+v, next action %+v: want requires_action with testpay's QR code", p, p.NextAction)
		}

		// A notification signed by the wallet but naming another merchant
		// is refused, and changes nothing.
		status, err := wallet.pay(ctx, p.ID, channel.Identity{App: wallet.app, Merchant: "tp_mch_other"})
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusOK {
			t.Fatal("a notification naming another merchant was acknowledged")
		}
		if got, err := c.GetPayment(ctx, p.ID); err != nil || got.Status != "requires_action" {
			t.Fatalf("after a refused notification: %+v, %v; want requires_action", got, err)
		}

		status, err = wallet.pay(ctx, p.ID, channel.Identity{App: wallet.app, Merchant: wallet.mch})
		if err != nil || status != http.StatusOK {
			t.Fatalf("the payment's notification was answered %d, %v; want 200", status, err)
		}
		if got, err := c.GetPayment(ctx, p.ID); err != nil || got.Status != "succeeded" || got.WalletTradeNo == "" {
			t.Fatalf("after the notification: %+v, %v; want succeeded with testpay's transaction id", got, err)
		}

		r, err := c.CreateRefund(ctx, p.ID, 234, "缺货", "tp-refund-1")
		if err != nil {
			t.Fatal(err)
		}
		var outRefundNo, url string
		waitFor(t, "the refund to reach testpay", func() bool {
			conn.mu.Lock()
			defer conn.mu.Unlock()
			for no, u := range conn.refundURL {
				outRefundNo, url = no, u
			}
			return url != ""
		})
		status, err = wallet.completeRefund(ctx, outRefundNo, url)
		if err != nil || status != http.StatusOK {
			t.Fatalf("the refund's notification was answered %d, %v; want 200", status, err)
		}
		got, err := c.GetRefund(ctx, r.ID)
		if err != nil || got.Status != "succeeded" || got.Amount != 234 {
			t.Fatalf("refund after its notification: %+v, %v; want 234 fen succeeded", got, err)
		}
		if pay, err := c.GetPayment(ctx, p.ID); err != nil || pay.AmountRefunded != 234 {
			t.Fatalf("payment after the refund: %+v, %v; want 234 fen refunded", pay, err)
		}
	})
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
