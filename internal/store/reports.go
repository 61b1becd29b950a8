package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PaymentCount is how many payments have one method and status.
type PaymentCount struct {
	Method, Status string
	N              int64
}

// PaymentCounts counts payments by method and status.
func (e Executor) PaymentCounts(ctx context.Context) ([]PaymentCount, error) {
	return QueryAll(ctx, e.q, func(rows *sql.Rows) (c PaymentCount, err error) {
		return c, rows.Scan(&c.Method, &c.Status, &c.N)
	}, `SELECT method, status, COUNT(*) FROM payments GROUP BY method, status`)
}

// JobsOldestDue is, per kind with jobs waiting, when the oldest of them
// became due.
func (e Executor) JobsOldestDue(ctx context.Context) (map[string]time.Time, error) {
	type due struct {
		kind string
		at   int64
	}
	// jobs_due (state, run_at) serves this: only available jobs are read.
	rows, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (d due, err error) {
		return d, rows.Scan(&d.kind, &d.at)
	}, `SELECT kind, MIN(run_at) FROM jobs WHERE state = 'available' GROUP BY kind`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(rows))
	for _, d := range rows {
		out[d.kind] = Time(d.at)
	}
	return out, nil
}

// SchemaVersion is the last migration applied.
func (e Executor) SchemaVersion(ctx context.Context) (int, error) {
	var version int
	err := e.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version)
	return version, err
}

// PostgresTables lists the tables of the PostgreSQL database at url, as
// schema.table, without migrating it: a tool that will fill a database
// asks first whether anyone's data is in it.
func PostgresTables(ctx context.Context, url string) ([]string, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer db.Close()
	return QueryStrings(ctx, db, `SELECT table_schema || '.' || table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg_toast%'
		ORDER BY table_schema, table_name`)
}
