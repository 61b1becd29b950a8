package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hutong-pay/hutong/internal/store"
)

func runMigrate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", `Applies the embedded database migrations and exits. "hutong serve" also
applies them on start; this runs them alone, as a deploy step.

  hutong migrate [--database sqlite:PATH | postgres://…]`, stderr)
	dsn := fs.String("database", store.DefaultDSN, "database: sqlite:PATH or a postgres:// URL")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := store.Open(context.Background(), *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	version, err := db.Pool().SchemaVersion(context.Background())
	if err != nil {
		return fmt.Errorf("migrate: reading the schema version: %w", err)
	}
	fmt.Fprintf(stdout, "%s database is at migration %d\n", db.Dialect, version)
	return nil
}
