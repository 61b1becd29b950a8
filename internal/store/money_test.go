package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestLedgerMethods: the journal's and the cached balances' methods on
// both backends, in the pool and in a transaction.
func TestLedgerMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		day := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		paid := ledger.Paid("m1", "wechatpay", "pay_1", 10000, 60, day)
		paid.ID = "le_1"
		out := ledger.PaidOut("m1", 500, "stl_1", day.Add(time.Hour))
		out.ID = "le_2"
		other := ledger.Paid("m2", "alipay", "pay_2", 300, 2, day.Add(2*time.Hour))
		other.ID = "le_3"
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			in := db.In(tx)
			for _, e := range []ledger.Entry{paid, out, other} {
				if err := in.LedgerEntryInsert(ctx, e); err != nil {
					return err
				}
				for _, l := range e.Lines {
					if _, err := in.LedgerBalancesAdd(ctx, store.LedgerBalanceAddParams{Account: l.Account, Delta: l.Amount}); err != nil {
						return err
					}
				}
			}
			// A transaction reads its own writes, and may lock them.
			raw, err := in.LedgerBalanceGet(ctx, store.LedgerBalanceGetParams{Account: ledger.Escrow("m1"), Lock: true})
			if err != nil || raw*ledger.Normal(ledger.Escrow("m1")) != 10000 {
				t.Errorf("escrow in the transaction = %d, %v; want 10000", raw, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		pool := db.Pool()
		if err := pool.LedgerEntryInsert(ctx, paid); !store.IsUniqueViolation(err) {
			t.Errorf("an entry id twice: %v, want a unique violation", err)
		}
		if _, err := pool.LedgerBalanceGet(ctx, store.LedgerBalanceGetParams{Account: "payable:nobody"}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("an account never posted: %v, want ErrNoRows", err)
		}
		raw, err := pool.LedgerBalancesAdd(ctx, store.LedgerBalanceAddParams{Account: ledger.Escrow("m1"), Delta: -100},
			store.LedgerBalanceAddParams{Account: "payable:m9", Delta: 42})
		if want := map[string]int64{ledger.Escrow("m1"): -10000 - 100, "payable:m9": 42}; err != nil || !reflect.DeepEqual(raw, want) {
			t.Errorf("LedgerBalancesAdd = %v, %v; want %v", raw, err, want)
		}
		if _, err := pool.LedgerBalancesAdd(ctx, store.LedgerBalanceAddParams{Account: "payable:m9", Delta: 1},
			store.LedgerBalanceAddParams{Account: "payable:m9", Delta: 1}); err == nil {
			t.Error("LedgerBalancesAdd naming an account twice: no error")
		}

		all, err := pool.LedgerBalances(ctx)
		if err != nil || len(all) == 0 {
			t.Fatalf("LedgerBalances() = %v, %v", all, err)
		}
		for i := 1; i < len(all); i++ {
			if all[i-1].Account >= all[i].Account {
				t.Errorf("balances out of account order: %s before %s", all[i-1].Account, all[i].Account)
			}
		}
		some, err := pool.LedgerBalances(ctx, ledger.Escrow("m2"), "payable:nobody")
		if want := []store.LedgerBalance{{Account: ledger.Escrow("m2"), Raw: -300}}; err != nil || !reflect.DeepEqual(some, want) {
			t.Errorf("LedgerBalances(escrow:m2, payable:nobody) = %+v, %v; want %+v", some, err, want)
		}

		// The -100 and 42 above went to the cache without a line: the check
		// sees them.
		checks, err := pool.LedgerBalanceChecks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var off []string
		for _, c := range checks {
			if c.Cached != c.Rebuilt {
				off = append(off, c.Account)
			}
		}
		slices.Sort(off)
		if want := []string{ledger.Escrow("m1"), "payable:m9"}; !reflect.DeepEqual(off, want) {
			t.Errorf("accounts whose cache differs from the lines: %v, want %v", off, want)
		}
		if u, err := pool.LedgerUnbalancedEntries(ctx); err != nil || len(u) != 0 {
			t.Errorf("LedgerUnbalancedEntries = %v, %v; want none", u, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO ledger_lines (entry_id, line, account, amount) VALUES ('le_3', 9, 'x', 7)`); err != nil {
			t.Fatal(err)
		}
		if u, err := pool.LedgerUnbalancedEntries(ctx); err != nil || !reflect.DeepEqual(u, []store.LedgerUnbalanced{{EntryID: "le_3", Sum: 7}}) {
			t.Errorf("LedgerUnbalancedEntries = %v, %v; want le_3 by 7", u, err)
		}

		entries, err := pool.LedgerEntries(ctx, store.LedgerEntriesParams{MerchantID: "m1", Limit: 10})
		if err != nil || len(entries) != 2 || entries[0].ID != "le_1" || entries[1].ID != "le_2" {
			t.Fatalf("LedgerEntries(m1) = %+v, %v", entries, err)
		}
		if !reflect.DeepEqual(entries[0].Lines, paid.Lines) || !entries[0].At.Equal(paid.At) || entries[0].Kind != paid.Kind || entries[0].PaymentID != "pay_1" {
			t.Errorf("entry read back %+v, want %+v", entries[0], paid)
		}
		page, err := pool.LedgerEntries(ctx, store.LedgerEntriesParams{MerchantID: "m1", After: "le_1", Limit: 10})
		if err != nil || len(page) != 1 || page[0].ID != "le_2" {
			t.Errorf("LedgerEntries after le_1 = %+v, %v", page, err)
		}
		byAccount, err := pool.LedgerEntries(ctx, store.LedgerEntriesParams{Account: ledger.Payouts("m1"), Kind: out.Kind, Limit: 10})
		if err != nil || len(byAccount) != 1 || byAccount[0].ID != "le_2" {
			t.Errorf("LedgerEntries of payouts:m1 = %+v, %v", byAccount, err)
		}
		if _, err := pool.LedgerEntries(ctx, store.LedgerEntriesParams{MerchantID: "m2", After: "le_1", Limit: 10}); !errors.Is(err, notfound.Err) {
			t.Errorf("a cursor of another merchant's entry: %v, want not found", err)
		}

		payable := ledger.Payable("m1")
		if _, err := db.ExecContext(ctx, `INSERT INTO ledger_entries (id, kind, merchant_id, payment_id, refund_id, memo, at) VALUES ('le_0', 'test', 'm1', '', '', 'before', $1)`, store.Micros(day.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO ledger_lines (entry_id, line, account, amount) VALUES ('le_0', 0, $1, -40)`, payable); err != nil {
			t.Fatal(err)
		}
		if sum, err := pool.LedgerAccountSum(ctx, store.LedgerAccountSumParams{Account: payable, Before: day}); err != nil || sum != -40 {
			t.Errorf("LedgerAccountSum = %d, %v; want -40", sum, err)
		}
		lines, err := pool.LedgerAccountLines(ctx, store.LedgerAccountLinesParams{Account: ledger.Payouts("m1"), From: day, To: day.Add(24 * time.Hour)})
		if err != nil || len(lines) != 1 || lines[0].EntryID != "le_2" || lines[0].Memo != "stl_1" || !lines[0].At.Equal(out.At) {
			t.Errorf("LedgerAccountLines = %+v, %v", lines, err)
		}
		if lines, err := pool.LedgerAccountLines(ctx, store.LedgerAccountLinesParams{Account: payable, From: day, To: day}); err != nil || len(lines) != 0 {
			t.Errorf("LedgerAccountLines of an empty period = %+v, %v", lines, err)
		}
	})
}

// moneyFixture stores two merchants, a sub-merchant's succeeded and
// released WeChat Pay payment with an attempt and refunds, and an open
// Alipay payment, as the gateway stores them.
type moneyFixture struct {
	day               time.Time
	released, open    payment.Payment
	attempt           payment.Attempt
	refund, duplicate payment.Refund
}

func newMoneyFixture(t *testing.T, db *store.DB) moneyFixture {
	t.Helper()
	ctx := context.Background()
	day := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
	f := moneyFixture{day: day}
	for _, m := range []merchant.Merchant{
		{ID: "m_sub", Name: "特约", Wallets: map[string]merchant.Wallet{"wechatpay": {SubMerchant: "1900000109"}, "alipay": {SubMerchant: "token"}}},
		{ID: "m_own", Name: "自有"},
	} {
		if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: m, CreatedAt: day}); err != nil {
			t.Fatal(err)
		}
	}
	f.released = payment.Payment{ID: "pay_rel", MerchantID: "m_sub", MerchantOrderID: "o1", Status: payment.StatusSucceeded, Method: "wechatpay.native", Channel: "wechatpay",
		Amount: 10000, Refunded: 1000, CreatedAt: day, PaidAt: day.Add(time.Minute), ReleasedAt: day.Add(time.Hour), WalletTradeNo: "4200"}
	f.open = payment.Payment{ID: "pay_open", MerchantID: "m_own", MerchantOrderID: "o2", Status: payment.StatusRequiresAction, Method: "alipay.precreate", Channel: "alipay",
		Amount: 500, CreatedAt: day, ExpiresAt: day.Add(time.Hour)}
	for _, p := range []payment.Payment{f.released, f.open} {
		if err := db.Pool().PaymentInsert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Never changed since created: last changed then, as it reads back.
	f.attempt = payment.Attempt{ID: "pay_rel", PaymentID: "pay_rel", Method: "wechatpay.native", Channel: "wechatpay", Status: payment.AttemptSucceeded, CreatedAt: day, UpdatedAt: day}
	if err := db.Pool().AttemptInsert(ctx, f.attempt); err != nil {
		t.Fatal(err)
	}
	f.refund = payment.Refund{ID: "rf_1", PaymentID: "pay_rel", Amount: 1000, Status: payment.RefundSucceeded, CreatedAt: day.Add(2 * time.Hour), SucceededAt: day.Add(3 * time.Hour)}
	f.duplicate = payment.Refund{ID: "rf_dup", PaymentID: "pay_rel", Amount: 10000, Status: payment.RefundPending, Kind: payment.RefundDuplicateCharge, CreatedAt: day}
	pending := payment.Refund{ID: "rf_2", PaymentID: "pay_rel", Amount: 200, Status: payment.RefundPending, CreatedAt: day.Add(time.Minute)}
	for _, r := range []payment.Refund{f.refund, f.duplicate, pending} {
		if err := db.Pool().RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: "m_sub", Insert: true}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestSettlementMethods: settlement batches and the reads of settlement
// and escrow release, on both backends.
func TestSettlementMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newMoneyFixture(t, db)
		pool := db.Pool()
		batch := store.SettlementInsertParams{ID: "stl_1", MerchantID: "m_sub", Day: "2024-09-05", Amount: 700, CreatedAt: f.day}
		if ok, err := pool.SettlementInsert(ctx, batch); err != nil || !ok {
			t.Fatalf("SettlementInsert = %v, %v; want stored", ok, err)
		}
		batch.ID = "stl_2"
		if ok, err := pool.SettlementInsert(ctx, batch); err != nil || ok {
			t.Errorf("a second batch of the day = %v, %v; want skipped", ok, err)
		}
		if chs, err := pool.MerchantSubChannels(ctx, "m_sub"); err != nil || !reflect.DeepEqual(chs, []string{"alipay", "wechatpay"}) {
			t.Errorf("MerchantSubChannels = %v, %v", chs, err)
		}
		if chs, err := pool.MerchantSubChannels(ctx, "m_own"); err != nil || len(chs) != 0 {
			t.Errorf("MerchantSubChannels of a merchant of its own = %v, %v", chs, err)
		}
		if auth, err := pool.MerchantAuthorizations(ctx, "alipay"); err != nil || !reflect.DeepEqual(auth, []store.MerchantAuthorization{{MerchantID: "m_sub", SubMerchant: "token"}}) {
			t.Errorf("MerchantAuthorizations = %+v, %v", auth, err)
		}
		cands, err := pool.PaymentProfitShareCandidates(ctx, "wechatpay")
		if err != nil || len(cands) != 1 || cands[0].SubMerchant != "1900000109" || cands[0].Payment.ID != "pay_rel" || cands[0].Payment.Refunded != 1000 {
			t.Errorf("PaymentProfitShareCandidates = %+v, %v", cands, err)
		}
		if ps, err := pool.PaymentsSucceeded(ctx, "m_sub"); err != nil || len(ps) != 1 || !ps[0].ReleasedAt.Equal(f.released.ReleasedAt) {
			t.Errorf("PaymentsSucceeded = %+v, %v", ps, err)
		}
		err = db.Tx(ctx, func(tx *sql.Tx) error {
			// The duplicate charge's refund is older, but not the merchant's.
			id, err := db.In(tx).RefundFirst(ctx, store.RefundFirstParams{PaymentID: "pay_rel", Status: payment.RefundPending})
			if err != nil || id != "rf_2" {
				t.Errorf("RefundFirst(pending) = %q, %v; want rf_2", id, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.RefundFirst(ctx, store.RefundFirstParams{PaymentID: "pay_rel", Status: payment.RefundAwaitingReturn}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("RefundFirst of a status no refund has: %v, want ErrNoRows", err)
		}
	})
}

// TestReconcileMethods: reconciliation runs and items, the books' side of
// a bill, and the overdue reads, on both backends.
func TestReconcileMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newMoneyFixture(t, db)
		pool := db.Pool()
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			in := db.In(tx)
			for i, id := range []string{"rcn_1", "rcn_2"} {
				if err := in.ReconRunInsert(ctx, store.ReconRunInsertParams{ID: id, Channel: "wechatpay", Day: "2024-09-05", Status: "done",
					CreatedAt: f.day.Add(time.Duration(i) * time.Minute), Data: json.RawMessage(`{"id":"` + id + `"}`)}); err != nil {
					return err
				}
			}
			for i, d := range []string{`{"key":"a"}`, `{"key":"b"}`} {
				if err := in.ReconItemInsert(ctx, store.ReconItemInsertParams{RunID: "rcn_1", Seq: i, Kind: "missing_ours", ObjectID: "k", Data: json.RawMessage(d)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if data, err := pool.ReconRunGet(ctx, "rcn_1"); err != nil || string(data) != `{"id":"rcn_1"}` {
			t.Errorf("ReconRunGet = %s, %v", data, err)
		}
		if _, err := pool.ReconRunGet(ctx, "rcn_none"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("ReconRunGet of an unknown run: %v, want ErrNoRows", err)
		}
		runs, err := pool.ReconRuns(ctx, store.ReconRunsParams{Limit: 10})
		if err != nil || len(runs) != 2 || string(runs[0]) != `{"id":"rcn_2"}` {
			t.Errorf("ReconRuns = %s, %v; want the newest first", runs, err)
		}
		if runs, err := pool.ReconRuns(ctx, store.ReconRunsParams{After: "rcn_2", Limit: 10}); err != nil || len(runs) != 1 || string(runs[0]) != `{"id":"rcn_1"}` {
			t.Errorf("ReconRuns after rcn_2 = %s, %v", runs, err)
		}
		if _, err := pool.ReconRuns(ctx, store.ReconRunsParams{After: "rcn_none", Limit: 10}); !errors.Is(err, notfound.Err) {
			t.Errorf("ReconRuns after an unknown run: %v, want not found", err)
		}
		if items, err := pool.ReconItems(ctx, "rcn_1"); err != nil || len(items) != 2 || string(items[1]) != `{"key":"b"}` {
			t.Errorf("ReconItems = %s, %v", items, err)
		}
		if items, err := pool.ReconItems(ctx, "rcn_2"); err != nil || items == nil || len(items) != 0 {
			t.Errorf("ReconItems of a run without any = %#v, %v; want empty, not nil", items, err)
		}

		orders, err := pool.BookOrders(ctx, store.BookOrdersParams{Channel: "wechatpay", OpenedFrom: f.day.Add(-time.Hour), To: f.day.Add(24 * time.Hour)})
		if err != nil || len(orders) != 1 || !reflect.DeepEqual(orders[0].Attempt, f.attempt) || orders[0].Payment.ID != "pay_rel" {
			t.Errorf("BookOrders = %+v, %v", orders, err)
		}
		if orders, err := pool.BookOrders(ctx, store.BookOrdersParams{Channel: "alipay", OpenedFrom: f.day.Add(-time.Hour), To: f.day.Add(24 * time.Hour)}); err != nil || len(orders) != 0 {
			t.Errorf("BookOrders of another channel = %+v, %v", orders, err)
		}
		refunds, err := pool.BookRefunds(ctx, store.BookRefundsParams{AskedFrom: f.day.Add(-24 * time.Hour), SettledFrom: f.day, To: f.day.Add(24 * time.Hour)})
		if err != nil || len(refunds) != 1 || refunds[0].Refund.ID != "rf_1" || refunds[0].Payment.ID != "pay_rel" {
			t.Errorf("BookRefunds = %+v, %v", refunds, err)
		}
		if refunds, err := pool.BookRefunds(ctx, store.BookRefundsParams{AskedFrom: f.day.Add(-24 * time.Hour), SettledFrom: f.day.Add(4 * time.Hour), To: f.day.Add(24 * time.Hour)}); err != nil || len(refunds) != 0 {
			t.Errorf("BookRefunds settled after the refund = %+v, %v", refunds, err)
		}

		if _, err := db.ExecContext(ctx, `INSERT INTO events (id, merchant_id, type, object_id, data, created_at) VALUES ('ev_1', 'm_sub', 'refund.overdue', 'rf_2', '{}', 0)`); err != nil {
			t.Fatal(err)
		}
		pending, err := pool.RefundsPending(ctx, store.OverdueParams{Before: f.day.Add(time.Hour), Event: "refund.overdue"})
		if err != nil || len(pending) != 2 {
			t.Fatalf("RefundsPending = %+v, %v", pending, err)
		}
		for _, x := range pending {
			if x.Alerted != (x.Refund.ID == "rf_2") || x.Payment.ID != "pay_rel" {
				t.Errorf("pending refund %s: alerted %v, payment %s", x.Refund.ID, x.Alerted, x.Payment.ID)
			}
		}
		if pending, err := pool.RefundsPending(ctx, store.OverdueParams{Before: f.day, Event: "refund.overdue"}); err != nil || len(pending) != 0 {
			t.Errorf("RefundsPending before they were asked = %+v, %v", pending, err)
		}
		open, err := pool.PaymentsOpen(ctx, store.OverdueParams{Before: f.day.Add(time.Hour), Event: "payment.overdue"})
		if err != nil || len(open) != 1 || open[0].Payment.ID != "pay_open" || open[0].Alerted {
			t.Errorf("PaymentsOpen = %+v, %v", open, err)
		}
	})
}
