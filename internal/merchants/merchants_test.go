package merchants_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestAuthenticateTellsAnUnknownKeyFromAFailure: an unknown secret is
// ErrBadKey (a 401), but a database that cannot answer is another error (a
// 500 the caller may retry), never "your key is not valid"; a key already
// found keeps authenticating from the cache while the database is away.
func TestAuthenticateTellsAnUnknownKeyFromAFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := &merchants.Service{DB: db}
		known, secret, err := svc.CreateKey(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, "sk_merchant_nosuchkey"); !errors.Is(err, merchants.ErrBadKey) {
			t.Fatalf("unknown secret: got %v, want ErrBadKey", err)
		}
		if k, err := svc.Authenticate(ctx, secret); err != nil || k != known {
			t.Fatalf("known secret: got %+v, %v; want %+v", k, err, known)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if k, err := svc.Authenticate(ctx, secret); err != nil || k != known {
			t.Fatalf("cached secret with the database closed: got %+v, %v; want %+v", k, err, known)
		}
		_, err = svc.Authenticate(ctx, "sk_merchant_another")
		if err == nil || errors.Is(err, merchants.ErrBadKey) {
			t.Fatalf("database closed: got %v, want an error that is not ErrBadKey", err)
		}
	})
}

// TestRevokeKey: a merchant's keys are listed without secrets; a revoked
// key stops authenticating in this process at once, even though it was
// just authenticated (and so remembered); another merchant's key is not
// found and keeps working.
func TestRevokeKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := &merchants.Service{DB: db}
		var ids []string
		for _, name := range []string{"县城超市", "城市服饰"} {
			m, err := svc.Create(ctx, merchant.Merchant{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		a, secretA, err := svc.CreateKey(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		b, secretB, err := svc.CreateKey(ctx, ids[1])
		if err != nil {
			t.Fatal(err)
		}
		keys, err := svc.Keys(ctx, ids[0])
		if err != nil || len(keys) != 1 || keys[0].ID != a.ID || keys[0].Revoked() || !strings.HasPrefix(secretA, keys[0].Prefix) || len(keys[0].Prefix) >= len(secretA) {
			t.Fatalf("Keys(A) = %+v, %v; want A's one key, its prefix only", keys, err)
		}
		for _, secret := range []string{secretA, secretB} {
			if _, err := svc.Authenticate(ctx, secret); err != nil {
				t.Fatal(err)
			}
		}

		if _, err := svc.RevokeKey(ctx, ids[1], a.ID); !errors.Is(err, notfound.Err) {
			t.Fatalf("B revoking A's key: %v, want not found", err)
		}
		if k, err := svc.Authenticate(ctx, secretA); err != nil || k != a {
			t.Fatalf("A's key after B's refused revocation: %+v, %v", k, err)
		}
		revoked, err := svc.RevokeKey(ctx, ids[0], a.ID)
		if err != nil || revoked.ID != a.ID || !revoked.Revoked() {
			t.Fatalf("RevokeKey = %+v, %v", revoked, err)
		}
		if _, err := svc.Authenticate(ctx, secretA); !errors.Is(err, merchants.ErrBadKey) {
			t.Fatalf("a revoked key just remembered: %v, want ErrBadKey at once", err)
		}
		if k, err := svc.Authenticate(ctx, secretB); err != nil || k != b {
			t.Fatalf("B's key after A's revocation: %+v, %v", k, err)
		}
		if keys, err := svc.Keys(ctx, ids[0]); err != nil || len(keys) != 1 || !keys[0].Revoked() {
			t.Fatalf("Keys(A) after revoking: %+v, %v", keys, err)
		}
	})
}
