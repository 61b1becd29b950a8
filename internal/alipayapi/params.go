package alipayapi

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxParamsBytes bounds what the gateway reads of one request.
const MaxParamsBytes = 1 << 20

// ParseParams parses a gateway request's parameters from its query string
// and, for a POST, its x-www-form-urlencoded body, as one set. It is strict
// where the gateway must be: a parameter given twice (in one part or across
// both) is refused rather than silently choosing one, since the two could
// carry different values past a signature check; bad percent-encoding and
// invalid UTF-8 are refused; names must be short and printable.
func ParseParams(rawQuery string, body []byte) (url.Values, error) {
	if len(rawQuery)+len(body) > MaxParamsBytes {
		return nil, fmt.Errorf("parameters exceed %d bytes", MaxParamsBytes)
	}
	out := url.Values{}
	for _, part := range []string{rawQuery, string(body)} {
		for part != "" {
			var pair string
			pair, part, _ = strings.Cut(part, "&")
			if pair == "" {
				continue
			}
			rawKey, rawValue, _ := strings.Cut(pair, "=")
			key, err := url.QueryUnescape(rawKey)
			if err != nil {
				return nil, fmt.Errorf("parameter name %.40q is not valid URL encoding", rawKey)
			}
			value, err := url.QueryUnescape(rawValue)
			if err != nil {
				return nil, fmt.Errorf("parameter %.40s has a value that is not valid URL encoding", key)
			}
			if err := checkName(key); err != nil {
				return nil, err
			}
			if !utf8.ValidString(value) {
				return nil, fmt.Errorf("parameter %s is not valid UTF-8", key)
			}
			if _, dup := out[key]; dup {
				return nil, fmt.Errorf("parameter %s is given more than once", key)
			}
			out[key] = []string{value}
		}
	}
	return out, nil
}

func checkName(k string) error {
	if k == "" {
		return fmt.Errorf("a parameter has an empty name")
	}
	if len(k) > 64 {
		return fmt.Errorf("parameter name %.40q… is longer than 64 bytes", k)
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("parameter name %.40q has a character other than letters, digits, _ . -", k)
		}
	}
	return nil
}
