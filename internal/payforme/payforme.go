// Package payforme keeps pay-for-me requests: a buyer asks someone else
// (a parent, a friend) to pay their order, through a link and a share
// code that cross the wallets' blocked links. The request ends when the
// payment is paid, by whoever paid, or when it expires or is revoked.
package payforme

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sharecode"
	"github.com/hutong-pay/hutong/internal/sharecodes"
	"github.com/hutong-pay/hutong/internal/store"
)

// Service keeps pay-for-me requests.
type Service struct {
	DB *store.DB
	// BaseURL is where the gateway's pages are: a request's /pfm/ page.
	BaseURL    string
	Now        clock.Func
	Payments   Payments
	ShareCodes ShareCodes
}

// Payments reads the payment a request is for, among a merchant's own.
type Payments interface {
	GetPayment(ctx context.Context, merchantID, id string) (payment.Payment, error)
}

// ShareCodes makes the share code a request travels as.
type ShareCodes interface {
	Create(ctx context.Context, merchantID string, req sharecodes.Request) (sharecode.Code, error)
}

// PayForMe is a buyer asking someone else to pay (payment.PayForMe).
type PayForMe = payment.PayForMe

// Request asks for a pay-for-me request.
type Request struct {
	ExpiresIn int64  `json:"expires_in,omitempty"` // seconds; default 24 h, never past the payment's expiry
	Note      string `json:"note,omitempty"`       // a word from the buyer to the payer
	Source    string `json:"source,omitempty"`     // the share code's source; default "pay_for_me"
}

// DefaultExpiry is how long a pay-for-me request stays open.
const DefaultExpiry = 24 * time.Hour

// CreatePayForMe opens a pay-for-me request on a merchant's unpaid payment.
func (s *Service) Create(ctx context.Context, merchantID, paymentID string, req Request) (PayForMe, error) {
	bad := func(param, msg string) error { return &payment.FieldError{Param: param, Message: msg} }
	switch {
	case req.ExpiresIn < 0 || req.ExpiresIn > int64(7*24*time.Hour/time.Second):
		return PayForMe{}, bad("expires_in", "must be 1 to 604800 seconds")
	case utf8.RuneCountInString(req.Note) > 60 || !utf8.ValidString(req.Note):
		return PayForMe{}, bad("note", "must be at most 60 characters")
	}
	p, err := s.Payments.GetPayment(ctx, merchantID, paymentID)
	if err != nil {
		return PayForMe{}, err
	}
	now := s.Now.Now()
	if err := payment.CanAttempt(p, now); err != nil {
		return PayForMe{}, payment.AttemptRefusal(err)
	}
	exp := DefaultExpiry
	if req.ExpiresIn > 0 {
		exp = time.Duration(req.ExpiresIn) * time.Second
	}
	r := PayForMe{ID: payment.NewID("pfm"), PaymentID: p.ID, MerchantID: merchantID, Status: "open", Note: req.Note,
		ExpiresAt: earlier(now.Add(exp), p.ExpiresAt), Created: now}
	r.URL = s.BaseURL + "/pfm/" + r.ID
	r.QRCodeURL = r.URL + "/qr.svg"
	source := req.Source
	if source == "" {
		source = "pay_for_me"
	}
	expires := r.ExpiresAt
	code := sharecodes.Request{Target: "pay_for_me", TargetID: r.ID, Source: source, Title: "帮我付款：" + truncate(p.Description, 30), ExpiresAt: &expires}
	// The request travels as its share code: a code that would be
	// refused (a bad source) refuses the request before it is stored.
	if err := code.Validate(now); err != nil {
		return PayForMe{}, err
	}
	if err := s.DB.Pool().PayForMeInsert(ctx, r); err != nil {
		return PayForMe{}, fmt.Errorf("storing a pay-for-me request: %w", err)
	}
	sc, err := s.ShareCodes.Create(ctx, merchantID, code)
	if err != nil {
		// The code is made once the request exists (it names it); one
		// that could not be stored leaves a request no one can open, so
		// it is closed rather than left open without a way in.
		if rerr := s.DB.Pool().PayForMeRevoke(context.WithoutCancel(ctx), merchantID, r.ID); rerr != nil {
			return PayForMe{}, errors.Join(err, fmt.Errorf("closing pay-for-me request %s without its share code: %w", r.ID, rerr))
		}
		return PayForMe{}, err
	}
	r.ShareCode = &sc
	return r, nil
}

// earlier is the earlier of two times.
func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// GetPayForMe reads a pay-for-me request, of any merchant (the public
// /pfm/ page, whose id in the URL is the capability); its status says
// expired once its time has passed.
func (s *Service) Get(ctx context.Context, id string) (PayForMe, error) {
	return s.loadPayForMe(ctx, "", id)
}

// MerchantPayForMe reads a merchant's pay-for-me request; another
// merchant's is ErrNotFound, as a missing one.
func (s *Service) OfMerchant(ctx context.Context, merchantID, id string) (PayForMe, error) {
	if merchantID == "" {
		return PayForMe{}, &notfound.Error{Param: "id", Object: "pay-for-me request", ID: id, Scoped: true}
	}
	return s.loadPayForMe(ctx, merchantID, id)
}

// loadPayForMe reads a pay-for-me request of merchantID, or of any
// merchant when merchantID is "".
func (s *Service) loadPayForMe(ctx context.Context, merchantID, id string) (PayForMe, error) {
	r, err := s.DB.Pool().PayForMeGet(ctx, merchantID, id)
	if errors.Is(err, store.ErrNoRows) {
		return PayForMe{}, notfound.ByID("pay-for-me request", id, merchantID)
	}
	if err != nil {
		return PayForMe{}, err
	}
	if r.Status == "open" && !s.Now.Now().Before(r.ExpiresAt) {
		r.Status = "expired"
	}
	sc, err := s.DB.Pool().ShareCodeByTarget(ctx, r.MerchantID, "pay_for_me", id)
	switch {
	case err == nil:
		r.ShareCode = &sc
	case !errors.Is(err, store.ErrNoRows):
		return r, err
	}
	return r, nil
}

// RevokePayForMe closes a merchant's pay-for-me request (the buyer changed
// their mind); its link and share code stop working. Another merchant's
// request is ErrNotFound and stays as it is.
func (s *Service) Revoke(ctx context.Context, merchantID, id string) (PayForMe, error) {
	if _, err := s.OfMerchant(ctx, merchantID, id); err != nil {
		return PayForMe{}, err
	}
	now := s.Now.Now()
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.In(tx).PayForMeRevoke(ctx, merchantID, id); err != nil {
			return err
		}
		return s.DB.In(tx).ShareCodeRevoke(ctx, store.ShareCodeRevokeParams{MerchantID: merchantID, Target: "pay_for_me", TargetID: id, At: now})
	})
	if err != nil {
		return PayForMe{}, err
	}
	return s.OfMerchant(ctx, merchantID, id)
}

// ErrClosed is a pay-for-me request that can no longer be paid.
var ErrClosed = errors.New("the pay-for-me request is no longer open")
