package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

type methodsAnswer struct {
	Data []struct{ Method, Cohort string }
}

func shown(e *gatewaytest.Env, buyer, method string) bool {
	var out methodsAnswer
	e.Call(e.Keys[0], "GET", "/v1/methods?buyer_id="+buyer, nil, &out)
	for _, m := range out.Data {
		if m.Method == method {
			return true
		}
	}
	return false
}

func setRule(t *testing.T, e *gatewaytest.Env, method string, r rollout.Rule, reason string) rollouts.RuleChange {
	t.Helper()
	var rc rollouts.RuleChange
	if st := e.Call(e.Platform, "POST", "/v1/rollout/rules/"+method, map[string]any{"rule": r, "reason": reason}, &rc); st != http.StatusCreated {
		t.Fatalf("set rule: %d", st)
	}
	return rc
}

// TestRolloutRamp: a method ramped 1% → 20% → 100% reaches about that share
// of a population of buyers through /v1/methods, each step keeping the
// buyers of the step before; explain says why a buyer is out.
func TestRolloutRamp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		const buyers = 600
		var prev map[string]bool
		for _, bps := range []int{100, 2000, 10000} {
			setRule(t, e, "wechatpay.native", rollout.Rule{Enabled: true, BasisPoints: bps, Salt: "wechat-2024"}, fmt.Sprintf("ramp to %d bps", bps))
			in := map[string]bool{}
			for i := range buyers {
				b := fmt.Sprintf("buyer-%04d", i)
				if shown(e, b, "wechatpay.native") {
					in[b] = true
				}
			}
			share := float64(len(in)) / buyers * 10000
			if d := share - float64(bps); d > 400 || d < -400 {
				t.Errorf("at %d bps, %d of %d buyers see the method (%.0f bps)", bps, len(in), buyers, share)
			}
			for b := range prev {
				if !in[b] {
					t.Errorf("raising to %d bps removed %s", bps, b)
				}
			}
			prev = in
			// Alipay, without a rule, is shown to all.
			if !shown(e, "buyer-0001", "alipay.precreate") {
				t.Fatal("a method without a rule is hidden")
			}
		}
		// Back to 20%: explain a buyer left out.
		setRule(t, e, "wechatpay.native", rollout.Rule{Enabled: true, BasisPoints: 2000, Salt: "wechat-2024"}, "back to 20%")
		for i := range buyers {
			b := fmt.Sprintf("buyer-%04d", i)
			if rollout.Bucket("wechat-2024", b) >= 2000 {
				var ex struct{ Data []rollout.Decision }
				e.Call(e.Keys[0], "GET", "/v1/rollout/explain?buyer_id="+b+"&region_code=130627", nil, &ex)
				for _, d := range ex.Data {
					if d.Method == "wechatpay.native" {
						want := fmt.Sprintf("bucket %d is not under 2000 (20.00%%)", rollout.Bucket("wechat-2024", b))
						if d.Shown || !strings.Contains(d.Reason, want) || d.Tier != "county" || d.Cohort != "holdout" {
							t.Fatalf("explain %s: %+v; want the reason to say %q", b, d, want)
						}
					}
				}
				break
			}
		}
		// The history is attributed; a merchant key may not change rules.
		var hist struct{ Data []rollouts.RuleChange }
		e.Call(e.Platform, "GET", "/v1/rollout/history?method=wechatpay.native", nil, &hist)
		if len(hist.Data) != 4 || !strings.Contains(hist.Data[0].Actor, "test operator") || hist.Data[0].Reason != "back to 20%" {
			t.Fatalf("history %+v", hist.Data)
		}
		if st := e.Call(e.Keys[0], "POST", "/v1/rollout/rules/wechatpay.native", map[string]any{"rule": rollout.Rule{Enabled: true}, "reason": "x"}, nil); st != http.StatusForbidden {
			t.Fatalf("a merchant key changed a rule: %d", st)
		}
		// Exposures were recorded with their cohorts, in batches.
		if err := e.Svc.RolloutService().FlushExposures(context.Background()); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM exposures WHERE method = 'wechatpay.native' AND cohort = 'holdout'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no holdout exposure recorded")
		}
		// A dry run of 100% counts the buyers seen it would add.
		var dry struct {
			BuyersSeen int `json:"buyers_seen"`
			WouldAdd   int `json:"would_add"`
			WouldRem   int `json:"would_remove"`
		}
		e.Call(e.Platform, "POST", "/v1/rollout/rules/wechatpay.native/dry_run", map[string]any{"rule": rollout.Rule{Enabled: true, BasisPoints: 10000, Salt: "wechat-2024"}}, &dry)
		if dry.BuyersSeen != buyers || dry.WouldRem != 0 || dry.WouldAdd < buyers*6/10 {
			t.Fatalf("dry run: %+v", dry)
		}
		// Revert to the 1% version.
		var rc rollouts.RuleChange
		if st := e.Call(e.Platform, "POST", "/v1/rollout/rules/wechatpay.native/revert", map[string]any{"version": hist.Data[3].Version, "reason": "too fast"}, &rc); st != http.StatusCreated || rc.Rule.BasisPoints != 100 {
			t.Fatalf("revert: %d %+v", st, rc)
		}
	})
}

// TestKillSwitchAcrossGateways: two gateway processes on one PostgreSQL;
// the kill switch set through one hides the method on the other within a
// second.
func TestKillSwitchAcrossGateways(t *testing.T) {
	db := storetest.Postgres(t)
	e := gatewaytest.Start(t, db, gatewaytest.Options{})
	// A second gateway: its own service and caches, the same database.
	other := &gateway.Service{DB: db, Accounts: e.Svc.Accounts, BaseURL: e.URL}
	ctx := context.Background()
	c := rollout.Checkout{BuyerID: "b1", MerchantID: e.Merchants[0].ID}
	has := func(s *gateway.Service) bool {
		for _, m := range s.RolloutService().MethodsFor(ctx, c) {
			if m == "wechatpay.h5" {
				return true
			}
		}
		return false
	}
	if !has(other) {
		t.Fatal("the method is hidden before the switch")
	}
	setRule(t, e, "wechatpay.h5", rollout.Rule{Enabled: false}, "incident: kill")
	start := time.Now()
	for has(other) {
		if time.Since(start) > 3*time.Second {
			t.Fatal("the other gateway still shows the method 3 s after the kill switch")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the other gateway hid the method after %v", time.Since(start))
	if has(e.Svc) {
		t.Fatal("the gateway that set the switch still shows the method")
	}
}

func TestFeedback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		for _, bad := range []map[string]any{{"method": "wechatpay.native", "rating": 6, "text": "x"}, {"method": "cash", "rating": 3}, {"method": "alipay.wap", "rating": 3, "text": strings.Repeat("长", 1001)}} {
			if st := e.Call(e.Keys[0], "POST", "/v1/feedback", bad, nil); st != http.StatusBadRequest {
				t.Errorf("feedback %v: %d", bad, st)
			}
		}
		shown(e, "b-fb", "wechatpay.native") // an exposure, whose cohort the feedback takes
		if err := e.Svc.RolloutService().FlushExposures(context.Background()); err != nil {
			t.Fatal(err)
		}
		var fb rollouts.Feedback
		if st := e.Call(e.Keys[0], "POST", "/v1/feedback", map[string]any{"buyer_id": "b-fb", "method": "wechatpay.native", "rating": 5, "text": "=1+1 很方便"}, &fb); st != http.StatusCreated || fb.Cohort != "default" {
			t.Fatalf("feedback: %d %+v", st, fb)
		}
		var list struct{ Data []rollouts.Feedback }
		e.Call(e.Keys[0], "GET", "/v1/feedback?method=wechatpay.native&cohort=default", nil, &list)
		if len(list.Data) != 1 {
			t.Fatalf("list %+v", list)
		}
		e.Call(e.Keys[1], "GET", "/v1/feedback", nil, &list)
		if len(list.Data) != 0 {
			t.Fatal("another merchant reads the feedback")
		}
		req, _ := http.NewRequest("GET", e.URL+"/v1/feedback.csv", nil)
		req.Header.Set("Authorization", "Bearer "+e.Keys[0])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(res.Body).ReadAll()
		res.Body.Close()
		if err != nil || len(rows) != 2 || rows[1][9] != "'=1+1 很方便" {
			t.Fatalf("csv %v %v", rows, err)
		}
		// Every text column is neutralised, not only the comment; the
		// rating, a number, is written as one.
		for _, fb := range []map[string]any{
			{"buyer_id": "@SUM(A1)", "method": "wechatpay.native", "rating": 1, "text": `=HYPERLINK("http://x")`},
			{"buyer_id": "+1", "method": "wechatpay.native", "rating": 2, "text": "-2+3"},
			{"buyer_id": "-2+3", "method": "wechatpay.native", "rating": 3, "text": "@cmd"},
		} {
			if st := e.Call(e.Keys[0], "POST", "/v1/feedback", fb, nil); st != http.StatusCreated {
				t.Fatalf("feedback %v: %d", fb, st)
			}
		}
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rows, err = csv.NewReader(res.Body).ReadAll()
		res.Body.Close()
		if err != nil || len(rows) != 5 {
			t.Fatalf("csv %v %v", rows, err)
		}
		want := map[string]string{"'@SUM(A1)": `'=HYPERLINK("http://x")`, "'+1": "'-2+3", "'-2+3": "'@cmd", "b-fb": "'=1+1 很方便"}
		for _, row := range rows[1:] {
			if text, ok := want[row[4]]; !ok || row[9] != text || !strings.ContainsAny(row[6][:1], "12345") {
				t.Errorf("csv row %q", row)
			}
			delete(want, row[4])
		}
	})
}

// TestPaidPaymentKeepsRolloutCohort: a payment paid by a method its buyer
// was shown keeps the cohort of that exposure; a buyer never decided for
// the method pays without one.
func TestPaidPaymentKeepsRolloutCohort(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		if !shown(e, "buyer-1", "wechatpay.native") {
			t.Fatal("wechatpay.native is not shown to buyer-1")
		}
		if err := e.Svc.RolloutService().FlushExposures(context.Background()); err != nil {
			t.Fatal(err)
		}
		unseen := newPayment("wechatpay.native", 1000, "cohort-unseen")
		unseen["buyer"] = map[string]string{"id": "buyer-never-shown"}
		for _, c := range []struct {
			body map[string]any
			want payment.Rollout
		}{
			{newPayment("wechatpay.native", 1000, "cohort-shown"), payment.Rollout{Cohort: rollout.CohortDefault}},
			{unseen, payment.Rollout{}},
		} {
			var p payment.Payment
			if st := e.Call(e.Keys[0], "POST", "/v1/payments", c.body, &p); st != http.StatusCreated {
				t.Fatalf("create: %d", st)
			}
			e.Sandbox.Pay(p.NextAction.QRCode, "")
			e.Eventually("paid", func() bool { return e.Status(0, p.ID) == payment.StatusSucceeded })
			if st := e.Call(e.Keys[0], "GET", "/v1/payments/"+p.ID, nil, &p); st != http.StatusOK || p.Rollout != c.want {
				t.Errorf("%s paid: %d, rollout %+v; want %+v", p.Buyer.ID, st, p.Rollout, c.want)
			}
		}
	})
}
