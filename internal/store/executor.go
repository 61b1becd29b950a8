package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Executor runs the store's typed methods on the database or on one
// transaction in it, so a service composes several of them in one
// transaction: db.In(tx).MerchantWalletSet(…) beside db.In(tx).… commit
// together, and db.Pool().MerchantGet(…) reads outside any.
//
// Each method takes a …Params struct where it takes more than an id, and
// answers ErrNoRows (errors.Is) when what it names does not exist. The
// SQL, and the differences between SQLite and PostgreSQL, stay behind it.
type Executor struct {
	q       execer
	dialect Dialect
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Pool is an Executor outside any transaction: each method runs on a
// connection of the pool.
func (db *DB) Pool() Executor { return Executor{q: db.DB, dialect: db.Dialect} }

// In is an Executor in tx, one of db's transactions.
func (db *DB) In(tx *sql.Tx) Executor { return Executor{q: tx, dialect: db.Dialect} }

// ErrNoRows is what a typed method answers when the row it names does not
// exist.
var ErrNoRows = sql.ErrNoRows

// affected is ErrNoRows when an UPDATE changed nothing.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNoRows
	}
	return nil
}

// IsUniqueViolation reports whether err is a database's refusal of a row
// that repeats a unique key, on either backend.
func IsUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || lite.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// forUpdate locks the rows a query reads, on PostgreSQL, when lock;
// SQLite's immediate transactions already serialize writers.
func (e Executor) forUpdate(lock bool) string {
	if lock && e.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}
