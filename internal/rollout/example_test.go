package rollout_test

import (
	"fmt"

	"github.com/hutong-pay/hutong/internal/rollout"
)

// A marketplace opens WeChat Pay: Native QR codes to 20% of buyers, the
// in-wallet JSAPI only inside recent WeChat apps in county-level markets,
// the team always, and one merchant never.
func ExampleRuleSet_Evaluate() {
	rs, err := rollout.ParseRuleSet([]byte(`{
		"version": 3,
		"methods": {
			"wechatpay.native": {"enabled": true, "percent_bps": 2000, "salt": "wechatpay-2024-09",
				"allow_buyers": ["staff-1"], "deny_merchants": ["m-luxury"]},
			"wechatpay.jsapi": {"enabled": true, "percent_bps": 10000, "salt": "wechatpay-2024-09",
				"tiers": ["county", "county_city"], "min_app_version": "8.0.10"}
		}
	}`))
	if err != nil {
		panic(err)
	}
	methods := []string{"alipay.wap", "wechatpay.native", "wechatpay.jsapi"}
	for _, c := range []rollout.Checkout{
		{BuyerID: "b1", MerchantID: "m-shoes", RegionCode: "130627", AppVersion: "8.0.9"},
		{BuyerID: "staff-1", MerchantID: "m-shoes", RegionCode: "440305", AppVersion: "8.0.50"},
		{BuyerID: "staff-1", MerchantID: "m-luxury", RegionCode: "330782", AppVersion: "8.0.50"},
	} {
		for _, d := range rs.Evaluate(c, methods) {
			fmt.Printf("%-10s %s\n", d.Cohort, d.Reason)
		}
	}
	// Output:
	// default    alipay.wap shown: it has no rollout rule, so every buyer sees it
	// holdout    wechatpay.native hidden: bucket 3381 is not under 2000 (20.00%)
	// untargeted wechatpay.jsapi hidden: app version 8.0.9 is below the minimum 8.0.10
	// default    alipay.wap shown: it has no rollout rule, so every buyer sees it
	// allow      wechatpay.native shown: buyer staff-1 is on the allow-list
	// untargeted wechatpay.jsapi hidden: market tier first_tier of region 440305 is not among county, county_city
	// default    alipay.wap shown: it has no rollout rule, so every buyer sees it
	// deny       wechatpay.native hidden: merchant m-luxury is on the deny-list
	// percent    wechatpay.jsapi shown: bucket 6339 is under 10000 (100.00%)
}

func ExampleTier() {
	for _, code := range []string{"110105", "420106", "130627", "130681", "130600"} {
		tier, err := rollout.Tier(code, nil)
		fmt.Println(code, tier, err)
	}
	// Output:
	// 110105 first_tier <nil>
	// 420106 city <nil>
	// 130627 county <nil>
	// 130681 county_city <nil>
	// 130600  region code 130600 names a whole prefecture, not a district or county
}
