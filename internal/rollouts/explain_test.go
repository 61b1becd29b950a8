package rollouts_test

import (
	"context"
	"testing"

	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestExplain: each decision comes with the rule of the version that
// made it; a method without a rule comes with none.
func TestExplain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := &rollouts.Service{DB: db, HasAccount: func(ch string) bool { return ch == "wechatpay" || ch == "alipay" }}
		tenth := rollout.Rule{Enabled: true, BasisPoints: 1000, Salt: "wechat-2024", DenyBuyers: []string{"b-denied"}}
		if _, err := svc.SetRule(ctx, "wechatpay.native", tenth, "ops@hutong.test", "first buyers"); err != nil {
			t.Fatal(err)
		}
		off := tenth
		off.Enabled = false
		rc, err := svc.SetRule(ctx, "alipay.wap", off, "ops@hutong.test", "incident")
		if err != nil {
			t.Fatal(err)
		}
		ex, err := svc.Explain(ctx, rollout.Checkout{BuyerID: "b-denied", MerchantID: "m_county"})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range ex {
			seen[e.Method] = true
			if e.Version != rc.Version {
				t.Errorf("%s decided by version %d, want %d", e.Method, e.Version, rc.Version)
			}
			switch e.Method {
			case "wechatpay.native":
				if e.Rule == nil || e.Rule.BasisPoints != 1000 || e.Shown || e.Cohort != rollout.CohortDeny {
					t.Errorf("wechatpay.native: %+v rule %+v, want denied under the 10%% rule", e.Decision, e.Rule)
				}
			case "alipay.wap":
				if e.Rule == nil || e.Rule.Enabled || e.Cohort != rollout.CohortOff {
					t.Errorf("alipay.wap: %+v rule %+v, want the kill switch's rule", e.Decision, e.Rule)
				}
			default:
				if e.Rule != nil || !e.Shown || e.Cohort != rollout.CohortDefault {
					t.Errorf("%s without a rule: %+v rule %+v", e.Method, e.Decision, e.Rule)
				}
			}
		}
		if !seen["wechatpay.native"] || !seen["alipay.wap"] {
			t.Fatalf("explained %v, want every wallet method", seen)
		}
	})
}
