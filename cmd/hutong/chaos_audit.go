package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/recon"
	"github.com/hutong-pay/hutong/internal/store"
)

// crashAudit holds what hutong says after a crash run to what the merchant
// was told and to what the wallets say. Each check names the ids it
// found wrong and prints the gateway's log lines and jobs about them.
type crashAudit struct {
	t           chaosT
	ctx         context.Context
	c           *client.Client
	dsn         string
	sandboxURL  string
	credentials string // the sandbox's credentials.json, as hutong serve read it
	logPath     string // every gateway's log of the run
	began       time.Time
	payments    []crashPayment
	keys        []*refundKey

	db    *store.DB
	count auditCount
}

// auditCount is what the audit saw, for the run's table.
type auditCount struct {
	perWallet                           map[string]int
	fullKeys                            int
	refunds, succeeded, failed, pending int
	answers                             int // 2xx answers to refund keys
	walletAgrees, walletDisagrees       int
	paymentsChecked, amountWrong        int
	refundedInFull                      int // payments whose refunds took all of them
	refundedFen                         int64
	ledger                              string
	walletOrders                        string
	recon                               []string
	feeRemainders                       int
}

// auditRefund is a refund row as the database holds it.
type auditRefund struct {
	id, paymentID, status, kind string
	amount                      int64
}

// merchantOfCrash is the merchant the crash run's key belongs to.
const merchantOfCrash = "m_crash"

func (a *crashAudit) run() {
	t := a.t
	a.count.perWallet = map[string]int{}
	amounts := map[string]int64{}
	for _, p := range a.payments {
		a.count.perWallet[p.wallet]++
		amounts[p.id] = p.amount
	}
	for _, k := range a.keys {
		if k.amount == amounts[k.paymentID] {
			a.count.fullKeys++
		}
	}
	db, err := store.Open(a.ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a.db = db
	creds, err := readCredentials(a.credentials)
	if err != nil {
		t.Fatal(err)
	}
	// The wallet's connectors, built as hutong serve builds them.
	accounts, err := walletAccounts(a.ctx, creds, a.sandboxURL, false)
	if err != nil {
		t.Fatal(err)
	}

	for _, p := range a.payments {
		if err := waitFor("payment "+p.id+" still succeeded", time.Minute, func() (bool, error) {
			got, err := a.c.GetPayment(a.ctx, p.id)
			return err == nil && got.Status == "succeeded", err
		}); err != nil {
			t.Error(err)
		}
	}
	// Refund jobs come back with a backoff that grows with their attempts
	// (2 s more each, up to a minute); give them a few rounds.
	var pending []string
	err = waitFor("no refund pending", 3*time.Minute, func() (bool, error) {
		var err error
		pending, err = a.refundIDs(`status = 'pending'`)
		return err == nil && len(pending) == 0, err
	})
	if err != nil {
		t.Errorf("%v: %d refunds still pending: %v", err, len(pending), pending)
		a.evidence(pending...)
	}

	refunds := a.loadRefunds()
	a.checkKeys(refunds)
	a.checkWallet(refunds, accounts)
	a.checkAmounts(refunds)
	a.checkWalletOrders()
	a.checkLedger()
	a.reconcile(accounts, refunds)
}

// checkWalletOrders holds every payment to the wallets' own list of orders
// (GET /sandbox/v1/orders): a wallet order paid is a payment succeeded
// here (else it is lost), and a payment paid by two wallet orders has the
// second refunded in full (else it is doubled).
func (a *crashAudit) checkWalletOrders() {
	t := a.t
	resp, err := http.Get(a.sandboxURL + "/sandbox/v1/orders")
	if err != nil {
		t.Fatalf("the wallets' orders: %v", err)
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct {
			Wallet     string `json:"wallet"`
			OutTradeNo string `json:"out_trade_no"`
			Paid       bool   `json:"paid"`
			Total      int64  `json:"total"`
			Refunded   int64  `json:"refunded"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("the wallets' orders: %v", err)
	}
	// A wallet order's out_trade_no is its attempt's id (a payment's
	// first attempt has the payment's).
	type ours struct {
		paymentID, status string
	}
	byOrder := map[string]ours{}
	rows, err := a.db.QueryContext(a.ctx, `SELECT a.id, p.id, p.status FROM payment_attempts a JOIN payments p ON p.id = a.payment_id
		WHERE p.merchant_id = $1`, merchantOfCrash)
	if err != nil {
		t.Fatalf("the attempts: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var o ours
		if err := rows.Scan(&id, &o.paymentID, &o.status); err != nil {
			t.Fatal(err)
		}
		byOrder[id] = o
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	paidOrders := map[string]int{} // payment → its wallet orders paid
	unrefunded := map[string]int{} // payment → of those, not refunded in full
	var paid, lost, orphans int
	for _, o := range list.Data {
		p, ok := byOrder[o.OutTradeNo]
		switch {
		case !ok && o.Paid:
			lost++
			t.Errorf("lost: %s order %s was paid at the wallet and is no payment's here", o.Wallet, o.OutTradeNo)
			continue
		case !ok:
			// A gateway killed between the wallet's prepay and its own
			// commit leaves the order to expire unpaid at the wallet;
			// the client's retry made the payment anew.
			orphans++
			continue
		case !o.Paid:
			continue
		}
		paid++
		paidOrders[p.paymentID]++
		if o.Refunded < o.Total {
			unrefunded[p.paymentID]++
		}
		if p.status != payment.StatusSucceeded {
			lost++
			t.Errorf("lost: %s order %s was paid at the wallet, but payment %s is %s here", o.Wallet, o.OutTradeNo, p.paymentID, p.status)
			a.evidence(p.paymentID, o.OutTradeNo)
		}
	}
	doubled := 0
	for id, n := range paidOrders {
		// Of a payment's paid orders, one is the payment; every other
		// must have gone back in full.
		if n > 1 && unrefunded[id] > 1 {
			doubled++
			t.Errorf("doubled: payment %s was paid by %d wallet orders and %d of them are not refunded in full", id, n, unrefunded[id])
			a.evidence(id)
		}
	}
	a.count.walletOrders = fmt.Sprintf("%d orders, %d paid (%d payments paid twice); %d lost, %d doubled; %d never paid and no payment's (a kill between prepay and commit)",
		len(list.Data), paid, paid-len(paidOrders), lost, doubled, orphans)
}

// refundIDs lists the crash merchant's refunds that meet a condition.
func (a *crashAudit) refundIDs(where string) ([]string, error) {
	rows, err := a.db.QueryContext(a.ctx, `SELECT id FROM refunds WHERE merchant_id = $1 AND `+where+` ORDER BY id`, merchantOfCrash)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (a *crashAudit) loadRefunds() map[string]auditRefund {
	rows, err := a.db.QueryContext(a.ctx, `SELECT id, payment_id, status, amount, kind FROM refunds WHERE merchant_id = $1`, merchantOfCrash)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]auditRefund{}
	for rows.Next() {
		var r auditRefund
		if err := rows.Scan(&r.id, &r.paymentID, &r.status, &r.amount, &r.kind); err != nil {
			a.t.Fatal(err)
		}
		out[r.id] = r
		a.count.refunds++
		switch r.status {
		case payment.RefundSucceeded:
			a.count.succeeded++
		case payment.RefundFailed:
			a.count.failed++
		case payment.RefundPending:
			a.count.pending++
		}
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

// checkKeys: one refund per Idempotency-Key. Each payment has as many
// refunds as keys were used for it, and every 2xx answer under a key named
// that key's one refund, of the key's payment and amount.
func (a *crashAudit) checkKeys(refunds map[string]auditRefund) {
	t := a.t
	keysOf := map[string][]*refundKey{}
	for _, k := range a.keys {
		keysOf[k.paymentID] = append(keysOf[k.paymentID], k)
	}
	refundsOf := map[string][]string{}
	for _, r := range refunds {
		if r.kind != payment.RefundDuplicateCharge {
			refundsOf[r.paymentID] = append(refundsOf[r.paymentID], r.id)
		}
	}
	named := map[string]string{} // refund id → the key whose answers named it
	for _, k := range a.keys {
		a.count.answers += len(k.ids)
		if k.refused != nil {
			t.Errorf("key %s (refund %d fen of %s) was refused: %v; answers before: %v", k.key, k.amount, k.paymentID, k.refused, k.ids)
			a.evidence(append([]string{k.paymentID}, k.ids...)...)
		}
		if len(k.ids) == 0 {
			continue
		}
		first := k.ids[0]
		if slices.ContainsFunc(k.ids, func(id string) bool { return id != first }) {
			t.Errorf("key %s: its answers named different refunds: %v", k.key, k.ids)
			a.evidence(k.ids...)
		}
		if other, ok := named[first]; ok {
			t.Errorf("refund %s was named by two keys, %s and %s", first, other, k.key)
		}
		named[first] = k.key
		r, ok := refunds[first]
		switch {
		case !ok:
			t.Errorf("key %s named refund %s, which the database does not hold", k.key, first)
		case r.paymentID != k.paymentID || r.amount != k.amount:
			t.Errorf("key %s asked %d fen of %s; its refund %s is %d fen of %s", k.key, k.amount, k.paymentID, r.id, r.amount, r.paymentID)
		}
	}
	for _, p := range a.payments {
		if got, want := len(refundsOf[p.id]), len(keysOf[p.id]); got != want {
			var unnamed []string
			for _, id := range refundsOf[p.id] {
				if _, ok := named[id]; !ok {
					unnamed = append(unnamed, id)
				}
			}
			t.Errorf("payment %s has %d refunds for %d keys; refunds no answer named: %v", p.id, got, want, unnamed)
			a.evidence(append([]string{p.id}, unnamed...)...)
		}
	}
}

// checkWallet: every refund is in the wallet's state. hutong's succeeded
// is the wallet's succeeded (same amount); nothing is left pending; a
// refund is failed only where the wallet holds it failed. No refund of
// this run asks more than is left, so no refusal without a record at the
// wallet is expected: a failed refund the wallet does not know is a
// failure told from a failed call.
func (a *crashAudit) checkWallet(refunds map[string]auditRefund, accounts map[string]gateway.Account) {
	t := a.t
	orders := map[string]payment.Payment{}
	for _, r := range refunds {
		p, ok := orders[r.paymentID]
		if !ok {
			var err error
			if p, err = a.db.Pool().PaymentGet(a.ctx, store.PaymentGetParams{ID: r.paymentID}); err != nil {
				t.Fatalf("payment %s: %v", r.paymentID, err)
			}
			orders[r.paymentID] = p
		}
		acct, ok := accounts[p.Channel]
		if !ok {
			t.Errorf("refund %s: payment %s is on %q, which the credentials do not name", r.id, p.ID, p.Channel)
			continue
		}
		var w channel.Refund
		var err error
		for range 5 { // the faults are off, but a call may still meet a closing connection
			w, err = acct.Connector.QueryRefund(a.ctx, p.WalletOrderNo(), r.id, "")
			if err == nil || errors.Is(err, channel.ErrNotFound) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		problem := ""
		switch {
		case errors.Is(err, channel.ErrNotFound):
			problem = fmt.Sprintf("the wallet has no such refund; hutong says %s", r.status)
		case err != nil:
			problem = fmt.Sprintf("asking the wallet: %v", err)
		case r.status == payment.RefundPending:
			problem = fmt.Sprintf("hutong left it pending; the wallet says %s", w.State)
		case (r.status == payment.RefundSucceeded) != (w.State == channel.RefundSucceeded):
			problem = fmt.Sprintf("hutong says %s, the wallet says %s", r.status, w.State)
		case r.status == payment.RefundFailed && w.State != channel.RefundFailed:
			problem = fmt.Sprintf("hutong says failed, the wallet says %s", w.State)
		case !w.Cumulative && w.Amount != r.amount:
			problem = fmt.Sprintf("hutong refunded %d fen, the wallet %d fen", r.amount, w.Amount)
		}
		if problem != "" {
			a.count.walletDisagrees++
			t.Errorf("refund %s (%d fen of %s, %s): %s", r.id, r.amount, p.ID, p.Channel, problem)
			a.evidence(r.id)
			continue
		}
		a.count.walletAgrees++
	}
}

// checkAmounts: each payment's amount_refunded, as the API shows it and
// as its row holds it, is the sum of its succeeded refunds.
func (a *crashAudit) checkAmounts(refunds map[string]auditRefund) {
	t := a.t
	succeeded := map[string]int64{}
	for _, r := range refunds {
		if r.status == payment.RefundSucceeded && r.kind != payment.RefundDuplicateCharge {
			succeeded[r.paymentID] += r.amount
		}
	}
	for _, p := range a.payments {
		a.count.paymentsChecked++
		var got *client.Payment
		err := waitFor("reading "+p.id, 30*time.Second, func() (bool, error) {
			var err error
			got, err = a.c.GetPayment(a.ctx, p.id)
			return err == nil, err
		})
		if err != nil {
			t.Error(err)
			continue
		}
		var column int64
		if err := a.db.QueryRowContext(a.ctx, `SELECT refunded FROM payments WHERE id = $1`, p.id).Scan(&column); err != nil {
			t.Fatal(err)
		}
		a.count.refundedFen += got.AmountRefunded
		if got.AmountRefunded == p.amount {
			a.count.refundedInFull++
		}
		if got.AmountRefunded != succeeded[p.id] || column != succeeded[p.id] {
			a.count.amountWrong++
			t.Errorf("payment %s (%d fen): amount_refunded %d (row %d), but its succeeded refunds add up to %d", p.id, p.amount, got.AmountRefunded, column, succeeded[p.id])
			a.evidence(p.id)
		}
	}
}

// checkLedger: each entry sums to zero, the cached balances equal the
// lines, and each payment was booked paid once.
func (a *crashAudit) checkLedger() {
	svc := &gateway.Service{DB: a.db}
	problems, err := svc.MoneyService().VerifyLedger(a.ctx)
	switch {
	case err != nil:
		a.t.Errorf("verifying the ledger: %v", err)
		a.count.ledger = "not verified: " + err.Error()
	case len(problems) > 0:
		a.t.Errorf("ledger after the kills: %v", problems)
		a.count.ledger = fmt.Sprintf("%d problems", len(problems))
	default:
		a.count.ledger = "balanced"
	}
	twice := 0
	for _, p := range a.payments {
		var n int
		if err := a.db.QueryRowContext(a.ctx, `SELECT COUNT(*) FROM ledger_entries WHERE payment_id = $1 AND kind = 'paid'`, p.id).Scan(&n); err != nil {
			a.t.Fatal(err)
		}
		if n != 1 {
			twice++
			a.t.Errorf("%s: booked paid %d times", p.id, n)
		}
	}
	a.count.ledger += fmt.Sprintf(", %d of %d payments booked paid once", len(a.payments)-twice, len(a.payments))
}

// reconcile matches each wallet's bill of every Beijing day the run
// touched against the books: after the audit above they must agree row by
// row, and the net money exactly. One difference is known and counted
// apart (feeRemainder): a payment refunded in full in several parts.
func (a *crashAudit) reconcile(accounts map[string]gateway.Account, refunds map[string]auditRefund) {
	svc := &gateway.Service{DB: a.db, Accounts: accounts}
	days := []string{chinatime.Date(a.began)}
	if today := chinatime.Date(time.Now()); today != days[0] {
		days = append(days, today)
	}
	for _, ch := range []string{"wechatpay", "alipay"} {
		for _, day := range days {
			run, err := svc.MoneyService().Reconcile(a.ctx, ch, day, nil)
			if err != nil {
				a.t.Errorf("reconciling %s %s: %v", ch, day, err)
				a.count.recon = append(a.count.recon, fmt.Sprintf("%s %s: %v", ch, day, err))
				continue
			}
			s := run.Summary
			var items []money.ReconItem
			if s.Discrepancies() > 0 {
				if _, items, err = svc.MoneyService().ReconRunItems(a.ctx, run.ID); err != nil {
					a.t.Errorf("reading reconciliation %s: %v", run.ID, err)
				}
			}
			var unexplained []money.ReconItem
			remainders := 0
			for _, it := range items {
				if a.feeRemainder(it, refunds) {
					remainders++
					continue
				}
				unexplained = append(unexplained, it)
			}
			a.count.feeRemainders += remainders
			a.count.recon = append(a.count.recon, fmt.Sprintf("%s %s: %d/%d rows matched, %d discrepancies (%d last-refund fee remainders), net %d/%d fen",
				ch, day, s.Matched, s.BillRows, s.Discrepancies(), remainders, s.BillNet, s.OurNet))
			if len(unexplained) == 0 && s.BillNet == s.OurNet && s.Discrepancies() == int64(len(items)) {
				continue
			}
			a.t.Errorf("reconciliation %s of %s %s: %+v", run.ID, ch, day, s)
			for i, it := range unexplained {
				if i == 20 {
					a.t.Logf("  … %d more", len(unexplained)-i)
					break
				}
				a.t.Logf("  %s %s: %s", it.Kind, it.Key, it.Detail)
			}
		}
	}
}

// feeRemainder tells the one known difference between the books and the
// wallets' bills. Both give the refund that completes a payment what is
// left of its fee, so that a fully refunded payment costs the merchant no
// fee; but "the refund that completes it" is, for the wallet, the one it
// finished last, and for hutong the one it learnt of last. When the last
// two parts of a payment refunded in full are settled in one order at the
// wallet and learnt in the other (notifications reordered, a crash between
// them), the two refunds' fees differ by a fen each way, the payment's sum
// still equal. Anything else is a discrepancy.
func (a *crashAudit) feeRemainder(it money.ReconItem, refunds map[string]auditRefund) bool {
	if it.Kind != recon.FeeDiffers || it.Bill == nil || it.Ours == nil || it.Bill.Kind != recon.KindRefund {
		return false
	}
	if d := it.Bill.Fee - it.Ours.Fee; d != 1 && d != -1 {
		return false
	}
	r, ok := refunds[it.Ours.OutRefundNo]
	if !ok {
		return false
	}
	var amount, refunded int64
	parts := 0
	for _, p := range a.payments {
		if p.id == r.paymentID {
			amount = p.amount
		}
	}
	for _, o := range refunds {
		if o.paymentID == r.paymentID && o.status == payment.RefundSucceeded {
			refunded += o.amount
			parts++
		}
	}
	return parts > 1 && refunded == amount
}

// checkEvents: each payment announced paid once, each settled refund
// announced once with its outcome.
func (a *crashAudit) checkEvents(events []client.Event) {
	perObject := map[string]int{}
	for _, ev := range events {
		var obj struct{ ID string }
		if err := json.Unmarshal(ev.Data, &obj); err != nil {
			a.t.Errorf("event %s: %v", ev.ID, err)
		}
		perObject[ev.Type+" "+obj.ID]++
	}
	for _, p := range a.payments {
		if k := perObject["payment.succeeded "+p.id]; k != 1 {
			a.t.Errorf("%s: %d payment.succeeded events", p.id, k)
		}
	}
	for _, k := range a.keys {
		if len(k.ids) == 0 {
			continue
		}
		id := k.ids[0]
		ok, failed := perObject["refund.succeeded "+id], perObject["refund.failed "+id]
		if ok+failed != 1 {
			a.t.Errorf("refund %s: %d refund.succeeded and %d refund.failed events", id, ok, failed)
		}
	}
}

// evidence prints what the run left about ids: their refund jobs and the
// gateway's log lines that name them.
func (a *crashAudit) evidence(ids ...string) {
	if len(ids) == 0 {
		return
	}
	for _, id := range ids {
		a.jobEvidence(id)
	}
	f, err := os.Open(a.logPath)
	if err != nil {
		a.t.Logf("  gateway log: %v", err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	shown := 0
	for sc.Scan() {
		line := sc.Text()
		if !slices.ContainsFunc(ids, func(id string) bool { return strings.Contains(line, id) }) {
			continue
		}
		if shown == 30 {
			a.t.Logf("  … more log lines in %s", a.logPath)
			break
		}
		a.t.Logf("  log: %s", line)
		shown++
	}
}

// jobEvidence prints the jobs whose payload names id.
func (a *crashAudit) jobEvidence(id string) {
	rows, err := a.db.QueryContext(a.ctx, `SELECT id, kind, state, attempts, COALESCE(last_error, '') FROM jobs WHERE payload LIKE $1 ORDER BY id`, "%"+id+"%")
	if err != nil {
		a.t.Logf("  jobs of %s: %v", id, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var jid int64
		var kind, state, lastErr string
		var attempts int
		if err := rows.Scan(&jid, &kind, &state, &attempts, &lastErr); err != nil {
			a.t.Logf("  jobs of %s: %v", id, err)
			break
		}
		a.t.Logf("  job %d %s of %s: %s after %d attempts; last error: %s", jid, kind, id, state, attempts, lastErr)
	}
	if err := rows.Err(); err != nil {
		a.t.Logf("  jobs of %s: %v", id, err)
	}
}
