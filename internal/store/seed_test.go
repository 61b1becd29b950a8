package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store"
)

// seedMerchants stores merchants named by their ids, made at now: what
// most store tests need before the rows they are about.
func seedMerchants(t *testing.T, db *store.DB, now time.Time, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := db.Pool().MerchantInsert(context.Background(), store.MerchantInsertParams{Merchant: merchant.Merchant{ID: id, Name: id}, CreatedAt: now}); err != nil {
			t.Fatalf("merchant %s: %v", id, err)
		}
	}
}
