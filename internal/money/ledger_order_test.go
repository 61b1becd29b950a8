package money

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestPostingsLockBalancesInOneOrder: two postings over the same two
// accounts, written with their lines in opposite orders, interleave so
// that each has locked a balance row when it asks for the second. Taking
// the rows in account order, the later one waits for the first row and
// holds none, so both commit; taking them in line order, PostgreSQL would
// find a deadlock and abort one.
func TestPostingsLockBalancesInOneOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := &Service{DB: db}
		ctx := context.Background()
		a, b := ledger.Clearing("order-test"), ledger.Fees("order-test")
		entry := func(first, second string) ledger.Entry {
			return ledger.Entry{Kind: "test", MerchantID: "m", At: time.Now(), Lines: []ledger.Line{{Account: first, Amount: 1}, {Account: second, Amount: -1}}}
		}
		// Both rows exist, so that each update takes a row lock.
		if err := db.Tx(ctx, func(tx *sql.Tx) error { return s.Post(ctx, tx, entry(a, b)) }); err != nil {
			t.Fatal(err)
		}
		first, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The first posting holds the row of account a...
		if _, err := first.ExecContext(ctx, `UPDATE ledger_balances SET balance = balance WHERE account = $1`, a); err != nil {
			t.Fatal(err)
		}
		// ...while a second, its lines b then a, starts.
		second := make(chan error, 1)
		go func() {
			second <- db.Tx(ctx, func(tx *sql.Tx) error { return s.Post(ctx, tx, entry(b, a)) })
		}()
		time.Sleep(300 * time.Millisecond)
		if err := s.Post(ctx, first, entry(a, b)); err != nil {
			if err := first.Rollback(); err != nil {
				t.Error(err)
			}
			t.Fatalf("the first posting: %v", err)
		}
		if err := first.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatalf("the second posting: %v", err)
		}
	})
}
