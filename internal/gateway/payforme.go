package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/returnsig"
	"github.com/hutong-pay/hutong/internal/store"
)

// PayForMe is a buyer asking someone else to pay: a link (and QR and share
// code) that shows the payer the merchant, the items and the amount, with
// the buyer's name masked, and lets them pay with any wallet.
type PayForMe struct {
	ID         string     `json:"id"`
	PaymentID  string     `json:"payment_id"`
	MerchantID string     `json:"merchant_id"`
	Status     string     `json:"status"` // open, paid, revoked, expired, closed (someone else paid)
	URL        string     `json:"url"`
	QRCodeURL  string     `json:"qr_code_url"` // an SVG of URL
	Note       string     `json:"note,omitempty"`
	ShareCode  *ShareCode `json:"share_code,omitempty"`
	ExpiresAt  time.Time  `json:"expires_at"`
	Created    time.Time  `json:"created"`
}

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
	data, _ := json.Marshal(r)
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO pay_for_me (id, payment_id, merchant_id, status, expires_at, created_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.PaymentID, merchantID, r.Status, store.Micros(r.ExpiresAt), store.Micros(now), string(data)); err != nil {
		return PayForMe{}, err
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
	var data, status, mid string
	err := s.DB.QueryRowContext(ctx, `SELECT data, status, merchant_id FROM pay_for_me WHERE id = $1 AND ($2 = '' OR merchant_id = $2)`, id, merchantID).Scan(&data, &status, &mid)
	if errors.Is(err, sql.ErrNoRows) {
		return PayForMe{}, notFound("pay-for-me request", id, merchantID)
	}
	if err != nil {
		return PayForMe{}, err
	}
	var r PayForMe
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, fmt.Errorf("pay-for-me %s: %w", id, err)
	}
	r.Status = status
	if r.Status == "open" && !s.now().Before(r.ExpiresAt) {
		r.Status = "expired"
	}
	sc, err := scanShareCode(s.DB.QueryRowContext(ctx, `SELECT `+shareColumns+` FROM share_codes WHERE target = 'pay_for_me' AND target_id = $1 AND merchant_id = $2`, id, mid))
	switch {
	case err == nil:
		r.ShareCode = &sc
	case !errors.Is(err, ErrNotFound):
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
	now := store.Micros(s.now())
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE pay_for_me SET status = 'revoked' WHERE id = $1 AND merchant_id = $2 AND status = 'open'`, id, merchantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE share_codes SET revoked_at = $3 WHERE target = 'pay_for_me' AND target_id = $1 AND merchant_id = $2 AND revoked_at IS NULL`, id, merchantID, now)
		return err
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
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO gateway_keys (name, value, created_at) VALUES ('return_ed25519', $1, $2) ON CONFLICT DO NOTHING`,
		base64.StdEncoding.EncodeToString(seed), store.Micros(s.now())); err != nil {
		return nil, err
	}
	var v string
	if err := s.DB.QueryRowContext(ctx, `SELECT value FROM gateway_keys WHERE name = 'return_ed25519'`).Scan(&v); err != nil {
		return nil, err
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
