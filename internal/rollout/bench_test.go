package rollout

import (
	"fmt"
	"testing"
)

var benchMethods = []string{"wechatpay.native", "wechatpay.jsapi", "wechatpay.h5", "wechatpay.app",
	"alipay.precreate", "alipay.jsapi", "alipay.wap", "alipay.page", "alipay.app"}

// benchRuleSet is 9 methods whose eight lists hold 1,000 ids each; one
// WeChat Pay salt for the wallet's methods, one for Alipay's.
func benchRuleSet() RuleSet {
	list := func(kind string, m int) []string {
		ids := make([]string, 1000)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-%d-%04d", kind, m, i)
		}
		return ids
	}
	rs := RuleSet{Version: 1, Methods: map[string]Rule{}}
	for i, m := range benchMethods {
		s := "wechatpay-2024-09"
		if i >= 4 {
			s = "alipay-2024-09"
		}
		rs.Methods[m] = Rule{
			Enabled: true, BasisPoints: 2000, Salt: s,
			AllowBuyers: list("allow-buyer", i), DenyBuyers: list("deny-buyer", i),
			AllowMerchants: list("allow-merchant", i), DenyMerchants: list("deny-merchant", i),
			AllowProducts: list("allow-product", i), DenyProducts: list("deny-product", i),
			AllowCategories: list("allow-category", i), DenyCategories: list("deny-category", i),
			Tiers: []string{TierCity, TierCounty, TierCountyCity}, Platforms: []string{"ios", "android", "miniprogram"},
			MinAppVersion: "8.0.10",
		}
	}
	return rs
}

// benchCheckout misses every list, so each method runs every step down to
// the percentage: the slowest path.
var benchCheckout = Checkout{BuyerID: "o_Xk3b9vQ2mN8pL4", MerchantID: "m-taobao-001", ProductIDs: []string{"p-1", "p-2", "p-3"},
	Categories: []string{"phones", "accessories"}, RegionCode: "130627", Platform: "android", AppVersion: "8.0.50.2600"}

// BenchmarkEvaluate decides the 9 methods for one checkout with the compiled
// rule set: 72 list lookups, 2 buckets (one per salt), the tier, the version.
func BenchmarkEvaluate(b *testing.B) {
	compiled, err := benchRuleSet().Compile()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ds := compiled.Evaluate(benchCheckout, benchMethods); len(ds) != 9 {
			b.Fatal(len(ds))
		}
	}
}

// BenchmarkEvaluateUncompiled is the same on the RuleSet as written, whose
// lists are searched one by one: what Compile saves.
func BenchmarkEvaluateUncompiled(b *testing.B) {
	rs := benchRuleSet()
	b.ReportAllocs()
	for b.Loop() {
		rs.Evaluate(benchCheckout, benchMethods)
	}
}

func BenchmarkBucket(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Bucket("wechatpay-2024-09", "o_Xk3b9vQ2mN8pL4")
	}
}

func BenchmarkCompile(b *testing.B) {
	rs := benchRuleSet()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rs.Compile(); err != nil {
			b.Fatal(err)
		}
	}
}
