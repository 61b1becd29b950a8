package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

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

// Authenticate finds the key behind a secret: ErrBadKey when there is
// none, another error when the database could not say.
//
// A key found is remembered for keyCacheTTL, so most requests cost no
// database read for their key. hutong never revokes a key in place today;
// whatever revokes one must delete it from s.keys too, and other processes sharing
// the database stop accepting it within keyCacheTTL. Unknown secrets are
// not remembered: the cache holds only real keys, so guessing cannot grow
// it.
func (s *Service) Authenticate(ctx context.Context, secret string) (Key, error) {
	if !strings.HasPrefix(secret, "sk_") || len(secret) > 100 {
		return Key{}, ErrBadKey
	}
	hash := hashKey(secret)
	if k, ok := s.keys.get(hash); ok {
		return k, nil
	}
	var k Key
	var mid sql.NullString
	err := s.DB.QueryRowContext(ctx, `SELECT id, merchant_id FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hash).Scan(&k.ID, &mid)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Key{}, ErrBadKey
	case err != nil:
		return Key{}, fmt.Errorf("looking up an API key: %w", err)
	}
	k.MerchantID = mid.String
	s.keys.put(hash, k)
	return k, nil
}

// keyCacheTTL bounds how long a key revoked by another process still
// authenticates here.
const keyCacheTTL = 30 * time.Second

// keyCache holds keys found by Authenticate, by the hash of their secret.
// The zero value is ready.
type keyCache struct {
	mu      sync.Mutex
	entries map[string]cachedKey
}

type cachedKey struct {
	key     Key
	expires time.Time
}

func (c *keyCache) get(hash string) (Key, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || time.Now().After(e.expires) {
		return Key{}, false
	}
	return e.key, true
}

func (c *keyCache) put(hash string, k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= 10_000 {
		c.entries = make(map[string]cachedKey)
	}
	c.entries[hash] = cachedKey{key: k, expires: time.Now().Add(keyCacheTTL)}
}
