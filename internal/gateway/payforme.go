package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/returnsig"
	"github.com/hutong-pay/hutong/internal/store"
)

// PayForMe is a buyer asking someone else to pay (payment.PayForMe).
type PayForMe = payment.PayForMe

// PayForMeRequest asks for a pay-for-me request.
type PayForMeRequest struct {
	ExpiresIn int64  `json:"expires_in,omitempty"` // seconds; default 24 h, never past the payment's expiry
	Note      string `json:"note,omitempty"`       // a word from the buyer to the payer
	Source    string `json:"source,omitempty"`     // the share code's source; default "pay_for_me"
}

// DefaultPayForMeExpiry is how long a pay-for-me request stays open.
const DefaultPayForMeExpiry = 24 * time.Hour

// CreatePayForMe opens a pay-for-me request on a merchant's unpaid payment.
func (s *Service) CreatePayForMe(ctx context.Context, merchantID, paymentID string, req PayForMeRequest) (PayForMe, error) {
	bad := func(param, msg string) error { return &payment.FieldError{Param: param, Message: msg} }
	switch {
	case req.ExpiresIn < 0 || req.ExpiresIn > int64(7*24*time.Hour/time.Second):
		return PayForMe{}, bad("expires_in", "must be 1 to 604800 seconds")
	case utf8.RuneCountInString(req.Note) > 60 || !utf8.ValidString(req.Note):
		return PayForMe{}, bad("note", "must be at most 60 characters")
	}
	p, err := s.GetPayment(ctx, merchantID, paymentID)
	if err != nil {
		return PayForMe{}, err
	}
	now := s.now()
	if err := payment.CanAttempt(p, now); err != nil {
		return PayForMe{}, attemptRefusal(err)
	}
	exp := DefaultPayForMeExpiry
	if req.ExpiresIn > 0 {
		exp = time.Duration(req.ExpiresIn) * time.Second
	}
	r := PayForMe{ID: payment.NewID("pfm"), PaymentID: p.ID, MerchantID: merchantID, Status: "open", Note: req.Note,
		ExpiresAt: earlier(now.Add(exp), p.ExpiresAt), Created: now}
	r.URL = s.BaseURL + "/pfm/" + r.ID
	r.QRCodeURL = r.URL + "/qr.svg"
	if err := s.DB.Pool().PayForMeInsert(ctx, r); err != nil {
		return PayForMe{}, fmt.Errorf("storing a pay-for-me request: %w", err)
	}
	source := req.Source
	if source == "" {
		source = "pay_for_me"
	}
	exp2 := r.ExpiresAt
	sc, err := s.CreateShareCode(ctx, merchantID, ShareCodeRequest{Target: "pay_for_me", TargetID: r.ID, Source: source, Title: "帮我付款：" + truncate(p.Description, 30), ExpiresAt: &exp2})
	if err != nil {
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
func (s *Service) GetPayForMe(ctx context.Context, id string) (PayForMe, error) {
	return s.loadPayForMe(ctx, "", id)
}

// MerchantPayForMe reads a merchant's pay-for-me request; another
// merchant's is ErrNotFound, as a missing one.
func (s *Service) MerchantPayForMe(ctx context.Context, merchantID, id string) (PayForMe, error) {
	if merchantID == "" {
		return PayForMe{}, &NotFoundError{Param: "id", Object: "pay-for-me request", ID: id, Scoped: true}
	}
	return s.loadPayForMe(ctx, merchantID, id)
}

// loadPayForMe reads a pay-for-me request of merchantID, or of any
// merchant when merchantID is "".
func (s *Service) loadPayForMe(ctx context.Context, merchantID, id string) (PayForMe, error) {
	r, err := s.DB.Pool().PayForMeGet(ctx, merchantID, id)
	if errors.Is(err, store.ErrNoRows) {
		return PayForMe{}, notFound("pay-for-me request", id, merchantID)
	}
	if err != nil {
		return PayForMe{}, err
	}
	if r.Status == "open" && !s.now().Before(r.ExpiresAt) {
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
func (s *Service) RevokePayForMe(ctx context.Context, merchantID, id string) (PayForMe, error) {
	if _, err := s.MerchantPayForMe(ctx, merchantID, id); err != nil {
		return PayForMe{}, err
	}
	now := s.now()
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.In(tx).PayForMeRevoke(ctx, merchantID, id); err != nil {
			return err
		}
		return s.DB.In(tx).ShareCodeRevoke(ctx, store.ShareCodeRevokeParams{MerchantID: merchantID, Target: "pay_for_me", TargetID: id, At: now})
	})
	if err != nil {
		return PayForMe{}, err
	}
	return s.MerchantPayForMe(ctx, merchantID, id)
}

// ErrPayForMeClosed is a pay-for-me request that can no longer be paid.
var ErrPayForMeClosed = errors.New("the pay-for-me request is no longer open")

// ReturnKey is the gateway's Ed25519 key for signing returns to merchants'
// return_url. It is made once and kept in the database, so every gateway
// process signs with the same key.
func (s *Service) ReturnKey(ctx context.Context) (ed25519.PrivateKey, error) {
	s.returnKeyMu.Lock()
	defer s.returnKeyMu.Unlock()
	if s.returnKey != nil {
		return s.returnKey, nil
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	v, err := s.DB.Pool().GatewayKeyEnsure(ctx, "return_ed25519", base64.StdEncoding.EncodeToString(seed), s.now())
	if err != nil {
		return nil, fmt.Errorf("the return key: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, errors.New("the stored return key is damaged")
	}
	s.returnKey = ed25519.NewKeyFromSeed(b)
	return s.returnKey, nil
}

// ReturnURL is p's return_url with the signed outcome added, or "" when
// the payment has none.
func (s *Service) ReturnURL(ctx context.Context, p payment.Payment) (string, error) {
	if p.ReturnURL == "" {
		return "", nil
	}
	key, err := s.ReturnKey(ctx)
	if err != nil {
		return "", err
	}
	return returnsig.Sign(key, p.ReturnURL, returnsig.Return{MerchantID: p.MerchantID, PaymentID: p.ID, MerchantOrderID: p.MerchantOrderID,
		Status: p.Status, Amount: p.Amount, Time: s.now()})
}

// PaymentByID reads any merchant's payment: the hosted pages, whose
// payment id in the URL is the capability.
func (s *Service) PaymentByID(ctx context.Context, id string) (payment.Payment, error) {
	return s.loadPayment(ctx, s.DB, id, "", false)
}
