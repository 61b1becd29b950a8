package wechatpayv3

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SchemeRSA is the only Authorization scheme API v3 defines.
const SchemeRSA = "WECHATPAY2-SHA256-RSA2048"

// Headers the platform sets on its responses and notifications.
const (
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignatureType = "Wechatpay-Signature-Type"
	HeaderRequestID     = "Request-ID"
)

// Authorization is the parsed value of a merchant request's Authorization
// header:
//
//	WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"
type Authorization struct {
	MchID     string
	NonceStr  string
	Timestamp int64 // Unix seconds
	SerialNo  string
	Signature string // base64
}

// String renders the header value in the order the official SDKs use.
func (a Authorization) String() string {
	return fmt.Sprintf(`%s mchid="%s",nonce_str="%s",timestamp="%d",serial_no="%s",signature="%s"`,
		SchemeRSA, a.MchID, a.NonceStr, a.Timestamp, a.SerialNo, a.Signature)
}

// maxAuthorizationLen bounds the header we are willing to parse; a real one
// is about 500 bytes (the signature of a 2048-bit key is 344 base64 bytes).
const maxAuthorizationLen = 4096

// ParseAuthorization parses an Authorization header value. Every one of the
// five parameters must appear exactly once with a quoted, non-empty value;
// unknown parameters are refused so that a typo is not silently ignored. The
// error names the problem, for the PARAM_ERROR or SIGN_ERROR answer.
func ParseAuthorization(header string) (Authorization, error) {
	var a Authorization
	if header == "" {
		return a, errors.New("Authorization header is missing")
	}
	if len(header) > maxAuthorizationLen {
		return a, fmt.Errorf("Authorization header is longer than %d bytes", maxAuthorizationLen)
	}
	scheme, params, ok := strings.Cut(header, " ")
	if !ok || scheme != SchemeRSA {
		return a, fmt.Errorf("Authorization scheme must be %s", SchemeRSA)
	}
	seen := map[string]bool{}
	rest := strings.TrimSpace(params)
	for rest != "" {
		key, after, ok := strings.Cut(rest, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return a, fmt.Errorf("Authorization parameter %q has no value", truncate(rest, 32))
		}
		if !strings.HasPrefix(after, `"`) {
			return a, fmt.Errorf("Authorization parameter %s must be quoted", key)
		}
		end := strings.IndexByte(after[1:], '"')
		if end < 0 {
			return a, fmt.Errorf("Authorization parameter %s has no closing quote", key)
		}
		value := after[1 : 1+end]
		rest = strings.TrimSpace(after[2+end:])
		if rest != "" {
			if rest[0] != ',' {
				return a, fmt.Errorf("Authorization parameters must be separated by commas after %s", key)
			}
			rest = strings.TrimSpace(rest[1:])
			if rest == "" {
				return a, errors.New("Authorization header ends with a comma")
			}
		}
		if seen[key] {
			return a, fmt.Errorf("Authorization parameter %s appears twice", key)
		}
		seen[key] = true
		if value == "" {
			return a, fmt.Errorf("Authorization parameter %s is empty", key)
		}
		switch key {
		case "mchid":
			a.MchID = value
		case "nonce_str":
			a.NonceStr = value
		case "serial_no":
			a.SerialNo = value
		case "signature":
			a.Signature = value
		case "timestamp":
			ts, err := strconv.ParseInt(value, 10, 64)
			if err != nil || ts <= 0 {
				return a, fmt.Errorf("Authorization timestamp %q is not a positive number of seconds", truncate(value, 32))
			}
			a.Timestamp = ts
		default:
			return a, fmt.Errorf("Authorization parameter %q is unknown", truncate(key, 32))
		}
	}
	for _, k := range []string{"mchid", "nonce_str", "timestamp", "serial_no", "signature"} {
		if !seen[k] {
			return a, fmt.Errorf("Authorization parameter %s is missing", k)
		}
	}
	return a, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
