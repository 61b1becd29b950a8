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
	Name       string `json:"name,omitempty"`        // shown masked to a pay-for-me payer
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
	Items           []Item            `json:"items,omitempty"`
	// CheckoutURL is the hosted cashier; it is also the payment's one code
	// for any wallet.
	CheckoutURL   string    `json:"checkout_url,omitempty"`
	WalletTradeNo string    `json:"wallet_trade_no,omitempty"`
	PaidAt        time.Time `json:"paid_at,omitzero"`
	// PaidMethod is the wallet method that paid, PaidAttempt its wallet
	// order (out_trade_no) and Payer who paid.
	PaidMethod  string `json:"paid_method,omitempty"`
	PaidAttempt string `json:"paid_attempt,omitempty"`
	Payer       *Payer `json:"payer,omitempty"`
	// ShareCode is the share code the buyer came through, for analytics.
	ShareCode string `json:"share_code,omitempty"`
	// Rollout is where the buyer stood in the rollout of the method that
	// paid, set when the payment is paid.
	Rollout Rollout `json:"rollout,omitzero"`
	// Escrow: a paid payment's money is held until the buyer confirms
	// receipt or AutoConfirmAt passes, then released to the merchant less
	// Commission and the wallet's Fee (less the part FeeReturned with
	// refunds).
	Fee           int64     `json:"fee,omitempty"`
	FeeReturned   int64     `json:"fee_returned,omitempty"`
	Commission    int64     `json:"commission,omitempty"`
	AutoConfirmAt time.Time `json:"auto_confirm_at,omitzero"`
	ReleasedAt    time.Time `json:"released_at,omitzero"`
	// ProfitShareOrder is the wallet's profit-sharing order that settled a
	// service-provider payment (WeChat Pay), if it was settled that way.
	ProfitShareOrder string `json:"profit_share_order,omitempty"`
	// Refunded is what refunds have claimed, pending ones included, so
	// that concurrent refunds can never promise more than was paid.
	Refunded int64 `json:"amount_refunded"`
	// LatePaid marks a payment the wallet reported paid after hutong had
	// canceled it (expired); the money arrived and must be dealt with.
	LatePaid  bool      `json:"late_paid,omitempty"`
	CreatedAt time.Time `json:"created"`
	UpdatedAt time.Time `json:"updated"`
}

// Rollout is where a paid payment's buyer stood in the staged rollout of
// the method that paid: the cohort (a rollout.Decision's Cohort, such as
// "percent" or "holdout") and the market tier of their latest exposure to
// that method before paying. Reports compare the cohorts' payments by it
// (conversion lift, order value); a payment whose buyer was never decided
// for the method has none.
type Rollout struct {
	Cohort string `json:"cohort,omitempty"`
	Tier   string `json:"tier,omitempty"`
}

// Item is one line of the order, shown to the buyer and to a pay-for-me
// payer.
type Item struct {
	Title    string `json:"title"`
	Quantity int64  `json:"quantity"`
	Amount   int64  `json:"amount" unit:"fen"` // fen, for the line
}

// WalletOrderNo is the wallet order (out_trade_no) that paid p, where its
// refunds go.
func (p Payment) WalletOrderNo() string {
	if p.PaidAttempt != "" {
		return p.PaidAttempt
	}
	return p.ID
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
	Payment   string // the payment the message named
	Field     string // one of the Field… constants
	Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("payment %s: the wallet's %s is %q, expected %q", e.Payment, e.Field, e.Got, e.Want)
}

// Change is what a wallet fact does to a payment.
type Change struct {
	Payment Payment // the payment after the fact
	Changed bool
	Event   string // the event to publish, "" for none
}

// ApplyTrade reads a verified wallet fact about a payment made with one
// wallet order, whose id is the payment's own.
func ApplyTrade(p Payment, t channel.Trade, want channel.Identity, now time.Time) (Change, error) {
	c, err := ApplyAttemptTrade(p, SoleAttempt(p), t, want, now)
	return c.Change, err
}

// SoleAttempt is the wallet order of a payment made with a wallet method.
func SoleAttempt(p Payment) Attempt {
	a := Attempt{ID: p.ID, PaymentID: p.ID, Method: p.Method, Channel: p.Channel, Status: AttemptPending,
		Payer: Payer{IsBuyer: true}, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	switch p.Status {
	case StatusSucceeded:
		a.Status = AttemptSucceeded
	case StatusCanceled:
		a.Status = AttemptClosed
	}
	return a
}

// Cancel is the merchant (or expiry) canceling an unpaid payment.
func Cancel(p Payment, now time.Time) (Change, error) {
	switch p.Status {
	case StatusCanceled:
		return Change{Payment: p}, nil
	case StatusSucceeded:
		return Change{}, &StatusError{Payment: p.ID, Status: p.Status, Rule: "a paid payment cannot be canceled; refund it instead (POST /v1/payments/" + p.ID + "/refunds)", Err: ErrAlreadyPaid}
	}
	next := p
	next.Status = StatusCanceled
	next.NextAction = nil
	next.UpdatedAt = now
	return Change{Payment: next, Changed: true, Event: EventCanceled}, nil
}

// Errors of the rules. The rules return them inside a *StatusError or a
// *RefundExceedsError, which name the payment and its numbers.
var (
	ErrAlreadyPaid   = errors.New("payment: the payment is paid; refund it instead")
	ErrNotPaid       = errors.New("payment: only a succeeded payment can be refunded")
	ErrRefundExceeds = errors.New("payment: the refund exceeds what remains to refund")
)

// StatusError is an action the payment's status does not allow: it names
// the payment, its status and the rule, so a merchant reads what to do
// ("payment pay_… is requires_action (not paid yet); only a succeeded
// payment can be refunded"). It is Err to errors.Is.
type StatusError struct {
	Payment, Status string
	Rule            string // what the status allows, or what to do instead
	Err             error  // ErrNotPaid, ErrAlreadyPaid
}

func (e *StatusError) Error() string {
	status := e.Status
	if status == StatusRequiresAction {
		status += " (not paid yet)"
	}
	return fmt.Sprintf("payment %s is %s; %s", e.Payment, status, e.Rule)
}

func (e *StatusError) Unwrap() error { return e.Err }

// NotPaid is the refusal of an action only a succeeded payment allows;
// rule says which ("only a succeeded payment can be refunded").
func NotPaid(p Payment, rule string) error {
	return &StatusError{Payment: p.ID, Status: p.Status, Rule: rule, Err: ErrNotPaid}
}

// RefundExceedsError is a refund of more than the payment has left to
// refund (what refunds, pending ones too, have not claimed). It is
// ErrRefundExceeds to errors.Is.
type RefundExceedsError struct {
	Payment                  string
	Amount, Paid, Refundable int64
}

func (e *RefundExceedsError) Error() string {
	if e.Refundable <= 0 {
		return fmt.Sprintf("amount %d exceeds what is left: refunds already claim all %d fen of %s", e.Amount, e.Paid, e.Payment)
	}
	return fmt.Sprintf("amount %d exceeds the %d fen still refundable on %s (paid %d fen, %d fen claimed by refunds)", e.Amount, e.Refundable, e.Payment, e.Paid, e.Paid-e.Refundable)
}

func (e *RefundExceedsError) Unwrap() error { return ErrRefundExceeds }
