package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestLedgerBalanceSlots: postings for 100 merchants spread each platform
// account's cached balance over its slots, and every way of reading a
// balance sums them to the balance rebuilt from the journal's lines, on
// both backends. A merchant's own accounts keep one row.
func TestLedgerBalanceSlots(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		var entries []ledger.Entry
		for i := range 100 {
			m := fmt.Sprintf("m%03d", i)
			ch := []string{"wechatpay", "alipay"}[i%2]
			pay := fmt.Sprintf("pay_%d", i)
			amount := int64(1000 + 37*i)
			fee := ledger.Rate(60).Of(amount)
			entries = append(entries,
				ledger.Paid(m, ch, pay, amount, fee, at),
				ledger.RefundRequested(m, pay, "re_"+pay, 100, false, at),
				ledger.RefundDone(m, ch, pay, "re_"+pay, 100, 1, false, at),
				ledger.Released(m, ch, pay, amount-100, ledger.Rate(500).Of(amount-100), fee-1, at),
				ledger.Duplicate(m, ch, pay, 50, at))
		}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			in := db.In(tx)
			for i, e := range entries {
				e.ID = fmt.Sprintf("le_%04d", i)
				if err := in.LedgerEntryInsert(ctx, e); err != nil {
					return err
				}
				deltas := map[string]int64{}
				for _, l := range e.Lines {
					deltas[l.Account] += l.Amount
				}
				var adds []store.LedgerBalanceAddParams
				for _, a := range slices.Sorted(maps.Keys(deltas)) {
					adds = append(adds, store.LedgerBalanceAddParams{Account: a, Delta: deltas[a], Merchant: e.MerchantID})
				}
				raw, err := in.LedgerBalancesAdd(ctx, adds...)
				if err != nil {
					return err
				}
				for a := range raw {
					if ledger.Platform(a) {
						t.Errorf("LedgerBalancesAdd returned platform account %s's slot as its balance", a)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := ledger.Balances(entries)

		// The platform's accounts are split: clearing:wechatpay alone has
		// 50 merchants' postings, spread over most of the slots.
		var rows int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_balances WHERE account = $1`, ledger.Clearing("wechatpay")).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows < 20 {
			t.Errorf("clearing:wechatpay's balance is in %d rows, want 50 merchants spread over more than 20 of %d slots", rows, store.BalanceSlots)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_balances WHERE account = $1`, ledger.Escrow("m007")).Scan(&rows); err != nil || rows != 1 {
			t.Errorf("escrow:m007's balance is in %d rows, %v; want 1", rows, err)
		}

		pool := db.Pool()
		all, err := pool.LedgerBalances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, b := range all {
			got[b.Account] = b.Raw * ledger.Normal(b.Account)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LedgerBalances, in the accounts' own terms:\n%v\nwant the lines' sums\n%v", got, want)
		}
		some, err := pool.LedgerBalances(ctx, ledger.Fees("alipay"), ledger.Commission, ledger.Payable("m042"))
		if err != nil || len(some) != 3 {
			t.Fatalf("LedgerBalances(three accounts) = %v, %v", some, err)
		}
		for _, b := range some {
			if b.Raw*ledger.Normal(b.Account) != want[b.Account] {
				t.Errorf("LedgerBalances(%s) = %d, want %d", b.Account, b.Raw*ledger.Normal(b.Account), want[b.Account])
			}
		}
		err = db.Tx(ctx, func(tx *sql.Tx) error {
			for _, a := range []string{ledger.Clearing("wechatpay"), ledger.Duplicates("alipay"), ledger.Commission, ledger.Payable("m042")} {
				raw, err := db.In(tx).LedgerBalanceGet(ctx, store.LedgerBalanceGetParams{Account: a, Lock: true})
				if err != nil {
					return err
				}
				if raw*ledger.Normal(a) != want[a] {
					t.Errorf("LedgerBalanceGet(%s) = %d, want %d", a, raw*ledger.Normal(a), want[a])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.LedgerBalanceGet(ctx, store.LedgerBalanceGetParams{Account: ledger.Clearing("nowhere")}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("a platform account never posted: %v, want ErrNoRows", err)
		}
		checks, err := pool.LedgerBalanceChecks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(checks) != len(want) {
			t.Errorf("LedgerBalanceChecks lists %d accounts, want one row for each of %d", len(checks), len(want))
		}
		for _, c := range checks {
			if c.Cached != c.Rebuilt {
				t.Errorf("%s: cached %d, lines %d", c.Account, c.Cached, c.Rebuilt)
			}
		}
	})
}

// TestLedgerBalanceSlotsMigration: the balances cached before platform
// accounts were split read the same after, each in its account's slot 0,
// and postings then add to them.
func TestLedgerBalanceSlotsMigration(t *testing.T) {
	eachOldDatabase(t, 21, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `INSERT INTO ledger_balances (account, balance) VALUES ('clearing:wechatpay', 9940), ('fees:wechatpay', 60), ('escrow:m1', -10000)`); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		raw, err := db.Pool().LedgerBalancesAdd(ctx,
			store.LedgerBalanceAddParams{Account: "clearing:wechatpay", Delta: 1, Merchant: "m1"},
			store.LedgerBalanceAddParams{Account: "escrow:m1", Delta: -1, Merchant: "m1"})
		if want := map[string]int64{"escrow:m1": -10001}; err != nil || !reflect.DeepEqual(raw, want) {
			t.Errorf("LedgerBalancesAdd after the migration = %v, %v; want %v", raw, err, want)
		}
		all, err := db.Pool().LedgerBalances(ctx)
		want := []store.LedgerBalance{{Account: "clearing:wechatpay", Raw: 9941}, {Account: "escrow:m1", Raw: -10001}, {Account: "fees:wechatpay", Raw: 60}}
		if err != nil || !reflect.DeepEqual(all, want) {
			t.Errorf("balances after the migration = %+v, %v; want %+v", all, err, want)
		}
	})
}
