package alipay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
)

// notifyTrade enqueues a trade_status_sync notification of t's current
// state, with extra fields (a refund's). Callers hold s.mu, after the
// change is durable. Like Alipay's default notification settings, it
// stays silent for TRADE_CLOSED (a full refund, a close); empty fields are
// left out, since verifiers sign every field they receive.
func (s *Simulator) notifyTrade(t *Trade, extra map[string]string) {
	if t.NotifyURL == "" || t.Status == StatusTradeClosed {
		return
	}
	m := s.merchants[t.SellerID]
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	paid := alipayapi.FormatYuan(t.Total)
	set("notify_type", "trade_status_sync")
	set("notify_id", s.now().In(chinatime.Location).Format("20060102")+"00222"+sandboxkeys.Digits(21))
	set("charset", "utf-8")
	set("version", "1.0")
	set("app_id", s.creds.AppID)
	set("auth_app_id", t.AuthAppID)
	set("trade_no", t.TradeNo)
	set("out_trade_no", t.OutTradeNo)
	set("trade_status", t.Status)
	set("total_amount", paid)
	set("subject", t.Subject)
	set("body", t.Body)
	set("passback_params", t.Passback)
	set("gmt_create", chinatime.DateTime(t.CreatedAt))
	if m != nil {
		set("seller_id", m.PID)
		set("seller_email", m.Email)
	}
	if t.PaidBy != "" {
		set("buyer_id", BuyerID(t.PaidBy))
		set("buyer_open_id", BuyerOpenID(t.PaidBy, t.AuthAppID))
		set("buyer_logon_id", LogonID(t.PaidBy))
		set("receipt_amount", paid)
		set("invoice_amount", paid)
		set("buyer_pay_amount", paid)
		set("point_amount", "0.00")
		set("gmt_payment", chinatime.DateTime(t.PaidAt))
		fb, _ := json.Marshal([]map[string]string{{"amount": paid, "fundChannel": "ALIPAYACCOUNT"}})
		set("fund_bill_list", string(fb))
	}
	if !t.ClosedAt.IsZero() {
		set("gmt_close", chinatime.DateTime(t.ClosedAt))
	}
	for k, val := range extra {
		set(k, val)
	}
	plain, _ := json.Marshal(v)
	n := &notify.Notification{
		ID:          v.Get("notify_id"),
		Wallet:      Wallet,
		EventType:   "trade_status_sync:" + t.Status,
		URL:         t.NotifyURL,
		ContentType: "application/x-www-form-urlencoded; charset=utf-8",
		Body:        v.Encode(),
		Plaintext:   plain,
	}
	if err := s.cfg.Notifier.Enqueue(n); err != nil {
		s.cfg.Logger.Error("alipay: enqueue notification", "err", err)
	}
}

// Name implements notify.Wallet.
func (s *Simulator) Name() string { return Wallet }

// Schedule implements notify.Wallet.
func (s *Simulator) Schedule() []time.Duration { return NotifySchedule }

// Prepare implements notify.Wallet: the stored form, stamped with this
// attempt's notify_time and signed (without sign and sign_type).
func (s *Simulator) Prepare(ctx context.Context, n *notify.Notification) (*http.Request, error) {
	v, err := url.ParseQuery(n.Body)
	if err != nil {
		return nil, fmt.Errorf("stored notification: %w", err)
	}
	v.Set("notify_time", chinatime.DateTime(s.now()))
	v.Set("sign_type", "RSA2")
	sig, err := alipayapi.Sign(s.alipayKey, []byte(alipayapi.NotifySignContent(v)))
	if err != nil {
		return nil, err
	}
	v.Set("sign", sig)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, fmt.Errorf("notify_url %q: %w", n.URL, err)
	}
	req.Header.Set("Content-Type", n.ContentType)
	req.Header.Set("User-Agent", "Mozilla/4.0")
	return req, nil
}

// Acknowledged implements notify.Wallet: only the plain text "success"
// ends the delivery.
func (s *Simulator) Acknowledged(status int, body []byte) bool {
	return status == http.StatusOK && strings.TrimSpace(string(body)) == "success"
}
