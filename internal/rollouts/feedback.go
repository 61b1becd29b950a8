package rollouts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
)

// Feedback is a buyer's word on a payment method, tied to the rollout
// cohort and market tier they were in.
type Feedback struct {
	ID         string    `json:"id"`
	MerchantID string    `json:"merchant_id"`
	PaymentID  string    `json:"payment_id,omitempty"`
	BuyerID    string    `json:"buyer_id,omitempty"`
	Method     string    `json:"method"`
	Rating     int       `json:"rating"`
	Text       string    `json:"text"`
	Cohort     string    `json:"cohort,omitempty"`
	Tier       string    `json:"tier,omitempty"`
	Created    time.Time `json:"created"`
}

// errNoPayments refuses feedback naming a payment when the service has
// no Payments to read it from.
var errNoPayments = errors.New("rollouts: feedback names a payment, and the service has no Payments to read it from")

// CreateFeedback records feedback. With a payment, the method is the one
// that paid (if any) and the buyer the payment's; the cohort and tier are
// those the buyer was last exposed under for the method at this merchant
// (another merchant's checkouts are not this merchant's to read).
func (s *Service) CreateFeedback(ctx context.Context, f Feedback) (Feedback, error) {
	bad := func(param, msg string) error { return &payment.FieldError{Param: param, Message: msg} }
	if f.PaymentID != "" {
		if s.Payments == nil {
			return f, errNoPayments
		}
		p, err := s.Payments.GetPayment(ctx, f.MerchantID, f.PaymentID)
		if errors.Is(err, notfound.Err) {
			return f, &notfound.Error{Param: "payment_id", Object: "payment", ID: f.PaymentID, Scoped: true}
		}
		if err != nil {
			return f, err
		}
		f.BuyerID = p.Buyer.ID
		if f.Method == "" {
			f.Method = p.PaidMethod
		}
		if f.Tier == "" && p.Buyer.RegionCode != "" {
			f.Tier, _ = rollout.Tier(p.Buyer.RegionCode, nil)
		}
	}
	f.Text = strings.TrimSpace(f.Text)
	switch {
	case !isWalletMethod(f.Method):
		return f, bad("method", fmt.Sprintf("%q is not a wallet method", f.Method))
	case f.Rating < 1 || f.Rating > 5:
		return f, bad("rating", "must be 1 to 5")
	case utf8.RuneCountInString(f.Text) > 1000 || !utf8.ValidString(f.Text):
		return f, bad("text", "must be at most 1000 characters")
	case len(f.BuyerID) > 64:
		return f, bad("buyer_id", "must be at most 64 bytes")
	}
	if f.BuyerID != "" {
		// A buyer never exposed here (or exposures that cannot be read)
		// leaves the cohort empty: feedback is taken all the same.
		if x, err := s.DB.Pool().ExposureLatest(ctx, store.ExposureLatestParams{MerchantID: f.MerchantID, BuyerID: f.BuyerID, Method: f.Method}); err == nil {
			f.Cohort = x.Cohort
			if f.Tier == "" {
				f.Tier = x.Tier
			}
		}
	}
	f.ID, f.Created = payment.NewID("fb"), s.now()
	err := s.DB.Pool().FeedbackInsert(ctx, store.Feedback{ID: f.ID, MerchantID: f.MerchantID, PaymentID: f.PaymentID, BuyerID: f.BuyerID,
		Method: f.Method, Rating: f.Rating, Text: f.Text, Cohort: f.Cohort, Tier: f.Tier, CreatedAt: f.Created})
	return f, err
}

// FeedbackFilter narrows a feedback list; empty fields match all.
type FeedbackFilter struct {
	MerchantID, Method, Cohort, Tier string
	From, To                         time.Time
	After                            string // a feedback id: the entries after it
	Limit                            int    // 0: all
}

// ListFeedback lists feedback, newest first. An After that names no
// feedback of the filter's merchant is a *notfound.Error on
// starting_after.
func (s *Service) ListFeedback(ctx context.Context, f FeedbackFilter) ([]Feedback, error) {
	rows, err := s.DB.Pool().FeedbackList(ctx, store.FeedbackListParams{MerchantID: f.MerchantID, Method: f.Method, Cohort: f.Cohort, Tier: f.Tier,
		From: f.From, To: f.To, After: f.After, Limit: f.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]Feedback, 0, len(rows))
	for _, r := range rows {
		out = append(out, Feedback{ID: r.ID, MerchantID: r.MerchantID, PaymentID: r.PaymentID, BuyerID: r.BuyerID, Method: r.Method,
			Rating: r.Rating, Text: r.Text, Cohort: r.Cohort, Tier: r.Tier, Created: r.CreatedAt})
	}
	return out, nil
}
