// Package rollout decides, for one buyer at one checkout, which payment
// methods are shown, and says why in words an operator understands. It is
// how a marketplace opening a new wallet shows its methods first to some
// buyers, then to more, then to everyone. It has no I/O: rules come in as
// values (or JSON, see ParseRuleSet), decisions go out as values.
//
// # Rules
//
// A RuleSet holds at most one Rule per method ("wechatpay.native",
// "alipay.wap", … — the names of payment.MethodNames). A method without a rule
// is shown to everyone: rules restrict, they never have to be written for a
// method that is simply on. A rule is evaluated in this order, and the first
// step that decides wins:
//
//  1. Kill switch: Enabled false hides the method from everyone, allow-listed
//     buyers included (cohort "off").
//  2. Deny-lists, in the order buyer, merchant, product, category: a checkout
//     whose buyer or merchant, or any of whose products or categories, is
//     denied is hidden (cohort "deny"). Deny beats allow.
//  3. Allow-lists, in the same order: a checkout whose buyer or merchant, or
//     any of whose products or categories, is allowed is shown, whatever the
//     percentage, platform, app version or market tier (cohort "allow"). This
//     is how the team and friendly merchants try a method before anyone else.
//  4. Platforms: when the rule lists platforms, a checkout on another (or an
//     unknown) platform is hidden (cohort "untargeted").
//  5. App version: when the rule has a MinAppVersion, a checkout from an older
//     (or an unknown) app version is hidden (cohort "untargeted").
//  6. Market tiers: when the rule lists tiers, a buyer of another (or an
//     unknown) tier is hidden (cohort "untargeted"); see Tier.
//  7. Percentage: the buyer is shown iff Bucket(Salt, BuyerID) <
//     BasisPoints, and is then in cohort "percent"; otherwise hidden, in cohort
//     "holdout". A checkout without a buyer id cannot be bucketed: it is shown
//     only at 10000 basis points (cohort "percent"), and otherwise hidden
//     (cohort "untargeted"), so that anonymous traffic never pollutes the
//     holdout.
//
// # The ramp
//
// Because a buyer is in iff their bucket is below BasisPoints, raising
// BasisPoints only adds buyers and lowering it only removes them: the buyers
// at 1% are among those at 20%, who are among everyone. The bucket depends
// on the salt and the buyer id only, never on time, merchant or method, so a
// buyer sees the same answer at every checkout. Changing the Salt reshuffles
// every buyer — a fresh, independent sample — and so breaks the nesting: do
// it only to start a new experiment. Methods sharing a salt share buckets,
// so at equal percentages they reach the same buyers; give the methods of one
// launch (say every WeChat Pay method) one salt, and unrelated experiments
// different ones. Use DryRun to see whom a change adds and removes.
//
// # Cohorts
//
// Every Decision carries a Cohort, a stable label for analytics:
//
//	default     no rule for the method: shown to everyone
//	off         the kill switch is off: hidden
//	deny        on a deny-list: hidden
//	allow       on an allow-list: shown
//	untargeted  outside the rule's platforms, app versions or tiers, or no
//	            buyer id below 100%: hidden
//	percent     bucket under the percentage: shown
//	holdout     bucket not under the percentage: hidden
//
// "percent" and "holdout" are a random split of the same targeted buyers, so
// comparing them measures what showing the method changes (conversion lift);
// "allow" is hand-picked and belongs in neither.
//
// # Reasons
//
// A Decision's Reason is one sentence: the method, "shown" or "hidden", a
// colon, and why, with the numbers that decided:
//
//	wechatpay.native shown: bucket 1234 is under 2000 (20.00%)
//	wechatpay.native hidden: bucket 7300 is not under 2000 (20.00%)
//	wechatpay.jsapi shown: buyer b1 is on the allow-list
//	wechatpay.jsapi hidden: app version 8.0.9 is below the minimum 8.0.10
//
// The wording is for people; code should read Shown and Cohort.
package rollout

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Buckets is the number of buckets a buyer can fall in: Bucket returns 0 to
// Buckets-1, and Rule.BasisPoints counts buckets, so 1 basis point is one
// buyer in 10,000.
const Buckets = 10000

// Rule is the rollout of one payment method. Its zero value is a rule that
// hides the method from everyone (Enabled false).
type Rule struct {
	// Enabled is the kill switch: false hides the method from every buyer,
	// allow-listed or not.
	Enabled bool `json:"enabled"`
	// BasisPoints is the share of buyers shown the method, 0 to 10000
	// (10000 = 100.00%): a buyer is in iff Bucket(Salt, BuyerID) <
	// BasisPoints.
	BasisPoints int `json:"percent_bps"`
	// Salt is mixed into every buyer's bucket. Methods with one salt share
	// buckets; changing it reshuffles every buyer (see the package comment).
	// At most 64 bytes, no control characters; "" is a salt like any other.
	Salt string `json:"salt"`

	// Allow- and deny-lists of ids, each at most MaxListEntries entries of 1 to
	// MaxIDLength bytes. Deny beats allow; an allowed checkout skips the
	// targeting and percentage steps.
	AllowBuyers     []string `json:"allow_buyers,omitempty"`
	DenyBuyers      []string `json:"deny_buyers,omitempty"`
	AllowMerchants  []string `json:"allow_merchants,omitempty"`
	DenyMerchants   []string `json:"deny_merchants,omitempty"`
	AllowProducts   []string `json:"allow_products,omitempty"`
	DenyProducts    []string `json:"deny_products,omitempty"`
	AllowCategories []string `json:"allow_categories,omitempty"`
	DenyCategories  []string `json:"deny_categories,omitempty"`

	// Tiers lists the market tiers shown (TierFirst, TierCity, TierCounty,
	// TierCountyCity); empty shows every tier, and buyers of unknown tier.
	Tiers []string `json:"tiers,omitempty"`
	// Platforms lists the platforms shown (ios, android, h5, miniprogram,
	// pc); empty shows every platform, and unknown ones.
	Platforms []string `json:"platforms,omitempty"`
	// MinAppVersion, when set, hides the method from apps older than it, and
	// from checkouts whose app version is unknown. Versions are dotted
	// numbers compared part by part as numbers ("8.0.10" > "8.0.9"; "8.0" =
	// "8.0.0").
	MinAppVersion string `json:"min_app_version,omitempty"`
}

// RuleSet is every method's rule, as one versioned document.
type RuleSet struct {
	// Version numbers the rule set, for the audit trail; every Decision
	// carries it.
	Version int `json:"version"`
	// Methods maps a method to its rule. A method without a rule is shown to
	// everyone (cohort "default").
	Methods map[string]Rule `json:"methods"`
	// TierOverrides adds to or replaces entries of DefaultTierTable when
	// evaluating this rule set: {"3201": "first_tier"} makes Nanjing's
	// districts first-tier, and keeps Beijing's.
	TierOverrides TierTable `json:"tier_overrides,omitempty"`
}

// Checkout is what the rules look at: one buyer at one checkout.
type Checkout struct {
	BuyerID    string   `json:"buyer_id"`
	MerchantID string   `json:"merchant_id"`
	ProductIDs []string `json:"product_ids,omitempty"`
	Categories []string `json:"categories,omitempty"`
	// RegionCode is the buyer's GB/T 2260 code, from which Tier is derived.
	RegionCode string `json:"region_code,omitempty"`
	// Platform is ios, android, h5, miniprogram or pc; "" when unknown.
	Platform string `json:"platform,omitempty"`
	// AppVersion is the version of the wallet app the page runs in, as
	// useragent.Client.AppVersion gives it ("8.0.50.2600"); "" when unknown.
	AppVersion string `json:"app_version,omitempty"`
	// Browser is where a cashier page was opened: a wallet's in-app
	// browser (useragent's wallet names) or "other"; "" when the decision
	// was not made on a page. The rules do not read it; the cashier
	// funnel does, from the exposures.
	Browser string `json:"browser,omitempty"`
}

// Decision is whether one method is shown at one checkout, and why.
type Decision struct {
	Method string `json:"method"`
	Shown  bool   `json:"shown"`
	// Reason is one sentence for operators (see the package comment).
	Reason string `json:"reason"`
	// Bucket is the buyer's bucket under the method's salt, 0 to 9999, or
	// -1 when there is no rule or no buyer id. It is filled even when an
	// earlier step decided, to show where the buyer would fall.
	Bucket int `json:"bucket"`
	// Tier is the buyer's market tier, "" when the region code is missing or
	// has none.
	Tier string `json:"tier,omitempty"`
	// Cohort is the analytics label (see the package comment).
	Cohort string `json:"cohort"`
	// Version is the RuleSet's Version that decided.
	Version int `json:"version"`
}

// Cohorts, the values of Decision.Cohort.
const (
	CohortDefault    = "default"
	CohortOff        = "off"
	CohortDeny       = "deny"
	CohortAllow      = "allow"
	CohortUntargeted = "untargeted"
	CohortPercent    = "percent"
	CohortHoldout    = "holdout"
)

// Bucket places a buyer in one of 10000 buckets, 0 to 9999, under a salt.
// It is stable forever — stored cohorts and every ramp depend on it — and
// defined so that any language can compute it:
//
//	h := SHA-256(salt + "\n" + buyerID)
//	bucket := (first 8 bytes of h as a big-endian uint64) mod 10000
//
// A Validated salt holds no newline, so distinct (salt, buyer) pairs hash
// distinct strings. The modulo's bias is below 10000/2⁶⁴.
func Bucket(salt, buyerID string) int {
	var buf [160]byte // a salt and an id of 64 bytes each, without a heap allocation
	b := append(buf[:0], salt...)
	b = append(b, '\n')
	b = append(b, buyerID...)
	sum := sha256.Sum256(b)
	return int(binary.BigEndian.Uint64(sum[:8]) % Buckets)
}

// Evaluate decides, for one checkout, whether each of methods is shown, in
// the order given. It reads the rule set as it is: a rule that does not
// Validate is applied as written (a percentage out of range acts as 0 or
// 100%, an unreadable MinAppVersion hides the method). Lists are searched
// one by one; for large lists, or many checkouts, Compile the rule set once
// and use Compiled.Evaluate, whose lookups take constant time.
func (rs RuleSet) Evaluate(c Checkout, methods []string) []Decision {
	e := newEvaluation(c, rs.Version, rs.TierOverrides)
	out := make([]Decision, len(methods))
	for i, m := range methods {
		r, ok := rs.Methods[m]
		if !ok {
			out[i] = e.decide(m, nil)
			continue
		}
		cr := compileRule(r, false)
		out[i] = e.decide(m, &cr)
	}
	return out
}

// Compiled is a validated RuleSet ready to evaluate many checkouts: each
// rule's eight lists merged into one map (one lookup per id of the checkout),
// its versions parsed, its tier table merged. It is immutable and safe for
// concurrent use.
type Compiled struct {
	version int
	rules   map[string]*compiledRule
	tiers   TierTable // DefaultTierTable with the overrides applied
}

// Compile validates the rule set and builds its efficient form.
func (rs RuleSet) Compile() (*Compiled, error) {
	if err := rs.Validate(); err != nil {
		return nil, err
	}
	c := &Compiled{version: rs.Version, rules: make(map[string]*compiledRule, len(rs.Methods)), tiers: DefaultTierTable().With(rs.TierOverrides)}
	for m, r := range rs.Methods {
		cr := compileRule(r, true)
		c.rules[m] = &cr
	}
	return c, nil
}

// Version is the compiled RuleSet's Version.
func (c *Compiled) Version() int { return c.version }

// Evaluate is RuleSet.Evaluate over the compiled form.
func (c *Compiled) Evaluate(ch Checkout, methods []string) []Decision {
	e := newEvaluation(ch, c.version, nil)
	e.tiers = c.tiers
	out := make([]Decision, len(methods))
	for i, m := range methods {
		out[i] = e.decide(m, c.rules[m])
	}
	return out
}

// Kinds of id a rule lists, in the order the lists are consulted.
const (
	kindBuyer = iota
	kindMerchant
	kindProduct
	kindCategory
	kinds
)

var kindNames = [kinds]string{"buyer", "merchant", "product", "category"}

// listed says on which of a rule's lists an id is: bit k for the deny-list
// of kind k, bit kinds+k for its allow-list.
type listed uint8

func (l listed) deny(kind int) bool  { return l&(1<<kind) != 0 }
func (l listed) allow(kind int) bool { return l&(1<<(kinds+kind)) != 0 }

// compiledRule is a Rule ready to apply: its lists merged into one map from
// id to the lists it is on (compiled), or left as slices searched in order
// (the RuleSet as written), and its minimum version parsed.
type compiledRule struct {
	r             Rule
	ids           map[string]listed // nil: search the rule's slices
	minVersion    version
	minVersionErr error
}

func (cr *compiledRule) lists() (deny, allow [kinds][]string) {
	r := &cr.r
	return [kinds][]string{r.DenyBuyers, r.DenyMerchants, r.DenyProducts, r.DenyCategories},
		[kinds][]string{r.AllowBuyers, r.AllowMerchants, r.AllowProducts, r.AllowCategories}
}

func compileRule(r Rule, compiled bool) compiledRule {
	cr := compiledRule{r: r}
	if compiled {
		deny, allow := cr.lists()
		n := 0
		for k := range kinds {
			n += len(deny[k]) + len(allow[k])
		}
		if n > 0 {
			cr.ids = make(map[string]listed, n)
		}
		for k := range kinds {
			for _, id := range deny[k] {
				cr.ids[id] |= 1 << k
			}
			for _, id := range allow[k] {
				cr.ids[id] |= 1 << (kinds + k)
			}
		}
	}
	if r.MinAppVersion != "" {
		cr.minVersion, cr.minVersionErr = parseVersion(r.MinAppVersion)
	}
	return cr
}

func (cr *compiledRule) hasLists() bool {
	r := &cr.r
	return len(r.DenyBuyers)+len(r.AllowBuyers)+len(r.DenyMerchants)+len(r.AllowMerchants)+
		len(r.DenyProducts)+len(r.AllowProducts)+len(r.DenyCategories)+len(r.AllowCategories) > 0
}

// lookup tells on which lists of its kind an id is.
func (cr *compiledRule) lookup(kind int, id string) listed {
	if cr.ids != nil {
		return cr.ids[id]
	}
	var l listed
	deny, allow := cr.lists()
	if slices.Contains(deny[kind], id) {
		l |= 1 << kind
	}
	if slices.Contains(allow[kind], id) {
		l |= 1 << (kinds + kind)
	}
	return l
}

// match looks the checkout's buyer, merchant, products and categories up,
// each once, and returns the first denied and the first allowed, in that
// order of kinds.
func (cr *compiledRule) match(c *Checkout) (deny, allow hit) {
	if cr.ids == nil && !cr.hasLists() {
		return hit{}, hit{}
	}
	see := func(kind int, id string) bool {
		l := cr.lookup(kind, id)
		if l.deny(kind) {
			deny = hit{kind, id, true}
			return true
		}
		if l.allow(kind) && !allow.ok {
			allow = hit{kind, id, true}
		}
		return false
	}
	if c.BuyerID != "" && see(kindBuyer, c.BuyerID) {
		return
	}
	if c.MerchantID != "" && see(kindMerchant, c.MerchantID) {
		return
	}
	for _, p := range c.ProductIDs {
		if see(kindProduct, p) {
			return
		}
	}
	for _, k := range c.Categories {
		if see(kindCategory, k) {
			return
		}
	}
	return
}

// hit is an id found on a list.
type hit struct {
	kind int
	id   string
	ok   bool
}

// evaluation is one checkout being decided: what is worked out once per
// checkout (tier, app version) and per salt (bucket) is kept here.
type evaluation struct {
	c       Checkout
	version int

	tiers     TierTable // a merged table, or nil to look in overrides then the default
	overrides TierTable

	tierDone bool
	tier     string
	tierErr  error

	appVersionDone bool
	appVersion     version
	appVersionErr  error

	buckets [4]saltBucket // a few salts' buckets, without a heap allocation
	nb      int
}

type saltBucket struct {
	salt   string
	bucket int
}

func newEvaluation(c Checkout, v int, overrides TierTable) *evaluation {
	return &evaluation{c: c, version: v, overrides: overrides}
}

func (e *evaluation) buyerTier() (string, error) {
	if !e.tierDone {
		e.tierDone = true
		if e.c.RegionCode != "" {
			if e.tiers != nil {
				e.tier, e.tierErr = tierOf(e.c.RegionCode, e.tiers, nil)
			} else {
				e.tier, e.tierErr = tierOf(e.c.RegionCode, e.overrides, defaultTiers)
			}
		}
	}
	return e.tier, e.tierErr
}

func (e *evaluation) buyerAppVersion() (version, error) {
	if !e.appVersionDone {
		e.appVersionDone = true
		if e.c.AppVersion != "" {
			e.appVersion, e.appVersionErr = parseVersion(e.c.AppVersion)
		}
	}
	return e.appVersion, e.appVersionErr
}

func (e *evaluation) bucket(salt string) int {
	for _, sb := range e.buckets[:e.nb] {
		if sb.salt == salt {
			return sb.bucket
		}
	}
	b := Bucket(salt, e.c.BuyerID)
	if e.nb < len(e.buckets) {
		e.buckets[e.nb] = saltBucket{salt, b}
		e.nb++
	}
	return b
}

// decide applies one rule (nil: the method has none) in the documented
// order.
func (e *evaluation) decide(method string, cr *compiledRule) Decision {
	tier, _ := e.buyerTier()
	d := Decision{Method: method, Bucket: -1, Tier: tier, Version: e.version}
	if cr == nil {
		return d.set(true, CohortDefault, "it has no rollout rule, so every buyer sees it")
	}
	r := &cr.r
	c := &e.c
	if c.BuyerID != "" {
		d.Bucket = e.bucket(r.Salt)
	}

	if !r.Enabled {
		return d.set(false, CohortOff, "the kill switch is off (enabled is false)")
	}

	if deny, allow := cr.match(c); deny.ok {
		return d.set(false, CohortDeny, kindNames[deny.kind]+" "+deny.id+" is on the deny-list")
	} else if allow.ok {
		return d.set(true, CohortAllow, kindNames[allow.kind]+" "+allow.id+" is on the allow-list")
	}

	if len(r.Platforms) > 0 && !slices.Contains(r.Platforms, c.Platform) {
		if c.Platform == "" {
			return d.set(false, CohortUntargeted, "the platform is unknown and the rule shows it only on "+list(r.Platforms))
		}
		return d.set(false, CohortUntargeted, "platform "+c.Platform+" is not among "+list(r.Platforms))
	}

	if r.MinAppVersion != "" {
		if cr.minVersionErr != nil {
			return d.set(false, CohortUntargeted, fmt.Sprintf("the rule's min_app_version %q is not a dotted number", r.MinAppVersion))
		}
		v, err := e.buyerAppVersion()
		switch {
		case c.AppVersion == "":
			return d.set(false, CohortUntargeted, "the app version is unknown and the minimum is "+r.MinAppVersion)
		case err != nil:
			return d.set(false, CohortUntargeted, fmt.Sprintf("app version %q is not a dotted number, and the minimum is %s", c.AppVersion, r.MinAppVersion))
		case v.compare(cr.minVersion) < 0:
			return d.set(false, CohortUntargeted, "app version "+c.AppVersion+" is below the minimum "+r.MinAppVersion)
		}
	}

	if len(r.Tiers) > 0 && !slices.Contains(r.Tiers, tier) {
		_, err := e.buyerTier()
		switch {
		case c.RegionCode == "":
			return d.set(false, CohortUntargeted, "the buyer's region is unknown and the rule shows it only to tiers "+list(r.Tiers))
		case err != nil:
			return d.set(false, CohortUntargeted, "the market tier is unknown ("+err.Error()+") and the rule shows it only to tiers "+list(r.Tiers))
		}
		return d.set(false, CohortUntargeted, "market tier "+tier+" of region "+c.RegionCode+" is not among "+list(r.Tiers))
	}

	if c.BuyerID == "" {
		if r.BasisPoints >= Buckets {
			return d.set(true, CohortPercent, fmt.Sprintf("the rule shows it to every buyer (%d of %d buckets, %s), known or not", r.BasisPoints, Buckets, percent(r.BasisPoints)))
		}
		return d.set(false, CohortUntargeted, fmt.Sprintf("the checkout has no buyer id to place in a bucket, and the rule shows it to %d of %d buckets (%s)", max(r.BasisPoints, 0), Buckets, percent(r.BasisPoints)))
	}
	// The common path, written out so that the reason costs one allocation.
	shown, cohort, under := true, CohortPercent, " is under "
	if d.Bucket >= r.BasisPoints {
		shown, cohort, under = false, CohortHoldout, " is not under "
	}
	var buf [80]byte
	b := append(buf[:0], "bucket "...)
	b = strconv.AppendInt(b, int64(d.Bucket), 10)
	b = append(b, under...)
	b = strconv.AppendInt(b, int64(r.BasisPoints), 10)
	b = append(b, " ("...)
	b = appendPercent(b, r.BasisPoints)
	b = append(b, ')')
	return d.setBytes(shown, cohort, b)
}

func (d Decision) setBytes(shown bool, cohort string, why []byte) Decision {
	d.Shown, d.Cohort = shown, cohort
	if shown {
		d.Reason = d.Method + " shown: " + string(why)
	} else {
		d.Reason = d.Method + " hidden: " + string(why)
	}
	return d
}

func (d Decision) set(shown bool, cohort, why string) Decision {
	d.Shown, d.Cohort = shown, cohort
	if shown {
		d.Reason = d.Method + " shown: " + why
	} else {
		d.Reason = d.Method + " hidden: " + why
	}
	return d
}

// percent formats basis points as a percentage with two decimals: 2000 is
// "20.00%".
func percent(bps int) string { return string(appendPercent(nil, bps)) }

func appendPercent(b []byte, bps int) []byte {
	n := int64(bps)
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/100, 10)
	return append(b, '.', byte('0'+n%100/10), byte('0'+n%10), '%')
}

func list(xs []string) string { return strings.Join(xs, ", ") }
