package money

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestPostKeepsBalancesNonNegative: an entry that would take an escrow
// below zero is refused, and so is one that would take a payable below
// zero unless the merchant's policy allows it; a refused entry leaves
// neither its lines nor its balances behind.
func TestPostKeepsBalancesNonNegative(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := &Service{DB: db}
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		for _, m := range []merchant.Merchant{{ID: "m_strict", Name: "严格"}, {ID: "m_lenient", Name: "宽松"}} {
			if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: m, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Pool().MerchantMoneyPolicySet(ctx, store.MerchantMoneyPolicySetParams{MerchantID: "m_lenient",
			Policy: merchant.MoneyPolicy{CommissionBPS: -1, AllowNegativePayable: true}}); err != nil {
			t.Fatal(err)
		}
		post := func(e ledger.Entry) error {
			return db.Tx(ctx, func(tx *sql.Tx) error { return s.Post(ctx, tx, e) })
		}
		// Releasing escrow never paid in.
		if err := post(ledger.Released("m_strict", "wechatpay", "pay_x", 1000, 0, 0, now)); !errors.Is(err, ErrNegativeBalance) {
			t.Errorf("a release of escrow never paid: %v, want ErrNegativeBalance", err)
		}
		// A refund after release that the payable cannot cover.
		for m, want := range map[string]error{"m_strict": ErrPayableShort, "m_lenient": nil} {
			if err := post(ledger.RefundRequested(m, "pay_"+m, "rf_"+m, 500, true, now)); !errors.Is(err, want) {
				t.Errorf("%s: a refund beyond the payable: %v, want %v", m, err, want)
			}
		}
		bals, err := s.Balances(ctx, "m_strict")
		if err != nil || len(bals) != 0 {
			t.Errorf("a refused entry left balances %+v, %v", bals, err)
		}
		entries, err := s.Entries(ctx, EntryFilter{MerchantID: "m_strict"})
		if err != nil || len(entries) != 0 {
			t.Errorf("a refused entry left entries %+v, %v", entries, err)
		}
		bals, err = s.Balances(ctx, "m_lenient")
		if err != nil || len(bals) != 2 {
			t.Fatalf("the lenient merchant's balances: %+v, %v", bals, err)
		}
		for _, b := range bals {
			if b.Account == ledger.Payable("m_lenient") && b.Balance != -500 {
				t.Errorf("the lenient merchant's payable is %d, want -500", b.Balance)
			}
		}
		if problems, err := s.VerifyLedger(ctx); err != nil || len(problems) != 0 {
			t.Errorf("VerifyLedger = %v, %v", problems, err)
		}
		if err := post(ledger.Entry{Kind: "test", Lines: []ledger.Line{{Account: "a", Amount: 1}, {Account: "b", Amount: -2}}}); !errors.Is(err, ledger.ErrUnbalanced) {
			t.Errorf("an unbalanced entry: %v, want ledger.ErrUnbalanced", err)
		}
	})
}

// TestRates: a merchant's own commission beats its category's, which
// beats the default; a merchant not found pays the default; fees are the
// channel's or the default.
func TestRates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := &Service{DB: db, FeeRates: map[string]ledger.Rate{"alipay": 55}, CommissionByCategory: map[string]ledger.Rate{"grocery": 300}}
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		for _, m := range []merchant.Merchant{{ID: "m_own", Name: "自定", Category: "grocery"}, {ID: "m_cat", Name: "类目", Category: "grocery"}, {ID: "m_def", Name: "默认", Category: "shoes"}} {
			if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: m, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		for id, bps := range map[string]int{"m_own": 120, "m_cat": -1, "m_def": -1} {
			if err := db.Pool().MerchantMoneyPolicySet(ctx, store.MerchantMoneyPolicySetParams{MerchantID: id, Policy: merchant.MoneyPolicy{CommissionBPS: bps}}); err != nil {
				t.Fatal(err)
			}
		}
		for id, want := range map[string]ledger.Rate{"m_own": 120, "m_cat": 300, "m_def": DefaultCommission, "m_nobody": DefaultCommission} {
			if got, err := s.commissionRate(ctx, db.Pool(), id); err != nil || got != want {
				t.Errorf("commission of %s = %d, %v; want %d", id, got, err, want)
			}
		}
		if got := s.FeeRate("alipay"); got != 55 {
			t.Errorf("alipay's fee = %d, want 55", got)
		}
		if got := s.FeeRate("wechatpay"); got != DefaultFeeRate {
			t.Errorf("wechatpay's fee = %d, want the default %d", got, DefaultFeeRate)
		}
	})
}
