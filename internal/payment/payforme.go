package payment

import (
	"time"

	"github.com/hutong-pay/hutong/internal/sharecode"
)

// PayForMe is a buyer asking someone else to pay: a link (and QR and share
// code) that shows the payer the merchant, the items and the amount, with
// the buyer's name masked, and lets them pay with any wallet.
type PayForMe struct {
	ID         string          `json:"id"`
	PaymentID  string          `json:"payment_id"`
	MerchantID string          `json:"merchant_id"`
	Status     string          `json:"status"` // open, paid, revoked, expired, closed (someone else paid)
	URL        string          `json:"url"`
	QRCodeURL  string          `json:"qr_code_url"` // an SVG of URL
	Note       string          `json:"note,omitempty"`
	ShareCode  *sharecode.Code `json:"share_code,omitempty"`
	ExpiresAt  time.Time       `json:"expires_at"`
	Created    time.Time       `json:"created"`
}

// Mismatch is a wallet message refused because something it named was not
// what hutong sent: kept so that a merchant (and an operator) sees that a
// payment had a message that was signed by the wallet and still not ours.
type Mismatch struct {
	Channel   string    `json:"channel"`
	MessageID string    `json:"message_id"` // a notification's id, or "query:<order>", "refund:<refund id>"
	Source    string    `json:"source"`     // notification, query, refund_answer
	PaymentID string    `json:"payment_id"`
	Field     string    `json:"field"` // app, merchant, sub_merchant, order_number, amount, currency, refund_number, refund_amount, order_amount, channel
	Expected  string    `json:"expected"`
	Got       string    `json:"got"`
	Times     int64     `json:"times"` // arrivals of the same message (the wallet retries)
	FirstAt   time.Time `json:"first_at"`
	LastAt    time.Time `json:"last_at"`
}
