// Package alipayapi holds the wire-level rules of the Alipay OpenAPI that
// both ends need: the string that is signed, RSA2 signatures, the gateway's
// parameter parsing, yuan amounts, and the shape of answers. It does no I/O;
// the sandbox (internal/sandbox/alipay) and hutong's connector build on it.
//
// The signed content of a request is every parameter but sign, with a
// non-empty value, sorted by name and joined as k=v&k=v with raw (not
// URL-encoded) values. Notifications and synchronous returns are verified
// the same way without sign and sign_type. An answer is
//
//	{"<method with _ for .>_response": {...}, "sign": "..."}
//
// signed over the exact text of the response object.
package alipayapi

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// SignContent is the text to sign for params, leaving out the named
// parameters (and every empty value).
func SignContent(params url.Values, exclude ...string) string {
	keys := make([]string, 0, len(params))
outer:
	for k, vs := range params {
		for _, x := range exclude {
			if k == x {
				continue outer
			}
		}
		if len(vs) == 0 || vs[0] == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k][0])
	}
	return b.String()
}

// RequestSignContent is what a merchant signs for a gateway request.
func RequestSignContent(params url.Values) string { return SignContent(params, "sign") }

// NotifySignContent is what Alipay signs for a notification or a return.
func NotifySignContent(params url.Values) string { return SignContent(params, "sign", "sign_type") }

// Sign returns the base64 RSA2 (SHA256-with-RSA, PKCS #1 v1.5) signature.
func Sign(key *rsa.PrivateKey, content []byte) (string, error) {
	sum := sha256.Sum256(content)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("alipayapi: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// ErrBadSignature is returned by Verify for a signature that does not match.
var ErrBadSignature = errors.New("alipayapi: signature does not match")

// Verify checks a base64 RSA2 signature.
func Verify(pub *rsa.PublicKey, content []byte, signature string) error {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return ErrBadSignature
	}
	sum := sha256.Sum256(content)
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return ErrBadSignature
	}
	return nil
}

// ResponseKey is the name of a method's answer object:
// alipay.trade.precreate → alipay_trade_precreate_response.
func ResponseKey(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}
