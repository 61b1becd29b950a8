package wechatpay

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// notificationJSON is the envelope the platform POSTs, in its key order.
type notificationJSON struct {
	ID           string               `json:"id"`
	CreateTime   string               `json:"create_time"`
	ResourceType string               `json:"resource_type"`
	EventType    string               `json:"event_type"`
	Summary      string               `json:"summary"`
	Resource     wechatpayv3.Resource `json:"resource"`
}

// enqueueNotification seals plaintext under the merchant's APIv3 key and
// hands the notification to the dispatcher. Callers hold s.mu, and call it
// after the state change it reports is durable.
func (s *Simulator) enqueueNotification(url, eventType, summary, originalType string, plaintext any) {
	pt, err := json.Marshal(plaintext)
	if err != nil {
		s.cfg.Logger.Error("wechatpay: encode notification", "err", err)
		return
	}
	res, err := wechatpayv3.Seal(s.creds.APIv3Key, originalType, originalType, pt)
	if err != nil {
		s.cfg.Logger.Error("wechatpay: seal notification", "err", err)
		return
	}
	env := notificationJSON{
		ID:           uuid(),
		CreateTime:   chinatime.RFC3339(s.now()),
		ResourceType: "encrypt-resource",
		EventType:    eventType,
		Summary:      summary,
		Resource:     res,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		s.cfg.Logger.Error("wechatpay: encode notification", "err", err)
		return
	}
	n := &notify.Notification{
		ID:          env.ID,
		Wallet:      Wallet,
		EventType:   eventType,
		URL:         url,
		ContentType: "application/json",
		Body:        string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))),
		Plaintext:   pt,
	}
	if err := s.cfg.Notifier.Enqueue(n); err != nil {
		s.cfg.Logger.Error("wechatpay: enqueue notification", "err", err)
	}
}

// Name implements notify.Wallet.
func (s *Simulator) Name() string { return Wallet }

// Schedule implements notify.Wallet.
func (s *Simulator) Schedule() []time.Duration { return NotifySchedule }

// Prepare implements notify.Wallet: a POST signed now, in the sandbox's
// signing mode.
func (s *Simulator) Prepare(ctx context.Context, n *notify.Notification) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader([]byte(n.Body)))
	if err != nil {
		return nil, fmt.Errorf("notify_url %q: %w", n.URL, err)
	}
	req.Header.Set("Content-Type", n.ContentType)
	req.Header.Set("User-Agent", "Mozilla/4.0")
	req.Header.Set(wechatpayv3.HeaderSignatureType, wechatpayv3.SchemeRSA)
	s.signHeaders(req.Header, "", []byte(n.Body))
	return req, nil
}

// Acknowledged implements notify.Wallet: 200 or 204 ends the delivery.
func (s *Simulator) Acknowledged(status int, _ []byte) bool {
	return status == http.StatusOK || status == http.StatusNoContent
}

func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
