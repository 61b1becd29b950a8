package store

import "context"

// MigrateTo applies the migrations up to version last, for tests of a
// migration's handling of existing data.
func (db *DB) MigrateTo(ctx context.Context, last int) error { return db.migrateTo(ctx, last) }
