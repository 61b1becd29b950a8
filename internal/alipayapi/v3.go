package alipayapi

import (
	"fmt"
	"strconv"
	"strings"
)

// OpenAPI v3 ("/v3/alipay/trade/precreate" and the like) is the same
// gateway spoken as JSON over REST. A request carries its signature in one
// header:
//
//	Authorization: ALIPAY-SHA256withRSA app_id=2021…,nonce=…,timestamp=1700000000000,sign=…
//
// The part between the scheme and ",sign=" is the auth string, exactly as
// sent, and the signature (SHA256 with RSA, the app's key) covers
//
//	<auth string>\n<HTTP method>\n<path and query>\n<body>\n[<app_auth_token>\n]
//
// the last line only when the request acts for a merchant through the
// alipay-app-auth-token header. A GET signs an empty body. An answer, errors
// included, is signed by Alipay over
//
//	<alipay-timestamp>\n<alipay-nonce>\n<body>\n
//
// with the signature in the alipay-signature header. Errors are an HTTP
// status with {"code","message"}; code is the classic sub_code, without
// its isv./isp./aop. prefix (ACQ.TRADE_NOT_EXIST stays as it is).

// V3Scheme is the Authorization scheme of a v3 request signed with RSA2.
const V3Scheme = "ALIPAY-SHA256withRSA"

// V3SchemePrefix starts every v3 scheme (ALIPAY-SHA256withRSA,
// ALIPAY-SM2…): what tells an Alipay request from another wallet's on a
// shared /v3/ path.
const V3SchemePrefix = "ALIPAY-"

// MaxAuthorizationBytes bounds the Authorization header read: an auth
// string and a 2048-bit signature take about 500 bytes.
const MaxAuthorizationBytes = 4096

// V3Authorization is a parsed v3 Authorization header.
type V3Authorization struct {
	AppID string
	// AppCertSN is set in certificate mode only.
	AppCertSN string
	Nonce     string
	// Timestamp is when the request was signed, in Unix milliseconds.
	Timestamp int64
	// AuthString is the exact text the signature covers on its first line:
	// every pair before sign, in the order and spelling sent, extra pairs
	// (the SDKs' additionalAuthInfo) included.
	AuthString string
	// Sign is the base64 signature.
	Sign string
}

// AuthorizationError says what is wrong with an Authorization header.
// Field names the pair at fault ("app_id", "nonce", "timestamp", "sign"),
// or is "scheme" for the scheme and "" for the header as a whole; Missing
// reports a required pair that is absent, as opposed to one that is there
// but malformed.
type AuthorizationError struct {
	Field   string
	Missing bool
	Message string
}

func (e *AuthorizationError) Error() string { return e.Message }

func authError(field string, missing bool, format string, args ...any) *AuthorizationError {
	return &AuthorizationError{Field: field, Missing: missing, Message: fmt.Sprintf(format, args...)}
}

// ParseV3Authorization reads a v3 Authorization header. It is strict where
// a loose reading could make the gateway check one thing and act on
// another: one scheme, then key=value pairs joined by commas with sign
// last; no pair twice; no blank, space or control character anywhere past
// the scheme; app_id and timestamp in digits; sign in standard base64.
// Pairs it does not know are kept in the auth string (they are signed) and
// otherwise ignored. Every refusal is an [*AuthorizationError].
func ParseV3Authorization(header string) (V3Authorization, error) {
	var a V3Authorization
	if header == "" {
		return a, authError("", true, "the Authorization header is missing")
	}
	if len(header) > MaxAuthorizationBytes {
		return a, authError("", false, "the Authorization header is longer than %d bytes", MaxAuthorizationBytes)
	}
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || scheme != V3Scheme {
		return a, authError("scheme", false, "the Authorization scheme must be %s, got %.40q", V3Scheme, scheme)
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c <= ' ' || c == 0x7f {
			return a, authError("", false, "the Authorization header has a space or control character at byte %d after the scheme", len(scheme)+1+i)
		}
	}
	cut := strings.LastIndex(rest, ",sign=")
	if cut < 0 {
		if strings.HasPrefix(rest, "sign=") {
			return a, authError("app_id", true, "the Authorization header has no auth string before sign")
		}
		return a, authError("sign", true, "the Authorization header has no sign, which must come last: …,sign=<base64>")
	}
	a.AuthString, a.Sign = rest[:cut], rest[cut+len(",sign="):]
	if err := checkBase64(a.Sign); err != nil {
		return a, err
	}
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(a.AuthString, ",") {
		k, v, ok := strings.Cut(pair, "=")
		switch {
		case !ok || k == "":
			return a, authError("", false, "the Authorization pair %.40q is not key=value", pair)
		case !isKey(k):
			return a, authError("", false, "the Authorization key %.40q is not lower-case letters and underscores", k)
		case seen[k]:
			return a, authError(k, false, "the Authorization header names %s twice", k)
		case k == "sign":
			return a, authError("sign", false, "the Authorization header names sign twice")
		case v == "":
			return a, authError(k, true, "the Authorization pair %s has no value", k)
		}
		seen[k] = true
		switch k {
		case "app_id":
			if !isDigits(v) || len(v) > 32 {
				return a, authError("app_id", false, "app_id %.40q is not an app id (digits)", v)
			}
			a.AppID = v
		case "nonce":
			if len(v) > 64 {
				return a, authError("nonce", false, "nonce is longer than 64 characters")
			}
			a.Nonce = v
		case "timestamp":
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || !isDigits(v) {
				return a, authError("timestamp", false, "timestamp %.40q is not Unix milliseconds", v)
			}
			a.Timestamp = ms
		case "app_cert_sn":
			a.AppCertSN = v
		}
	}
	for _, k := range []string{"app_id", "nonce", "timestamp"} {
		if !seen[k] {
			return a, authError(k, true, "the Authorization header has no %s", k)
		}
	}
	return a, nil
}

// V3SignContent is what the app signs for a v3 request: requestURI is the
// path and query as sent, body the raw body ("" for a GET), appAuthToken
// the alipay-app-auth-token header ("" when absent).
func V3SignContent(authString, httpMethod, requestURI string, body []byte, appAuthToken string) []byte {
	var b strings.Builder
	b.Grow(len(authString) + len(httpMethod) + len(requestURI) + len(body) + len(appAuthToken) + 5)
	b.WriteString(authString)
	b.WriteByte('\n')
	b.WriteString(httpMethod)
	b.WriteByte('\n')
	b.WriteString(requestURI)
	b.WriteByte('\n')
	b.Write(body)
	b.WriteByte('\n')
	if appAuthToken != "" {
		b.WriteString(appAuthToken)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// V3ResponseSignContent is what Alipay signs for a v3 answer.
func V3ResponseSignContent(timestamp, nonce string, body []byte) []byte {
	out := make([]byte, 0, len(timestamp)+len(nonce)+len(body)+3)
	out = append(out, timestamp...)
	out = append(out, '\n')
	out = append(out, nonce...)
	out = append(out, '\n')
	out = append(out, body...)
	return append(out, '\n')
}

// V3ErrorCode is the code a v3 error carries for a classic sub_code: the
// gateway's own prefixes are dropped (isv.invalid-signature →
// invalid-signature), a business code is kept (ACQ.TRADE_NOT_EXIST).
func V3ErrorCode(subCode string) string {
	for _, p := range []string{"isv.", "isp.", "aop."} {
		if rest, ok := strings.CutPrefix(subCode, p); ok {
			return rest
		}
	}
	return subCode
}

func isKey(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return len(s) <= 32
}

func isDigits(s string) bool { return s != "" && digits(s) }

func checkBase64(s string) error {
	if s == "" {
		return authError("sign", true, "sign is empty")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return authError("sign", false, "sign is not standard base64 (byte %d is %q)", i, c)
		}
	}
	return nil
}
