package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
)

//go:embed migrations
var migrations embed.FS

// Migration is one embedded schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists a dialect's migrations in order: those in
// migrations/common, written once in SQL both databases accept, and those
// in migrations/<dialect>, which win where a version is in both. Each file
// is NNNN_name.sql; versions are never renumbered or edited once released.
func Migrations(d Dialect) ([]Migration, error) {
	byVersion := map[int]Migration{}
	for _, dir := range []string{"migrations/common", "migrations/" + string(d)} {
		entries, err := fs.ReadDir(migrations, dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
			v, err := strconv.Atoi(num)
			if !ok || err != nil {
				return nil, fmt.Errorf("store: migration file %s is not NNNN_name.sql", e.Name())
			}
			b, err := fs.ReadFile(migrations, dir+"/"+e.Name())
			if err != nil {
				return nil, err
			}
			byVersion[v] = Migration{Version: v, Name: name, SQL: string(b)}
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// Migrate applies the migrations not yet applied, each in its own
// transaction together with its record in schema_migrations. On PostgreSQL
// an advisory lock makes gateways starting together take turns.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrateTo(ctx, math.MaxInt)
}

// migrateTo applies the migrations not yet applied up to version last:
// tests of a migration fill the schema before it with data.
func (db *DB) migrateTo(ctx context.Context, last int) error {
	ms, err := Migrations(db.Dialect)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if db.Dialect == Postgres {
		const lockID = 0x68757467 // "hutg"
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockID); err != nil {
			return fmt.Errorf("store: migrate lock: %w", err)
		}
		// Closing the connection releases the lock too; unlocking first
		// hands it on at once.
		defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockID) }()
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return fmt.Errorf("store: migrate: reading applied versions: %w", err)
	}
	for _, m := range ms {
		if applied[m.Version] || m.Version > last {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := apply(ctx, tx, m); err != nil {
			if rerr := tx.Rollback(); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return fmt.Errorf("store: migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

func apply(ctx context.Context, tx *sql.Tx, m Migration) error {
	for _, stmt := range strings.Split(m.SQL, ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.Version, m.Name, Micros(nowFunc()))
	return err
}

// appliedVersions are the migrations schema_migrations records as applied.
func appliedVersions(ctx context.Context, conn *sql.Conn) (map[int]bool, error) {
	rows, err := conn.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}
