package rollout

import (
	"fmt"
	"maps"
)

// Market tiers, the values Tier returns and Rule.Tiers lists.
const (
	// TierFirst is any place in a first-tier city: a prefecture of the
	// TierTable mapped to it (Beijing, Shanghai, Guangzhou, Shenzhen by
	// default).
	TierFirst = "first_tier"
	// TierCity is a district (市辖区) of any other city: the last two digits
	// 01–20.
	TierCity = "city"
	// TierCounty is a county (县, 旗, …): the last two digits 21–80.
	TierCounty = "county"
	// TierCountyCity is a county-level city (县级市): the last two digits
	// 81–99, or 01–20 under a province's directly administered
	// county-level units (prefecture digits 90, as 429004 Xiantao).
	TierCountyCity = "county_city"
)

// Tiers lists the market tiers, from the most to the least urban.
var Tiers = []string{TierFirst, TierCity, TierCountyCity, TierCounty}

func isTier(s string) bool {
	return s == TierFirst || s == TierCity || s == TierCounty || s == TierCountyCity
}

// TierTable maps region codes to market tiers, ahead of the rule of the last
// two digits. A key is either a 4-digit prefecture code ("4403": every code
// of Shenzhen) or a whole 6-digit code ("500151"); a 6-digit entry beats its
// prefecture's.
type TierTable map[string]string

// defaultTiers is DefaultTierTable's content; never modified.
var defaultTiers = TierTable{
	// The four first-tier cities. Beijing and Shanghai are province-level
	// municipalities whose districts are under the 01 "municipal districts"
	// prefecture (1101, 3101); Guangzhou and Shenzhen are prefectures of
	// Guangdong.
	"1101": TierFirst, // Beijing
	"3101": TierFirst, // Shanghai (also 310151 Chongming, a district coded like a county)
	"4401": TierFirst, // Guangzhou
	"4403": TierFirst, // Shenzhen

	// Prefecture-level cities without districts: their own code ends in 00,
	// which otherwise names a whole prefecture.
	"441900": TierCity, // Dongguan
	"442000": TierCity, // Zhongshan
	"460400": TierCity, // Danzhou
	"620200": TierCity, // Jiayuguan

	// Districts of Chongqing made from counties after the 01–20 range ran out.
	"500151": TierCity, // Tongliang
	"500152": TierCity, // Tongnan
	"500153": TierCity, // Rongchang
	"500154": TierCity, // Kaizhou
	"500155": TierCity, // Liangping
	"500156": TierCity, // Wulong
}

// DefaultTierTable returns a copy of the default table: the first-tier
// cities Beijing (1101), Shanghai (3101), Guangzhou (4401) and Shenzhen
// (4403); the prefecture-level cities without districts, whose own code is
// the buyer's (441900 Dongguan, 442000 Zhongshan, 460400 Danzhou, 620200
// Jiayuguan: city); and the districts of Chongqing coded like counties
// (500151–500156: city). Extend or change it with With.
func DefaultTierTable() TierTable { return maps.Clone(defaultTiers) }

// With returns a copy of t with the entries of overrides added or replaced.
func (t TierTable) With(overrides TierTable) TierTable {
	out := make(TierTable, len(t)+len(overrides))
	maps.Copy(out, t)
	maps.Copy(out, overrides)
	return out
}

// Validate checks that every key is a valid 4-digit prefecture code or
// 6-digit region code, and every value a market tier.
func (t TierTable) Validate() error {
	if len(t) > MaxListEntries {
		return bad("tier_table", "may hold at most %d entries, got %d", MaxListEntries, len(t))
	}
	for k, v := range t {
		var err error
		switch len(k) {
		case 4:
			if err = checkCode(k + "01"); err != nil {
				err = fmt.Errorf("prefecture code %q must be 4 digits starting with a province prefix", k)
			} else if k[2:4] == "00" {
				err = fmt.Errorf("%s names a province; map its prefectures or whole codes", k)
			}
		case 6:
			err = checkCode(k)
		default:
			err = fmt.Errorf("must be a 4-digit prefecture code or a 6-digit region code")
		}
		if err != nil {
			return bad(fmt.Sprintf("tier_table[%q]", k), "%v", err)
		}
		if !isTier(v) {
			return bad(fmt.Sprintf("tier_table[%q]", k), "%q is not a market tier; use first_tier, city, county_city or county", v)
		}
	}
	return nil
}

// Tier is the market tier of a buyer's GB/T 2260 region code under the table
// t (nil: DefaultTierTable()). It looks, in order, for the whole code in t,
// for its 4-digit prefecture in t, and then reads the last two digits:
// 01–20 a district (TierCity), 21–80 a county (TierCounty), 81–99 a
// county-level city (TierCountyCity). Under a province's directly
// administered units (prefecture digits 90) the 01–20 range holds
// county-level cities (TierCountyCity).
//
// A code must be 6 digits, start with a province prefix (11–15, 21–23,
// 31–37, 41–46, 50–54, 61–65, 71, 81, 82) and name a county-level place:
// a code ending in 00 names a whole province or prefecture, which has no
// single tier, unless t maps it (as it does the cities without districts).
// Any other input is an error that names the problem.
func Tier(regionCode string, t TierTable) (string, error) {
	if t == nil {
		t = defaultTiers
	}
	return tierOf(regionCode, t, nil)
}

// tierOf looks in first and then in second at each step, as if they were
// second.With(first).
func tierOf(code string, first, second TierTable) (string, error) {
	if err := checkCode(code); err != nil {
		return "", err
	}
	if v, ok := first[code]; ok {
		return v, nil
	}
	if v, ok := second[code]; ok {
		return v, nil
	}
	if v, ok := first[code[:4]]; ok {
		return v, nil
	}
	if v, ok := second[code[:4]]; ok {
		return v, nil
	}
	prefecture, county := code[2:4], code[4:6]
	switch {
	case prefecture == "00" && county == "00":
		return "", fmt.Errorf("region code %s names a whole province, not a district or county", code)
	case prefecture == "00":
		return "", fmt.Errorf("region code %s has county digits %s but no prefecture (digits 3-4 are 00)", code, county)
	case county == "00":
		return "", fmt.Errorf("region code %s names a whole prefecture, not a district or county", code)
	}
	n := int(county[0]-'0')*10 + int(county[1]-'0')
	switch {
	case n <= 20 && prefecture == "90":
		return TierCountyCity, nil
	case n <= 20:
		return TierCity, nil
	case n <= 80:
		return TierCounty, nil
	default:
		return TierCountyCity, nil
	}
}

// checkCode checks the form of a 6-digit region code.
func checkCode(code string) error {
	if len(code) != 6 {
		return fmt.Errorf("region code %q must be 6 digits, got %d bytes", code, len(code))
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return fmt.Errorf("region code %q must be 6 digits, got %q at position %d", code, code[i], i+1)
		}
	}
	if code[0] < '1' || code[0] > '8' {
		return fmt.Errorf("region code %s must start with 1 to 8 (the region of China), not %c", code, code[0])
	}
	if !validProvince(code[:2]) {
		return fmt.Errorf("region code %s starts with %s, which is not a province (11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81, 82)", code, code[:2])
	}
	return nil
}

func validProvince(p string) bool {
	n := int(p[0]-'0')*10 + int(p[1]-'0')
	switch {
	case 11 <= n && n <= 15, 21 <= n && n <= 23, 31 <= n && n <= 37, 41 <= n && n <= 46,
		50 <= n && n <= 54, 61 <= n && n <= 65, n == 71, n == 81, n == 82:
		return true
	}
	return false
}
