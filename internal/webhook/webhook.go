// Package webhook signs and verifies merchant webhooks per the Standard
// Webhooks specification (standardwebhooks.com), so any of its libraries,
// in any language, verifies hutong's webhooks:
//
//	webhook-id:        the event id, stable across retries (for dedup)
//	webhook-timestamp: Unix seconds of this attempt
//	webhook-signature: v1,<base64 HMAC-SHA256(secret, id "." timestamp "." body)>
//
// A secret is "whsec_" followed by base64 of 24 random bytes; the HMAC key
// is the decoded bytes. Several signatures may be sent, space-separated,
// while a secret rotates.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook request.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

const secretPrefix = "whsec_"

// Tolerance is how far a timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// NewSecret returns a fresh signing secret.
func NewSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// key decodes a secret to its HMAC key.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(k) < 16 {
		return nil, errors.New("webhook: the secret is not whsec_ followed by base64 of at least 16 bytes")
	}
	return k, nil
}

// Sign returns the webhook-signature value for one attempt.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(k, id, ts.Unix(), body)), nil
}

func mac(k []byte, id string, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, k)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(ts, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// SetHeaders signs body and sets the three headers on h.
func SetHeaders(h http.Header, secret, id string, ts time.Time, body []byte) error {
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Errors of Verify.
var (
	ErrMissingHeaders = errors.New("webhook: webhook-id, webhook-timestamp or webhook-signature is missing")
	ErrTimestamp      = errors.New("webhook: the timestamp is too far from now")
	ErrSignature      = errors.New("webhook: no signature matches")
)

// Verify checks a received webhook against secret at time now.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrTimestamp, tsText)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return ErrTimestamp
	}
	k, err := key(secret)
	if err != nil {
		return err
	}
	want := mac(k, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}

// Schedule is how long to wait before each retry of a delivery: quick at
// first, then hourly, for three days in all.
var Schedule = func() []time.Duration {
	s := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute}
	var total time.Duration
	for _, d := range s {
		total += d
	}
	for total+3*time.Hour <= 72*time.Hour {
		s = append(s, 3*time.Hour)
		total += 3 * time.Hour
	}
	return s
}()
