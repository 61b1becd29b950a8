// Package storetest opens test databases of every backend, so one test
// suite runs against both SQLite and PostgreSQL.
//
// SQLite always runs, in the test's temporary folder. PostgreSQL runs when
// HUTONG_TEST_POSTGRES names a server (postgres://postgres@127.0.0.1:5432/test
// in CI): each test gets a schema of its own, dropped afterwards. When the
// variable is set and the server cannot be reached, the test fails; when it
// is unset, the PostgreSQL half skips and says so.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/hutong-pay/hutong/internal/store"
)

// EnvPostgres names the PostgreSQL server the tests may use.
const EnvPostgres = "HUTONG_TEST_POSTGRES"

// Each runs fn once per backend, as subtests named sqlite and postgres.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite opens a migrated database in the test's temporary folder.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "hutong.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgresDSN returns a DSN for a fresh schema of the test's own on the
// server named by HUTONG_TEST_POSTGRES, or skips the test.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("%s is not set; set it to a PostgreSQL URL (postgres://postgres@127.0.0.1:5432/test) to run the PostgreSQL half", EnvPostgres)
	}
	admin, err := store.Connect(context.Background(), base)
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL is unreachable: %v", EnvPostgres, err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "hutong_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := store.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("dropping the test's schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx sends unknown parameters as run-time settings
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres opens a migrated database in a schema of the test's own.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// EachDSN runs fn once per backend with a database address instead of an
// open database, for tests that open several connections to one database
// (several gateway processes).
func EachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "hutong.db")
		db, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		fn(t, dsn)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := PostgresDSN(t)
		db, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		fn(t, dsn)
	})
}
