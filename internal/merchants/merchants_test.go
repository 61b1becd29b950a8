package merchants_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hutong-pay/hutong/internal/merchants"
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
