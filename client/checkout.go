package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/url"
	"time"

	"github.com/hutong-pay/hutong/internal/returnsig"
)

// PayForMe is a request that someone else pay a payment.
type PayForMe struct {
	ID        string     `json:"id"`
	PaymentID string     `json:"payment_id"`
	Status    string     `json:"status"`
	URL       string     `json:"url"`
	QRCodeURL string     `json:"qr_code_url"`
	ShareCode *ShareCode `json:"share_code,omitempty"`
	ExpiresAt time.Time  `json:"expires_at"`
}

// PayForMeParams asks for a pay-for-me request; all optional.
type PayForMeParams struct {
	ExpiresIn int64  `json:"expires_in,omitempty"`
	Note      string `json:"note,omitempty"`
	Source    string `json:"source,omitempty"`
}

// CreatePayForMe asks someone else to pay a payment.
func (c *Client) CreatePayForMe(ctx context.Context, paymentID string, p PayForMeParams) (*PayForMe, error) {
	var out PayForMe
	return &out, c.do(ctx, "POST", "/v1/payments/"+url.PathEscape(paymentID)+"/pay_for_me", p, &out, "")
}

// RevokePayForMe revokes a pay-for-me request.
func (c *Client) RevokePayForMe(ctx context.Context, id string) (*PayForMe, error) {
	var out PayForMe
	return &out, c.do(ctx, "POST", "/v1/pay_for_me/"+url.PathEscape(id)+"/revoke", nil, &out, "")
}

// ShareCode is a share code.
type ShareCode struct {
	ID         string `json:"id"`
	Token      string `json:"token"`
	Text       string `json:"text"`
	Message    string `json:"message"`
	Target     string `json:"target"`
	TargetID   string `json:"target_id"`
	URL        string `json:"url"`
	Source     string `json:"source"`
	Resolves   int64  `json:"resolves"`
	PaidOrders int64  `json:"paid_orders"`
	PaidAmount int64  `json:"paid_amount"`
}

// ShareCodeParams asks for a share code.
type ShareCodeParams struct {
	Target    string     `json:"target"`
	TargetID  string     `json:"target_id"`
	Source    string     `json:"source"`
	URL       string     `json:"url,omitempty"`
	Title     string     `json:"title,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	MaxUses   *int64     `json:"max_uses,omitempty"`
}

// CreateShareCode makes a share code.
func (c *Client) CreateShareCode(ctx context.Context, p ShareCodeParams) (*ShareCode, error) {
	var out ShareCode
	return &out, c.do(ctx, "POST", "/v1/share_codes", p, &out, "")
}

// ResolveShareCode finds the share code in pasted text.
func (c *Client) ResolveShareCode(ctx context.Context, text string) (*ShareCode, error) {
	var out ShareCode
	return &out, c.do(ctx, "POST", "/v1/share_codes/resolve", map[string]string{"text": text}, &out, "")
}

// ReturnKey fetches the public key that signs returns from the hosted
// cashier; fetch it once and keep it.
func (c *Client) ReturnKey(ctx context.Context) (ed25519.PublicKey, error) {
	var out struct {
		Algorithm string `json:"algorithm"`
		PublicKey string `json:"public_key"`
	}
	if err := c.do(ctx, "GET", "/v1/return_key", nil, &out, ""); err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(out.PublicKey)
	if err != nil || out.Algorithm != "ed25519" || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("hutong: the return key is not an Ed25519 public key")
	}
	return b, nil
}

// Return is the outcome the hosted cashier hands back on return_url.
type Return = returnsig.Return

// VerifyReturn checks the signed outcome on a request to your return_url:
// the payment, your order id, its status and amount, signed by the gateway
// for your merchant id, at most maxAge old. Trust only a verified
// "succeeded" (or, better, your webhook).
func VerifyReturn(key ed25519.PublicKey, merchantID string, query url.Values, maxAge time.Duration) (Return, error) {
	return returnsig.Verify(key, merchantID, query, time.Now(), maxAge)
}
