// Package returnsig signs and verifies the parameters hutong's hosted
// cashier adds to a merchant's return_url. A browser coming back is only a
// hint (the buyer can type any URL), so the parameters are signed with the
// gateway's Ed25519 key: a merchant verifies them with the public key from
// GET /v1/return_key, and needs no shared secret.
//
// The signed message is the version and every parameter, one per line:
//
//	hutong-return-v1\nMERCHANT\nPAYMENT\nORDER\nSTATUS\nAMOUNT\nTIMESTAMP
//
// and the parameters are hutong_payment, hutong_order, hutong_status,
// hutong_amount, hutong_ts (Unix seconds) and hutong_sig (base64url,
// unpadded).
package returnsig

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Return is what a signed return says.
type Return struct {
	MerchantID      string
	PaymentID       string
	MerchantOrderID string
	Status          string // succeeded, canceled, requires_action
	Amount          int64  // fen
	Time            time.Time
}

func (r Return) message() []byte {
	return []byte(strings.Join([]string{"hutong-return-v1", r.MerchantID, r.PaymentID, r.MerchantOrderID, r.Status,
		strconv.FormatInt(r.Amount, 10), strconv.FormatInt(r.Time.Unix(), 10)}, "\n"))
}

// Sign adds the signed parameters to returnURL, keeping its own query.
func Sign(key ed25519.PrivateKey, returnURL string, r Return) (string, error) {
	u, err := url.Parse(returnURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	for _, k := range []string{"hutong_payment", "hutong_order", "hutong_status", "hutong_amount", "hutong_ts", "hutong_sig"} {
		q.Del(k)
	}
	q.Set("hutong_payment", r.PaymentID)
	q.Set("hutong_order", r.MerchantOrderID)
	q.Set("hutong_status", r.Status)
	q.Set("hutong_amount", strconv.FormatInt(r.Amount, 10))
	q.Set("hutong_ts", strconv.FormatInt(r.Time.Unix(), 10))
	q.Set("hutong_sig", base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, r.message())))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Errors of Verify.
var (
	ErrMissing   = errors.New("returnsig: the URL has no hutong return parameters")
	ErrSignature = errors.New("returnsig: the signature does not verify")
	ErrStale     = errors.New("returnsig: the return is older than allowed")
)

// Verify checks the parameters of a return for merchantID. A return older
// than maxAge (or from more than a minute ahead) is ErrStale; maxAge 0
// accepts any age.
func Verify(pub ed25519.PublicKey, merchantID string, query url.Values, now time.Time, maxAge time.Duration) (Return, error) {
	for _, k := range []string{"hutong_payment", "hutong_status", "hutong_amount", "hutong_ts", "hutong_sig"} {
		if len(query[k]) != 1 {
			if len(query[k]) == 0 {
				return Return{}, ErrMissing
			}
			return Return{}, fmt.Errorf("returnsig: %s is given %d times", k, len(query[k]))
		}
	}
	amount, err := strconv.ParseInt(query.Get("hutong_amount"), 10, 64)
	if err != nil {
		return Return{}, fmt.Errorf("returnsig: hutong_amount is not a number of fen")
	}
	ts, err := strconv.ParseInt(query.Get("hutong_ts"), 10, 64)
	if err != nil {
		return Return{}, fmt.Errorf("returnsig: hutong_ts is not Unix seconds")
	}
	sig, err := base64.RawURLEncoding.DecodeString(query.Get("hutong_sig"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Return{}, ErrSignature
	}
	r := Return{MerchantID: merchantID, PaymentID: query.Get("hutong_payment"), MerchantOrderID: query.Get("hutong_order"),
		Status: query.Get("hutong_status"), Amount: amount, Time: time.Unix(ts, 0).UTC()}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, r.message(), sig) {
		return Return{}, ErrSignature
	}
	if maxAge > 0 && (now.Sub(r.Time) > maxAge || r.Time.Sub(now) > time.Minute) {
		return r, ErrStale
	}
	return r, nil
}
