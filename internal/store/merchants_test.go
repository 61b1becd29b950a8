package store_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestMerchantMethods: every merchant and API key method on both backends,
// in the pool and in a transaction, with ErrNoRows for what does not exist.
func TestMerchantMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		county := merchant.Merchant{ID: "m_county", Name: "县城超市", Category: "grocery", RegionCode: "341322", Size: "small",
			Wallets: map[string]merchant.Wallet{"wechatpay": {SubMerchant: "1900000109"}}}
		city := merchant.Merchant{ID: "m_city", Name: "城市服饰", Category: "apparel", RegionCode: "310101", Size: "large"}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			for _, m := range []merchant.Merchant{county, city} {
				if err := db.In(tx).MerchantInsert(ctx, store.MerchantInsertParams{Merchant: m, CreatedAt: now}); err != nil {
					return err
				}
			}
			// A transaction reads its own writes.
			got, err := db.In(tx).MerchantGet(ctx, county.ID)
			if err != nil || !reflect.DeepEqual(got, county) {
				t.Errorf("MerchantGet in the transaction = %+v, %v; want %+v", got, err, county)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: city, CreatedAt: now}); !store.IsUniqueViolation(err) {
			t.Errorf("a second merchant under one id: %v, want a unique violation", err)
		}
		if _, err := db.Pool().MerchantGet(ctx, "m_nobody"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("MerchantGet of an unknown id: %v, want ErrNoRows", err)
		}

		alipay := merchant.Wallet{SubMerchant: "202409apptoken", Seller: "2088000000000001"}
		for _, w := range []merchant.Wallet{{SubMerchant: "stale"}, alipay} { // the second replaces the first
			if err := db.Pool().MerchantWalletSet(ctx, store.MerchantWalletSetParams{MerchantID: city.ID, Channel: "alipay", Wallet: w}); err != nil {
				t.Fatal(err)
			}
		}
		profile := merchant.Profile{Category: "shoes", RegionCode: "310104", Size: "medium"}
		if err := db.Pool().MerchantProfileSet(ctx, store.MerchantProfileSetParams{MerchantID: city.ID, Profile: profile}); err != nil {
			t.Fatal(err)
		}
		got, err := db.Pool().MerchantGet(ctx, city.ID)
		want := merchant.Merchant{ID: city.ID, Name: city.Name, Category: "shoes", RegionCode: "310104", Size: "medium", Wallets: map[string]merchant.Wallet{"alipay": alipay}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("after a wallet and a profile: %+v, %v; want %+v", got, err, want)
		}
		if err := db.Pool().MerchantProfileSet(ctx, store.MerchantProfileSetParams{MerchantID: "m_nobody", Profile: profile}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("MerchantProfileSet of an unknown id: %v, want ErrNoRows", err)
		}

		mm, err := db.Pool().MerchantMoneyGet(ctx, county.ID)
		if want := (store.MerchantMoney{Policy: merchant.MoneyPolicy{CommissionBPS: -1}, Category: "grocery"}); err != nil || mm != want {
			t.Errorf("a new merchant's money: %+v, %v; want %+v", mm, err, want)
		}
		policy := merchant.MoneyPolicy{CommissionBPS: 250, AllowNegativePayable: true}
		if err := db.Pool().MerchantMoneyPolicySet(ctx, store.MerchantMoneyPolicySetParams{MerchantID: county.ID, Policy: policy}); err != nil {
			t.Fatal(err)
		}
		if mm, err := db.Pool().MerchantMoneyGet(ctx, county.ID); err != nil || mm.Policy != policy {
			t.Errorf("money policy after setting it: %+v, %v; want %+v", mm, err, policy)
		}
		if err := db.Pool().MerchantMoneyPolicySet(ctx, store.MerchantMoneyPolicySetParams{MerchantID: "m_nobody", Policy: policy}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("MerchantMoneyPolicySet of an unknown id: %v, want ErrNoRows", err)
		}
		if _, err := db.Pool().MerchantMoneyGet(ctx, "m_nobody"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("MerchantMoneyGet of an unknown id: %v, want ErrNoRows", err)
		}

		ids, err := db.Pool().MerchantIDs(ctx)
		if err != nil || !reflect.DeepEqual(ids, []string{"m_city", "m_county"}) {
			t.Errorf("MerchantIDs = %v, %v", ids, err)
		}
		for _, c := range []struct {
			f    store.MerchantFilter
			want []string
		}{
			{store.MerchantFilter{}, []string{"m_city", "m_county"}},
			{store.MerchantFilter{RegionCode: "34"}, []string{"m_county"}},
			{store.MerchantFilter{Category: "shoes", Size: "medium"}, []string{"m_city"}},
			{store.MerchantFilter{Size: "large"}, nil},
		} {
			if ids, err := db.Pool().MerchantIDsWhere(ctx, c.f); err != nil || !reflect.DeepEqual(ids, c.want) {
				t.Errorf("MerchantIDsWhere(%+v) = %v, %v; want %v", c.f, ids, err, c.want)
			}
		}

		platform := merchant.Key{ID: "key_platform"}
		own := merchant.Key{ID: "key_county", MerchantID: county.ID}
		for i, k := range []merchant.Key{platform, own} {
			if err := db.Pool().APIKeyInsert(ctx, store.APIKeyInsertParams{Key: k, Hash: []string{"h1", "h2"}[i], Prefix: "sk_x", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		for hash, want := range map[string]merchant.Key{"h1": platform, "h2": own} {
			if k, err := db.Pool().APIKeyByHash(ctx, hash); err != nil || k != want {
				t.Errorf("APIKeyByHash(%s) = %+v, %v; want %+v", hash, k, err, want)
			}
		}
		if _, err := db.Pool().APIKeyByHash(ctx, "h3"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("APIKeyByHash of an unknown hash: %v, want ErrNoRows", err)
		}
	})
}

// TestKeyListAndRevoke: a merchant lists its own keys only, newest first
// and without secrets; revoking one stops it authenticating, keeps its
// first revocation time when repeated, and another merchant's key or an
// unknown id is ErrNoRows and changes nothing.
func TestKeyListAndRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		for _, m := range []string{"m_a", "m_b"} {
			if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: m, Name: m}, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		for i, k := range []struct{ id, merchant, hash string }{
			{"key_a1", "m_a", "ha1"}, {"key_a2", "m_a", "ha2"}, {"key_b1", "m_b", "hb1"}, {"key_p", "", "hp"},
		} {
			err := db.Pool().APIKeyInsert(ctx, store.APIKeyInsertParams{Key: merchant.Key{ID: k.id, MerchantID: k.merchant}, Hash: k.hash,
				Prefix: "sk_merchant_" + k.hash, CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
		}
		a1 := store.APIKey{ID: "key_a1", MerchantID: "m_a", Prefix: "sk_merchant_ha1", CreatedAt: t0}
		a2 := store.APIKey{ID: "key_a2", MerchantID: "m_a", Prefix: "sk_merchant_ha2", CreatedAt: t0.Add(time.Minute)}
		if got, err := db.Pool().KeyList(ctx, "m_a"); err != nil || !reflect.DeepEqual(got, []store.APIKey{a2, a1}) {
			t.Fatalf("KeyList(m_a) = %+v, %v; want %+v", got, err, []store.APIKey{a2, a1})
		}
		if got, err := db.Pool().KeyList(ctx, ""); err != nil || len(got) != 1 || got[0].ID != "key_p" || got[0].MerchantID != "" {
			t.Fatalf("KeyList of the platform = %+v, %v", got, err)
		}
		if got, err := db.Pool().KeyList(ctx, "m_nobody"); err != nil || len(got) != 0 {
			t.Fatalf("KeyList of an unknown merchant = %+v, %v", got, err)
		}

		// Merchant B cannot revoke A's key, nor a platform key; nobody revokes a made-up id.
		for _, p := range []store.KeyRevokeParams{{MerchantID: "m_b", ID: "key_a1"}, {MerchantID: "m_b", ID: "key_p"}, {MerchantID: "m_a", ID: "key_nobody"}} {
			p.At = t0.Add(time.Hour)
			if _, err := db.Pool().KeyRevoke(ctx, p); !errors.Is(err, store.ErrNoRows) {
				t.Errorf("KeyRevoke(%+v): %v, want ErrNoRows", p, err)
			}
		}
		if k, err := db.Pool().APIKeyByHash(ctx, "ha1"); err != nil || k.ID != "key_a1" {
			t.Fatalf("A's key after refused revocations: %+v, %v", k, err)
		}

		at := t0.Add(2 * time.Hour)
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			got, err := db.In(tx).KeyRevoke(ctx, store.KeyRevokeParams{MerchantID: "m_a", ID: "key_a1", At: at})
			want := a1
			want.RevokedAt = at
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("KeyRevoke in a transaction = %+v, %v; want %+v", got, err, want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Pool().APIKeyByHash(ctx, "ha1"); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("a revoked key still found by its hash: %v", err)
		}
		again, err := db.Pool().KeyRevoke(ctx, store.KeyRevokeParams{MerchantID: "m_a", ID: "key_a1", At: at.Add(time.Hour)})
		if err != nil || !again.RevokedAt.Equal(at) {
			t.Fatalf("revoking twice: %+v, %v; want the first revocation's time %v", again, err, at)
		}
		got, err := db.Pool().KeyList(ctx, "m_a")
		if err != nil || len(got) != 2 || got[1].ID != "key_a1" || !got[1].Revoked() || got[0].Revoked() {
			t.Fatalf("KeyList after revoking a1 = %+v, %v", got, err)
		}
		if k, err := db.Pool().APIKeyByHash(ctx, "ha2"); err != nil || k.ID != "key_a2" {
			t.Fatalf("A's other key after revoking a1: %+v, %v", k, err)
		}
		if got, err := db.Pool().KeyRevoke(ctx, store.KeyRevokeParams{ID: "key_p", At: at}); err != nil || got.MerchantID != "" || !got.Revoked() {
			t.Fatalf("revoking a platform key as the platform: %+v, %v", got, err)
		}
	})
}
