package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		ms, err := store.Migrations(db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || n == 0 {
			t.Fatalf("%d migrations recorded, %d embedded", n, len(ms))
		}
	})
}

func TestTxCommitsOrRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		insert := func(tx *sql.Tx, kind string) error {
			_, err := tx.Exec(`INSERT INTO jobs (kind, payload, run_at, max_attempts, created_at) VALUES ($1, '{}', 0, 1, 0)`, kind)
			return err
		}
		boom := errors.New("boom")
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			if err := insert(tx, "rolled-back"); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("Tx returned %v", err)
		}
		if err := db.Tx(ctx, func(tx *sql.Tx) error { return insert(tx, "kept") }); err != nil {
			t.Fatal(err)
		}
		kinds, err := jobKinds(db)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(kinds, ",") != "kept" {
			t.Fatalf("jobs after rollback and commit: %v", kinds)
		}
	})
}

func TestOpenRefusesUnknownDatabases(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"mysql://x", "sqlite:", "", "postgres://nobody:secret@127.0.0.1:1/x"} {
		_, err := store.Open(context.Background(), dsn)
		if err == nil {
			t.Errorf("%q opened", dsn)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// jobKinds lists the kinds of the jobs table's rows in the order they were
// made; a helper of its own so that its rows are closed on every return.
func jobKinds(db *store.DB) ([]string, error) {
	rows, err := db.Query(`SELECT kind FROM jobs ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var kinds []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		kinds = append(kinds, k)
	}
	return kinds, rows.Err()
}

// TestMerchantWalletsMigration moves what merchants' payments on each
// wallet are made under out of per-wallet columns (migration 10) without
// losing a merchant's.
func TestMerchantWalletsMigration(t *testing.T) {
	eachOldDatabase(t, 9, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(`INSERT INTO merchants (id, name, wechat_sub_mchid, alipay_app_auth_token, alipay_seller_id, created_at) VALUES
				('m_both', '两个钱包', '1900000109', 'tok_both', '2088000000000001', 0),
				('m_wechat', '微信', '1900000110', '', '', 0),
				('m_none', '平台收款', '', '', '', 0)`); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		rows, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (string, error) {
			var m, ch, sub, seller string
			err := rows.Scan(&m, &ch, &sub, &seller)
			return m + " " + ch + " " + sub + " " + seller, err
		}, `SELECT merchant_id, channel, sub_merchant, seller FROM merchant_wallets ORDER BY merchant_id, channel`)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"m_both alipay tok_both 2088000000000001", "m_both wechatpay 1900000109 ", "m_wechat wechatpay 1900000110 "}
		if strings.Join(rows, "|") != strings.Join(want, "|") {
			t.Fatalf("merchant_wallets after the migration:\n%q\nwant\n%q", rows, want)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM merchants`).Scan(&n); err != nil || n != 3 {
			t.Fatalf("%d merchants after the migration (%v), want 3", n, err)
		}
	})
}

// TestPaymentColumnsMigration fills the columns migration 11 adds to
// payments and refunds from the JSON of rows written before it.
func TestPaymentColumnsMigration(t *testing.T) {
	eachOldDatabase(t, 10, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		paid := `{"id":"pay_1","channel":"wechatpay","paid_method":"wechatpay.native","buyer":{"id":"b1","region_code":"341322","platform":"h5"},` +
			`"payer":{"is_buyer":true,"wallet_payer":"o_openid"},"share_code":"sc_1","paid_at":"2024-09-05T10:11:12.345Z","released_at":"2024-09-15T10:11:12.5Z"}`
		refund := `{"id":"re_1","kind":"refund_only","updated":"2024-09-06T00:00:01Z","succeeded_at":"2024-09-06T00:00:00.25Z"}`
		for _, q := range []string{
			`INSERT INTO merchants (id, name, created_at) VALUES ('m1', 'shop', 0)`,
			`INSERT INTO payments (id, merchant_id, merchant_order_id, status, method, amount, created_at, updated_at, data) VALUES
					('pay_1', 'm1', 'o1', 'succeeded', 'cashier', 100, 1, 1, '` + paid + `'),
					('pay_2', 'm1', 'o2', 'requires_action', 'alipay.precreate', 100, 2, 2, '{"id":"pay_2","channel":"alipay","buyer":{"id":"b2"}}')`,
			`INSERT INTO refunds (id, payment_id, merchant_id, status, amount, created_at, data) VALUES ('re_1', 'pay_1', 'm1', 'succeeded', 10, 7, '` + refund + `')`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (string, error) {
			var id, ch, method, buyer, region, platform, payer, share string
			var paidAt, releasedAt int64
			err := rows.Scan(&id, &ch, &method, &buyer, &region, &platform, &payer, &share, &paidAt, &releasedAt)
			return fmt.Sprint(id, ch, method, buyer, region, platform, payer, share, paidAt, releasedAt), err
		}, `SELECT id, channel, paid_method, buyer_id, region_code, platform, payer_wallet, share_code, paid_at, released_at FROM payments ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		// Times with whole milliseconds: SQLite reads no finer.
		want := []string{
			fmt.Sprint("pay_1", "wechatpay", "wechatpay.native", "b1", "341322", "h5", "o_openid", "sc_1", int64(1725531072345000), int64(1726395072500000)),
			fmt.Sprint("pay_2", "alipay", "", "b2", "", "", "", "", 0, 0),
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("payments after the migration:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var kind string
		var updated, succeeded int64
		if err := db.QueryRow(`SELECT kind, updated_at, succeeded_at FROM refunds WHERE id = 're_1'`).Scan(&kind, &updated, &succeeded); err != nil {
			t.Fatal(err)
		}
		if kind != "refund_only" || updated != 1725580801000000 || succeeded != 1725580800250000 {
			t.Fatalf("refund after the migration: %s %d %d", kind, updated, succeeded)
		}
	})
}

// TestAttemptColumnsMigration fills migration 12's columns of wallet orders
// from their JSON, or from their payment for orders stored before they
// carried their own.
func TestAttemptColumnsMigration(t *testing.T) {
	eachOldDatabase(t, 11, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, q := range []string{
			`INSERT INTO merchants (id, name, created_at) VALUES ('m1', 'shop', 0)`,
			`INSERT INTO payments (id, merchant_id, merchant_order_id, status, method, amount, created_at, updated_at, data, channel) VALUES
					('pay_old', 'm1', 'o1', 'succeeded', 'alipay.precreate', 100, 1, 1, '{}', 'alipay'),
					('pay_new', 'm1', 'o2', 'requires_action', 'cashier', 100, 2, 2, '{}', '')`,
			`INSERT INTO payment_attempts (id, payment_id, status, created_at, data) VALUES
					('pay_old', 'pay_old', 'succeeded', 5, '{}'),
					('att_1', 'pay_new', 'pending', 6, '{"channel":"wechatpay","method":"wechatpay.h5","updated":"2024-09-05T10:11:12.5Z"}')`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (string, error) {
			var id, ch, method string
			var updated int64
			err := rows.Scan(&id, &ch, &method, &updated)
			return fmt.Sprint(id, " ", ch, " ", method, " ", updated), err
		}, `SELECT id, channel, method, updated_at FROM payment_attempts ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		want := "[att_1 wechatpay wechatpay.h5 1725531072500000 pay_old alipay alipay.precreate 5]"
		if fmt.Sprint(got) != want {
			t.Fatalf("wallet orders after the migration:\n%v\nwant\n%s", got, want)
		}
	})
}

// eachOldDatabase runs fn on a SQLite file and a PostgreSQL schema each
// migrated up to version last only, for a test of a later migration's
// handling of the rows fn writes before migrating the rest.
func eachOldDatabase(t *testing.T, last int, fn func(t *testing.T, db *store.DB)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := "sqlite:" + filepath.Join(t.TempDir(), "old.db")
			if name == "postgres" {
				dsn = storetest.PostgresDSN(t)
			}
			db, err := store.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.MigrateTo(ctx, last); err != nil {
				t.Fatal(err)
			}
			fn(t, db)
		})
	}
}

// TestSQLiteKeepsSavepointJournalsInMemory: every connection of the pool
// has temp_store=MEMORY, so group commit's savepoints never spill their
// journal to a temporary file.
func TestSQLiteKeepsSavepointJournalsInMemory(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		var mode int
		if err := c.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&mode); err != nil || mode != 2 {
			t.Fatalf("connection %d: temp_store = %d, %v; want 2 (MEMORY)", i, mode, err)
		}
	}
}
