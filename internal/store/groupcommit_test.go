package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// openSQLite is a migrated SQLite database with a table of numbers.
func openSQLite(t testing.TB) *store.DB {
	t.Helper()
	db := storetest.SQLite(t)
	if _, err := db.Exec(`CREATE TABLE rows (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestGroupCommitKeepsEachOutcome: of many transactions at once, those
// that return nil commit, those that fail or panic leave nothing, and each
// caller is told its own outcome.
func TestGroupCommitKeepsEachOutcome(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	boom := errors.New("boom")
	const n = 60
	errs := make([]error, n)
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = db.Tx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO rows (n) VALUES ($1)`, i); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return boom
				case 2:
					if i%4 == 2 {
						panic(fmt.Sprint("panic ", i))
					}
				}
				return nil
			})
		})
	}
	wg.Wait()
	var want []int
	for i := range n {
		switch {
		case i%3 == 1:
			if !errors.Is(errs[i], boom) {
				t.Errorf("transaction %d: %v, want its own error", i, errs[i])
			}
		case i%3 == 2 && i%4 == 2:
			if panics[i] != fmt.Sprint("panic ", i) {
				t.Errorf("transaction %d: panic %v, want its own raised again", i, panics[i])
			}
		default:
			if errs[i] != nil || panics[i] != nil {
				t.Errorf("transaction %d: %v %v, want nil", i, errs[i], panics[i])
			}
			want = append(want, i)
		}
	}
	got, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (n int, err error) { return n, rows.Scan(&n) }, `SELECT n FROM rows ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("committed %v\nwant      %v", got, want)
	}
}

// TestGroupCommitRefusesATransactionInsideAnother: a transaction begun by
// code already running in one would wait for itself; it ends with
// ErrWriterBusy instead, and the queue goes on.
func TestGroupCommitRefusesATransactionInsideAnother(t *testing.T) {
	defer store.SetWriterWait(200 * time.Millisecond)()
	db := openSQLite(t)
	ctx := context.Background()
	var inner error
	if err := db.Tx(ctx, func(tx *sql.Tx) error {
		inner = db.Tx(ctx, func(*sql.Tx) error { return nil })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, store.ErrWriterBusy) {
		t.Fatalf("a transaction inside another: %v, want ErrWriterBusy", inner)
	}
	if err := db.Tx(ctx, func(tx *sql.Tx) error { _, err := tx.Exec(`INSERT INTO rows (n) VALUES (1)`); return err }); err != nil {
		t.Fatalf("the next transaction: %v", err)
	}
}

// BenchmarkSQLiteTx is 8 callers committing one small transaction each, as
// durably as the gateway does (synchronous FULL): grouped, and one by one.
func BenchmarkSQLiteTx(b *testing.B) {
	for _, grouped := range []bool{true, false} {
		b.Run(fmt.Sprintf("grouped=%v", grouped), func(b *testing.B) {
			db := openSQLite(b)
			if !grouped {
				db.WithoutGroupCommit()
			}
			ctx := context.Background()
			var next sync.Mutex
			n := 0
			b.SetParallelism(4) // 8 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					next.Lock()
					n++
					v := n
					next.Unlock()
					if err := db.Tx(ctx, func(tx *sql.Tx) error {
						_, err := tx.ExecContext(ctx, `INSERT INTO rows (n) VALUES ($1)`, v)
						return err
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
