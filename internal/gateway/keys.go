package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Key is an authenticated API key: a merchant's, or a platform key
// (MerchantID "") that acts for any merchant it names.
type Key struct {
	ID         string
	MerchantID string
}

// Platform reports whether the key acts for any merchant.
func (k Key) Platform() bool { return k.MerchantID == "" }

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// CreateKey makes an API key and returns its secret, shown only now: only
// its SHA-256 is stored (keys are 160 random bits, so a fast hash is
// enough).
func (s *Service) CreateKey(ctx context.Context, merchantID string) (Key, string, error) {
	b := make([]byte, 20)
	rand.Read(b)
	prefix := "sk_platform_"
	if merchantID != "" {
		prefix = "sk_merchant_"
	}
	secret := prefix + keyEncoding.EncodeToString(b)
	k := Key{ID: payment.NewID("key"), MerchantID: merchantID}
	var mid any
	if merchantID != "" {
		mid = merchantID
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO api_keys (id, merchant_id, hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, mid, hashKey(secret), secret[:len(prefix)+4], store.Micros(s.now()))
	return k, secret, err
}

func hashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ErrBadKey is an unknown or revoked API key.
var ErrBadKey = errors.New("the API key is not valid")

// Authenticate finds the key behind a secret.
func (s *Service) Authenticate(ctx context.Context, secret string) (Key, error) {
	if !strings.HasPrefix(secret, "sk_") || len(secret) > 100 {
		return Key{}, ErrBadKey
	}
	var k Key
	var mid sql.NullString
	err := s.DB.QueryRowContext(ctx, `SELECT id, merchant_id FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hashKey(secret)).Scan(&k.ID, &mid)
	if err != nil {
		return Key{}, ErrBadKey
	}
	k.MerchantID = mid.String
	return k, nil
}
