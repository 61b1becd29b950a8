package store_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		ms, err := store.Migrations(db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || n == 0 {
			t.Fatalf("%d migrations recorded, %d embedded", n, len(ms))
		}
	})
}

func TestTxCommitsOrRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		insert := func(tx *sql.Tx, kind string) error {
			_, err := tx.Exec(`INSERT INTO jobs (kind, payload, run_at, max_attempts, created_at) VALUES ($1, '{}', 0, 1, 0)`, kind)
			return err
		}
		boom := errors.New("boom")
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			if err := insert(tx, "rolled-back"); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("Tx returned %v", err)
		}
		if err := db.Tx(ctx, func(tx *sql.Tx) error { return insert(tx, "kept") }); err != nil {
			t.Fatal(err)
		}
		kinds, err := jobKinds(db)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(kinds, ",") != "kept" {
			t.Fatalf("jobs after rollback and commit: %v", kinds)
		}
	})
}

func TestOpenRefusesUnknownDatabases(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"mysql://x", "sqlite:", "", "postgres://nobody:secret@127.0.0.1:1/x"} {
		_, err := store.Open(context.Background(), dsn)
		if err == nil {
			t.Errorf("%q opened", dsn)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// jobKinds lists the kinds of the jobs table's rows in the order they were
// made; a helper of its own so that its rows are closed on every return.
func jobKinds(db *store.DB) ([]string, error) {
	rows, err := db.Query(`SELECT kind FROM jobs ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var kinds []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		kinds = append(kinds, k)
	}
	return kinds, rows.Err()
}
