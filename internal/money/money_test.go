package money_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// paid makes a WeChat Native payment of amount and has the sandbox pay it.
func paid(t *testing.T, e *gatewaytest.Env, svc *gateway.Service, merchant int, order string, amount int64) payment.Payment {
	t.Helper()
	ctx := context.Background()
	p, err := svc.CreatePayment(ctx, e.Merchants[merchant], payment.Request{MerchantOrderID: order, Amount: amount, Currency: "CNY",
		Description: "property", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-" + order}})
	if err != nil {
		t.Fatal(err)
	}
	if st := e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": p.NextAction.QRCode}, nil); st != http.StatusOK {
		t.Fatalf("sandbox pay: %d", st)
	}
	e.Eventually("paid "+order, func() bool {
		got, _ := svc.GetPayment(ctx, e.Merchants[merchant].ID, p.ID)
		return got.Status == payment.StatusSucceeded
	})
	got, _ := svc.GetPayment(ctx, e.Merchants[merchant].ID, p.ID)
	return got
}

// settled waits until no refund of the merchant is pending at the wallet.
func settled(t *testing.T, e *gatewaytest.Env, db *store.DB) {
	t.Helper()
	e.Eventually("refunds settled", func() bool {
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM refunds WHERE status = 'pending'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

// checkBooks holds the ledger's invariants: every entry sums to zero, the
// cached balances equal the lines, no escrow or payable is negative, every
// payment's refunds stay within what was paid, and what the wallets hold
// equals what was paid less fees and refunds.
func checkBooks(t *testing.T, svc *gateway.Service, db *store.DB, step string) {
	t.Helper()
	ctx := context.Background()
	problems, err := svc.MoneyService().VerifyLedger(ctx)
	if err != nil || len(problems) > 0 {
		t.Fatalf("after %s: %v %v", step, problems, err)
	}
	bals, _ := svc.MoneyService().Balances(ctx, "")
	var sum int64
	for _, b := range bals {
		sum += b.Balance * ledger.Normal(b.Account)
		switch {
		case (len(b.Account) > 7 && b.Account[:7] == "escrow:") || (len(b.Account) > 8 && b.Account[:8] == "payable:"):
			if b.Balance < 0 {
				t.Fatalf("after %s: %s is %d", step, b.Account, b.Balance)
			}
		}
	}
	if sum != 0 {
		t.Fatalf("after %s: balances sum to %d", step, sum)
	}
	var over int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM payments p WHERE (SELECT COALESCE(SUM(amount), 0) FROM refunds r WHERE r.payment_id = p.id AND r.status <> 'failed' AND r.kind <> 'duplicate_charge') > p.amount`).Scan(&over); err != nil {
		t.Fatal(err)
	}
	if over > 0 {
		t.Fatalf("after %s: %d payments refunded beyond what was paid", step, over)
	}
	// Money at the wallet: paid − fees + fees returned − refunds done.
	var paidSum, feeSum, feeBack, refundSum int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM payments WHERE status = 'succeeded'`).Scan(&paidSum); err != nil {
		t.Fatal(err)
	}
	rows, _ := db.QueryContext(ctx, `SELECT data FROM payments WHERE status = 'succeeded'`)
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			t.Fatal(err)
		}
		var p payment.Payment
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			t.Fatal(err)
		}
		feeSum += p.Fee
		feeBack += p.FeeReturned
	}
	rows.Close()
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE status = 'succeeded'`).Scan(&refundSum); err != nil {
		t.Fatal(err)
	}
	clearing := map[string]int64{}
	for _, b := range bals {
		clearing[b.Account] = b.Balance
	}
	if got, want := clearing[ledger.Clearing("wechatpay")], paidSum-feeSum+feeBack-refundSum; got != want {
		t.Fatalf("after %s: clearing is %d, payments say %d", step, got, want)
	}
}

// TestLedgerProperties runs random sequences of payments, receipts,
// refunds of both kinds before and after release, settlements and gateway
// restarts, and checks the books after every step. The seed is logged;
// HUTONG_LEDGER_SEED replays one.
func TestLedgerProperties(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed := uint64(time.Now().UnixNano())
		if s, err := strconv.ParseUint(os.Getenv("HUTONG_LEDGER_SEED"), 10, 64); err == nil {
			seed = s
		}
		t.Logf("seed %d (HUTONG_LEDGER_SEED replays it)", seed)
		rng := rand.New(rand.NewPCG(seed, 1))
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		svc := e.Svc
		ctx := context.Background()
		var pays []payment.Payment
		for step := range 60 {
			m := rng.IntN(2)
			op := rng.IntN(10)
			var name string
			switch {
			case op < 3 || len(pays) == 0:
				amount := int64(rng.IntN(50000) + 1)
				p := paid(t, e, svc, m, fmt.Sprintf("o%d", step), amount)
				pays = append(pays, p)
				name = fmt.Sprintf("pay %d fen", amount)
			case op < 5:
				p := pays[rng.IntN(len(pays))]
				_, err := svc.MoneyService().ConfirmReceipt(ctx, p.MerchantID, p.ID)
				if err != nil && !errors.Is(err, money.ErrRefundInFlight) && !errors.Is(err, money.ErrReturnInProgress) {
					t.Fatalf("confirm: %v", err)
				}
				name = "confirm " + p.ID
			case op < 8:
				p := pays[rng.IntN(len(pays))]
				cur, _ := svc.GetPayment(ctx, p.MerchantID, p.ID)
				left := cur.Amount - cur.Refunded
				amount := int64(rng.IntN(int(max(left, 1)))) + 1
				kind := []string{payment.RefundOnly, payment.RefundWithReturn}[rng.IntN(2)]
				r, err := svc.CreateRefund(ctx, p.MerchantID, p.ID, amount, "property", kind)
				switch {
				case err == nil && kind == payment.RefundWithReturn && rng.IntN(3) > 0:
					if _, err := svc.ReturnReceived(ctx, p.MerchantID, r.ID); err != nil && !errors.Is(err, money.ErrPayableShort) {
						t.Fatalf("return received: %v", err)
					}
				case err == nil, errors.Is(err, payment.ErrRefundExceeds), errors.Is(err, money.ErrPayableShort):
				default:
					t.Fatalf("refund: %v", err)
				}
				settled(t, e, db)
				name = fmt.Sprintf("%s %d of %s: %v", kind, amount, p.ID, err)
			case op < 9:
				if _, err := svc.MoneyService().Settle(ctx, fmt.Sprintf("2024-09-%02d", step%28+1)); err != nil {
					t.Fatalf("settle: %v", err)
				}
				name = "settle"
			default:
				// A restart: a new process on the same database, with
				// nothing in memory.
				svc = &gateway.Service{DB: db, Accounts: svc.Accounts, BaseURL: svc.BaseURL}
				name = "restart"
			}
			checkBooks(t, svc, db, fmt.Sprintf("step %d (%s)", step, name))
		}
	})
}

// TestConcurrentRefunds: many refunds of one payment at once, on both
// stores, never claim more than was paid; the ledger agrees.
func TestConcurrentRefunds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		svc := e.Svc
		p := paid(t, e, svc, 0, "concurrent", 1000)
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok int64
		for range 12 {
			wg.Go(func() {
				if r, err := svc.CreateRefund(ctx, p.MerchantID, p.ID, 300, "race", payment.RefundOnly); err == nil {
					mu.Lock()
					ok += r.Amount
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ok != 900 {
			t.Fatalf("refunds accepted for %d fen of 1000 (want 3 × 300)", ok)
		}
		settled(t, e, db)
		checkBooks(t, svc, db, "concurrent refunds")
	})
}

// TestAutoConfirmAndStatement: escrow is released by itself when the
// auto-confirm time passes; the merchant's statement adds up; a
// settlement pays the payable out once a day; a refund after payout is
// refused where the payable would go negative, and allowed by policy.
func TestAutoConfirmAndStatement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{AutoConfirm: time.Second})
		svc, ctx := e.Svc, context.Background()
		start := time.Now().Add(-time.Minute)
		p := paid(t, e, svc, 0, "auto", 10000)
		e.Eventually("released by the auto-confirm job", func() bool {
			got, _ := svc.GetPayment(ctx, p.MerchantID, p.ID)
			return !got.ReleasedAt.IsZero()
		})
		got, _ := svc.GetPayment(ctx, p.MerchantID, p.ID)
		// 10000 − 5.00% commission (500) − 0.60% fee (60).
		if got.Commission != 500 || got.Fee != 60 {
			t.Fatalf("released payment: commission %d fee %d", got.Commission, got.Fee)
		}
		bal := func() map[string]int64 {
			list, _ := svc.MoneyService().Balances(ctx, p.MerchantID)
			out := map[string]int64{}
			for _, b := range list {
				out[b.Account] = b.Balance
			}
			return out
		}
		if b := bal(); b[ledger.Payable(p.MerchantID)] != 9440 || b[ledger.Escrow(p.MerchantID)] != 0 {
			t.Fatalf("balances %v", b)
		}
		batches, err := svc.MoneyService().Settle(ctx, "2024-09-05")
		if err != nil || len(batches) != 1 || batches[0].Amount != 9440 {
			t.Fatalf("settle: %+v %v", batches, err)
		}
		if again, _ := svc.MoneyService().Settle(ctx, "2024-09-05"); len(again) != 0 {
			t.Fatalf("settled twice in a day: %+v", again)
		}
		st, err := svc.MoneyService().MerchantStatement(ctx, p.MerchantID, start, time.Now().Add(time.Minute))
		if err != nil || st.Opening != 0 || st.Closing != 0 || st.Credits != 9440 || st.Debits != 9440 || len(st.Movements) != 2 {
			t.Fatalf("statement %+v %v", st, err)
		}
		// Nothing left to bear a refund: refused, nothing changes.
		if _, err := svc.CreateRefund(ctx, p.MerchantID, p.ID, 1000, "late", payment.RefundOnly); !errors.Is(err, money.ErrPayableShort) {
			t.Fatalf("a refund beyond the payable: %v", err)
		}
		checkBooks(t, svc, db, "refused refund")
		// With the policy, the payable goes negative (the merchant owes).
		if _, err := db.ExecContext(ctx, `UPDATE merchants SET allow_negative_payable = 1 WHERE id = $1`, p.MerchantID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateRefund(ctx, p.MerchantID, p.ID, 1000, "late", payment.RefundOnly); err != nil {
			t.Fatalf("a refund allowed by policy: %v", err)
		}
		settled(t, e, db)
		if b := bal(); b[ledger.Payable(p.MerchantID)] != -1000+6 {
			t.Fatalf("payable after the refund: %v (the wallet returns its 6 fen of fee)", b)
		}
	})
}
