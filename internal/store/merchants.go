package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/hutong-pay/hutong/internal/merchant"
)

// MerchantInsertParams is a new merchant and when it joined.
type MerchantInsertParams struct {
	Merchant  merchant.Merchant
	CreatedAt time.Time
}

// MerchantInsert stores a new merchant with its wallets.
func (e Executor) MerchantInsert(ctx context.Context, p MerchantInsertParams) error {
	m := p.Merchant
	if _, err := e.q.ExecContext(ctx, `INSERT INTO merchants (id, name, category, region_code, size, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		m.ID, m.Name, m.Category, m.RegionCode, m.Size, Micros(p.CreatedAt)); err != nil {
		return err
	}
	for ch, w := range m.Wallets {
		if err := e.MerchantWalletSet(ctx, MerchantWalletSetParams{MerchantID: m.ID, Channel: ch, Wallet: w}); err != nil {
			return err
		}
	}
	return nil
}

// MerchantGet reads a merchant with its wallets.
func (e Executor) MerchantGet(ctx context.Context, id string) (merchant.Merchant, error) {
	// One round trip: the merchant's row once per wallet it has, or once
	// with NULLs.
	rows, err := e.q.QueryContext(ctx, `SELECT m.id, m.name, m.category, m.region_code, m.size, w.channel, w.sub_merchant, w.seller
		FROM merchants m LEFT JOIN merchant_wallets w ON w.merchant_id = m.id WHERE m.id = $1`, id)
	if err != nil {
		return merchant.Merchant{}, err
	}
	defer rows.Close()
	var m merchant.Merchant
	for rows.Next() {
		var ch, sub, seller sql.NullString
		if err := rows.Scan(&m.ID, &m.Name, &m.Category, &m.RegionCode, &m.Size, &ch, &sub, &seller); err != nil {
			return merchant.Merchant{}, err
		}
		if ch.Valid {
			if m.Wallets == nil {
				m.Wallets = map[string]merchant.Wallet{}
			}
			m.Wallets[ch.String] = merchant.Wallet{SubMerchant: sub.String, Seller: seller.String}
		}
	}
	if err := rows.Err(); err != nil {
		return merchant.Merchant{}, err
	}
	if m.ID == "" {
		return m, ErrNoRows
	}
	return m, nil
}

// MerchantWalletSetParams is what a merchant's payments on one wallet are
// made under from now on.
type MerchantWalletSetParams struct {
	MerchantID string
	Channel    string
	Wallet     merchant.Wallet
}

// MerchantWalletSet records, or replaces, a merchant's wallet.
func (e Executor) MerchantWalletSet(ctx context.Context, p MerchantWalletSetParams) error {
	_, err := e.q.ExecContext(ctx, `INSERT INTO merchant_wallets (merchant_id, channel, sub_merchant, seller) VALUES ($1, $2, $3, $4)
		ON CONFLICT (merchant_id, channel) DO UPDATE SET sub_merchant = excluded.sub_merchant, seller = excluded.seller`,
		p.MerchantID, p.Channel, p.Wallet.SubMerchant, p.Wallet.Seller)
	return err
}

// MerchantProfileSetParams is a merchant's new profile.
type MerchantProfileSetParams struct {
	MerchantID string
	Profile    merchant.Profile
}

// MerchantProfileSet replaces a merchant's profile.
func (e Executor) MerchantProfileSet(ctx context.Context, p MerchantProfileSetParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE merchants SET category = $2, region_code = $3, size = $4 WHERE id = $1`,
		p.MerchantID, p.Profile.Category, p.Profile.RegionCode, p.Profile.Size))
}

// MerchantMoneyPolicySetParams is a merchant's new money policy.
type MerchantMoneyPolicySetParams struct {
	MerchantID string
	Policy     merchant.MoneyPolicy
}

// MerchantMoneyPolicySet replaces a merchant's money policy.
func (e Executor) MerchantMoneyPolicySet(ctx context.Context, p MerchantMoneyPolicySetParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE merchants SET commission_bps = $2, allow_negative_payable = $3 WHERE id = $1`,
		p.MerchantID, p.Policy.CommissionBPS, boolInt(p.Policy.AllowNegativePayable)))
}

// MerchantMoney is what the ledger needs of a merchant: its policy and the
// category whose commission applies when the policy names none.
type MerchantMoney struct {
	Policy   merchant.MoneyPolicy
	Category string
}

// MerchantMoneyGet reads a merchant's money policy and category.
func (e Executor) MerchantMoneyGet(ctx context.Context, id string) (MerchantMoney, error) {
	var mm MerchantMoney
	var allow int
	err := e.q.QueryRowContext(ctx, `SELECT commission_bps, allow_negative_payable, category FROM merchants WHERE id = $1`, id).
		Scan(&mm.Policy.CommissionBPS, &allow, &mm.Category)
	mm.Policy.AllowNegativePayable = allow != 0
	return mm, err
}

// MerchantIDs lists every merchant's id, in order.
func (e Executor) MerchantIDs(ctx context.Context) ([]string, error) {
	return QueryStrings(ctx, e.q, `SELECT id FROM merchants ORDER BY id`)
}

// MerchantFilter selects merchants by their profile; an empty field
// selects any, and RegionCode is a prefix (a province, a city).
type MerchantFilter struct {
	Category   string
	RegionCode string
	Size       string
}

// MerchantIDsWhere lists, in order, the ids of the merchants f selects.
func (e Executor) MerchantIDsWhere(ctx context.Context, f MerchantFilter) ([]string, error) {
	return QueryStrings(ctx, e.q, `SELECT id FROM merchants WHERE ($1 = '' OR category = $1) AND ($2 = '' OR region_code LIKE $2 || '%') AND ($3 = '' OR size = $3) ORDER BY id`,
		f.Category, f.RegionCode, f.Size)
}

// APIKeyInsertParams is a new API key: only the hash of its secret is
// kept, with the secret's first characters to recognize it by.
type APIKeyInsertParams struct {
	Key       merchant.Key
	Hash      string
	Prefix    string
	CreatedAt time.Time
}

// APIKeyInsert stores a new API key.
func (e Executor) APIKeyInsert(ctx context.Context, p APIKeyInsertParams) error {
	var mid any
	if p.Key.MerchantID != "" {
		mid = p.Key.MerchantID
	}
	_, err := e.q.ExecContext(ctx, `INSERT INTO api_keys (id, merchant_id, hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5)`,
		p.Key.ID, mid, p.Hash, p.Prefix, Micros(p.CreatedAt))
	return err
}

// APIKeyByHash finds the unrevoked key whose secret hashes to hash.
func (e Executor) APIKeyByHash(ctx context.Context, hash string) (merchant.Key, error) {
	var k merchant.Key
	var mid sql.NullString
	err := e.q.QueryRowContext(ctx, `SELECT id, merchant_id FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hash).Scan(&k.ID, &mid)
	k.MerchantID = mid.String
	return k, err
}

// APIKey is an API key as its owner lists it: never its secret or hash,
// only the secret's first characters to recognize it by.
type APIKey struct {
	ID         string
	MerchantID string // "" for a platform key
	Prefix     string
	CreatedAt  time.Time
	RevokedAt  time.Time // zero while the key works
}

// Revoked reports whether the key no longer authenticates.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// KeyList lists a merchant's API keys, revoked ones too, newest first;
// merchantID "" lists the platform keys.
func (e Executor) KeyList(ctx context.Context, merchantID string) ([]APIKey, error) {
	rows, err := e.q.QueryContext(ctx, `SELECT id, merchant_id, prefix, created_at, revoked_at FROM api_keys
		WHERE COALESCE(merchant_id, '') = $1 ORDER BY created_at DESC, id DESC`, merchantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func scanAPIKey(row interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var mid sql.NullString
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&k.ID, &mid, &k.Prefix, &created, &revoked); err != nil {
		return k, err
	}
	k.MerchantID, k.CreatedAt = mid.String, Time(created)
	if revoked.Valid {
		k.RevokedAt = Time(revoked.Int64)
	}
	return k, nil
}

// KeyRevokeParams names a key of a merchant ("" for a platform key) to
// revoke, and when.
type KeyRevokeParams struct {
	MerchantID string
	ID         string
	At         time.Time
}

// KeyRevoke revokes a key and returns it as it now is: ErrNoRows when the
// merchant has no key of that id (another merchant's key included). A key
// revoked already keeps the time it was first revoked.
func (e Executor) KeyRevoke(ctx context.Context, p KeyRevokeParams) (APIKey, error) {
	return scanAPIKey(e.q.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
		WHERE id = $2 AND COALESCE(merchant_id, '') = $1 RETURNING id, merchant_id, prefix, created_at, revoked_at`,
		p.MerchantID, p.ID, Micros(p.At)))
}
