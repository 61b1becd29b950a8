package rollout

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzTier: Tier never panics, and what it accepts is 6 ASCII digits with a
// market tier.
func FuzzTier(f *testing.F) {
	for _, s := range []string{"110105", "130627", "130681", "330782", "420106", "440305", "429004", "441900",
		"130600", "130000", "810000", "990101", "", "11010", "1101050", "11010a", "１１０１０５", "\x00\x00\x00\x00\x00\x00"} {
		f.Add(s)
	}
	tables := []TierTable{nil, {"3201": TierFirst, "810000": TierCity}, {}}
	f.Fuzz(func(t *testing.T, code string) {
		for _, tt := range tables {
			tier, err := Tier(code, tt)
			if err != nil {
				if tier != "" {
					t.Fatalf("Tier(%q) = %q with error %v", code, tier, err)
				}
				continue
			}
			if len(code) != 6 {
				t.Fatalf("Tier accepted %q, not 6 bytes", code)
			}
			for i := range len(code) {
				if code[i] < '0' || code[i] > '9' {
					t.Fatalf("Tier accepted %q, not all digits", code)
				}
			}
			if !isTier(tier) {
				t.Fatalf("Tier(%q) = %q, not a market tier", code, tier)
			}
		}
		// Evaluation over the same code never panics either.
		rs := RuleSet{Methods: map[string]Rule{"alipay.wap": {Enabled: true, BasisPoints: 5000, Tiers: []string{TierCounty}}}}
		rs.Evaluate(Checkout{BuyerID: "b", RegionCode: code, AppVersion: code}, []string{"alipay.wap"})
	})
}

// FuzzRuleJSON: decoding any bytes and validating never panics; a rule that
// validates round-trips through JSON to an equal rule, which validates and
// encodes to the same bytes.
func FuzzRuleJSON(f *testing.F) {
	for _, s := range []string{
		`{"enabled":true,"percent_bps":2000,"salt":"wechatpay-2024-09"}`,
		`{"enabled":true,"percent_bps":10000,"allow_buyers":["staff-1"],"deny_merchants":["m9"],"tiers":["county","county_city"],"platforms":["ios"],"min_app_version":"8.0.10"}`,
		`{"enabled":false,"percent_bps":-1}`,
		`{"percent_bps":1e4}`,
		`{"allow_buyers":[""],"salt":"\n"}`,
		`{"tiers":null,"platforms":[]}`,
		`{"min_app_version":"8..1"}`,
		`[]`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Rule
		if json.Unmarshal(data, &r) != nil {
			return
		}
		strict, strictErr := ParseRule(data)
		if err := r.Validate(); err != nil {
			if strictErr == nil {
				t.Fatalf("ParseRule accepted what Validate refuses: %v", err)
			}
			return
		}
		if strictErr == nil && !equalRules(strict, r) {
			t.Fatalf("ParseRule = %+v, Unmarshal = %+v", strict, r)
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseRule(enc)
		if err != nil {
			t.Fatalf("a valid rule's JSON %s does not parse back: %v", enc, err)
		}
		if !equalRules(back, r) {
			t.Fatalf("round trip changed the rule:\n%+v\n%+v", r, back)
		}
		enc2, _ := json.Marshal(back)
		if string(enc) != string(enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
		// A valid rule compiles and evaluates.
		rs := RuleSet{Methods: map[string]Rule{"wechatpay.native": r}}
		compiled, err := rs.Compile()
		if err != nil {
			t.Fatal(err)
		}
		compiled.Evaluate(Checkout{BuyerID: "b1", Platform: "ios", AppVersion: "8.0.10", RegionCode: "130627"}, []string{"wechatpay.native"})
	})
}

// equalRules compares rules, an empty list equal to a missing one (JSON
// omits both).
func equalRules(a, b Rule) bool {
	return a.Enabled == b.Enabled && a.BasisPoints == b.BasisPoints && a.Salt == b.Salt &&
		slices.Equal(a.AllowBuyers, b.AllowBuyers) && slices.Equal(a.DenyBuyers, b.DenyBuyers) &&
		slices.Equal(a.AllowMerchants, b.AllowMerchants) && slices.Equal(a.DenyMerchants, b.DenyMerchants) &&
		slices.Equal(a.AllowProducts, b.AllowProducts) && slices.Equal(a.DenyProducts, b.DenyProducts) &&
		slices.Equal(a.AllowCategories, b.AllowCategories) && slices.Equal(a.DenyCategories, b.DenyCategories) &&
		slices.Equal(a.Tiers, b.Tiers) && slices.Equal(a.Platforms, b.Platforms) && a.MinAppVersion == b.MinAppVersion
}

// FuzzCompareVersions: app versions come from User-Agent headers, so
// comparing any two strings never panics, and accepted versions compare
// antisymmetrically and equal to themselves.
func FuzzCompareVersions(f *testing.F) {
	for _, p := range [][2]string{{"8.0.10", "8.0.9"}, {"8.0", "8.0.0"}, {"8.0.50.2600", "x"}, {"", "1"}, {"999999999.1", "1.2.3.4.5.6.7.8"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, errA := CompareVersions(a, b)
		ba, errB := CompareVersions(b, a)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("CompareVersions(%q, %q) and reverse disagree on validity: %v, %v", a, b, errA, errB)
		}
		if errA != nil {
			return
		}
		if ab != -ba {
			t.Fatalf("CompareVersions(%q, %q) = %d, reverse %d", a, b, ab, ba)
		}
		if aa, _ := CompareVersions(a, a); aa != 0 {
			t.Fatalf("CompareVersions(%q, itself) = %d", a, aa)
		}
	})
}
