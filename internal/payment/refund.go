package payment

import (
	"fmt"
	"time"
)

// Refund statuses and events.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
	// RefundAwaitingReturn is a return_and_refund waiting for the goods.
	RefundAwaitingReturn = "awaiting_return"
	// RefundCanceled is a return_and_refund whose goods never came back:
	// nothing was asked of the wallet, and its claim went back to the
	// payment.
	RefundCanceled = "canceled"

	EventRefundSucceeded = "refund.succeeded"
	EventRefundFailed    = "refund.failed"
	EventRefundCanceled  = "refund.canceled"

	RefundDuplicateCharge = "duplicate_charge"
	RefundOnly            = "refund_only"       // money back, no goods returned
	RefundWithReturn      = "return_and_refund" // money back once the goods are received
)

// Refund is one refund of a payment.
type Refund struct {
	ID        string `json:"id"`
	PaymentID string `json:"payment_id"`
	Amount    int64  `json:"amount"`
	Reason    string `json:"reason,omitempty"`
	// Kind is a merchant's refund_only or return_and_refund, or
	// duplicate_charge for hutong returning a second payer's money, which
	// is not part of the payment's amount and so claims none of it.
	Kind string `json:"kind,omitempty"`
	// Attempt is the wallet order refunded, when it is not the one that
	// paid the payment.
	Attempt string `json:"attempt,omitempty"`
	// AfterRelease is whether the refund was booked after the payment's
	// escrow was released: the merchant's payable bears it.
	AfterRelease bool `json:"after_release,omitempty"`
	// FeeBack is the part of the wallet's fee the refund returned.
	FeeBack   int64     `json:"fee_back,omitempty"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created"`
	UpdatedAt time.Time `json:"updated"`
	// SucceededAt is when the wallet completed the refund, by its own
	// word where it said (else when hutong learnt it): the time the
	// wallet's bill files it under, and reconciliation with it.
	SucceededAt time.Time `json:"succeeded_at,omitzero"`
	// CancelReason says why a return_and_refund was canceled.
	CancelReason string `json:"cancel_reason,omitempty"`
}

// Refundable is what may still be refunded.
func (p Payment) Refundable() int64 { return p.Amount - p.Refunded }

// ReserveRefund claims amount of p for a new refund. The caller stores the
// returned payment and refund in one transaction that holds p's row, so
// concurrent refunds see each other's claims.
func ReserveRefund(p Payment, amount int64, reason string, now time.Time) (Payment, Refund, error) {
	if p.Status != StatusSucceeded {
		return p, Refund{}, NotPaid(p, "only a succeeded payment can be refunded")
	}
	if amount <= 0 {
		return p, Refund{}, &FieldError{Param: "amount", Message: fmt.Sprintf("must be at least 1 fen, got %d", amount)}
	}
	if amount > p.Refundable() {
		return p, Refund{}, &RefundExceedsError{Payment: p.ID, Amount: amount, Paid: p.Amount, Refundable: p.Refundable()}
	}
	next := p
	next.Refunded += amount
	next.UpdatedAt = now
	return next, Refund{ID: NewID("re"), PaymentID: p.ID, Amount: amount, Reason: reason, Status: RefundPending, AfterRelease: !p.ReleasedAt.IsZero(),
		CreatedAt: now, UpdatedAt: now}, nil
}

// SettleRefund applies the wallet's outcome of a refund. A failed refund
// gives its claim back to the payment.
func SettleRefund(p Payment, r Refund, succeeded bool, now time.Time) (Payment, Refund, string) {
	if r.Status != RefundPending && r.Status != RefundAwaitingReturn {
		return p, r, ""
	}
	r.UpdatedAt = now
	if succeeded {
		r.Status = RefundSucceeded
		return p, r, EventRefundSucceeded
	}
	r.Status = RefundFailed
	if r.Kind == RefundDuplicateCharge {
		return p, r, EventRefundFailed
	}
	p.Refunded -= r.Amount
	p.UpdatedAt = now
	return p, r, EventRefundFailed
}

// CancelReturn ends a return_and_refund still awaiting its goods without
// refunding: the refund is canceled and its claim goes back to the payment,
// so the payment is refundable (and its escrow releasable) again. ok is
// false when the refund is not awaiting its return.
func CancelReturn(p Payment, r Refund, reason string, now time.Time) (Payment, Refund, bool) {
	if r.Status != RefundAwaitingReturn {
		return p, r, false
	}
	r.Status, r.UpdatedAt = RefundCanceled, now
	if reason != "" {
		r.CancelReason = reason
	}
	p.Refunded -= r.Amount
	p.UpdatedAt = now
	return p, r, true
}
