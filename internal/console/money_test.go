package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// balance is the amount the money page shows for an account.
func balance(t *testing.T, body, account string) string {
	t.Helper()
	m := regexp.MustCompile(`data-balance="` + regexp.QuoteMeta(account) + `"><td>[^<]*</td><td class="num" data-amount>([^<]*)</td>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the money page shows no balance %s", account)
	}
	return m[1]
}

func addFinance(t *testing.T, e *env) {
	t.Helper()
	if _, err := e.acc.AddUser(context.Background(), accounts.AddUserParams{Email: "fin@hutong.test", Name: "财务小张", Role: accounts.RoleFinance, Password: password}); err != nil {
		t.Fatal(err)
	}
}

// TestMoneyPage: after a paid payment the money page shows it in escrow
// with its auto-confirmation time, for the platform and for its merchant;
// the other merchant's portal sees only its own (nothing) and is refused
// the reconciliation and another merchant's money. Finance settles a day
// after the payment is released, and the batch is listed and audited;
// support may not settle.
func TestMoneyPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		addFinance(t, e)
		ctx := context.Background()
		p := e.Paid(0, "money-1", 8800)
		mA := e.Merchants[0].ID

		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		st, _, body := ops.do("GET", "/console/money", nil)
		if st != http.StatusOK {
			t.Fatalf("money: %d", st)
		}
		if got := balance(t, body, "escrow"); got != "¥88.00" {
			t.Errorf("the platform's escrow = %s, want ¥88.00", got)
		}
		if !strings.Contains(body, `data-escrow-payment="`+p.ID+`"`) || !strings.Contains(body, "wechatpay") {
			t.Errorf("the escrow list lacks the payment or the wallets' accounts")
		}
		_, _, body = ops.do("GET", "/console/money?merchant="+mA, nil)
		if got := balance(t, body, "escrow"); got != "¥88.00" {
			t.Errorf("merchant A's escrow = %s, want ¥88.00", got)
		}
		if !strings.Contains(body, p.AutoConfirmAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05")) {
			t.Errorf("the escrow list lacks the auto-confirmation time %s", p.AutoConfirmAt)
		}
		if strings.Contains(body, "data-settle-form") {
			t.Error("operations is offered to settle")
		}
		if st, _, _ := ops.do("GET", "/console/money?merchant=m_nobody", nil); st != http.StatusNotFound {
			t.Errorf("a merchant that does not exist: %d", st)
		}

		// Merchant B's portal: its own balances, none of A's.
		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		st, _, body = shop.do("GET", "/console/money", nil)
		if st != http.StatusOK {
			t.Fatalf("the portal's money: %d", st)
		}
		if got := balance(t, body, "escrow"); got != "¥0.00" || strings.Contains(body, p.ID) || strings.Contains(body, "clearing:") {
			t.Errorf("merchant B sees escrow %s, A's payment or the platform's accounts", got)
		}
		if st, _, _ := shop.do("GET", "/console/money?merchant="+mA, nil); st != http.StatusNotFound {
			t.Errorf("merchant B asking for A's money: %d, want 404", st)
		}
		for _, path := range []string{"/console/recon", "/console/recon/rcn_x"} {
			if st, _, _ := shop.do("GET", path, nil); st != http.StatusForbidden {
				t.Errorf("the merchant role on %s: %d, want 403", path, st)
			}
		}
		if st, _, _ := shop.do("POST", "/console/money/settle", url.Values{"csrf": {shop.csrf("/console/money")}, "day": {"2024-09-05"}}); st != http.StatusForbidden {
			t.Errorf("the merchant role settling: %d, want 403", st)
		}

		// The buyer confirms receipt: the escrow becomes payable.
		if _, err := e.Svc.MoneyService().ConfirmReceipt(ctx, mA, p.ID); err != nil {
			t.Fatal(err)
		}
		sup := newBrowser(t, e.URL)
		sup.login("support@hutong.test")
		day := chinatime.Date(time.Now())
		if st, _, _ := sup.do("POST", "/console/money/settle", url.Values{"csrf": {sup.csrf("/console/money")}, "day": {day}}); st != http.StatusForbidden {
			t.Errorf("support settling: %d, want 403", st)
		}
		fin := newBrowser(t, e.URL)
		fin.login("fin@hutong.test")
		token := fin.csrf("/console/money")
		if st, _, _ := fin.do("POST", "/console/money/settle", url.Values{"csrf": {token}, "day": {"5 Sept"}}); st != http.StatusBadRequest {
			t.Errorf("a day that is not one: %d", st)
		}
		st, loc, _ := fin.do("POST", "/console/money/settle", url.Values{"csrf": {token}, "day": {day}})
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/money?done=") {
			t.Fatalf("settle: %d %s", st, loc)
		}
		batches, err := e.Svc.MoneyService().Settlements(ctx, mA, 10)
		if err != nil || len(batches) != 1 || batches[0].Day != day || batches[0].Amount <= 0 || batches[0].Amount >= 8800 {
			t.Fatalf("settlements after the console's: %+v %v", batches, err)
		}
		_, _, body = fin.do("GET", "/console/money", nil)
		if !strings.Contains(body, `data-settlement="`+batches[0].ID+`"`) {
			t.Error("the money page does not list the settlement")
		}
		if got := balance(t, body, "escrow"); got != "¥0.00" {
			t.Errorf("escrow after release = %s", got)
		}
		log, err := e.acc.AuditLog(ctx, accounts.AuditQuery{Object: "settlement:" + day, Limit: 10})
		// Recorded as asked, before it ran, and as done, after.
		if err != nil || len(log) != 2 || log[0].Action != "settlement.run" || log[1].Action != "settlement.run_requested" ||
			log[0].ActorEmail != "fin@hutong.test" || log[1].ActorEmail != "fin@hutong.test" || !strings.Contains(string(log[0].After), batches[0].ID) {
			t.Errorf("audit of the settlement: %+v %v", log, err)
		}
		// B's portal lists no settlement of A's.
		if _, _, body := shop.do("GET", "/console/money", nil); strings.Contains(body, batches[0].ID) {
			t.Error("merchant B sees A's settlement")
		}
	})
}

// TestReconPages: a reconciliation run against a falsified bill is
// listed with its open discrepancy; support reads it but may not resolve
// it; finance's resolution without a note is refused, with one it is
// recorded with who and when, shown as resolved and audited; a second
// resolution is refused.
func TestReconPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		addFinance(t, e)
		ctx := context.Background()
		kept := e.Paid(0, "recon-1", 5000)
		dropped := e.Paid(1, "recon-2", 3000)
		if st := e.Sandbox.Helper("POST", "/sandbox/v1/bill_faults", map[string]any{"wallet": "wechatpay", "drop": []string{dropped.ID}}, nil); st != http.StatusOK {
			t.Fatalf("bill faults: %d", st)
		}
		run, err := e.Svc.MoneyService().Reconcile(ctx, "wechatpay", chinatime.Date(time.Now()), nil)
		if err != nil || run.Summary.Discrepancies() != 1 {
			t.Fatalf("reconcile: %+v %v", run, err)
		}
		_ = kept

		sup := newBrowser(t, e.URL)
		sup.login("support@hutong.test")
		st, _, body := sup.do("GET", "/console/recon", nil)
		if st != http.StatusOK || !strings.Contains(body, `data-recon-run="`+run.ID+`"`) || !strings.Contains(body, `data-open>1<`) {
			t.Fatalf("the runs: %d, run listed with one open: %v", st, strings.Contains(body, run.ID))
		}
		st, _, body = sup.do("GET", "/console/recon/"+run.ID, nil)
		key := "payment/" + dropped.ID
		if st != http.StatusOK || !strings.Contains(body, `data-item="0" data-item-key="`+key+`"`) || strings.Contains(body, "data-resolve-form") {
			t.Fatalf("the run for support: %d, the item listed, no resolve form", st)
		}
		if st, _, _ := sup.do("POST", "/console/recon/"+run.ID+"/items/0/resolve", url.Values{"csrf": {sup.csrf("/console/recon/" + run.ID)}, "key": {key}, "note": {"已查"}}); st != http.StatusForbidden {
			t.Errorf("support resolving: %d, want 403", st)
		}
		if st, _, _ := sup.do("GET", "/console/recon/rcn_nobody", nil); st != http.StatusNotFound {
			t.Errorf("a run that does not exist: %d", st)
		}

		fin := newBrowser(t, e.URL)
		fin.login("fin@hutong.test")
		path := "/console/recon/" + run.ID
		token := fin.csrf(path)
		if st, _, body := fin.do("POST", path+"/items/0/resolve", url.Values{"csrf": {token}, "key": {key}, "note": {"   "}}); st != http.StatusBadRequest || !strings.Contains(body, "处理说明") {
			t.Errorf("a resolution without a note: %d", st)
		}
		if st, _, _ := fin.do("POST", path+"/items/0/resolve", url.Values{"csrf": {token}, "key": {"payment/other"}, "note": {"n"}}); st != http.StatusNotFound {
			t.Errorf("a resolution of another object: %d, want 404", st)
		}
		if st, _, _ := fin.do("POST", path+"/items/9/resolve", url.Values{"csrf": {token}, "key": {key}, "note": {"n"}}); st != http.StatusNotFound {
			t.Errorf("a resolution of an item the run lacks: %d, want 404", st)
		}
		if _, items, _ := e.Svc.MoneyService().ReconRunItemsResolved(ctx, run.ID); len(items) != 1 || items[0].Resolution != nil {
			t.Fatalf("refused resolutions changed the item: %+v", items)
		}
		before := time.Now()
		note := "钱包账单漏记，已联系微信支付补单"
		st, loc, _ := fin.do("POST", path+"/items/0/resolve", url.Values{"csrf": {token}, "key": {key}, "note": {note}})
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, path+"?done=") {
			t.Fatalf("resolve: %d %s", st, loc)
		}
		_, items, err := e.Svc.MoneyService().ReconRunItemsResolved(ctx, run.ID)
		if err != nil || len(items) != 1 || items[0].Resolution == nil {
			t.Fatalf("the item after resolving: %+v %v", items, err)
		}
		r := items[0].Resolution
		if r.Note != note || r.By != "fin@hutong.test" || r.At.Before(before.Add(-time.Second)) || r.At.After(time.Now()) {
			t.Errorf("the resolution: %+v", r)
		}
		_, _, body = fin.do("GET", path, nil)
		for _, want := range []string{`data-resolved-item="0"`, note, `data-resolved-by>fin@hutong.test<`, `data-open-count>0<`, `data-resolved-count>1<`} {
			if !strings.Contains(body, want) {
				t.Errorf("the run page after resolving lacks %s", want)
			}
		}
		if _, _, body := fin.do("GET", "/console/recon", nil); !strings.Contains(body, `data-open>0<`) || !strings.Contains(body, `data-resolved>1<`) {
			t.Error("the runs page does not count the resolution")
		}
		if st, _, body := fin.do("POST", path+"/items/0/resolve", url.Values{"csrf": {token}, "key": {key}, "note": {"again"}}); st != http.StatusConflict || !strings.Contains(body, "fin@hutong.test") {
			t.Errorf("resolving twice: %d", st)
		}
		log, err := e.acc.AuditLog(ctx, accounts.AuditQuery{Action: "recon.resolve", Limit: 10})
		if err != nil || len(log) != 1 || log[0].ActorEmail != "fin@hutong.test" || log[0].Object != "recon:"+run.ID+"/0" || !strings.Contains(string(log[0].After), note) {
			t.Errorf("audit of the resolution: %+v %v", log, err)
		}
	})
}
