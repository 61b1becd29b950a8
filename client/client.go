// Package client is the Go client of hutong's merchant API.
//
//	c := client.New("http://127.0.0.1:8080", "sk_merchant_…")
//	p, err := c.CreatePayment(ctx, client.PaymentParams{
//		MerchantOrderID: "order-42", Amount: 1990, Currency: "CNY",
//		Description: "豆浆油条", Method: "wechatpay.native", Buyer: client.Buyer{ID: "b1"},
//	}, "order-42")
//	// show p.NextAction.QRCode to the buyer
//
// Errors from the API are *Error. Webhooks are verified with VerifyWebhook.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/webhook"
)

// Client calls the API with one key.
type Client struct {
	BaseURL string
	Key     string
	// Merchant is the merchant a platform key acts for (Hutong-Merchant).
	Merchant string
	HTTP     *http.Client
}

// New returns a client for the gateway at baseURL.
func New(baseURL, key string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Key: key, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is the API's error answer.
type Error struct {
	Status  int    `json:"-"`
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("hutong: %d %s (%s): %s", e.Status, e.Code, e.Param, e.Message)
	}
	return fmt.Sprintf("hutong: %d %s: %s", e.Status, e.Code, e.Message)
}

// Buyer is who pays.
type Buyer struct {
	ID         string `json:"id"`
	RegionCode string `json:"region_code,omitempty"`
	Platform   string `json:"platform,omitempty"`
	Name       string `json:"name,omitempty"` // shown masked to a pay-for-me payer
}

// Item is one line of an order.
type Item struct {
	Title    string `json:"title"`
	Quantity int64  `json:"quantity"`
	Amount   int64  `json:"amount"`
}

// PaymentParams asks for a payment.
type PaymentParams struct {
	MerchantOrderID string            `json:"merchant_order_id"`
	Amount          int64             `json:"amount"`
	Currency        string            `json:"currency"`
	Description     string            `json:"description"`
	Method          string            `json:"method"`
	Buyer           Buyer             `json:"buyer"`
	ReturnURL       string            `json:"return_url,omitempty"`
	ExpiresIn       int64             `json:"expires_in,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Items           []Item            `json:"items,omitempty"`
	ShareCode       string            `json:"share_code,omitempty"` // the share code id the buyer came through
}

// NextAction is what the buyer's side does next.
type NextAction struct {
	Type   string            `json:"type"`
	QRCode string            `json:"qr_code,omitempty"`
	URL    string            `json:"url,omitempty"`
	Params map[string]string `json:"params,omitempty"`
}

// Payment is a payment.
type Payment struct {
	ID              string            `json:"id"`
	MerchantOrderID string            `json:"merchant_order_id"`
	Amount          int64             `json:"amount"`
	AmountRefunded  int64             `json:"amount_refunded"`
	Currency        string            `json:"currency"`
	Description     string            `json:"description"`
	Method          string            `json:"method"`
	Status          string            `json:"status"`
	NextAction      *NextAction       `json:"next_action,omitempty"`
	WalletTradeNo   string            `json:"wallet_trade_no,omitempty"`
	LatePaid        bool              `json:"late_paid,omitempty"`
	CheckoutURL     string            `json:"checkout_url,omitempty"`
	PaidMethod      string            `json:"paid_method,omitempty"`
	Payer           *Payer            `json:"payer,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	ExpiresAt       time.Time         `json:"expires_at"`
	PaidAt          time.Time         `json:"paid_at"`
	Created         time.Time         `json:"created"`
}

// Payer is who paid: the buyer, or someone through a pay-for-me request.
type Payer struct {
	IsBuyer  bool   `json:"is_buyer"`
	PayForMe string `json:"pay_for_me,omitempty"`
}

// Refund is a refund.
type Refund struct {
	ID        string `json:"id"`
	PaymentID string `json:"payment_id"`
	Amount    int64  `json:"amount"`
	Reason    string `json:"reason,omitempty"`
	Status    string `json:"status"`
}

// WebhookEndpoint is where events are delivered; Secret is set only in the
// answer that creates it.
type WebhookEndpoint struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

// Event is one change, as webhooks deliver it.
type Event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Created time.Time       `json:"created"`
	Data    json.RawMessage `json:"data"`
}

func (c *Client) do(ctx context.Context, method, path string, in, out any, idempotencyKey string) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	req.Header.Set("Content-Type", "application/json")
	if c.Merchant != "" {
		req.Header.Set("Hutong-Merchant", c.Merchant)
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error Error }
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
			return &Error{Status: resp.StatusCode, Type: "api_error", Code: "unexpected_answer", Message: string(raw)}
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// CreatePayment creates a payment. idempotencyKey makes retries safe; use
// the merchant's order id or a UUID.
func (c *Client) CreatePayment(ctx context.Context, p PaymentParams, idempotencyKey string) (*Payment, error) {
	var out Payment
	return &out, c.do(ctx, http.MethodPost, "/v1/payments", p, &out, idempotencyKey)
}

// GetPayment reads a payment.
func (c *Client) GetPayment(ctx context.Context, id string) (*Payment, error) {
	var out Payment
	return &out, c.do(ctx, http.MethodGet, "/v1/payments/"+url.PathEscape(id), nil, &out, "")
}

// CancelPayment cancels an unpaid payment, at the wallet too.
func (c *Client) CancelPayment(ctx context.Context, id string) (*Payment, error) {
	var out Payment
	return &out, c.do(ctx, http.MethodPost, "/v1/payments/"+url.PathEscape(id)+"/cancel", nil, &out, "")
}

// CreateRefund refunds amount fen of a payment.
func (c *Client) CreateRefund(ctx context.Context, paymentID string, amount int64, reason, idempotencyKey string) (*Refund, error) {
	var out Refund
	return &out, c.do(ctx, http.MethodPost, "/v1/payments/"+url.PathEscape(paymentID)+"/refunds", map[string]any{"amount": amount, "reason": reason}, &out, idempotencyKey)
}

// GetRefund reads a refund.
func (c *Client) GetRefund(ctx context.Context, id string) (*Refund, error) {
	var out Refund
	return &out, c.do(ctx, http.MethodGet, "/v1/refunds/"+url.PathEscape(id), nil, &out, "")
}

// CreateWebhookEndpoint adds an endpoint; keep the returned Secret.
func (c *Client) CreateWebhookEndpoint(ctx context.Context, endpointURL string) (*WebhookEndpoint, error) {
	var out WebhookEndpoint
	return &out, c.do(ctx, http.MethodPost, "/v1/webhook_endpoints", map[string]string{"url": endpointURL}, &out, "")
}

// ListEvents lists every event, newest first, following the pages.
func (c *Client) ListEvents(ctx context.Context) ([]Event, error) {
	return listAll[Event](ctx, c, "/v1/events", func(e Event) string { return e.ID })
}

// ListRefunds lists a payment's refunds, oldest first, following the pages.
func (c *Client) ListRefunds(ctx context.Context, paymentID string) ([]Refund, error) {
	return listAll[Refund](ctx, c, "/v1/payments/"+url.PathEscape(paymentID)+"/refunds", func(r Refund) string { return r.ID })
}

// listAll follows a list's pages (starting_after the last id of each)
// until has_more is false.
func listAll[T any](ctx context.Context, c *Client, path string, id func(T) string) ([]T, error) {
	var all []T
	after := ""
	for {
		p := path + "?limit=100"
		if after != "" {
			p += "&starting_after=" + url.QueryEscape(after)
		}
		var page struct {
			Data    []T  `json:"data"`
			HasMore bool `json:"has_more"`
		}
		if err := c.do(ctx, http.MethodGet, p, nil, &page, ""); err != nil {
			return all, err
		}
		all = append(all, page.Data...)
		if !page.HasMore || len(page.Data) == 0 {
			return all, nil
		}
		after = id(page.Data[len(page.Data)-1])
	}
}

// VerifyWebhook checks a webhook request's signature with the endpoint's
// secret and decodes its event. Answer 2xx only when it returns nil.
func VerifyWebhook(secret string, h http.Header, body []byte) (*Event, error) {
	if err := webhook.Verify(secret, h, body, time.Now()); err != nil {
		return nil, err
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("hutong: webhook body: %w", err)
	}
	return &ev, nil
}
