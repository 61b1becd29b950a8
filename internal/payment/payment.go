// Package payment is hutong's payments and refunds and the rules that
// move them: what a valid request is, which wallet facts change a payment,
// and how much may still be refunded. It does no I/O; the gateway loads a
// payment, asks this package what a fact means, and stores the answer in
// one transaction.
package payment

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
)

// Payment statuses.
const (
	StatusRequiresAction = "requires_action" // waiting for the buyer to pay
	StatusSucceeded      = "succeeded"       // the wallet's verified word says paid
	StatusCanceled       = "canceled"        // canceled by the merchant, expired, or closed at the wallet
)

// Events a payment's changes publish to merchants.
const (
	EventSucceeded = "payment.succeeded"
	EventCanceled  = "payment.canceled"
	EventFailed    = "payment.failed"
)

// Buyer is who pays, as the merchant knows them.
type Buyer struct {
	ID         string `json:"id"`
	RegionCode string `json:"region_code,omitempty"` // GB/T 2260, 6 digits
	Platform   string `json:"platform,omitempty"`    // ios, android, h5, miniprogram, pc
}

// Payment is one payment of one merchant's order.
type Payment struct {
	ID              string            `json:"id"`
	MerchantID      string            `json:"merchant_id"`
	MerchantOrderID string            `json:"merchant_order_id"`
	Amount          int64             `json:"amount"`
	Currency        string            `json:"currency"`
	Description     string            `json:"description"`
	Method          string            `json:"method"`
	Channel         string            `json:"channel"`
	Buyer           Buyer             `json:"buyer"`
	ReturnURL       string            `json:"return_url,omitempty"`
	ExpiresAt       time.Time         `json:"expires_at"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Status          string            `json:"status"`
	NextAction      *channel.Action   `json:"next_action,omitempty"`
	WalletTradeNo   string            `json:"wallet_trade_no,omitempty"`
	PaidAt          time.Time         `json:"paid_at,omitzero"`
	// Refunded is what refunds have claimed, pending ones included, so
	// that concurrent refunds can never promise more than was paid.
	Refunded int64 `json:"amount_refunded"`
	// LatePaid marks a payment the wallet reported paid after hutong had
	// canceled it (expired); the money arrived and must be dealt with.
	LatePaid  bool      `json:"late_paid,omitempty"`
	CreatedAt time.Time `json:"created"`
	UpdatedAt time.Time `json:"updated"`
}

// NewID returns an id with a prefix and 24 random characters, short enough
// for both wallets' order numbers (at most 32 characters, letters, digits
// and underscores).
func NewID(prefix string) string {
	b := make([]byte, 15)
	rand.Read(b)
	return prefix + "_" + idEncoding.EncodeToString(b)
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// MismatchError is a wallet fact that does not belong to the payment: the
// gateway refuses it and changes nothing.
type MismatchError struct {
	Field     string
	Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("payment: the wallet's %s is %q, the payment's is %q", e.Field, e.Got, e.Want)
}

// Change is what a wallet fact does to a payment.
type Change struct {
	Payment Payment // the payment after the fact
	Changed bool
	Event   string // the event to publish, "" for none
}

// ApplyTrade reads a verified wallet fact about p. merchant is the wallet
// merchant the payment was made with (mchid, sub_mchid or seller_id); ""
// skips that check where the wallet's answer does not name it.
func ApplyTrade(p Payment, t channel.Trade, merchant string, now time.Time) (Change, error) {
	switch {
	case t.OutTradeNo != p.ID:
		return Change{}, &MismatchError{"order number", p.ID, t.OutTradeNo}
	case t.Amount != p.Amount:
		return Change{}, &MismatchError{"amount", fmt.Sprint(p.Amount), fmt.Sprint(t.Amount)}
	case t.Currency != "" && t.Currency != p.Currency:
		return Change{}, &MismatchError{"currency", p.Currency, t.Currency}
	case merchant != "" && t.Merchant != "" && t.Merchant != merchant:
		return Change{}, &MismatchError{"merchant", merchant, t.Merchant}
	}
	next := p
	switch t.State {
	case channel.TradePaid, channel.TradeRefunded:
		if p.Status == StatusSucceeded {
			return Change{Payment: p}, nil // the same fact again
		}
		next.Status = StatusSucceeded
		next.WalletTradeNo = t.TransactionID
		next.PaidAt = t.PaidAt
		if next.PaidAt.IsZero() {
			next.PaidAt = now
		}
		next.LatePaid = p.Status == StatusCanceled
		next.NextAction = nil
		next.UpdatedAt = now
		return Change{Payment: next, Changed: true, Event: EventSucceeded}, nil
	case channel.TradeClosed:
		if p.Status != StatusRequiresAction {
			return Change{Payment: p}, nil
		}
		next.Status = StatusCanceled
		next.NextAction = nil
		next.UpdatedAt = now
		return Change{Payment: next, Changed: true, Event: EventCanceled}, nil
	}
	return Change{Payment: p}, nil
}

// Cancel is the merchant (or expiry) canceling an unpaid payment.
func Cancel(p Payment, now time.Time) (Change, error) {
	switch p.Status {
	case StatusCanceled:
		return Change{Payment: p}, nil
	case StatusSucceeded:
		return Change{}, ErrAlreadyPaid
	}
	next := p
	next.Status = StatusCanceled
	next.NextAction = nil
	next.UpdatedAt = now
	return Change{Payment: next, Changed: true, Event: EventCanceled}, nil
}

// Errors of the rules.
var (
	ErrAlreadyPaid   = errors.New("payment: the payment is paid; refund it instead")
	ErrNotPaid       = errors.New("payment: only a succeeded payment can be refunded")
	ErrRefundExceeds = errors.New("payment: the refund exceeds what remains to refund")
)
