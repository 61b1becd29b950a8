package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestRolloutRuleMethods: the rule history on both backends — versions
// count changes of the whole set, a removal leaves a method without a
// rule as of its version while the history keeps it, and a change in a
// transaction is seen there and nowhere else until it commits.
func TestRolloutRuleMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		if v, err := db.Pool().RolloutRuleVersion(ctx); err != nil || v != 0 {
			t.Fatalf("RolloutRuleVersion before any change = %d, %v; want 0", v, err)
		}
		if rs, err := db.Pool().RolloutRulesAt(ctx, 0); err != nil || len(rs) != 0 {
			t.Fatalf("RolloutRulesAt(0) = %v, %v; want no rules", rs, err)
		}
		tenth := rollout.Rule{Enabled: true, BasisPoints: 1000, Salt: "wechat-2024", Tiers: []string{rollout.TierCounty}}
		everyone := rollout.Rule{Enabled: true, BasisPoints: rollout.Buckets, Salt: "wechat-2024"}
		off := rollout.Rule{}
		changes := []store.RolloutRuleInsertParams{
			{Method: "wechatpay.native", Rule: &tenth, Actor: "ops", Reason: "10% of county buyers", CreatedAt: at},
			{Method: "alipay.wap", Rule: &off, Actor: "ops", Reason: "incident", CreatedAt: at.Add(time.Minute)},
			{Method: "wechatpay.native", Rule: &everyone, Actor: "ops", Reason: "everyone", CreatedAt: at.Add(2 * time.Minute)},
			{Method: "alipay.wap", Rule: nil, Actor: "ops", Reason: "incident over", CreatedAt: at.Add(3 * time.Minute)},
		}
		for i, c := range changes {
			v, err := db.Pool().RolloutRuleInsert(ctx, c)
			if err != nil || v != i+1 {
				t.Fatalf("RolloutRuleInsert #%d = %d, %v; want version %d", i, v, err, i+1)
			}
		}
		if v, err := db.Pool().RolloutRuleVersion(ctx); err != nil || v != 4 {
			t.Fatalf("RolloutRuleVersion = %d, %v; want 4", v, err)
		}
		for _, c := range []struct {
			version int
			want    map[string]rollout.Rule
		}{
			{1, map[string]rollout.Rule{"wechatpay.native": tenth}},
			{2, map[string]rollout.Rule{"wechatpay.native": tenth, "alipay.wap": off}},
			{3, map[string]rollout.Rule{"wechatpay.native": everyone, "alipay.wap": off}},
			{4, map[string]rollout.Rule{"wechatpay.native": everyone}}, // removed
		} {
			if rs, err := db.Pool().RolloutRulesAt(ctx, c.version); err != nil || !reflect.DeepEqual(rs, c.want) {
				t.Errorf("RolloutRulesAt(%d) = %+v, %v; want %+v", c.version, rs, err, c.want)
			}
		}

		all, err := db.Pool().RolloutRuleHistory(ctx, "")
		if err != nil || len(all) != 4 {
			t.Fatalf("RolloutRuleHistory of every method = %+v, %v; want 4 changes", all, err)
		}
		for i, rc := range all { // newest first
			c := changes[len(changes)-1-i]
			want := store.RolloutRule{Version: len(changes) - i, Method: c.Method, Rule: c.Rule, Actor: c.Actor, Reason: c.Reason, CreatedAt: c.CreatedAt}
			if !reflect.DeepEqual(rc, want) {
				t.Errorf("history[%d] = %+v; want %+v", i, rc, want)
			}
		}
		wap, err := db.Pool().RolloutRuleHistory(ctx, "alipay.wap")
		if err != nil || len(wap) != 2 || wap[0].Version != 4 || wap[0].Rule != nil || wap[1].Rule == nil || wap[1].Rule.Enabled {
			t.Errorf("RolloutRuleHistory(alipay.wap) = %+v, %v; want the removal, then the kill switch", wap, err)
		}
		if none, err := db.Pool().RolloutRuleHistory(ctx, "alipay.app"); err != nil || len(none) != 0 {
			t.Errorf("RolloutRuleHistory of a method never changed = %+v, %v; want none", none, err)
		}

		// In a transaction: the change is its next version, seen inside,
		// and gone with a rollback.
		rollback := errors.New("roll back")
		err = db.Tx(ctx, func(tx *sql.Tx) error {
			v, err := db.In(tx).RolloutRuleInsert(ctx, store.RolloutRuleInsertParams{Method: "alipay.wap", Rule: &off, Actor: "ops", Reason: "again", CreatedAt: at})
			if err != nil || v != 5 {
				t.Errorf("RolloutRuleInsert in a transaction = %d, %v; want version 5", v, err)
			}
			if v, err := db.In(tx).RolloutRuleVersion(ctx); err != nil || v != 5 {
				t.Errorf("RolloutRuleVersion in the transaction = %d, %v; want 5", v, err)
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("transaction: %v", err)
		}
		if v, err := db.Pool().RolloutRuleVersion(ctx); err != nil || v != 4 {
			t.Errorf("RolloutRuleVersion after a rollback = %d, %v; want 4", v, err)
		}

		// A version another change took is a unique violation.
		if _, err := db.ExecContext(ctx, `INSERT INTO rollout_rules (version, method, rule, actor, reason, created_at) VALUES (5, 'alipay.wap', 'null', 'x', 'x', 0)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO rollout_rules (version, method, rule, actor, reason, created_at) VALUES (5, 'alipay.wap', 'null', 'x', 'x', 0)`); !store.IsUniqueViolation(err) {
			t.Errorf("a second change under one version: %v, want a unique violation", err)
		}
		// A stored rule that does not decode is an error, not a rule.
		if _, err := db.ExecContext(ctx, `INSERT INTO rollout_rules (version, method, rule, actor, reason, created_at) VALUES (6, 'alipay.app', '{', 'x', 'x', 0)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Pool().RolloutRulesAt(ctx, 6); err == nil {
			t.Error("RolloutRulesAt over a rule that does not decode: no error")
		}
		if _, err := db.Pool().RolloutRuleHistory(ctx, "alipay.app"); err == nil {
			t.Error("RolloutRuleHistory over a rule that does not decode: no error")
		}
	})
}

// TestExposureMethods: exposures written in batches larger than one
// statement takes, read back as the dry run's checkouts and as a buyer's
// latest cohort, on both backends.
func TestExposureMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		if err := db.Pool().ExposureInsert(ctx, nil); err != nil {
			t.Fatalf("ExposureInsert of nothing: %v", err)
		}
		// More than one statement's worth, each a second apart, of one
		// merchant's checkouts of wechatpay.native.
		n := store.ExposureBatch + 7
		var xs []store.Exposure
		for i := range n {
			xs = append(xs, store.Exposure{
				At:        at.Add(time.Duration(i) * time.Second),
				Checkout:  rollout.Checkout{BuyerID: fmt.Sprintf("b%04d", i), MerchantID: "m_county", RegionCode: "130627", Platform: "ios", AppVersion: "8.0.50"},
				Decision:  rollout.Decision{Method: "wechatpay.native", Shown: i%2 == 0, Version: 3, Cohort: rollout.CohortPercent, Tier: rollout.TierCounty},
				PaymentID: fmt.Sprintf("pay_%d", i),
			})
		}
		if err := db.Pool().ExposureInsert(ctx, xs); err != nil {
			t.Fatal(err)
		}
		var rows, shown int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(shown) FROM exposures`).Scan(&rows, &shown); err != nil {
			t.Fatal(err)
		}
		if rows != n || shown != (n+1)/2 {
			t.Fatalf("%d exposures written, %d shown; want %d, %d", rows, shown, n, (n+1)/2)
		}

		// The last ten seconds' checkouts, newest first.
		got, err := db.Pool().ExposureCheckouts(ctx, store.ExposureCheckoutsParams{Method: "wechatpay.native", Since: at.Add(time.Duration(n-10) * time.Second)})
		if err != nil || len(got) != 10 {
			t.Fatalf("ExposureCheckouts of the last 10 s = %d checkouts, %v; want 10", len(got), err)
		}
		if want := xs[n-1].Checkout; !reflect.DeepEqual(got[0], want) {
			t.Errorf("newest checkout = %+v; want %+v", got[0], want)
		}
		if got, err := db.Pool().ExposureCheckouts(ctx, store.ExposureCheckoutsParams{Method: "alipay.wap", Since: at}); err != nil || len(got) != 0 {
			t.Errorf("ExposureCheckouts of a method never decided = %v, %v; want none", got, err)
		}

		// A buyer's latest exposure gives its cohort; the same buyer at
		// another merchant, or another method, is not it.
		later := store.Exposure{At: at.Add(time.Hour), Checkout: rollout.Checkout{BuyerID: "b0001", MerchantID: "m_county"},
			Decision: rollout.Decision{Method: "wechatpay.native", Cohort: rollout.CohortHoldout}}
		other := store.Exposure{At: at.Add(2 * time.Hour), Checkout: rollout.Checkout{BuyerID: "b0001", MerchantID: "m_city"},
			Decision: rollout.Decision{Method: "wechatpay.native", Cohort: rollout.CohortAllow, Tier: rollout.TierFirst}}
		if err := db.Pool().ExposureInsert(ctx, []store.Exposure{later, other}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			p    store.ExposureLatestParams
			want store.ExposureCohort
		}{
			{store.ExposureLatestParams{MerchantID: "m_county", BuyerID: "b0001", Method: "wechatpay.native"}, store.ExposureCohort{Cohort: rollout.CohortHoldout}},
			{store.ExposureLatestParams{MerchantID: "m_city", BuyerID: "b0001", Method: "wechatpay.native"}, store.ExposureCohort{Cohort: rollout.CohortAllow, Tier: rollout.TierFirst}},
			{store.ExposureLatestParams{MerchantID: "m_county", BuyerID: "b0002", Method: "wechatpay.native"}, store.ExposureCohort{Cohort: rollout.CohortPercent, Tier: rollout.TierCounty}},
		} {
			if got, err := db.Pool().ExposureLatest(ctx, c.p); err != nil || got != c.want {
				t.Errorf("ExposureLatest(%+v) = %+v, %v; want %+v", c.p, got, err, c.want)
			}
		}
		if _, err := db.Pool().ExposureLatest(ctx, store.ExposureLatestParams{MerchantID: "m_county", BuyerID: "b0001", Method: "alipay.wap"}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("ExposureLatest of a method the buyer never saw: %v, want ErrNoRows", err)
		}
	})
}

// TestFeedbackMethods: feedback stored and listed newest first on both
// backends, through each filter, a page at a time, with a cursor outside
// the merchant's own feedback read as one that does not exist.
func TestFeedbackMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		fbs := []store.Feedback{
			{ID: "fb_1", MerchantID: "m_county", PaymentID: "pay_1", BuyerID: "b1", Method: "wechatpay.native", Rating: 5, Text: "很方便", Cohort: "percent", Tier: "county", CreatedAt: at},
			{ID: "fb_2", MerchantID: "m_county", Method: "alipay.wap", Rating: 3, Text: "", CreatedAt: at.Add(time.Minute)},
			{ID: "fb_3", MerchantID: "m_city", BuyerID: "b3", Method: "wechatpay.native", Rating: 4, Text: "ok", Cohort: "default", Tier: "first_tier", CreatedAt: at.Add(2 * time.Minute)},
			{ID: "fb_4", MerchantID: "m_county", BuyerID: "b4", Method: "wechatpay.native", Rating: 1, Text: "扫不出来", Cohort: "holdout", Tier: "county", CreatedAt: at.Add(2 * time.Minute)}, // a tie with fb_3
		}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			for _, f := range fbs {
				if err := db.In(tx).FeedbackInsert(ctx, f); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Pool().FeedbackInsert(ctx, fbs[0]); !store.IsUniqueViolation(err) {
			t.Errorf("a second feedback under one id: %v, want a unique violation", err)
		}
		bad := fbs[0]
		bad.ID, bad.Rating = "fb_bad", 6
		if err := db.Pool().FeedbackInsert(ctx, bad); err == nil {
			t.Error("a rating of 6 was stored")
		}

		ids := func(list []store.Feedback) []string {
			var out []string
			for _, f := range list {
				out = append(out, f.ID)
			}
			return out
		}
		for _, c := range []struct {
			p    store.FeedbackListParams
			want []string
		}{
			{store.FeedbackListParams{}, []string{"fb_3", "fb_4", "fb_2", "fb_1"}}, // newest first, ties by id
			{store.FeedbackListParams{MerchantID: "m_county"}, []string{"fb_4", "fb_2", "fb_1"}},
			{store.FeedbackListParams{MerchantID: "m_county", Method: "wechatpay.native"}, []string{"fb_4", "fb_1"}},
			{store.FeedbackListParams{Cohort: "default"}, []string{"fb_3"}},
			{store.FeedbackListParams{Tier: "county"}, []string{"fb_4", "fb_1"}},
			{store.FeedbackListParams{From: at.Add(time.Minute), To: at.Add(2 * time.Minute)}, []string{"fb_2"}},
			{store.FeedbackListParams{Limit: 2}, []string{"fb_3", "fb_4"}},
			{store.FeedbackListParams{After: "fb_4", Limit: 1}, []string{"fb_2"}},
			{store.FeedbackListParams{MerchantID: "m_county", After: "fb_4"}, []string{"fb_2", "fb_1"}},
			{store.FeedbackListParams{MerchantID: "m_other"}, nil},
		} {
			got, err := db.Pool().FeedbackList(ctx, c.p)
			if err != nil || !reflect.DeepEqual(ids(got), c.want) {
				t.Errorf("FeedbackList(%+v) = %v, %v; want %v", c.p, ids(got), err, c.want)
			}
		}
		got, err := db.Pool().FeedbackList(ctx, store.FeedbackListParams{MerchantID: "m_county", Method: "wechatpay.native", Cohort: "percent"})
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], fbs[0]) {
			t.Errorf("FeedbackList read back %+v, %v; want %+v", got, err, fbs[0])
		}
		// Another merchant's feedback is no cursor of this merchant's.
		if _, err := db.Pool().FeedbackList(ctx, store.FeedbackListParams{MerchantID: "m_county", After: "fb_3"}); !errors.Is(err, notfound.Err) {
			t.Errorf("a cursor naming another merchant's feedback: %v, want notfound", err)
		}
	})
}
