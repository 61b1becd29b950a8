package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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

// CreateFeedback records feedback. With a payment, the method is the one
// that paid (if any) and the buyer the payment's; the cohort and tier are
// those the buyer was last exposed under for the method at this merchant
// (another merchant's checkouts are not this merchant's to read).
func (s *Service) CreateFeedback(ctx context.Context, f Feedback) (Feedback, error) {
	bad := func(param, msg string) error { return &payment.FieldError{Param: param, Message: msg} }
	if f.PaymentID != "" {
		p, err := s.GetPayment(ctx, f.MerchantID, f.PaymentID)
		if errors.Is(err, ErrNotFound) {
			return f, &NotFoundError{Param: "payment_id", Object: "payment", ID: f.PaymentID, Scoped: true}
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
		var cohort, tier string
		if err := s.DB.QueryRowContext(ctx, `SELECT cohort, tier FROM exposures WHERE merchant_id = $1 AND buyer_id = $2 AND method = $3 ORDER BY at DESC LIMIT 1`,
			f.MerchantID, f.BuyerID, f.Method).Scan(&cohort, &tier); err == nil {
			f.Cohort = cohort
			if f.Tier == "" {
				f.Tier = tier
			}
		}
	}
	f.ID, f.Created = payment.NewID("fb"), s.now()
	_, err := s.DB.ExecContext(ctx, `INSERT INTO feedback (id, merchant_id, payment_id, buyer_id, method, rating, body, cohort, tier, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		f.ID, f.MerchantID, f.PaymentID, f.BuyerID, f.Method, f.Rating, f.Text, f.Cohort, f.Tier, store.Micros(f.Created))
	return f, err
}

// FeedbackFilter narrows a feedback list; empty fields match all.
type FeedbackFilter struct {
	MerchantID, Method, Cohort, Tier string
	From, To                         time.Time
	After                            string // a feedback id: the entries after it
	Limit                            int    // 0: all
}

// ListFeedback lists feedback, newest first.
func (s *Service) ListFeedback(ctx context.Context, f FeedbackFilter) ([]Feedback, error) {
	query := `SELECT id, merchant_id, payment_id, buyer_id, method, rating, body, cohort, tier, created_at FROM feedback WHERE 1 = 1`
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		query += fmt.Sprintf(" AND "+cond, len(args))
	}
	for col, v := range map[string]string{"merchant_id": f.MerchantID, "method": f.Method, "cohort": f.Cohort, "tier": f.Tier} {
		if v != "" {
			add(col+" = $%d", v)
		}
	}
	if !f.From.IsZero() {
		add("created_at >= $%d", store.Micros(f.From))
	}
	if !f.To.IsZero() {
		add("created_at < $%d", store.Micros(f.To))
	}
	query, args, err := store.Keyset{Table: "feedback", Time: "created_at", ID: "id", Desc: true, Object: "feedback",
		Scope: "($2 = '' OR merchant_id = $2)", ScopeArgs: []any{f.MerchantID}}.Page(ctx, s.DB, f.After, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	query += " ORDER BY created_at DESC, id"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Feedback{}
	for rows.Next() {
		var fb Feedback
		var at int64
		if err := rows.Scan(&fb.ID, &fb.MerchantID, &fb.PaymentID, &fb.BuyerID, &fb.Method, &fb.Rating, &fb.Text, &fb.Cohort, &fb.Tier, &at); err != nil {
			return nil, err
		}
		fb.Created = store.Time(at)
		out = append(out, fb)
	}
	return out, rows.Err()
}
