package rollout

import (
	"strings"
	"testing"
)

func TestTier(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code, place, want string
	}{
		// First-tier cities, by prefecture.
		{"110105", "Beijing, Chaoyang district", TierFirst},
		{"110119", "Beijing, Yanqing district", TierFirst},
		{"310115", "Shanghai, Pudong new area", TierFirst},
		{"310151", "Shanghai, Chongming district (coded like a county)", TierFirst},
		{"440106", "Guangzhou, Tianhe district", TierFirst},
		{"440305", "Shenzhen, Nanshan district", TierFirst},
		{"440300", "Shenzhen as a whole", TierFirst},
		// Districts of other cities.
		{"420106", "Wuhan, Wuchang district", TierCity},
		{"120116", "Tianjin, Binhai new area", TierCity},
		{"500103", "Chongqing, Yuzhong district", TierCity},
		{"500151", "Chongqing, Tongliang district (in the default table)", TierCity},
		{"330106", "Hangzhou, Xihu district", TierCity},
		// Counties.
		{"130627", "Baoding, Tang county", TierCounty},
		{"500229", "Chongqing, Chengkou county", TierCounty},
		{"150121", "Hohhot, Tumed Left banner", TierCounty},
		{"429021", "Shennongjia forestry district (province-administered)", TierCounty},
		// County-level cities.
		{"130681", "Baoding, Zhuozhou", TierCountyCity},
		{"330782", "Jinhua, Yiwu", TierCountyCity},
		{"130181", "Shijiazhuang, Xinji", TierCountyCity},
		{"429004", "Xiantao (province-administered, coded 01-20)", TierCountyCity},
		{"469002", "Qionghai (province-administered)", TierCountyCity},
		// Cities without districts, in the default table.
		{"441900", "Dongguan", TierCity},
		{"442000", "Zhongshan", TierCity},
	} {
		got, err := Tier(tc.code, nil)
		if err != nil || got != tc.want {
			t.Errorf("Tier(%s) (%s) = %q, %v; want %q", tc.code, tc.place, got, err, tc.want)
		}
	}
}

func TestTierErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ code, want string }{
		{"", `region code "" must be 6 digits, got 0 bytes`},
		{"11010", `region code "11010" must be 6 digits, got 5 bytes`},
		{"1101050", `region code "1101050" must be 6 digits, got 7 bytes`},
		{"11010a", `region code "11010a" must be 6 digits, got 'a' at position 6`},
		{"１１０１０５", `must be 6 digits, got 18 bytes`}, // full-width digits
		{"-10105", `got '-' at position 1`},
		{"010105", `region code 010105 must start with 1 to 8 (the region of China), not 0`},
		{"910105", `must start with 1 to 8 (the region of China), not 9`},
		{"160105", `region code 160105 starts with 16, which is not a province (11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81, 82)`},
		{"240105", `starts with 24, which is not a province`},
		{"700105", `starts with 70, which is not a province`},
		{"830105", `starts with 83, which is not a province`},
		{"130000", `region code 130000 names a whole province, not a district or county`},
		{"130600", `region code 130600 names a whole prefecture, not a district or county`},
		{"810000", `region code 810000 names a whole province, not a district or county`},
		{"130021", `region code 130021 has county digits 21 but no prefecture (digits 3-4 are 00)`},
	} {
		got, err := Tier(tc.code, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Tier(%q) = %q, %v; want an error with %q", tc.code, got, err, tc.want)
		}
	}
}

func TestTierTable(t *testing.T) {
	t.Parallel()
	// Overrides: Nanjing's districts made first-tier, Hong Kong mapped, one
	// county of Baoding singled out, Shenzhen demoted.
	tt := DefaultTierTable().With(TierTable{"3201": TierFirst, "810000": TierCity, "130627": TierCountyCity, "4403": TierCity})
	if err := tt.Validate(); err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]string{
		"320102": TierFirst,      // Nanjing, Xuanwu: by prefecture
		"320117": TierFirst,      // Nanjing, Lishui
		"110105": TierFirst,      // Beijing still
		"810000": TierCity,       // Hong Kong, by whole code
		"130627": TierCountyCity, // a whole code beats the digits
		"130628": TierCounty,     // its neighbour keeps the digits' answer
		"440305": TierCity,       // Shenzhen demoted
	} {
		if got, err := Tier(code, tt); err != nil || got != want {
			t.Errorf("Tier(%s, overrides) = %q, %v; want %q", code, got, err, want)
		}
	}
	// A whole code beats its prefecture's entry.
	if got, _ := Tier("110105", TierTable{"1101": TierFirst, "110105": TierCity}); got != TierCity {
		t.Errorf("a 6-digit entry lost to its prefecture: %q", got)
	}
	// A table that is not nil replaces the default entirely.
	if got, _ := Tier("110105", TierTable{}); got != TierCity {
		t.Errorf("an empty table kept Beijing first-tier: %q", got)
	}
	// DefaultTierTable is a copy: changing it changes nothing else.
	d := DefaultTierTable()
	d["1101"] = TierCounty
	if got, _ := Tier("110105", nil); got != TierFirst {
		t.Errorf("modifying a DefaultTierTable copy changed the default: %q", got)
	}
	if err := DefaultTierTable().Validate(); err != nil {
		t.Errorf("the default table does not validate: %v", err)
	}

	// A RuleSet's overrides extend the default, on both evaluation paths.
	rs := RuleSet{Methods: map[string]Rule{"alipay.wap": {Enabled: true, BasisPoints: 10000, Tiers: []string{TierFirst}}},
		TierOverrides: TierTable{"3201": TierFirst}}
	compiled, err := rs.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"320102", "110105"} {
		c := Checkout{BuyerID: "b", RegionCode: code}
		for _, d := range []Decision{rs.Evaluate(c, []string{"alipay.wap"})[0], compiled.Evaluate(c, []string{"alipay.wap"})[0]} {
			if !d.Shown || d.Tier != TierFirst {
				t.Errorf("%s under overrides: %+v", code, d)
			}
		}
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"8.0.10", "8.0.9", +1},
		{"8.0.9", "8.0.10", -1},
		{"8.0", "8.0.0", 0},
		{"8.0.0.0", "8", 0},
		{"8.0.50.2600", "8.0.50", +1},
		{"10.6.0.8000", "9.99", +1},
		{"08.1", "8.01", 0},
		{"7.0.20.1781", "8.0.1", -1},
		{"999999999", "999999998.9", +1},
		{"1.2.3.4.5.6.7.8", "1.2.3.4.5.6.7.9", -1},
	} {
		got, err := CompareVersions(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", ".", "8.", ".8", "8..0", "v8", "8.0-beta", " 8", "8.0 ", "1234567890", "1.2.3.4.5.6.7.8.9", "８"} {
		if _, err := CompareVersions(bad, "1"); err == nil {
			t.Errorf("CompareVersions accepted %q", bad)
		}
		if _, err := CompareVersions("1", bad); err == nil {
			t.Errorf("CompareVersions accepted %q second", bad)
		}
	}
}
