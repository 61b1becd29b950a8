package rollout

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// Generators. Ids come from small pools so that lists and checkouts meet;
// buyer ids also come at random, so that buckets spread.

var (
	poolBuyers     = []string{"b1", "b2", "b3", "staff-1", "staff-2"}
	poolMerchants  = []string{"m1", "m2", "m3"}
	poolProducts   = []string{"p1", "p2", "p3", "p4"}
	poolCategories = []string{"phones", "food", "books"}
	poolRegions    = []string{"", "110105", "440305", "420106", "130627", "130681", "429004", "130600", "999999", "1101"}
	poolPlatforms  = []string{"", "ios", "android", "h5", "miniprogram", "pc", "harmony"}
	poolVersions   = []string{"", "7.0.20.1781", "8.0.9", "8.0.10", "8.0.50.2600", "10.6.0.8000", "8.0.x"}
)

func genVersion() *rapid.Generator[string] {
	return rapid.StringMatching(`[0-9]{1,3}(\.[0-9]{1,3}){0,3}`)
}

// genIDs draws a list that is empty half the time, so that every step of
// the evaluation gets its turn to decide.
func genIDs(pool []string, maxLen int) *rapid.Generator[[]string] {
	return sometimes(rapid.SliceOfN(rapid.OneOf(rapid.SampledFrom(pool), rapid.StringMatching(`[a-z][a-z0-9-]{0,10}`)), 1, maxLen))
}

func sometimes[V any](g *rapid.Generator[V]) *rapid.Generator[V] {
	var zero V
	return rapid.OneOf(rapid.Just(zero), rapid.Just(zero), g)
}

// genRule draws valid rules; maxList up to 20 makes compiled lists maps.
func genRule(maxList int) *rapid.Generator[Rule] {
	return rapid.Custom(func(t *rapid.T) Rule {
		r := Rule{
			Enabled:         rapid.Float64Range(0, 1).Draw(t, "enabledDraw") < 0.85,
			BasisPoints:     rapid.OneOf(rapid.IntRange(0, Buckets), rapid.SampledFrom([]int{0, 1, 100, 2000, 9999, 10000})).Draw(t, "bps"),
			Salt:            rapid.StringMatching(`[a-z0-9-]{0,12}`).Draw(t, "salt"),
			AllowBuyers:     genIDs(poolBuyers, maxList).Draw(t, "allowBuyers"),
			DenyBuyers:      genIDs(poolBuyers, maxList/4).Draw(t, "denyBuyers"),
			AllowMerchants:  genIDs(poolMerchants, maxList/4).Draw(t, "allowMerchants"),
			DenyMerchants:   genIDs(poolMerchants, maxList/4).Draw(t, "denyMerchants"),
			AllowProducts:   genIDs(poolProducts, maxList/4).Draw(t, "allowProducts"),
			DenyProducts:    genIDs(poolProducts, maxList/4).Draw(t, "denyProducts"),
			AllowCategories: genIDs(poolCategories, maxList/4).Draw(t, "allowCategories"),
			DenyCategories:  genIDs(poolCategories, maxList).Draw(t, "denyCategories"),
			Tiers:           sometimes(rapid.SliceOfNDistinct(rapid.SampledFrom(Tiers), 1, -1, rapid.ID[string])).Draw(t, "tiers"),
			Platforms:       sometimes(rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"ios", "android", "h5", "miniprogram", "pc"}), 1, -1, rapid.ID[string])).Draw(t, "platforms"),
			MinAppVersion:   sometimes(genVersion()).Draw(t, "minAppVersion"),
		}
		return r
	})
}

func genCheckout() *rapid.Generator[Checkout] {
	return rapid.Custom(func(t *rapid.T) Checkout {
		return Checkout{
			BuyerID:    rapid.OneOf(rapid.SampledFrom(append([]string{""}, poolBuyers...)), rapid.StringMatching(`[a-z0-9]{1,16}`)).Draw(t, "buyer"),
			MerchantID: rapid.SampledFrom(append([]string{""}, poolMerchants...)).Draw(t, "merchant"),
			ProductIDs: rapid.SliceOfN(rapid.SampledFrom(poolProducts), 0, 3).Draw(t, "products"),
			Categories: rapid.SliceOfN(rapid.SampledFrom(poolCategories), 0, 2).Draw(t, "categories"),
			RegionCode: rapid.SampledFrom(poolRegions).Draw(t, "region"),
			Platform:   rapid.SampledFrom(poolPlatforms).Draw(t, "platform"),
			AppVersion: rapid.OneOf(rapid.SampledFrom(poolVersions), genVersion()).Draw(t, "appVersion"),
		}
	})
}

func decide(r Rule, c Checkout) Decision {
	return RuleSet{Methods: map[string]Rule{"wechatpay.native": r}}.Evaluate(c, []string{"wechatpay.native"})[0]
}

// TestPropertyRampMonotone: for any buyer and rule, raising the percentage
// only adds: shown at p1 ≤ p2 implies shown at p2, all else equal; and where
// the percentage decides, the buyer is in iff Bucket < BasisPoints.
func TestPropertyRampMonotone(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		r := genRule(6).Draw(t, "rule")
		c := genCheckout().Draw(t, "checkout")
		p1 := rapid.IntRange(0, Buckets).Draw(t, "p1")
		p2 := rapid.IntRange(p1, Buckets).Draw(t, "p2")
		r1, r2 := r, r
		r1.BasisPoints, r2.BasisPoints = p1, p2
		d1, d2 := decide(r1, c), decide(r2, c)
		if d1.Shown && !d2.Shown {
			t.Fatalf("shown at %d but hidden at %d:\n%s\n%s", p1, p2, d1.Reason, d2.Reason)
		}
		for _, x := range []struct {
			d   Decision
			bps int
		}{{d1, p1}, {d2, p2}} {
			if x.d.Cohort != CohortPercent && x.d.Cohort != CohortHoldout || c.BuyerID == "" {
				continue
			}
			if in := Bucket(r.Salt, c.BuyerID) < x.bps; in != x.d.Shown {
				t.Fatalf("at %d bps bucket %d: shown=%v; %s", x.bps, Bucket(r.Salt, c.BuyerID), x.d.Shown, x.d.Reason)
			}
		}
	})
}

// TestPropertyDenyBeatsAllow: a checkout any of whose ids is on a deny-list
// is hidden, whatever the allow-lists and the percentage say.
func TestPropertyDenyBeatsAllow(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		r := genRule(6).Draw(t, "rule")
		c := genCheckout().Draw(t, "checkout")
		r.Enabled = true
		r.BasisPoints = rapid.SampledFrom([]int{0, 5000, Buckets}).Draw(t, "bps")
		type listed struct {
			list *[]string
			id   string
		}
		var ids []listed
		if c.BuyerID != "" {
			ids = append(ids, listed{&r.DenyBuyers, c.BuyerID})
		}
		if c.MerchantID != "" {
			ids = append(ids, listed{&r.DenyMerchants, c.MerchantID})
		}
		for _, p := range c.ProductIDs {
			ids = append(ids, listed{&r.DenyProducts, p})
		}
		for _, k := range c.Categories {
			ids = append(ids, listed{&r.DenyCategories, k})
		}
		if len(ids) == 0 {
			t.Skip("checkout has no ids")
		}
		pick := rapid.SampledFrom(ids).Draw(t, "denied")
		*pick.list = append(*pick.list, pick.id)
		// Allow everything about the checkout too.
		if c.BuyerID != "" {
			r.AllowBuyers = append(r.AllowBuyers, c.BuyerID)
		}
		if c.MerchantID != "" {
			r.AllowMerchants = append(r.AllowMerchants, c.MerchantID)
		}
		r.AllowProducts = append(r.AllowProducts, c.ProductIDs...)
		r.AllowCategories = append(r.AllowCategories, c.Categories...)

		for _, d := range evaluateBoth(t, r, c) {
			if d.Shown || d.Cohort != CohortDeny || !strings.HasSuffix(d.Reason, " is on the deny-list") {
				t.Fatalf("denied checkout: %+v", d)
			}
		}
	})
}

// TestPropertyDisabledNeverShows: the kill switch hides the method from
// every checkout, whatever else the rule says.
func TestPropertyDisabledNeverShows(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		r := genRule(6).Draw(t, "rule")
		c := genCheckout().Draw(t, "checkout")
		r.Enabled = false
		if rapid.Bool().Draw(t, "allowAll") && c.BuyerID != "" {
			r.AllowBuyers = append(r.AllowBuyers, c.BuyerID)
		}
		for _, d := range evaluateBoth(t, r, c) {
			if d.Shown || d.Cohort != CohortOff {
				t.Fatalf("disabled rule: %+v", d)
			}
		}
	})
}

// TestPropertyCompiledAgrees: the compiled form (maps for long lists)
// decides exactly as the rule set read as written, and every decision's
// reason agrees with its Shown.
func TestPropertyCompiledAgrees(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		r := genRule(40).Draw(t, "rule")
		c := genCheckout().Draw(t, "checkout")
		ds := evaluateBoth(t, r, c)
		if !reflect.DeepEqual(ds[0], ds[1]) {
			t.Fatalf("RuleSet: %+v\nCompiled: %+v", ds[0], ds[1])
		}
		d := ds[0]
		word := map[bool]string{true: " shown: ", false: " hidden: "}[d.Shown]
		if !strings.HasPrefix(d.Reason, "wechatpay.native"+word) {
			t.Fatalf("reason %q disagrees with shown=%v", d.Reason, d.Shown)
		}
		if want := map[bool]int{true: Bucket(r.Salt, c.BuyerID), false: -1}[c.BuyerID != ""]; d.Bucket != want {
			t.Fatalf("bucket %d, want %d", d.Bucket, want)
		}
	})
}

func evaluateBoth(t *rapid.T, r Rule, c Checkout) [2]Decision {
	if err := r.Validate(); err != nil {
		t.Fatalf("generated an invalid rule: %v", err)
	}
	rs := RuleSet{Methods: map[string]Rule{"wechatpay.native": r}}
	compiled, err := rs.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return [2]Decision{rs.Evaluate(c, []string{"wechatpay.native"})[0], compiled.Evaluate(c, []string{"wechatpay.native"})[0]}
}

// chiSquare of counts against a uniform expectation.
func chiSquare(counts []int, total int) float64 {
	exp := float64(total) / float64(len(counts))
	var x float64
	for _, n := range counts {
		d := float64(n) - exp
		x += d * d / exp
	}
	return x
}

// TestBucketUniform: 200,000 random buyer ids spread evenly over 100 groups
// of 100 buckets, and over the 10,000 buckets themselves. The bounds are the
// chi-square quantiles at p = 0.001 (99 and 9,999 degrees of freedom); the
// ids are drawn from a fixed seed, so the test is deterministic.
func TestBucketUniform(t *testing.T) {
	t.Parallel()
	const n = 200_000
	rng := rand.New(rand.NewPCG(2024, 9))
	groups := make([]int, 100)
	buckets := make([]int, Buckets)
	for range n {
		id := fmt.Sprintf("%016x", rng.Uint64())
		b := Bucket("wechatpay-2024-09", id)
		if b < 0 || b >= Buckets {
			t.Fatalf("Bucket = %d", b)
		}
		groups[b/100]++
		buckets[b]++
	}
	if x := chiSquare(groups, n); x > 148.23 {
		t.Errorf("chi-square over 100 groups = %.1f, above 148.23 (p = 0.001)", x)
	} else {
		t.Logf("chi-square over 100 groups = %.1f (bound 148.23)", x)
	}
	if x := chiSquare(buckets, n); x > 10442 {
		t.Errorf("chi-square over 10000 buckets = %.1f, above 10442 (p = 0.001)", x)
	} else {
		t.Logf("chi-square over 10000 buckets = %.1f (bound 10442)", x)
	}
}

// TestPropertyBucketUniformPerSalt: whatever the salt, sequential buyer ids
// (the worst case: one character apart) fill the 100 groups evenly. The
// bound, 210, is the chi-square quantile at p = 1e-9 for 99 degrees of
// freedom, so that a hundred salts per run cannot fail by chance.
func TestPropertyBucketUniformPerSalt(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.String().Draw(t, "salt")
		prefix := rapid.StringMatching(`[a-z]{0,6}`).Draw(t, "prefix")
		const n = 10_000
		groups := make([]int, 100)
		for i := range n {
			groups[Bucket(s, prefix+fmt.Sprint(i))/100]++
		}
		if x := chiSquare(groups, n); x > 210 {
			t.Fatalf("salt %q: chi-square %.1f above 210", s, x)
		}
	})
}

// TestSimulationRamp: 10,000 buyers through a 1% → 20% → 100% ramp. Each
// stage shows its target share within ±1.5 percentage points, and each
// stage's buyers include the previous stage's.
func TestSimulationRamp(t *testing.T) {
	t.Parallel()
	const buyers = 10_000
	rule := Rule{Enabled: true, Salt: "wechatpay-2024-09"}
	var prev map[string]bool
	for _, bps := range []int{100, 2000, 10000} {
		rule.BasisPoints = bps
		rs := RuleSet{Version: bps, Methods: map[string]Rule{"wechatpay.native": rule}}
		compiled, err := rs.Compile()
		if err != nil {
			t.Fatal(err)
		}
		shown := make(map[string]bool)
		for i := range buyers {
			c := Checkout{BuyerID: fmt.Sprintf("buyer-%05d", i), MerchantID: "m1", RegionCode: "130627", Platform: "android"}
			if compiled.Evaluate(c, []string{"wechatpay.native"})[0].Shown {
				shown[c.BuyerID] = true
			}
		}
		got, want := float64(len(shown))/buyers*100, float64(bps)/100
		if got < want-1.5 || got > want+1.5 {
			t.Errorf("at %s: %.2f%% of buyers shown, want within 1.5 points", percent(bps), got)
		}
		t.Logf("at %s: %d of %d buyers shown (%.2f%%)", percent(bps), len(shown), buyers, got)
		for b := range prev {
			if !shown[b] {
				t.Errorf("buyer %s shown at the previous stage, hidden at %s", b, percent(bps))
			}
		}
		prev = shown
	}
	if len(prev) != buyers {
		t.Errorf("at 100%% %d of %d buyers shown", len(prev), buyers)
	}
}

// TestPropertyDryRun: DryRun's answer is the difference of the two rules'
// decisions, and a ramp up only adds while a ramp down only removes.
func TestPropertyDryRun(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		from := genRule(6).Draw(t, "from")
		seen := rapid.SliceOfN(genCheckout(), 0, 30).Draw(t, "seen")
		to := from
		to.BasisPoints = rapid.IntRange(0, Buckets).Draw(t, "to")
		if rapid.Bool().Draw(t, "otherRule") {
			to = genRule(6).Draw(t, "toRule")
		}
		added, removed := DryRun(from, to, "wechatpay.native", seen, nil)

		reach := func(r Rule) map[string]bool {
			m := make(map[string]bool)
			for _, c := range seen {
				if c.BuyerID != "" && decide(r, c).Shown {
					m[c.BuyerID] = true
				}
			}
			return m
		}
		rf, rt := reach(from), reach(to)
		var wantAdded, wantRemoved []string
		var order []string
		for _, c := range seen {
			if c.BuyerID != "" && !slices.Contains(order, c.BuyerID) {
				order = append(order, c.BuyerID)
			}
		}
		for _, b := range order {
			if rt[b] && !rf[b] {
				wantAdded = append(wantAdded, b)
			}
			if rf[b] && !rt[b] {
				wantRemoved = append(wantRemoved, b)
			}
		}
		if !slices.Equal(added, wantAdded) || !slices.Equal(removed, wantRemoved) {
			t.Fatalf("DryRun = +%v -%v, want +%v -%v", added, removed, wantAdded, wantRemoved)
		}
		if sameButPercent(from, to) {
			if to.BasisPoints >= from.BasisPoints && len(removed) > 0 {
				t.Fatalf("raising %d → %d removed %v", from.BasisPoints, to.BasisPoints, removed)
			}
			if to.BasisPoints <= from.BasisPoints && len(added) > 0 {
				t.Fatalf("lowering %d → %d added %v", from.BasisPoints, to.BasisPoints, added)
			}
		}
	})
}

func sameButPercent(a, b Rule) bool {
	a.BasisPoints = b.BasisPoints
	return reflect.DeepEqual(a, b)
}
