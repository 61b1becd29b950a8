package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store"
)

func runKey(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("key", `Creates an API key and prints it (it is shown only now; hutong keeps its hash).
A merchant key acts for its merchant, created if new; a platform key for any.

  hutong key --merchant ID [--name NAME] [--database …]
  hutong key --platform [--database …]`, stderr)
	dsn := fs.String("database", store.DefaultDSN, "database: sqlite:PATH or a postgres:// URL")
	merchantID := fs.String("merchant", "", "merchant `ID` (created if new)")
	name := fs.String("name", "", "merchant `NAME`, for a new merchant")
	platform := fs.Bool("platform", false, "create a platform key")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *platform == (*merchantID != "") {
		return errors.New("key: give either --merchant ID or --platform")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := &gateway.Service{DB: db}
	if *merchantID != "" {
		if _, err := svc.MerchantService().Get(ctx, *merchantID); errors.Is(err, gateway.ErrNotFound) {
			n := *name
			if n == "" {
				n = *merchantID
			}
			if _, err := svc.MerchantService().Create(ctx, merchant.Merchant{ID: *merchantID, Name: n}); err != nil {
				return fmt.Errorf("key: %w", err)
			}
		}
	}
	_, secret, err := svc.MerchantService().CreateKey(ctx, *merchantID)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	fmt.Fprintln(stdout, secret)
	return nil
}
