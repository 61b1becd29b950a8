package payment

import (
	"errors"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
)

// An Attempt is one order at a wallet for a payment: its id is the
// wallet's out_trade_no. A payment made with a wallet method has exactly
// one, whose id is the payment's own. A payment whose buyer chooses on the
// hosted cashier ("cashier", "aggregate"), or that someone else pays
// (pay-for-me), may have several: one per wallet and payer tried. The first
// attempt the wallet reports paid pays the payment; a later one is a
// duplicate charge, refunded in full.
type Attempt struct {
	ID            string          `json:"id"`
	PaymentID     string          `json:"payment_id"`
	Method        string          `json:"method"`
	Channel       string          `json:"channel"`
	Status        string          `json:"status"`
	Payer         Payer           `json:"payer"`
	NextAction    *channel.Action `json:"next_action,omitempty"`
	WalletTradeNo string          `json:"wallet_trade_no,omitempty"`
	// Session is a hash of the browser that started the attempt, which
	// tells two friends paying through one pay-for-me link apart.
	Session   string    `json:"session,omitempty"`
	CreatedAt time.Time `json:"created"`
	UpdatedAt time.Time `json:"updated"`
	// PollAt is when the wallet is next asked about the order while it is
	// pending (zero: not again), and PollStep which step of the payments
	// service's schedule that is. They are the service's bookkeeping, not
	// the order's: never shown.
	PollAt   time.Time `json:"-"`
	PollStep int       `json:"-"`
}

// Attempt statuses.
const (
	AttemptPending   = "pending"   // at the wallet, waiting for the payer
	AttemptSucceeded = "succeeded" // this attempt paid the payment
	AttemptClosed    = "closed"    // closed at the wallet, or expired unpaid
	AttemptDuplicate = "duplicate" // paid after another attempt had paid: refunded in full
)

// Payer is who paid (or is paying) a payment.
type Payer struct {
	// IsBuyer is false when someone else paid through a pay-for-me request.
	IsBuyer  bool   `json:"is_buyer"`
	PayForMe string `json:"pay_for_me,omitempty"` // the pay-for-me request's id
	// Wallet is the payer's id at the wallet (openid, Alipay user id) when
	// hutong learned it.
	Wallet string `json:"wallet_payer,omitempty"`
}

// Event published when a second attempt is paid after the payment was.
const EventDuplicateCharge = "payment.duplicate_charge"

// AttemptChange is what a wallet fact does to an attempt and its payment.
type AttemptChange struct {
	Change
	Attempt        Attempt
	AttemptChanged bool
	// Duplicate is set when this fact paid a second attempt: the caller
	// refunds the attempt in full and records the event.
	Duplicate bool
	// CloseOthers is set when the fact paid the payment: the caller closes
	// the payment's other pending attempts at their wallets.
	CloseOthers bool
}

// ApplyAttemptTrade reads a verified wallet fact about attempt a of
// payment p, refusing it (MatchTrade) unless it names want's identities,
// the attempt's order number, the payment's amount and currency.
func ApplyAttemptTrade(p Payment, a Attempt, t channel.Trade, want channel.Identity, now time.Time) (AttemptChange, error) {
	if a.PaymentID != p.ID {
		return AttemptChange{}, fmt.Errorf("payment: attempt %s belongs to payment %s, not %s", a.ID, a.PaymentID, p.ID)
	}
	if err := MatchTrade(p, a, want, t); err != nil {
		return AttemptChange{}, err
	}
	out := AttemptChange{Change: Change{Payment: p}, Attempt: a}
	next := a
	switch t.State {
	case channel.TradePaid, channel.TradeRefunded:
		if a.Status == AttemptSucceeded || a.Status == AttemptDuplicate {
			return out, nil // the same fact again
		}
		next.WalletTradeNo = t.TransactionID
		next.NextAction = nil
		next.UpdatedAt = now
		if t.Payer != "" && next.Payer.Wallet == "" {
			next.Payer.Wallet = t.Payer
		}
		out.Attempt, out.AttemptChanged = next, true
		if p.Status == StatusSucceeded {
			// Someone else's attempt paid first: this money goes back.
			out.Attempt.Status = AttemptDuplicate
			out.Duplicate = true
			return out, nil
		}
		out.Attempt.Status = AttemptSucceeded
		np := p
		np.Status = StatusSucceeded
		np.WalletTradeNo = t.TransactionID
		np.Channel = a.Channel
		np.PaidMethod = a.Method
		np.PaidAttempt = a.ID
		payer := next.Payer
		np.Payer = &payer
		np.PaidAt = t.PaidAt
		if np.PaidAt.IsZero() {
			np.PaidAt = now
		}
		np.LatePaid = p.Status == StatusCanceled
		np.NextAction = nil
		np.UpdatedAt = now
		out.Change = Change{Payment: np, Changed: true, Event: EventSucceeded}
		out.CloseOthers = true
		return out, nil
	case channel.TradeClosed:
		if a.Status != AttemptPending {
			return out, nil
		}
		next.Status = AttemptClosed
		next.NextAction = nil
		next.UpdatedAt = now
		out.Attempt, out.AttemptChanged = next, true
		// A payment with one wallet order ends with it; one whose buyer
		// chooses may try another wallet.
		if a.ID == p.ID && p.Status == StatusRequiresAction {
			np := p
			np.Status = StatusCanceled
			np.NextAction = nil
			np.UpdatedAt = now
			out.Change = Change{Payment: np, Changed: true, Event: EventCanceled}
		}
		return out, nil
	}
	return out, nil
}

// CanAttempt reports whether a new attempt may start on p now.
func CanAttempt(p Payment, now time.Time) error {
	switch {
	case p.Status == StatusSucceeded:
		return &StatusError{Payment: p.ID, Status: p.Status, Rule: "it cannot be paid again", Err: ErrAlreadyPaid}
	case p.Status == StatusCanceled:
		return &StatusError{Payment: p.ID, Status: p.Status, Rule: "a canceled payment cannot be paid; create a new one", Err: ErrClosed}
	case !now.Before(p.ExpiresAt):
		return &StatusError{Payment: p.ID, Status: "expired", Rule: "it expired at " + p.ExpiresAt.UTC().Format(time.RFC3339) + "; create a new one", Err: ErrClosed}
	}
	return nil
}

// ErrClosed is a payment that can no longer be paid.
var ErrClosed = errors.New("payment: the payment is closed or expired")

// FillAttempt completes an attempt stored before attempts had their own
// data: such an order is the payment's own, made by its buyer.
func FillAttempt(a Attempt, p Payment) Attempt {
	if a.Channel == "" {
		a.Channel, a.Method = p.Channel, p.Method
		a.Payer.IsBuyer = true
		a.CreatedAt = p.CreatedAt
	}
	return a
}

// ErrPaidByOther is a new wallet order, or a pay-for-me request, refused
// because the payment is already paid: a second payer is turned away
// before any wallet charges them.
var ErrPaidByOther = errors.New("the payment is already paid")

// AttemptRefusal is a CanAttempt refusal as payers are told it: a paid
// payment is ErrPaidByOther; any other refusal stays as it is.
func AttemptRefusal(err error) error {
	if errors.Is(err, ErrAlreadyPaid) {
		return ErrPaidByOther
	}
	return err
}
