package rollout

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// TestBucketVectors pins Bucket forever: stored cohorts and every ramp in
// production depend on these numbers. The values were computed outside Go:
//
//	printf 'wechatpay-2024-09\nb1' | sha256sum   # 500155a5d1272325…
//	python3 -c 'print(0x500155a5d1272325 % 10000)'   # 3381
func TestBucketVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		salt, buyer string
		want        int
	}{
		{"wechatpay-2024-09", "b1", 3381},
		{"wechatpay-2024-09", "buyer-00001", 1439},
		{"", "b1", 2874},
	} {
		if got := Bucket(tc.salt, tc.buyer); got != tc.want {
			t.Errorf("Bucket(%q, %q) = %d, want %d", tc.salt, tc.buyer, got, tc.want)
		}
		// The documented definition, written out again.
		sum := sha256.Sum256([]byte(tc.salt + "\n" + tc.buyer))
		if got := int(binary.BigEndian.Uint64(sum[:8]) % 10000); got != tc.want {
			t.Errorf("definition gives %d for (%q, %q), want %d", got, tc.salt, tc.buyer, tc.want)
		}
	}
	// Long inputs take the heap path and agree with the definition.
	long := strings.Repeat("x", 500)
	sum := sha256.Sum256([]byte(long + "\n" + long))
	if got, want := Bucket(long, long), int(binary.BigEndian.Uint64(sum[:8])%10000); got != want {
		t.Errorf("Bucket(long, long) = %d, want %d", got, want)
	}
}

const salt = "wechatpay-2024-09" // Bucket(salt, "b1") == 3381

// TestEvaluateReasons walks every step of the evaluation order, and every
// reason each step gives, on both the RuleSet and its Compiled form.
func TestEvaluateReasons(t *testing.T) {
	t.Parallel()
	on := func(bps int) Rule { return Rule{Enabled: true, BasisPoints: bps, Salt: salt} }
	with := func(r Rule, f func(*Rule)) Rule { f(&r); return r }
	buyer := Checkout{BuyerID: "b1", MerchantID: "m1", ProductIDs: []string{"p1", "p2"}, Categories: []string{"phones"},
		RegionCode: "130627", Platform: "ios", AppVersion: "8.0.50.2600"}
	co := func(f func(*Checkout)) Checkout { c := buyer; f(&c); return c }

	for _, tc := range []struct {
		name   string
		rule   *Rule // nil: no rule for the method
		c      Checkout
		shown  bool
		cohort string
		reason string
		bucket int
	}{
		{"no rule", nil, buyer, true, CohortDefault,
			"wechatpay.native shown: it has no rollout rule, so every buyer sees it", -1},
		{"kill switch", &Rule{Enabled: false, BasisPoints: 10000, Salt: salt, AllowBuyers: []string{"b1"}}, buyer, false, CohortOff,
			"wechatpay.native hidden: the kill switch is off (enabled is false)", 3381},
		{"deny buyer beats allow buyer", ptr(with(on(10000), func(r *Rule) { r.DenyBuyers = []string{"b1"}; r.AllowBuyers = []string{"b1"} })), buyer, false, CohortDeny,
			"wechatpay.native hidden: buyer b1 is on the deny-list", 3381},
		{"deny merchant", ptr(with(on(10000), func(r *Rule) { r.DenyMerchants = []string{"m1"}; r.AllowBuyers = []string{"b1"} })), buyer, false, CohortDeny,
			"wechatpay.native hidden: merchant m1 is on the deny-list", 3381},
		{"deny product, any in the cart", ptr(with(on(10000), func(r *Rule) { r.DenyProducts = []string{"p2"} })), buyer, false, CohortDeny,
			"wechatpay.native hidden: product p2 is on the deny-list", 3381},
		{"deny category", ptr(with(on(10000), func(r *Rule) { r.DenyCategories = []string{"phones"}; r.AllowProducts = []string{"p1"} })), buyer, false, CohortDeny,
			"wechatpay.native hidden: category phones is on the deny-list", 3381},
		{"allow buyer at 0%", ptr(with(on(0), func(r *Rule) { r.AllowBuyers = []string{"b1"} })), buyer, true, CohortAllow,
			"wechatpay.native shown: buyer b1 is on the allow-list", 3381},
		{"allow merchant skips targeting", ptr(with(on(0), func(r *Rule) { r.AllowMerchants = []string{"m1"}; r.Platforms = []string{"pc"} })), buyer, true, CohortAllow,
			"wechatpay.native shown: merchant m1 is on the allow-list", 3381},
		{"allow product", ptr(with(on(0), func(r *Rule) { r.AllowProducts = []string{"p1"} })), buyer, true, CohortAllow,
			"wechatpay.native shown: product p1 is on the allow-list", 3381},
		{"allow category", ptr(with(on(0), func(r *Rule) { r.AllowCategories = []string{"phones"} })), buyer, true, CohortAllow,
			"wechatpay.native shown: category phones is on the allow-list", 3381},
		{"platform not listed", ptr(with(on(10000), func(r *Rule) { r.Platforms = []string{"android", "miniprogram"} })), buyer, false, CohortUntargeted,
			"wechatpay.native hidden: platform ios is not among android, miniprogram", 3381},
		{"platform unknown", ptr(with(on(10000), func(r *Rule) { r.Platforms = []string{"ios"} })), co(func(c *Checkout) { c.Platform = "" }), false, CohortUntargeted,
			"wechatpay.native hidden: the platform is unknown and the rule shows it only on ios", 3381},
		{"platform listed", ptr(with(on(10000), func(r *Rule) { r.Platforms = []string{"android", "ios"} })), buyer, true, CohortPercent,
			"wechatpay.native shown: bucket 3381 is under 10000 (100.00%)", 3381},
		{"app version below minimum, numerically", ptr(with(on(10000), func(r *Rule) { r.MinAppVersion = "8.0.10" })), co(func(c *Checkout) { c.AppVersion = "8.0.9" }), false, CohortUntargeted,
			"wechatpay.native hidden: app version 8.0.9 is below the minimum 8.0.10", 3381},
		{"app version at minimum", ptr(with(on(10000), func(r *Rule) { r.MinAppVersion = "8.0.50.2600" })), buyer, true, CohortPercent,
			"wechatpay.native shown: bucket 3381 is under 10000 (100.00%)", 3381},
		{"app version unknown", ptr(with(on(10000), func(r *Rule) { r.MinAppVersion = "8.0.10" })), co(func(c *Checkout) { c.AppVersion = "" }), false, CohortUntargeted,
			"wechatpay.native hidden: the app version is unknown and the minimum is 8.0.10", 3381},
		{"app version unreadable", ptr(with(on(10000), func(r *Rule) { r.MinAppVersion = "8.0.10" })), co(func(c *Checkout) { c.AppVersion = "8.0.x" }), false, CohortUntargeted,
			`wechatpay.native hidden: app version "8.0.x" is not a dotted number, and the minimum is 8.0.10`, 3381},
		{"tier not listed", ptr(with(on(10000), func(r *Rule) { r.Tiers = []string{TierFirst, TierCity} })), buyer, false, CohortUntargeted,
			"wechatpay.native hidden: market tier county of region 130627 is not among first_tier, city", 3381},
		{"tier listed", ptr(with(on(10000), func(r *Rule) { r.Tiers = []string{TierCounty, TierCountyCity} })), buyer, true, CohortPercent,
			"wechatpay.native shown: bucket 3381 is under 10000 (100.00%)", 3381},
		{"region unknown", ptr(with(on(10000), func(r *Rule) { r.Tiers = []string{TierCounty} })), co(func(c *Checkout) { c.RegionCode = "" }), false, CohortUntargeted,
			"wechatpay.native hidden: the buyer's region is unknown and the rule shows it only to tiers county", 3381},
		{"region without tier", ptr(with(on(10000), func(r *Rule) { r.Tiers = []string{TierCounty} })), co(func(c *Checkout) { c.RegionCode = "130600" }), false, CohortUntargeted,
			"wechatpay.native hidden: the market tier is unknown (region code 130600 names a whole prefecture, not a district or county) and the rule shows it only to tiers county", 3381},
		{"percentage: under", ptr(on(5000)), buyer, true, CohortPercent,
			"wechatpay.native shown: bucket 3381 is under 5000 (50.00%)", 3381},
		{"percentage: not under", ptr(on(2000)), buyer, false, CohortHoldout,
			"wechatpay.native hidden: bucket 3381 is not under 2000 (20.00%)", 3381},
		{"percentage: at the bucket", ptr(on(3381)), buyer, false, CohortHoldout,
			"wechatpay.native hidden: bucket 3381 is not under 3381 (33.81%)", 3381},
		{"percentage: one above the bucket", ptr(on(3382)), buyer, true, CohortPercent,
			"wechatpay.native shown: bucket 3381 is under 3382 (33.82%)", 3381},
		{"percentage: 0", ptr(on(0)), buyer, false, CohortHoldout,
			"wechatpay.native hidden: bucket 3381 is not under 0 (0.00%)", 3381},
		{"no buyer id below 100%", ptr(on(9999)), co(func(c *Checkout) { c.BuyerID = "" }), false, CohortUntargeted,
			"wechatpay.native hidden: the checkout has no buyer id to place in a bucket, and the rule shows it to 9999 of 10000 buckets (99.99%)", -1},
		{"no buyer id at 100%", ptr(on(10000)), co(func(c *Checkout) { c.BuyerID = "" }), true, CohortPercent,
			"wechatpay.native shown: the rule shows it to every buyer (10000 of 10000 buckets, 100.00%), known or not", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := RuleSet{Version: 7, Methods: map[string]Rule{}}
			if tc.rule != nil {
				rs.Methods["wechatpay.native"] = *tc.rule
			}
			compiled, err := rs.Compile()
			if err != nil {
				t.Fatal(err)
			}
			for name, ds := range map[string][]Decision{
				"RuleSet":  rs.Evaluate(tc.c, []string{"wechatpay.native"}),
				"Compiled": compiled.Evaluate(tc.c, []string{"wechatpay.native"}),
			} {
				if len(ds) != 1 {
					t.Fatalf("%s: %d decisions, want 1", name, len(ds))
				}
				d := ds[0]
				if d.Method != "wechatpay.native" || d.Shown != tc.shown || d.Cohort != tc.cohort || d.Reason != tc.reason || d.Bucket != tc.bucket || d.Version != 7 {
					t.Errorf("%s:\n got %+v\nwant shown=%v cohort=%s bucket=%d\n     reason %q", name, d, tc.shown, tc.cohort, tc.bucket, tc.reason)
				}
				wantTier := map[string]string{"130627": TierCounty, "130600": "", "": ""}[tc.c.RegionCode]
				if d.Tier != wantTier {
					t.Errorf("%s: tier %q, want %q", name, d.Tier, wantTier)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestEvaluateSeveralMethods(t *testing.T) {
	t.Parallel()
	rs := RuleSet{Version: 3, Methods: map[string]Rule{
		"wechatpay.native": {Enabled: true, BasisPoints: 10000, Salt: salt},
		"wechatpay.jsapi":  {Enabled: true, BasisPoints: 0, Salt: salt},
		"wechatpay.h5":     {Enabled: false},
	}, TierOverrides: TierTable{"1306": TierCity}}
	c := Checkout{BuyerID: "b1", RegionCode: "130627"}
	methods := []string{"alipay.wap", "wechatpay.native", "wechatpay.jsapi", "wechatpay.h5"}
	compiled, err := rs.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range [][]Decision{rs.Evaluate(c, methods), compiled.Evaluate(c, methods)} {
		var got []string
		for _, d := range ds {
			got = append(got, d.Method+"="+d.Cohort+"/"+d.Tier)
		}
		want := "alipay.wap=default/city wechatpay.native=percent/city wechatpay.jsapi=holdout/city wechatpay.h5=off/city"
		if strings.Join(got, " ") != want {
			t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
		}
	}
	if ds := rs.Evaluate(c, nil); len(ds) != 0 {
		t.Errorf("no methods gave %d decisions", len(ds))
	}
}

// TestEvaluateUnvalidated: RuleSet.Evaluate applies a rule that does not
// validate as written, never panicking, and hides what it cannot read.
func TestEvaluateUnvalidated(t *testing.T) {
	t.Parallel()
	c := Checkout{BuyerID: "b1", AppVersion: "9.0"}
	rs := RuleSet{Methods: map[string]Rule{
		"a": {Enabled: true, BasisPoints: -5},
		"b": {Enabled: true, BasisPoints: 20000},
		"c": {Enabled: true, BasisPoints: 10000, MinAppVersion: "nine"},
	}}
	ds := rs.Evaluate(c, []string{"a", "b", "c"})
	if ds[0].Shown || ds[0].Cohort != CohortHoldout {
		t.Errorf("negative percentage: %+v", ds[0])
	}
	if !ds[1].Shown || ds[1].Cohort != CohortPercent {
		t.Errorf("percentage above 100%%: %+v", ds[1])
	}
	if ds[2].Shown || ds[2].Reason != `c hidden: the rule's min_app_version "nine" is not a dotted number` {
		t.Errorf("unreadable minimum: %+v", ds[2])
	}
	if _, err := rs.Compile(); err == nil {
		t.Error("Compile accepted an invalid rule set")
	}
}

func TestRuleValidate(t *testing.T) {
	t.Parallel()
	many := make([]string, MaxListEntries+1)
	for i := range many {
		many[i] = "b"
	}
	for _, tc := range []struct {
		rule  Rule
		field string // "" = valid
		msg   string
	}{
		{Rule{}, "", ""},
		{Rule{Enabled: true, BasisPoints: 10000, Salt: "wechatpay-2024-09", Tiers: []string{"county", "county_city"},
			Platforms: []string{"ios", "android"}, MinAppVersion: "8.0.10", AllowBuyers: many[:MaxListEntries]}, "", ""},
		{Rule{BasisPoints: -1}, "percent_bps", "must be 0 to 10000 basis points (0.00% to 100.00%), got -1"},
		{Rule{BasisPoints: 10001}, "percent_bps", "must be 0 to 10000 basis points (0.00% to 100.00%), got 10001"},
		{Rule{Salt: strings.Repeat("s", 65)}, "salt", "must be at most 64 bytes, got 65"},
		{Rule{Salt: "a\nb"}, "salt", "must be valid UTF-8 without control characters"},
		{Rule{DenyBuyers: many}, "deny_buyers", "may hold at most 10000 entries, got 10001"},
		{Rule{AllowMerchants: []string{"m1", ""}}, "allow_merchants[1]", "must be 1 to 64 bytes, got 0"},
		{Rule{DenyProducts: []string{strings.Repeat("p", 65)}}, "deny_products[0]", "must be 1 to 64 bytes, got 65"},
		{Rule{AllowCategories: []string{"\xff"}}, "allow_categories[0]", "must be valid UTF-8 without control characters"},
		{Rule{DenyCategories: []string{"tab\there"}}, "deny_categories[0]", "must be valid UTF-8 without control characters"},
		{Rule{AllowProducts: many}, "allow_products", "may hold at most 10000 entries, got 10001"},
		{Rule{Tiers: []string{"county", "town"}}, "tiers[1]", `"town" is not a market tier; use first_tier, city, county_city or county`},
		{Rule{Tiers: []string{"county", "county"}}, "tiers[1]", `"county" is listed twice`},
		{Rule{Platforms: []string{"harmony"}}, "platforms[0]", `"harmony" is not a platform; use android, h5, ios, miniprogram, pc`},
		{Rule{Platforms: []string{"pc", "pc"}}, "platforms[1]", `"pc" is listed twice`},
		{Rule{MinAppVersion: "8.0.x"}, "min_app_version", `"8.0.x" is not a dotted number like 8.0.10: 'x' is not a digit`},
		{Rule{MinAppVersion: "v8"}, "min_app_version", `"v8" is not a dotted number like 8.0.10: 'v' is not a digit`},
		{Rule{MinAppVersion: "8..1"}, "min_app_version", `"8..1" is not a dotted number like 8.0.10: each part must be 1 to 9 digits`},
		{Rule{MinAppVersion: "1.2.3.4.5.6.7.8.9"}, "min_app_version", `"1.2.3.4.5.6.7.8.9" has more than 8 parts`},
	} {
		err := tc.rule.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tc.rule, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || fe.Message != tc.msg {
			t.Errorf("Validate gave %v, want %s: %s", err, tc.field, tc.msg)
		}
	}
}

func TestRuleSetValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rs   RuleSet
		want string
	}{
		{RuleSet{Methods: map[string]Rule{"wechatpay.native": {Enabled: true}, "alipay.wap": {}}}, ""},
		{RuleSet{}, ""},
		{RuleSet{Version: -1}, "version: must be 0 or more, got -1"},
		{RuleSet{Methods: map[string]Rule{"wechatpay.natve": {}}}, `methods: "wechatpay.natve" is not a payment method; use one of `},
		{RuleSet{Methods: map[string]Rule{"alipay.wap": {Tiers: []string{"x"}}}}, `methods.alipay.wap.tiers[0]: "x" is not a market tier`},
		{RuleSet{TierOverrides: TierTable{"3201": "metro"}}, `tier_overrides["3201"]: "metro" is not a market tier`},
		{RuleSet{TierOverrides: TierTable{"32011": TierCity}}, `tier_overrides["32011"]: must be a 4-digit prefecture code or a 6-digit region code`},
		{RuleSet{TierOverrides: TierTable{"9901": TierCity}}, `tier_overrides["9901"]: prefecture code "9901" must be 4 digits starting with a province prefix`},
		{RuleSet{TierOverrides: TierTable{"3200": TierCity}}, `tier_overrides["3200"]: 3200 names a province; map its prefectures or whole codes`},
		{RuleSet{TierOverrides: TierTable{"810000": TierCity, "3201": TierFirst}}, ""},
	} {
		err := tc.rs.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v", tc.rs, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("Validate(%+v) = %v, want %s…", tc.rs, err, tc.want)
		}
	}
}

func TestParseRuleSet(t *testing.T) {
	t.Parallel()
	rs, err := ParseRuleSet([]byte(`{
		"version": 12,
		"methods": {
			"wechatpay.native": {"enabled": true, "percent_bps": 2000, "salt": "wechatpay-2024-09",
				"allow_buyers": ["staff-1"], "tiers": ["county", "county_city"]},
			"wechatpay.jsapi": {"enabled": true, "percent_bps": 2000, "salt": "wechatpay-2024-09",
				"platforms": ["ios", "android"], "min_app_version": "8.0.10"}
		},
		"tier_overrides": {"3201": "first_tier"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Version != 12 || rs.Methods["wechatpay.native"].BasisPoints != 2000 || rs.TierOverrides["3201"] != TierFirst {
		t.Errorf("decoded %+v", rs)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"methods": {"wechatpay.native": {"enabled": true, "percent": 20}}}`, `unknown field "percent"`},
		{`{"version": 1} {}`, "unexpected data after the object"},
		{`{"methods": {"wechatpay.native": {"percent_bps": 20.5}}}`, "cannot unmarshal number 20.5"},
		{`{"methods": {"wechatpay.native": {"percent_bps": 20000}}}`, "methods.wechatpay.native.percent_bps: must be 0 to 10000"},
	} {
		if _, err := ParseRuleSet([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRuleSet(%s) = %v, want …%s…", tc.in, err, tc.want)
		}
	}
	if _, err := ParseRule([]byte(`{"enabled": true, "percent_bsp": 2000}`)); err == nil || !strings.Contains(err.Error(), `unknown field "percent_bsp"`) {
		t.Errorf("ParseRule accepted a misspelt field: %v", err)
	}
}
