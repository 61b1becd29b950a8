package rollout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/payment"
)

// Limits of a rule.
const (
	// MaxListEntries is the most ids an allow- or deny-list may hold.
	MaxListEntries = 10000
	// MaxIDLength is the longest id, in bytes: a buyer id's limit in
	// payment.Request.
	MaxIDLength = 64
	// MaxSaltLength is the longest salt, in bytes.
	MaxSaltLength = 64
)

// FieldError names the field of a rule that is wrong, as its JSON path
// ("percent_bps", "deny_buyers[3]", "methods.wechatpay.native.tiers[0]"),
// and why.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func bad(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks a rule and returns its first problem as a *FieldError.
func (r Rule) Validate() error {
	if r.BasisPoints < 0 || r.BasisPoints > Buckets {
		return bad("percent_bps", "must be 0 to %d basis points (0.00%% to 100.00%%), got %d", Buckets, r.BasisPoints)
	}
	if len(r.Salt) > MaxSaltLength {
		return bad("salt", "must be at most %d bytes, got %d", MaxSaltLength, len(r.Salt))
	}
	if !printable(r.Salt) {
		return bad("salt", "must be valid UTF-8 without control characters")
	}
	lists := []struct {
		field string
		ids   []string
	}{
		{"allow_buyers", r.AllowBuyers}, {"deny_buyers", r.DenyBuyers},
		{"allow_merchants", r.AllowMerchants}, {"deny_merchants", r.DenyMerchants},
		{"allow_products", r.AllowProducts}, {"deny_products", r.DenyProducts},
		{"allow_categories", r.AllowCategories}, {"deny_categories", r.DenyCategories},
	}
	for _, l := range lists {
		if len(l.ids) > MaxListEntries {
			return bad(l.field, "may hold at most %d entries, got %d", MaxListEntries, len(l.ids))
		}
		for i, id := range l.ids {
			switch {
			case id == "" || len(id) > MaxIDLength:
				return bad(fmt.Sprintf("%s[%d]", l.field, i), "must be 1 to %d bytes, got %d", MaxIDLength, len(id))
			case !printable(id):
				return bad(fmt.Sprintf("%s[%d]", l.field, i), "must be valid UTF-8 without control characters")
			}
		}
	}
	for i, t := range r.Tiers {
		switch {
		case !isTier(t):
			return bad(fmt.Sprintf("tiers[%d]", i), "%q is not a market tier; use first_tier, city, county_city or county", t)
		case slices.Contains(r.Tiers[:i], t):
			return bad(fmt.Sprintf("tiers[%d]", i), "%q is listed twice", t)
		}
	}
	for i, p := range r.Platforms {
		switch {
		case !payment.Platforms[p]:
			return bad(fmt.Sprintf("platforms[%d]", i), "%q is not a platform; use %s", p, platformNames())
		case slices.Contains(r.Platforms[:i], p):
			return bad(fmt.Sprintf("platforms[%d]", i), "%q is listed twice", p)
		}
	}
	if r.MinAppVersion != "" {
		if _, err := parseVersion(r.MinAppVersion); err != nil {
			return bad("min_app_version", "%v", err)
		}
	}
	return nil
}

// Validate checks every rule, that every method is one payment.MethodChannel knows,
// and the tier overrides. Its error is a *FieldError whose Field is the JSON
// path in the rule set ("methods.wechatpay.native.percent_bps").
func (rs RuleSet) Validate() error {
	if rs.Version < 0 {
		return bad("version", "must be 0 or more, got %d", rs.Version)
	}
	for _, m := range slices.Sorted(maps.Keys(rs.Methods)) {
		if _, ok := payment.MethodChannel(m); !ok {
			return bad("methods", "%q is not a payment method; use one of %s", m, methodNames())
		}
		if err := rs.Methods[m].Validate(); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: "methods." + m + "." + fe.Field, Message: fe.Message}
			}
			return err
		}
	}
	if err := rs.TierOverrides.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return &FieldError{Field: strings.Replace(fe.Field, "tier_table", "tier_overrides", 1), Message: fe.Message}
		}
		return err
	}
	return nil
}

// ParseRule decodes one rule from JSON and validates it. Unlike
// json.Unmarshal it refuses unknown fields — a misspelt "percent_bsp" would
// otherwise leave the rule at 0% — and anything after the object.
func ParseRule(data []byte) (Rule, error) {
	var r Rule
	if err := decodeStrict(data, &r); err != nil {
		return Rule{}, err
	}
	return r, r.Validate()
}

// ParseRuleSet decodes a rule set from JSON, as strictly as ParseRule, and
// validates it.
func ParseRuleSet(data []byte) (RuleSet, error) {
	var rs RuleSet
	if err := decodeStrict(data, &rs); err != nil {
		return RuleSet{}, err
	}
	return rs, rs.Validate()
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("rollout: decoding JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("rollout: decoding JSON: unexpected data after the object")
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func platformNames() string {
	return strings.Join(slices.Sorted(maps.Keys(payment.Platforms)), ", ")
}

func methodNames() string {
	return strings.Join(payment.MethodNames(), ", ")
}

// Versions.

// maxVersionParts is the most dot-separated numbers a version may have;
// WeChat writes four ("8.0.50.2600").
const maxVersionParts = 8

// version is a parsed dotted version; missing parts are 0.
type version struct {
	p [maxVersionParts]uint32
	n int
}

// parseVersion reads a dotted numeric version: 1 to 8 parts of 1 to 9
// digits each.
func parseVersion(s string) (version, error) {
	var v version
	if s == "" {
		return v, errors.New("version is empty")
	}
	if len(s) > 80 {
		return v, fmt.Errorf("version %.20q… is longer than 80 bytes", s)
	}
	rest := s
	for {
		part, tail, more := strings.Cut(rest, ".")
		if part == "" || len(part) > 9 {
			return v, fmt.Errorf("%q is not a dotted number like 8.0.10: each part must be 1 to 9 digits", s)
		}
		var n uint32
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return v, fmt.Errorf("%q is not a dotted number like 8.0.10: %q is not a digit", s, c)
			}
			n = n*10 + uint32(c-'0')
		}
		if v.n == maxVersionParts {
			return v, fmt.Errorf("%q has more than %d parts", s, maxVersionParts)
		}
		v.p[v.n] = n
		v.n++
		if !more {
			return v, nil
		}
		rest = tail
	}
}

// compare returns -1, 0 or +1 as v is older than, as old as, or newer than
// w, part by part as numbers, a missing part counting as 0.
func (v version) compare(w version) int {
	for i := range maxVersionParts {
		switch {
		case v.p[i] < w.p[i]:
			return -1
		case v.p[i] > w.p[i]:
			return +1
		}
	}
	return 0
}

// CompareVersions compares two dotted numeric versions part by part as
// numbers: it returns -1 if a is older than b, 0 if they are the same
// ("8.0" and "8.0.0" are), +1 if a is newer ("8.0.10" is newer than
// "8.0.9"). A version that is not 1 to 8 dot-separated parts of 1 to 9
// digits is an error.
func CompareVersions(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.compare(vb), nil
}
