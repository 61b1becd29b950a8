package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
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

// TestDataWithoutColumnsMigration: migration 13 takes out of data what
// the columns hold, having first read its times again to the microsecond
// (SQLite's migration 11 kept milliseconds); what rows carry stays, and
// the objects read as they did. Run again, it changes nothing.
func TestDataWithoutColumnsMigration(t *testing.T) {
	eachOldDatabase(t, 12, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		paid := `{"id":"pay_1","merchant_id":"m1","merchant_order_id":"o1","amount":100,"currency":"CNY","description":"豆浆","method":"cashier","channel":"wechatpay",` +
			`"buyer":{"id":"b1","name":"张三","region_code":"341322","platform":"h5"},"expires_at":"2024-09-05T10:41:12.000000999Z","metadata":{"k":"v"},"status":"succeeded",` +
			`"wallet_trade_no":"4200","paid_at":"2024-09-05T10:11:12.123456789Z","paid_method":"wechatpay.jsapi","paid_attempt":"att_1",` +
			`"payer":{"is_buyer":false,"pay_for_me":"pfm_1","wallet_payer":"o_openid"},"share_code":"sc_1","fee":6,` +
			`"released_at":"2024-09-15T18:11:12.5+08:00","amount_refunded":10,"created":"2024-09-05T10:01:12Z","updated":"2024-09-05T10:11:13Z"}`
		open := `{"id":"pay_2","currency":"CNY","buyer":{"id":"b2"},"status":"requires_action","paid_at":"0001-01-01T00:00:00Z","amount_refunded":0}`
		attempt := `{"id":"att_1","payment_id":"pay_1","method":"wechatpay.jsapi","channel":"wechatpay","status":"succeeded",` +
			`"payer":{"is_buyer":false,"pay_for_me":"pfm_1","wallet_payer":"o_openid"},"wallet_trade_no":"4200","session":"s1",` +
			`"created":"2024-09-05T10:05:00Z","updated":"2024-09-05T10:11:12.000001Z"}`
		refund := `{"id":"re_1","payment_id":"pay_1","amount":10,"reason":"坏了","kind":"refund_only","fee_back":1,"status":"succeeded",` +
			`"created":"2024-09-06T00:00:00Z","updated":"2024-09-06T00:00:01.654321Z","succeeded_at":"2024-09-06T00:00:00.250001Z"}`
		// The columns as migrations 11 and 12 left them on SQLite: to the
		// millisecond.
		for _, q := range []string{
			`INSERT INTO merchants (id, name, created_at) VALUES ('m1', 'shop', 0)`,
			`INSERT INTO payments (id, merchant_id, merchant_order_id, status, method, amount, refunded, created_at, updated_at, data,
					channel, paid_method, buyer_id, region_code, platform, payer_wallet, share_code, paid_at, released_at) VALUES
					('pay_1', 'm1', 'o1', 'succeeded', 'cashier', 100, 10, 1725530472000000, 1725531073000000, '` + paid + `',
					'wechatpay', 'wechatpay.jsapi', 'b1', '341322', 'h5', 'o_openid', 'sc_1', 1725531072123000, 1726395072500000),
					('pay_2', 'm1', 'o2', 'requires_action', 'alipay.precreate', 100, 0, 2, 2, '` + open + `',
					'alipay', '', 'b2', '', '', '', '', 0, 0)`,
			`INSERT INTO payment_attempts (id, payment_id, status, created_at, data, channel, method, updated_at) VALUES
					('att_1', 'pay_1', 'succeeded', 1725530700000000, '` + attempt + `', 'wechatpay', 'wechatpay.jsapi', 1725531072000000),
					('pay_2', 'pay_2', 'pending', 2, '{}', 'alipay', 'alipay.precreate', 2)`,
			`INSERT INTO refunds (id, payment_id, merchant_id, status, amount, created_at, data, kind, updated_at, succeeded_at) VALUES
					('re_1', 'pay_1', 'm1', 'succeeded', 10, 1725580800000000, '` + refund + `', 'refund_only', 1725580801654000, 1725580800250000)`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		check := func(when string) {
			t.Helper()
			pool := db.Pool()
			p, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: "pay_1"})
			if err != nil {
				t.Fatal(err)
			}
			want := payment.Payment{ID: "pay_1", MerchantID: "m1", MerchantOrderID: "o1", Amount: 100, Currency: "CNY", Description: "豆浆", Method: "cashier", Channel: "wechatpay",
				Buyer: payment.Buyer{ID: "b1", Name: "张三", RegionCode: "341322", Platform: "h5"}, ExpiresAt: time.Date(2024, 9, 5, 10, 41, 12, 0, time.UTC),
				Metadata: map[string]string{"k": "v"}, Status: payment.StatusSucceeded, WalletTradeNo: "4200", PaidAt: time.Date(2024, 9, 5, 10, 11, 12, 123456000, time.UTC),
				PaidMethod: "wechatpay.jsapi", PaidAttempt: "att_1", Payer: &payment.Payer{PayForMe: "pfm_1", Wallet: "o_openid"}, ShareCode: "sc_1", Fee: 6,
				ReleasedAt: time.Date(2024, 9, 15, 10, 11, 12, 500000000, time.UTC), Refunded: 10,
				CreatedAt: time.Date(2024, 9, 5, 10, 1, 12, 0, time.UTC), UpdatedAt: time.Date(2024, 9, 5, 10, 11, 13, 0, time.UTC)}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("%s, the paid payment reads\n%+v\nwant\n%+v", when, p, want)
			}
			if p, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: "pay_2"}); err != nil || !p.PaidAt.IsZero() || p.Payer != nil || p.Buyer.ID != "b2" {
				t.Errorf("%s, the open payment reads %+v, %v", when, p, err)
			}
			a, err := pool.AttemptGet(ctx, "att_1", false)
			wantA := payment.Attempt{ID: "att_1", PaymentID: "pay_1", Method: "wechatpay.jsapi", Channel: "wechatpay", Status: payment.AttemptSucceeded,
				Payer: payment.Payer{PayForMe: "pfm_1", Wallet: "o_openid"}, WalletTradeNo: "4200", Session: "s1",
				CreatedAt: time.Date(2024, 9, 5, 10, 5, 0, 0, time.UTC), UpdatedAt: time.Date(2024, 9, 5, 10, 11, 12, 1000, time.UTC)}
			if err != nil || !reflect.DeepEqual(a, wantA) {
				t.Errorf("%s, the wallet order reads %+v, %v;\nwant %+v", when, a, err, wantA)
			}
			if a, err := pool.AttemptGet(ctx, "pay_2", false); err != nil || !a.Payer.IsBuyer || a.Channel != "alipay" {
				t.Errorf("%s, the wallet order stored as {} reads %+v, %v", when, a, err)
			}
			r, _, err := pool.RefundGet(ctx, store.RefundGetParams{ID: "re_1"})
			wantR := payment.Refund{ID: "re_1", PaymentID: "pay_1", Amount: 10, Reason: "坏了", Kind: payment.RefundOnly, FeeBack: 1, Status: payment.RefundSucceeded,
				CreatedAt: time.Date(2024, 9, 6, 0, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2024, 9, 6, 0, 0, 1, 654321000, time.UTC),
				SucceededAt: time.Date(2024, 9, 6, 0, 0, 0, 250001000, time.UTC)}
			if err != nil || !reflect.DeepEqual(r, wantR) {
				t.Errorf("%s, the refund reads %+v, %v;\nwant %+v", when, r, err, wantR)
			}
			for table, want := range map[string]string{
				"payments":         "[buyer currency description fee metadata paid_attempt payer] [buyer currency]",
				"payment_attempts": "[payer session] []",
				"refunds":          "[fee_back reason]",
			} {
				keys, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (string, error) {
					var data string
					if err := rows.Scan(&data); err != nil {
						return "", err
					}
					var m map[string]json.RawMessage
					if err := json.Unmarshal([]byte(data), &m); err != nil {
						return "", err
					}
					return fmt.Sprint(slices.Sorted(maps.Keys(m))), nil
				}, `SELECT data FROM `+table+` ORDER BY id`)
				if err != nil || strings.Join(keys, " ") != want {
					t.Errorf("%s, %s' data holds %v (%v); want %s", when, table, keys, err, want)
				}
			}
			var buyer, payer string
			if err := db.QueryRow(`SELECT data FROM payments WHERE id = 'pay_1'`).Scan(&buyer); err != nil {
				t.Fatal(err)
			}
			var m struct{ Buyer, Payer map[string]any }
			if err := json.Unmarshal([]byte(buyer), &m); err != nil {
				t.Fatal(err)
			}
			buyer, payer = fmt.Sprint(m.Buyer), fmt.Sprint(m.Payer)
			if buyer != "map[name:张三]" || payer != "map[is_buyer:false pay_for_me:pfm_1]" {
				t.Errorf("%s, the paid payment's data holds buyer %s and payer %s", when, buyer, payer)
			}
		}
		check("after the migration")

		ms, err := store.Migrations(db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Version != 13 {
				continue
			}
			for stmt := range strings.SplitSeq(m.SQL, ";\n") {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("migration 13 again: %v", err)
				}
			}
		}
		check("after the migration ran again")
	})
}

// TestPaymentRolloutMigration: migration 14 gives each payment paid before
// it the cohort and tier of its buyer's latest exposure to the paid method
// at or before paid_at, and none to payments unpaid or never exposed.
func TestPaymentRolloutMigration(t *testing.T) {
	eachOldDatabase(t, 13, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		// Written as the schema of migration 13 holds them: today's
		// ExposureInsert writes columns added since.
		for _, x := range rolloutExposures(at) {
			if _, err := db.Exec(`INSERT INTO exposures (at, buyer_id, merchant_id, method, shown, rule_version, cohort, tier) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				store.Micros(x.At), x.Checkout.BuyerID, x.Checkout.MerchantID, x.Decision.Method, map[bool]int{true: 1}[x.Decision.Shown], x.Decision.Version, x.Decision.Cohort, x.Decision.Tier); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec(`INSERT INTO merchants (id, name, created_at) VALUES ('m1', 'shop', 0)`); err != nil {
			t.Fatal(err)
		}
		for i, p := range []struct {
			buyer, method string
			paidMin       int // -1: unpaid
		}{
			{"b1", "wechatpay.jsapi", 5},   // pay_0: holdout
			{"b1", "wechatpay.jsapi", 10},  // pay_1: percent, the newer rules of the instant
			{"b1", "wechatpay.jsapi", 45},  // pay_2: allow
			{"b1", "wechatpay.jsapi", -1},  // pay_3: unpaid
			{"b2", "alipay.wap", 45},       // pay_4: never shown alipay.wap
			{"", "wechatpay.jsapi", 45},    // pay_5: no buyer id
			{"b2", "wechatpay.jsapi", 45},  // pay_6: deny, city
			{"b1", "wechatpay.native", 45}, // pay_7: another method
		} {
			var paidAt int64
			var method string
			if p.paidMin >= 0 {
				paidAt, method = store.Micros(at.Add(time.Duration(p.paidMin)*time.Minute)), p.method
			}
			if _, err := db.Exec(`INSERT INTO payments (id, merchant_id, merchant_order_id, status, method, amount, created_at, updated_at, data, buyer_id, paid_method, paid_at)
					VALUES ($1, 'm1', $1, 'succeeded', 'cashier', 100, 1, 1, '{}', $2, $3, $4)`, fmt.Sprintf("pay_%d", i), p.buyer, method, paidAt); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := store.QueryAll(ctx, db, func(rows *sql.Rows) (string, error) {
			var id, cohort, tier string
			err := rows.Scan(&id, &cohort, &tier)
			return id + ":" + cohort + "/" + tier, err
		}, `SELECT id, rollout_cohort, rollout_tier FROM payments ORDER BY id`)
		want := []string{"pay_0:holdout/county", "pay_1:percent/county", "pay_2:allow/county", "pay_3:/", "pay_4:/", "pay_5:/", "pay_6:deny/city", "pay_7:/"}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("cohorts after the migration: %v, %v;\nwant %v", got, err, want)
		}
		if p, err := db.Pool().PaymentGet(ctx, store.PaymentGetParams{ID: "pay_6"}); err != nil || p.Rollout != (payment.Rollout{Cohort: "deny", Tier: "city"}) {
			t.Fatalf("pay_6 reads %+v, %v", p.Rollout, err)
		}
	})
}
