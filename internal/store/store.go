// Package store is hutong's database: one *DB over either embedded SQLite
// (modernc.org/sqlite, pure Go, the default) or PostgreSQL (pgx), with the
// migrations of each embedded and applied on open.
//
// The SQL is written once wherever the two agree, which is almost
// everywhere: $N placeholders (both accept them), RETURNING, and times and
// money as BIGINT (Unix microseconds UTC; fen). Where they differ, DB.Dialect
// says which one is speaking. The tests of every package built on the store
// run against both (see storetest).
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"
)

// Dialect names the database behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open, migrated database.
type DB struct {
	*sql.DB
	Dialect Dialect
	// group commits concurrent transactions together on SQLite
	// (groupcommit.go); nil on PostgreSQL, which commits in parallel.
	group *groupCommitter
}

// DefaultDSN is where hutong keeps its data when told nothing.
const DefaultDSN = "sqlite:./hutong-data/hutong.db"

// Open connects to dsn and applies the embedded migrations:
//
//	sqlite:PATH                      embedded SQLite in WAL mode, fsync on commit
//	postgres://user@host:5432/db     PostgreSQL
func Open(ctx context.Context, dsn string) (*DB, error) {
	db, err := Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Connect opens dsn without migrating.
func Connect(ctx context.Context, dsn string) (*DB, error) {
	var db *DB
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("store: sqlite: needs a file path, as sqlite:./hutong-data/hutong.db")
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("store: %w", err)
			}
		}
		// WAL lets readers proceed beside the one writer; synchronous=FULL
		// makes a commit durable before it returns; IMMEDIATE transactions
		// take the write lock up front, so two writers queue (busy_timeout)
		// instead of failing on upgrade. temp_store=MEMORY keeps the
		// savepoints' journals in memory: group commit (groupcommit.go)
		// runs each transaction of a group in a savepoint, and SQLite
		// otherwise spills a savepoint's journal past 64 KiB to a
		// temporary file, a write syscall per page copied.
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", "temp_store(MEMORY)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		// Writers queue in the process, and each connection keeps its
		// prepared statements (sqliteconn.go).
		sqlDB := sql.OpenDB(newSQLiteConnector("file:"+path+"?"+q.Encode(), &sqlite.Driver{}))
		// One writer at a time holds SQLite's lock; the others wait in
		// busy_timeout, which sleeps and retries rather than queueing, so
		// hundreds of open connections (a burst of notifications) keep
		// losing to each other until the wallets hang up. A bounded pool
		// queues them in database/sql instead; 16 leaves room for the
		// readers WAL lets run beside the writer, and for a request that
		// reads with a second connection outside its transaction.
		sqlDB.SetMaxOpenConns(16)
		sqlDB.SetMaxIdleConns(16)
		db = &DB{DB: sqlDB, Dialect: SQLite, group: &groupCommitter{db: sqlDB}}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		sqlDB, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		// Keep as many idle connections as open ones: database/sql keeps
		// two by default, and every connection opened again pays a TCP
		// handshake, authentication and pgx's statement preparation.
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		db = &DB{DB: sqlDB, Dialect: Postgres}
	default:
		return nil, fmt.Errorf("store: database %q must start with sqlite: or postgres://", redact(dsn))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: cannot reach %s: %w", redact(dsn), err)
	}
	return db, nil
}

// redact hides a password in a DSN, for messages and logs.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Tx runs fn in a transaction, committing if it returns nil. Everything a
// state change implies (its jobs, its events) is written in the same fn, so
// a crash keeps all of it or none.
//
// On SQLite, transactions that wait for the writer at the same time are
// committed together, each in a savepoint (groupcommit.go): fn must not
// end the transaction itself, and its outcome is still its own.
func (db *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.group != nil {
		return db.group.tx(ctx, fn)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("store: rollback: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Micros is how times are stored: Unix microseconds, UTC.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// MicrosOrZero is Micros, except that the zero time (not yet happened) is
// stored as 0.
func MicrosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Time reads a stored time.
func Time(us int64) time.Time { return time.UnixMicro(us).UTC() }

// Querier is what runs a query: the database or a transaction.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// QueryAll runs query on q and scans every row with scan, closing the rows
// and checking rows.Err, so that no loop over a result forgets either:
//
//	ids, err := store.QueryAll(ctx, tx, func(rows *sql.Rows) (id string, err error) {
//		return id, rows.Scan(&id)
//	}, `SELECT id FROM t WHERE x = $1`, x)
func QueryAll[T any](ctx context.Context, q Querier, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// QueryJSON runs a query whose one column is a stored JSON object and
// decodes each row; a row that does not decode is an error naming it. An
// empty result is an empty slice, not nil, so that a list answers [] in
// JSON.
func QueryJSON[T any](ctx context.Context, q Querier, query string, args ...any) ([]T, error) {
	n := 0
	out, err := QueryAll(ctx, q, func(rows *sql.Rows) (v T, err error) {
		n++
		var data string
		if err := rows.Scan(&data); err != nil {
			return v, err
		}
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return v, fmt.Errorf("stored %T row %d: %w", v, n, err)
		}
		return v, nil
	}, query, args...)
	if out == nil && err == nil {
		out = []T{}
	}
	return out, err
}

// QueryStrings runs a query of one text column and returns its values.
func QueryStrings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	return QueryAll(ctx, q, func(rows *sql.Rows) (s string, err error) {
		return s, rows.Scan(&s)
	}, query, args...)
}
