// Package sandboxkeys holds the key handling the simulated wallets share:
// PEM encoding of RSA keys as merchants receive them, random digits for
// identifiers, and short-lived signed tokens for download links.
package sandboxkeys

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
)

// PrivatePEM encodes a key as PKCS #8 PEM ("PRIVATE KEY"), the form both
// wallets' tools produce and both SDKs read.
func PrivatePEM(k *rsa.PrivateKey) string {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// PublicPEM encodes a public key as PKIX PEM ("PUBLIC KEY").
func PublicPEM(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// ParsePrivateKey reads a PKCS #8 PEM RSA key.
func ParsePrivateKey(s string) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// ParsePublicKey reads a PKIX PEM RSA public key.
func ParsePublicKey(s string) (*rsa.PublicKey, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("not a PEM public key")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// Digits returns n random decimal digits.
func Digits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// Token signs small JSON payloads for links that must not be forged, such
// as bill downloads: base64url(payload) "." base64url(HMAC-SHA256).
type Token struct{ Key []byte }

// Sign returns the token for v.
func (t Token) Sign(v any) string {
	payload, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(t.mac(payload))
}

// Open verifies tok and decodes its payload into v.
func (t Token) Open(tok string, v any) bool {
	p, m, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	sig, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, t.mac(payload)) {
		return false
	}
	return json.Unmarshal(payload, v) == nil
}

func (t Token) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, t.Key)
	h.Write(payload)
	return h.Sum(nil)
}
