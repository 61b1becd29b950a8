package store

import (
	"context"
	"time"
)

// MigrateTo applies the migrations up to version last, for tests of a
// migration's handling of existing data.
func (db *DB) MigrateTo(ctx context.Context, last int) error { return db.migrateTo(ctx, last) }

// SetWriterWait shortens how long a writer waits, for tests of the wait's
// end; the returned function restores it.
func SetWriterWait(d time.Duration) (restore func()) {
	old := writerWait
	writerWait = d
	return func() { writerWait = old }
}

// WithoutGroupCommit makes db's transactions commit one by one, the
// baseline of the group commit's benchmark.
func (db *DB) WithoutGroupCommit() { db.group = nil }
