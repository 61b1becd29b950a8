package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Agreement is one version of the platform's agreement for a channel,
// which a merchant signs before the channel takes its payments. Versions
// of a channel count up from 1; the newest is the current one, the only
// one a signature counts under (Contract.Payable).
type Agreement struct {
	Channel    string `json:"channel"`
	Version    int    `json:"version"`
	Title      string `json:"title"`
	Body       string `json:"body"`
	TextSHA256 string `json:"text_sha256"`
	// RequireResign sent every contract signed under an earlier version
	// back to invited when this one was published (ActNewTerms).
	RequireResign bool      `json:"require_resign"`
	CreatedBy     string    `json:"created_by"`
	Created       time.Time `json:"created"`
}

// AgreementText is what a signature covers: the title and the body, as
// the signing page shows them.
func AgreementText(title, body string) string { return title + "\n\n" + body }

// TextHash is the hex SHA-256 of AgreementText(title, body): the
// Agreement's TextSHA256, and what a Signature's TextHash must repeat, so
// a signer who read a text since replaced is told rather than counted.
func TextHash(title, body string) string {
	sum := sha256.Sum256([]byte(AgreementText(title, body)))
	return hex.EncodeToString(sum[:])
}
