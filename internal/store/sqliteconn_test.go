package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hutong-pay/hutong/internal/store"
)

// TestSQLiteStatementCache runs statements through a connection's kept
// statements in the ways that could trip them: the same query again while
// its rows are still open, a statement that failed, more distinct queries
// than the cache keeps, and a script of several statements.
func TestSQLiteStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := store.Connect(ctx, "sqlite:"+filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // one connection, so every use meets the same cache
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE); INSERT INTO t (v) VALUES ('a'); INSERT INTO t (v) VALUES ('b')`); err != nil {
		t.Fatalf("a script: %v", err)
	}
	const q = `SELECT v FROM t WHERE id >= $1 ORDER BY id`
	scan := func(rows *sql.Rows) (v string, err error) { return v, rows.Scan(&v) }
	// Each outer row reads the same query again while the outer rows
	// still read its statement.
	got, err := store.QueryAll(ctx, conn, func(rows *sql.Rows) (string, error) {
		v, err := scan(rows)
		if err != nil {
			return "", err
		}
		inner, err := store.QueryAll(ctx, conn, scan, q, 2)
		return v + fmt.Sprint(inner), err
	}, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a[b] b[b]]" {
		t.Fatalf("nested reads of one query: %v", got)
	}

	const insert = `INSERT INTO t (v) VALUES ($1)`
	if _, err := conn.ExecContext(ctx, insert, "a"); err == nil {
		t.Fatal("a duplicate was inserted")
	}
	if _, err := conn.ExecContext(ctx, insert, "c"); err != nil {
		t.Fatalf("the statement after its failure: %v", err)
	}
	for i := range 600 { // more than the cache keeps
		var n int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) + %d FROM t`, i)).Scan(&n); err != nil || n != 3+i {
			t.Fatalf("distinct query %d: %d, %v", i, n, err)
		}
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("after the cache was evicted: %d, %v", n, err)
	}
}

// BenchmarkSQLiteStatements is the same small read and write through
// store's SQLite (statements kept per connection) and through the driver
// as database/sql opens it (prepared again each time).
func BenchmarkSQLiteStatements(b *testing.B) {
	ctx := context.Background()
	for _, kept := range []bool{true, false} {
		b.Run(fmt.Sprintf("kept=%v", kept), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench.db")
			var db *sql.DB
			if kept {
				s, err := store.Connect(ctx, "sqlite:"+path)
				if err != nil {
					b.Fatal(err)
				}
				db = s.DB
			} else {
				var err error
				if db, err = sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)"); err != nil {
					b.Fatal(err)
				}
			}
			defer db.Close()
			if _, err := db.Exec(`PRAGMA synchronous = OFF`); err != nil { // measure statements, not fsync
				b.Fatal(err)
			}
			if _, err := db.Exec(`CREATE TABLE p (id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, status TEXT NOT NULL, amount BIGINT NOT NULL, data TEXT NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO p VALUES ('pay_1', 'm_1', 'requires_action', 100, '{}')`); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				var data string
				var amount int64
				if err := db.QueryRowContext(ctx, `SELECT data, amount FROM p WHERE id = $1 AND merchant_id = $2`, "pay_1", "m_1").Scan(&data, &amount); err != nil {
					b.Fatal(err)
				}
				if _, err := db.ExecContext(ctx, `UPDATE p SET status = $2, amount = $3, data = $4 WHERE id = $1`, "pay_1", "succeeded", amount, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
