package payments

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/returnsig"
)

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
	return loadPayment(ctx, s.DB.Pool(), id, "", false)
}
