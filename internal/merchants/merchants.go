// Package merchants keeps the marketplace's sellers and the API keys that
// act for them: creating and reading merchants, their profiles and money
// policies, and authenticating a request's key. Every other service reads
// a merchant through it, or through the store in its own transaction.
package merchants

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

	"github.com/hutong-pay/hutong/internal/audit"
	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Service keeps merchants and API keys in DB.
type Service struct {
	DB  *store.DB
	Now func() time.Time

	keys keyCache // authenticated API keys (Authenticate)
}

func (s *Service) now() time.Time { return clock.Func(s.Now).Now() }

// Get reads a merchant; an unknown id is a notfound.Error on merchant_id.
func (s *Service) Get(ctx context.Context, id string) (merchant.Merchant, error) {
	return Get(ctx, s.DB.Pool(), id)
}

// Get reads a merchant through e, which may be a transaction that must
// see its own writes.
func Get(ctx context.Context, e store.Executor, id string) (merchant.Merchant, error) {
	m, err := e.MerchantGet(ctx, id)
	if errors.Is(err, store.ErrNoRows) {
		return m, &notfound.Error{Param: "merchant_id", Object: "merchant", ID: id}
	}
	if err != nil {
		return m, fmt.Errorf("reading merchant %s: %w", id, err)
	}
	return m, nil
}

// Create stores a new merchant, with a new id unless m has one.
func (s *Service) Create(ctx context.Context, m merchant.Merchant) (merchant.Merchant, error) {
	if err := (merchant.Profile{Category: m.Category, RegionCode: m.RegionCode, Size: m.Size}).Check(); err != nil {
		return m, err
	}
	if m.ID == "" {
		m.ID = payment.NewID("m")
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		return s.DB.In(tx).MerchantInsert(ctx, store.MerchantInsertParams{Merchant: m, CreatedAt: s.now()})
	})
	return m, err
}

// SetProfile replaces the attributes campaigns select merchants by.
func (s *Service) SetProfile(ctx context.Context, id string, p merchant.Profile) error {
	if err := p.Check(); err != nil {
		return err
	}
	err := s.DB.Pool().MerchantProfileSet(ctx, store.MerchantProfileSetParams{MerchantID: id, Profile: p})
	if errors.Is(err, store.ErrNoRows) {
		return notfound.ByID("merchant", id, "")
	}
	return err
}

// SetMoneyPolicy replaces a merchant's commission and payable policy.
func (s *Service) SetMoneyPolicy(ctx context.Context, id string, p merchant.MoneyPolicy) error {
	if err := p.Check(); err != nil {
		return err
	}
	err := s.DB.Pool().MerchantMoneyPolicySet(ctx, store.MerchantMoneyPolicySetParams{MerchantID: id, Policy: p})
	if errors.Is(err, store.ErrNoRows) {
		return notfound.ByID("merchant", id, "")
	}
	return err
}

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// CreateKey makes an API key for merchantID, or a platform key when it is
// "", and returns its secret, shown only now: only its SHA-256 is stored
// (keys are 160 random bits, so a fast hash is enough).
func (s *Service) CreateKey(ctx context.Context, merchantID string) (merchant.Key, string, error) {
	b := make([]byte, 20)
	rand.Read(b)
	prefix := "sk_platform_"
	if merchantID != "" {
		prefix = "sk_merchant_"
	}
	secret := prefix + keyEncoding.EncodeToString(b)
	k := merchant.Key{ID: payment.NewID("key"), MerchantID: merchantID}
	// As stored, to the microsecond: what an operator's audit record keeps.
	stored := store.APIKey{ID: k.ID, MerchantID: merchantID, Prefix: secret[:len(prefix)+4], CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.In(tx).APIKeyInsert(ctx, store.APIKeyInsertParams{Key: k, Hash: hashKey(secret), Prefix: stored.Prefix, CreatedAt: stored.CreatedAt}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, stored) // an operator's key commits with its audit record, never its secret
	})
	if err != nil {
		return k, "", fmt.Errorf("storing an API key: %w", err)
	}
	return k, secret, nil
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
// database read for their key. RevokeKey drops the key from this
// process's memory at once; other processes sharing the database stop
// accepting it within keyCacheTTL. Unknown secrets are not remembered:
// the cache holds only real keys, so guessing cannot grow it.
func (s *Service) Authenticate(ctx context.Context, secret string) (merchant.Key, error) {
	if !strings.HasPrefix(secret, "sk_") || len(secret) > 100 {
		return merchant.Key{}, ErrBadKey
	}
	hash := hashKey(secret)
	if k, ok := s.keys.get(hash); ok {
		return k, nil
	}
	// A key revoked while it is being read must not be cached after
	// RevokeKey dropped it: put refuses once a revocation came between.
	gen := s.keys.generation()
	k, err := s.DB.Pool().APIKeyByHash(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNoRows):
		return merchant.Key{}, ErrBadKey
	case err != nil:
		return merchant.Key{}, fmt.Errorf("looking up an API key: %w", err)
	}
	s.keys.put(hash, k, gen)
	return k, nil
}

// Keys lists a merchant's API keys ("" for the platform keys), revoked
// ones too, newest first: never their secrets, which only CreateKey ever
// returns.
func (s *Service) Keys(ctx context.Context, merchantID string) ([]store.APIKey, error) {
	keys, err := s.DB.Pool().KeyList(ctx, merchantID)
	if err != nil {
		return nil, fmt.Errorf("listing API keys: %w", err)
	}
	return keys, nil
}

// RevokeKey revokes a merchant's key ("" for a platform key) and returns
// it as revoked; a key the merchant does not have (another merchant's
// included) is a notfound.Error and changes nothing. Revoking twice keeps
// the first time.
//
// The key stops authenticating in this process at once. Another process
// on the same database that authenticated it in the last keyCacheTTL
// still accepts it until its memory of it expires (30 s); hutong keeps no
// shared cache to tell it sooner.
func (s *Service) RevokeKey(ctx context.Context, merchantID, id string) (store.APIKey, error) {
	var k store.APIKey
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = s.DB.In(tx).KeyRevoke(ctx, store.KeyRevokeParams{MerchantID: merchantID, ID: id, At: s.now()}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, k) // an operator's revocation commits with its audit record
	})
	if errors.Is(err, store.ErrNoRows) {
		return k, notfound.ByID("API key", id, merchantID)
	}
	if err != nil {
		return k, fmt.Errorf("revoking API key %s: %w", id, err)
	}
	s.keys.drop(id)
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
	gen     uint64 // counts drops, so a lookup begun before one is not cached
}

type cachedKey struct {
	key     merchant.Key
	expires time.Time
}

func (c *keyCache) get(hash string) (merchant.Key, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || time.Now().After(e.expires) {
		return merchant.Key{}, false
	}
	return e.key, true
}

// generation is what put must be given for a key read from now on.
func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put remembers k, unless a key was dropped since gen was read: that key
// may be k, read before its revocation committed.
func (c *keyCache) put(hash string, k merchant.Key, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= 10_000 {
		c.entries = make(map[string]cachedKey)
	}
	c.entries[hash] = cachedKey{key: k, expires: time.Now().Add(keyCacheTTL)}
}

// drop forgets the key id, whatever its secret. Revocations are rare, so
// walking the entries is cheaper than keeping a second index.
func (c *keyCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for hash, e := range c.entries {
		if e.key.ID == id {
			delete(c.entries, hash)
		}
	}
}
