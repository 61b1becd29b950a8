package rollout

import (
	"fmt"
	"slices"
	"testing"
)

func TestDryRun(t *testing.T) {
	t.Parallel()
	// b1 is in bucket 3381 under salt; b2, b3 found below.
	var seen []Checkout
	for i := range 50 {
		seen = append(seen, Checkout{BuyerID: fmt.Sprintf("buyer-%02d", i), Platform: "ios"})
	}
	seen = append(seen, seen[3], Checkout{}, Checkout{BuyerID: "buyer-03", Platform: "pc"}) // a repeat, an anonymous checkout, another visit

	r20 := Rule{Enabled: true, BasisPoints: 2000, Salt: salt}
	r50 := r20
	r50.BasisPoints = 5000
	added, removed := DryRun(r20, r50, "wechatpay.native", seen, nil)
	if len(removed) != 0 {
		t.Errorf("20%% → 50%% removed %v", removed)
	}
	for _, b := range added {
		if k := Bucket(salt, b); k < 2000 || k >= 5000 {
			t.Errorf("20%% → 50%% added %s in bucket %d", b, k)
		}
	}
	var want []string
	for _, c := range seen[:50] {
		if k := Bucket(salt, c.BuyerID); 2000 <= k && k < 5000 {
			want = append(want, c.BuyerID)
		}
	}
	if !slices.Equal(added, want) || len(want) == 0 {
		t.Errorf("20%% → 50%% added %v, want %v", added, want)
	}

	// Down again: the same buyers, removed.
	added2, removed2 := DryRun(r50, r20, "wechatpay.native", seen, nil)
	if len(added2) != 0 || !slices.Equal(removed2, want) {
		t.Errorf("50%% → 20%%: +%v -%v, want -%v", added2, removed2, want)
	}

	// A new salt reshuffles: some in, some out.
	resalted := r20
	resalted.Salt = "wechatpay-2024-10"
	a, r := DryRun(r20, resalted, "wechatpay.native", seen, nil)
	if len(a) == 0 || len(r) == 0 {
		t.Errorf("a new salt added %v and removed %v; expected both", a, r)
	}

	// Targeting a platform removes the buyers seen only elsewhere; a buyer
	// seen on both stays reached.
	all := Rule{Enabled: true, BasisPoints: Buckets}
	pcOnly := all
	pcOnly.Platforms = []string{"pc"}
	a, r = DryRun(all, pcOnly, "wechatpay.native", seen, nil)
	if len(a) != 0 || len(r) != 49 || slices.Contains(r, "buyer-03") {
		t.Errorf("restricting to pc: +%v -%d buyers (buyer-03 removed: %v)", a, len(r), slices.Contains(r, "buyer-03"))
	}

	// The kill switch removes everyone reached; the tier table is used.
	off := all
	off.Enabled = false
	if _, r := DryRun(all, off, "wechatpay.native", seen, nil); len(r) != 50 {
		t.Errorf("kill switch removed %d buyers, want 50", len(r))
	}
	county := all
	county.Tiers = []string{TierCounty}
	regional := []Checkout{{BuyerID: "x", RegionCode: "130627"}, {BuyerID: "y", RegionCode: "110105"}}
	if a, r := DryRun(all, county, "wechatpay.native", regional, TierTable{"1306": TierCity}); len(a) != 0 || !slices.Equal(r, []string{"x", "y"}) {
		t.Errorf("county-only under a table making Baoding a city: +%v -%v", a, r)
	}
	if a, r := DryRun(all, county, "wechatpay.native", regional, nil); len(a) != 0 || !slices.Equal(r, []string{"y"}) {
		t.Errorf("county-only: +%v -%v", a, r)
	}
}
