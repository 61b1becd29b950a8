package rollouts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"

	// The wallets register their methods with the channel registry.
	_ "github.com/hutong-pay/hutong/internal/channel/alipay"
	_ "github.com/hutong-pay/hutong/internal/channel/wechatpay"
)

// contracts is a Contracts that takes payments on the wallets it names,
// and counts its answers.
type contracts struct {
	mu      sync.Mutex
	payable map[string]bool
	asked   int
}

func (c *contracts) Payable(_ context.Context, _, ch string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked++
	return c.payable[ch], nil
}

// payments is a Payments over a map by id; another merchant's payment is
// notfound, as the gateway's is.
type payments map[string]payment.Payment

func (ps payments) GetPayment(_ context.Context, merchantID, id string) (payment.Payment, error) {
	p, ok := ps[id]
	if !ok || p.MerchantID != merchantID {
		return p, notfound.ByID("payment", id, merchantID)
	}
	return p, nil
}

func fieldParam(err error) string {
	var fe *payment.FieldError
	if errors.As(err, &fe) {
		return fe.Param
	}
	return ""
}

// methodsOf lists the registered methods of a wallet.
func methodsOf(wallet string) []string {
	var out []string
	for _, w := range channel.Wallets() {
		if w.Name == wallet {
			for _, m := range w.Methods {
				out = append(out, m.Name)
			}
		}
	}
	return out
}

// TestDecide: only the methods of wallets with an account are decided; a
// wallet whose contract does not take the merchant's payments is hidden
// whatever the rules say, its contract asked once per checkout; and the
// rules decide the rest.
func TestDecide(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cs := &contracts{payable: map[string]bool{"wechatpay": true}}
		svc := &rollouts.Service{DB: db, Contracts: cs, HasAccount: func(ch string) bool { return ch == "wechatpay" || ch == "alipay" }}
		c := rollout.Checkout{BuyerID: "b1", MerchantID: "m_county", RegionCode: "130627"}

		ds, err := svc.Decide(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		want := append(methodsOf("wechatpay"), methodsOf("alipay")...)
		var got []string
		for _, d := range ds {
			got = append(got, d.Method)
			ch, _ := channel.MethodWallet(d.Method)
			switch {
			case ch == "wechatpay" && (!d.Shown || d.Cohort != rollout.CohortDefault):
				t.Errorf("%s without a rule, under a contract: %+v; want shown, default", d.Method, d)
			case ch == "alipay" && (d.Shown || d.Cohort != "no_contract" || !strings.Contains(d.Reason, "m_county has no active alipay contract")):
				t.Errorf("%s without a contract: %+v; want hidden, no_contract, and the reason", d.Method, d)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("decided %v; want the two wallets' methods %v", got, want)
		}
		if cs.asked != 2 {
			t.Errorf("the contracts were asked %d times for one checkout; want once per wallet", cs.asked)
		}

		// A wallet without an account is not decided at all.
		svc = &rollouts.Service{DB: db, HasAccount: func(ch string) bool { return ch == "alipay" }}
		if _, err := svc.SetRule(ctx, "alipay.wap", rollout.Rule{Enabled: false}, "ops", "incident"); err != nil {
			t.Fatal(err)
		}
		shown := svc.MethodsFor(ctx, c)
		if want := slices.DeleteFunc(methodsOf("alipay"), func(m string) bool { return m == "alipay.wap" }); !slices.Equal(shown, want) {
			t.Errorf("MethodsFor with only alipay, its wap switched off = %v; want %v", shown, want)
		}
	})
}

// TestCheckoutOf: a payment's checkout is its buyer's, with the merchant's
// category.
func TestCheckoutOf(t *testing.T) {
	t.Parallel()
	p := payment.Payment{MerchantID: "m_county", Buyer: payment.Buyer{ID: "b1", RegionCode: "130627", Platform: "ios"}}
	c := rollouts.CheckoutOf(p, merchant.Merchant{ID: "m_county", Category: "grocery"})
	want := rollout.Checkout{BuyerID: "b1", MerchantID: "m_county", RegionCode: "130627", Platform: "ios", Categories: []string{"grocery"}}
	if !slices.Equal(c.Categories, want.Categories) || c.BuyerID != want.BuyerID || c.MerchantID != want.MerchantID || c.RegionCode != want.RegionCode || c.Platform != want.Platform {
		t.Errorf("CheckoutOf = %+v; want %+v", c, want)
	}
	if c := rollouts.CheckoutOf(p, merchant.Merchant{ID: "m_county"}); c.Categories != nil {
		t.Errorf("a merchant without a category gave categories %v", c.Categories)
	}
}

// TestRuleHistory: every change is a version with its actor and reason;
// bad changes are refused and record nothing; removing and reverting are
// changes like any other, and a revert to a version where the method had
// no rule removes it.
func TestRuleHistory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := &rollouts.Service{DB: db}
		tenth := rollout.Rule{Enabled: true, BasisPoints: 1000, Salt: "wechat-2024"}

		for _, c := range []struct {
			name, method, reason string
			rule                 rollout.Rule
			param                string
		}{
			{"not a wallet method", "cashier", "x", tenth, "method"},
			{"unknown method", "cash", "x", tenth, "method"},
			{"no reason", "wechatpay.native", "  ", tenth, "reason"},
			{"a reason too long", "wechatpay.native", strings.Repeat("x", 501), tenth, "reason"},
			{"a bad rule", "wechatpay.native", "x", rollout.Rule{Enabled: true, BasisPoints: 10001}, "rule"},
		} {
			if _, err := svc.SetRule(ctx, c.method, c.rule, "ops", c.reason); fieldParam(err) != c.param {
				t.Errorf("%s: %v; want a field error on %s", c.name, err, c.param)
			}
		}
		if _, err := svc.RemoveRule(ctx, "wechatpay.native", "ops", "nothing to remove"); !errors.Is(err, notfound.Err) {
			t.Errorf("removing a rule that is not there: %v; want notfound", err)
		}

		v1, err := svc.SetRule(ctx, "wechatpay.native", tenth, "ops", "10%")
		if err != nil || v1.Version != 1 || v1.Rule == nil || v1.Rule.BasisPoints != 1000 || v1.Actor != "ops" {
			t.Fatalf("SetRule = %+v, %v; want version 1", v1, err)
		}
		// The process that changed the rules decides with the change at
		// once, without waiting for RulesRefresh.
		if _, raw, err := svc.Rules(ctx); err != nil || raw.Version != 1 || raw.Methods["wechatpay.native"].BasisPoints != 1000 {
			t.Fatalf("Rules after a change = %+v, %v", raw, err)
		}
		if _, err := svc.SetRule(ctx, "alipay.wap", rollout.Rule{}, "ops", "incident"); err != nil {
			t.Fatal(err)
		}
		removed, err := svc.RemoveRule(ctx, "wechatpay.native", "ops", "everyone")
		if err != nil || removed.Version != 3 || removed.Rule != nil {
			t.Fatalf("RemoveRule = %+v, %v; want version 3 without a rule", removed, err)
		}
		if _, raw, _ := svc.Rules(ctx); len(raw.Methods) != 1 {
			t.Errorf("rules after a removal: %+v; want alipay.wap's only", raw.Methods)
		}

		back, err := svc.RevertRule(ctx, "wechatpay.native", 2, "ops", "as it was")
		if err != nil || back.Version != 4 || back.Rule == nil || back.Rule.BasisPoints != 1000 || back.Reason != "revert to version 2: as it was" {
			t.Fatalf("RevertRule to version 2 = %+v, %v; want 10%% again as version 4", back, err)
		}
		if gone, err := svc.RevertRule(ctx, "alipay.wap", 1, "ops", "before the incident"); err != nil || gone.Rule != nil {
			t.Fatalf("RevertRule to a version without a rule = %+v, %v; want a removal", gone, err)
		}
		for _, v := range []int{0, 6} {
			if _, err := svc.RevertRule(ctx, "wechatpay.native", v, "ops", "x"); fieldParam(err) != "version" {
				t.Errorf("RevertRule to version %d: %v; want a field error on version", v, err)
			}
		}
		if _, err := svc.RevertRule(ctx, "cashier", 1, "ops", "x"); fieldParam(err) != "method" {
			t.Errorf("RevertRule of no wallet's method: %v; want a field error on method", err)
		}

		hist, err := svc.RuleHistory(ctx, "wechatpay.native")
		if err != nil {
			t.Fatal(err)
		}
		var versions []int
		for _, rc := range hist {
			versions = append(versions, rc.Version)
		}
		if !slices.Equal(versions, []int{4, 3, 1}) {
			t.Errorf("wechatpay.native's history: versions %v; want 4, 3, 1", versions)
		}
		if all, err := svc.RuleHistory(ctx, ""); err != nil || len(all) != 5 {
			t.Errorf("the whole history: %d changes, %v; want 5", len(all), err)
		}
		if none, err := svc.RuleHistory(ctx, "alipay.app"); err != nil || none == nil || len(none) != 0 {
			t.Errorf("a method never changed: %#v, %v; want an empty list", none, err)
		}
	})
}

// TestConcurrentRuleChanges: changes made at once each get their own
// version or are refused as ErrConflict (safe to retry); none is lost or
// recorded twice.
func TestConcurrentRuleChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := &rollouts.Service{DB: db}
		const n = 8
		versions := make(chan int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				rc, err := svc.SetRule(ctx, "wechatpay.native", rollout.Rule{Enabled: true, BasisPoints: i * 100}, "ops", fmt.Sprintf("step %d", i))
				switch {
				case err == nil:
					versions <- rc.Version
				case !errors.Is(err, rollouts.ErrConflict):
					t.Errorf("change %d: %v; want it recorded or ErrConflict", i, err)
				}
			})
		}
		wg.Wait()
		close(versions)
		seen := map[int]bool{}
		for v := range versions {
			if seen[v] {
				t.Errorf("version %d given twice", v)
			}
			seen[v] = true
		}
		if hist, err := svc.RuleHistory(ctx, ""); err != nil || len(hist) != len(seen) {
			t.Errorf("history of %d changes, %v; want the %d recorded", len(hist), err, len(seen))
		}
	})
}

// TestRulesOutliveTheDatabase: a process that has read the rules keeps
// deciding with them while the database cannot answer; one that never
// read them says so.
func TestRulesOutliveTheDatabase(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	svc := &rollouts.Service{DB: db}
	if _, err := svc.SetRule(ctx, "wechatpay.h5", rollout.Rule{}, "ops", "incident"); err != nil {
		t.Fatal(err)
	}
	if _, raw, err := svc.Rules(ctx); err != nil || raw.Version != 1 {
		t.Fatalf("Rules = %+v, %v", raw, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(rollouts.RulesRefresh + 50*time.Millisecond) // the cache must ask the database again
	if _, raw, err := svc.Rules(ctx); err != nil || raw.Version != 1 {
		t.Errorf("Rules with the database closed = %+v, %v; want version 1 still", raw, err)
	}
	if slices.Contains(svc.MethodsFor(ctx, rollout.Checkout{BuyerID: "b1"}), "wechatpay.h5") {
		t.Error("a switched-off method is shown while the database is away")
	}
	fresh := &rollouts.Service{DB: db}
	if _, _, err := fresh.Rules(ctx); err == nil {
		t.Error("a process that never read the rules decided without them")
	}
	if got := fresh.MethodsFor(ctx, rollout.Checkout{BuyerID: "b1"}); got != nil {
		t.Errorf("MethodsFor without rules = %v; want none", got)
	}
}

// TestExposuresAndDryRun: exposures queue and are written in batches; a
// dry run reads who was seen; a full queue, or a write that fails, drops
// and counts rather than blocking a checkout.
func TestExposuresAndDryRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		svc := &rollouts.Service{DB: db, Now: func() time.Time { return now }}
		const buyers = 1200 // more than one statement's batch
		for i := range buyers {
			c := rollout.Checkout{BuyerID: fmt.Sprintf("buyer-%04d", i), MerchantID: "m_county", RegionCode: "130627"}
			ds, err := svc.Decide(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			svc.RecordExposures(c, ds, "")
		}
		// One buyer seen twice counts once.
		again := rollout.Checkout{BuyerID: "buyer-0000", MerchantID: "m_county"}
		svc.RecordExposures(again, []rollout.Decision{{Method: "wechatpay.native", Shown: true, Cohort: rollout.CohortDefault}}, "pay_1")
		if err := svc.FlushExposures(ctx); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Pool().ExposureCheckouts(ctx, store.ExposureCheckoutsParams{Method: "wechatpay.native"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != buyers+1 || svc.ExposuresDropped() != 0 {
			t.Fatalf("%d wechatpay.native exposures written, %d dropped; want %d, 0", len(rows), svc.ExposuresDropped(), buyers+1)
		}

		// Without a rule every buyer sees the method: 20% removes the rest.
		twenty := rollout.Rule{Enabled: true, BasisPoints: 2000, Salt: "wechat-2024"}
		added, removed, seen, err := svc.DryRun(ctx, "wechatpay.native", twenty, 7)
		if err != nil || seen != buyers || len(added) != 0 {
			t.Fatalf("dry run of 20%%: %d added, %d removed, %d seen, %v; want none added of %d seen", len(added), len(removed), seen, err, buyers)
		}
		for _, b := range removed {
			if rollout.Bucket("wechat-2024", b) < 2000 {
				t.Fatalf("the dry run removes %s, in bucket %d, under 20%%", b, rollout.Bucket("wechat-2024", b))
			}
		}
		if d := len(removed) - buyers*8/10; d > 80 || d < -80 {
			t.Errorf("the dry run of 20%% removes %d of %d buyers; want about 80%%", len(removed), buyers)
		}
		// From 20%, 100% adds back what 20% removed.
		if _, err := svc.SetRule(ctx, "wechatpay.native", twenty, "ops", "20%"); err != nil {
			t.Fatal(err)
		}
		added, back, _, err := svc.DryRun(ctx, "wechatpay.native", rollout.Rule{Enabled: true, BasisPoints: rollout.Buckets, Salt: "wechat-2024"}, 7)
		if err != nil || len(back) != 0 || !slices.Equal(sorted(added), sorted(removed)) {
			t.Errorf("dry run of 100%% from 20%%: %d added, %d removed, %v; want the %d 20%% left out", len(added), len(back), err, len(removed))
		}
		// Buyers seen before the window are not counted.
		later := now.Add(8 * 24 * time.Hour)
		svc.Now = func() time.Time { return later }
		if _, _, seen, err := svc.DryRun(ctx, "wechatpay.native", twenty, 7); err != nil || seen != 0 {
			t.Errorf("dry run over the 7 days after them: %d seen, %v; want 0", seen, err)
		}
		if _, _, _, err := svc.DryRun(ctx, "wechatpay.native", rollout.Rule{Enabled: true, BasisPoints: -1}, 7); fieldParam(err) != "rule" {
			t.Errorf("dry run of a bad rule: %v; want a field error on rule", err)
		}

		// A full queue drops what does not fit.
		full := &rollouts.Service{DB: db}
		d := []rollout.Decision{{Method: "wechatpay.native"}}
		for range 16384 + 3 {
			full.RecordExposures(again, d, "")
		}
		if n := full.ExposuresDropped(); n != 3 {
			t.Errorf("a full queue dropped %d exposures; want 3", n)
		}
		// A write that fails drops its batch, and says so.
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := full.FlushExposures(ctx); err == nil {
			t.Error("FlushExposures into a closed database: no error")
		}
		if n := full.ExposuresDropped(); n != 3+store.ExposureBatch {
			t.Errorf("after a failed write, %d dropped; want %d", n, 3+store.ExposureBatch)
		}
	})
}

func sorted(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

// TestWriteExposures: the writer writes what is queued once more when its
// context ends.
func TestWriteExposures(t *testing.T) {
	db := storetest.SQLite(t)
	svc := &rollouts.Service{DB: db}
	svc.RecordExposures(rollout.Checkout{BuyerID: "b1", MerchantID: "m"}, []rollout.Decision{{Method: "alipay.wap", Shown: true}}, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.WriteExposures(ctx); close(done) }()
	cancel()
	<-done
	if got, err := db.Pool().ExposureCheckouts(context.Background(), store.ExposureCheckoutsParams{Method: "alipay.wap"}); err != nil || len(got) != 1 {
		t.Errorf("%d exposures written at the writer's end, %v; want 1", len(got), err)
	}
}

// TestFeedback: feedback about a payment takes the payment's buyer, method
// and tier, and the cohort the buyer was last exposed under at this
// merchant; bad feedback is refused and stores nothing; another merchant's
// payment is one that does not exist.
func TestFeedback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		paid := payment.Payment{ID: "pay_1", MerchantID: "m_county", PaidMethod: "wechatpay.jsapi", Buyer: payment.Buyer{ID: "b1", RegionCode: "130627"}}
		svc := &rollouts.Service{DB: db, Payments: payments{paid.ID: paid}}
		at := rollout.Checkout{BuyerID: "b1", MerchantID: "m_county"}
		svc.RecordExposures(at, []rollout.Decision{{Method: "wechatpay.jsapi", Shown: true, Cohort: rollout.CohortPercent, Tier: rollout.TierCounty}}, paid.ID)
		// The same buyer at another merchant is not this merchant's to read.
		svc.RecordExposures(rollout.Checkout{BuyerID: "b1", MerchantID: "m_city"}, []rollout.Decision{{Method: "wechatpay.jsapi", Cohort: rollout.CohortHoldout}}, "")
		if err := svc.FlushExposures(ctx); err != nil {
			t.Fatal(err)
		}

		fb, err := svc.CreateFeedback(ctx, rollouts.Feedback{MerchantID: "m_county", PaymentID: paid.ID, Rating: 5, Text: "  很方便  "})
		if err != nil {
			t.Fatal(err)
		}
		if fb.BuyerID != "b1" || fb.Method != "wechatpay.jsapi" || fb.Tier != rollout.TierCounty || fb.Cohort != rollout.CohortPercent || fb.Text != "很方便" || !strings.HasPrefix(fb.ID, "fb_") || fb.Created.IsZero() {
			t.Errorf("feedback about a payment: %+v; want its buyer, method, tier, the percent cohort and the trimmed text", fb)
		}
		anon, err := svc.CreateFeedback(ctx, rollouts.Feedback{MerchantID: "m_county", Method: "alipay.wap", Rating: 3})
		if err != nil || anon.Cohort != "" || anon.BuyerID != "" {
			t.Errorf("feedback without a buyer: %+v, %v; want no cohort", anon, err)
		}

		for _, c := range []struct {
			name  string
			f     rollouts.Feedback
			param string
		}{
			{"a rating of 0", rollouts.Feedback{MerchantID: "m_county", Method: "alipay.wap", Rating: 0}, "rating"},
			{"a rating of 6", rollouts.Feedback{MerchantID: "m_county", Method: "alipay.wap", Rating: 6}, "rating"},
			{"no wallet's method", rollouts.Feedback{MerchantID: "m_county", Method: "cash", Rating: 3}, "method"},
			{"no method", rollouts.Feedback{MerchantID: "m_county", Rating: 3}, "method"},
			{"text too long", rollouts.Feedback{MerchantID: "m_county", Method: "alipay.wap", Rating: 3, Text: strings.Repeat("长", 1001)}, "text"},
			{"text not UTF-8", rollouts.Feedback{MerchantID: "m_county", Method: "alipay.wap", Rating: 3, Text: "\xff"}, "text"},
			{"a buyer id too long", rollouts.Feedback{MerchantID: "m_county", Method: "alipay.wap", Rating: 3, BuyerID: strings.Repeat("b", 65)}, "buyer_id"},
		} {
			if _, err := svc.CreateFeedback(ctx, c.f); fieldParam(err) != c.param {
				t.Errorf("%s: %v; want a field error on %s", c.name, err, c.param)
			}
		}
		_, err = svc.CreateFeedback(ctx, rollouts.Feedback{MerchantID: "m_city", PaymentID: paid.ID, Rating: 5})
		var nf *notfound.Error
		if !errors.As(err, &nf) || nf.Param != "payment_id" || !nf.Scoped {
			t.Errorf("feedback naming another merchant's payment: %v; want not found on payment_id", err)
		}
		if _, err := (&rollouts.Service{DB: db}).CreateFeedback(ctx, rollouts.Feedback{MerchantID: "m_county", PaymentID: paid.ID, Rating: 5}); err == nil {
			t.Error("a service without Payments took feedback naming a payment")
		}

		list, err := svc.ListFeedback(ctx, rollouts.FeedbackFilter{MerchantID: "m_county"})
		if err != nil || len(list) != 2 || list[1].ID != fb.ID || !list[1].Created.Equal(fb.Created.Truncate(time.Microsecond)) || list[1].Cohort != fb.Cohort {
			t.Fatalf("ListFeedback = %+v, %v; want the two stored, newest first", list, err)
		}
		if list, err := svc.ListFeedback(ctx, rollouts.FeedbackFilter{MerchantID: "m_city"}); err != nil || list == nil || len(list) != 0 {
			t.Errorf("another merchant's list: %#v, %v; want an empty list", list, err)
		}
		if _, err := svc.ListFeedback(ctx, rollouts.FeedbackFilter{MerchantID: "m_city", After: fb.ID}); !errors.Is(err, notfound.Err) {
			t.Errorf("another merchant's feedback as a cursor: %v; want notfound", err)
		}
	})
}
