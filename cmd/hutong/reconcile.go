package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/store"
)

const reconcileSynopsis = `Downloads a wallet's daily bill, matches it against the ledger, stores the
run with every discrepancy, and prints the summary. A progress bar is drawn
on a terminal.

--date is a Beijing date (default yesterday). The exit status is 1 when
discrepancies are found.`

func runReconcile(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reconcile", reconcileSynopsis, stderr)
	ch := fs.String("channel", "", "required: the wallet, `wechatpay|alipay`")
	day := fs.String("date", chinatime.Date(time.Now().Add(-24*time.Hour)), "the bill's date (Beijing)")
	dsn := fs.String("database", store.DefaultDSN, "database: sqlite:PATH or a postgres:// URL")
	credsPath := fs.String("credentials", "", "required: wallet credentials `FILE` (JSON)")
	walletSandbox := fs.String("wallet-sandbox", "", "download the bill from the hutong sandbox at `URL`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ch == "" || *credsPath == "" {
		return errors.New("reconcile: --channel and --credentials are required")
	}
	creds, err := readCredentials(*credsPath)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	accounts, err := walletAccounts(ctx, creds, *walletSandbox, false)
	if err != nil {
		return err
	}
	// The books' refunds name their wallet orders through the payments,
	// which the gateway keeps; money reads them through it.
	gw := &gateway.Service{DB: db, Accounts: accounts}
	svc := &money.Service{DB: db, Events: gw.WebhookService(), Payments: gw.MoneyPayments(), Wallets: gw.MoneyWallets()}
	bar := progressBar(stderr)
	run, err := svc.Reconcile(ctx, *ch, *day, bar)
	bar(-1, 0, 0)
	if run.ID == "" {
		return fmt.Errorf("reconcile: %w", err)
	}
	sum := run.Summary
	fmt.Fprintf(stdout, "reconciliation %s: %s %s %s\n", run.ID, run.Channel, run.Day, run.Status)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	fmt.Fprintf(stdout, "  bill rows %d, book rows %d, matched %d\n", sum.BillRows, sum.OurRows, sum.Matched)
	fmt.Fprintf(stdout, "  missing in books %d, missing in bill %d, amount differs %d, status differs %d, fee differs %d, merchant differs %d\n",
		sum.MissingOurs, sum.MissingWallet, sum.AmountDiffers, sum.StatusDiffers, sum.FeeDiffers, sum.MerchantDiffers)
	fmt.Fprintf(stdout, "  net: bill %d fen, books %d fen; fees: bill %d fen, books %d fen\n", sum.BillNet, sum.OurNet, sum.BillFees, sum.OurFees)
	if sum.Discrepancies() > 0 {
		return exitError{1, fmt.Sprintf("%d discrepancies; GET /v1/reconciliations/%s lists them", sum.Discrepancies(), run.ID)}
	}
	return nil
}

// progressBar draws on stderr when it is a terminal; rowsDone < 0 ends it.
func progressBar(w io.Writer) func(rowsDone, bytesDone, bytesTotal int64) {
	f, ok := w.(*os.File)
	if !ok {
		return func(int64, int64, int64) {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func(int64, int64, int64) {}
	}
	drawn := false
	return func(rows, done, total int64) {
		if rows < 0 {
			if drawn {
				fmt.Fprintln(w)
			}
			return
		}
		drawn = true
		pct := 0
		if total > 0 {
			pct = int(done * 100 / total)
		}
		fmt.Fprintf(w, "\r[%-40s] %3d%% %d rows", strings.Repeat("#", pct*40/100), pct, rows)
	}
}
