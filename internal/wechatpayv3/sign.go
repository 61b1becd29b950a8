package wechatpayv3

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// RequestMessage is the text a merchant signs for a request. pathQuery is the
// request target exactly as sent (escaped path and raw query).
func RequestMessage(method, pathQuery string, timestamp int64, nonce string, body []byte) []byte {
	ts := strconv.FormatInt(timestamp, 10)
	msg := make([]byte, 0, len(method)+len(pathQuery)+len(ts)+len(nonce)+len(body)+5)
	msg = append(msg, method...)
	msg = append(msg, '\n')
	msg = append(msg, pathQuery...)
	msg = append(msg, '\n')
	msg = append(msg, ts...)
	msg = append(msg, '\n')
	msg = append(msg, nonce...)
	msg = append(msg, '\n')
	msg = append(msg, body...)
	return append(msg, '\n')
}

// ResponseMessage is the text the platform signs for a response or a
// notification.
func ResponseMessage(timestamp int64, nonce string, body []byte) []byte {
	ts := strconv.FormatInt(timestamp, 10)
	msg := make([]byte, 0, len(ts)+len(nonce)+len(body)+3)
	msg = append(msg, ts...)
	msg = append(msg, '\n')
	msg = append(msg, nonce...)
	msg = append(msg, '\n')
	msg = append(msg, body...)
	return append(msg, '\n')
}

// Sign returns the base64 SHA256-with-RSA (PKCS #1 v1.5) signature of msg.
func Sign(key *rsa.PrivateKey, msg []byte) (string, error) {
	sum := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("wechatpayv3: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// ErrBadSignature is returned by Verify for a signature that does not match.
var ErrBadSignature = errors.New("wechatpayv3: signature does not match")

// Verify checks a base64 SHA256-with-RSA signature of msg.
func Verify(pub *rsa.PublicKey, msg []byte, signature string) error {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("wechatpayv3: signature is not base64: %w", ErrBadSignature)
	}
	sum := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return ErrBadSignature
	}
	return nil
}

// APIv3KeyLen is the length of a merchant's APIv3 key: 32 bytes, used as an
// AES-256 key.
const APIv3KeyLen = 32

// AEADAlgorithm names the envelope of notification resources and certificates.
const AEADAlgorithm = "AEAD_AES_256_GCM"

// Resource is an encrypted envelope as it appears in notifications
// ("resource") and in the certificate list ("encrypt_certificate").
type Resource struct {
	OriginalType   string `json:"original_type,omitempty"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// Seal encrypts plaintext under the APIv3 key with a fresh 12-character
// nonce, as the platform does.
func Seal(apiv3Key string, associatedData, originalType string, plaintext []byte) (Resource, error) {
	gcm, err := newGCM(apiv3Key)
	if err != nil {
		return Resource{}, err
	}
	nonce := RandomString(gcm.NonceSize())
	ct := gcm.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return Resource{
		Algorithm:      AEADAlgorithm,
		Ciphertext:     base64.StdEncoding.EncodeToString(ct),
		AssociatedData: associatedData,
		Nonce:          nonce,
		OriginalType:   originalType,
	}, nil
}

// Open decrypts a Resource under the APIv3 key.
func Open(apiv3Key string, r Resource) ([]byte, error) {
	if r.Algorithm != AEADAlgorithm {
		return nil, fmt.Errorf("wechatpayv3: algorithm %q is not %s", r.Algorithm, AEADAlgorithm)
	}
	gcm, err := newGCM(apiv3Key)
	if err != nil {
		return nil, err
	}
	if len(r.Nonce) != gcm.NonceSize() {
		return nil, fmt.Errorf("wechatpayv3: nonce must be %d bytes", gcm.NonceSize())
	}
	ct, err := base64.StdEncoding.DecodeString(r.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("wechatpayv3: ciphertext is not base64: %w", err)
	}
	pt, err := gcm.Open(nil, []byte(r.Nonce), ct, []byte(r.AssociatedData))
	if err != nil {
		return nil, errors.New("wechatpayv3: resource does not decrypt under this APIv3 key")
	}
	return pt, nil
}

func newGCM(apiv3Key string) (cipher.AEAD, error) {
	if len(apiv3Key) != APIv3KeyLen {
		return nil, fmt.Errorf("wechatpayv3: APIv3 key must be %d bytes, got %d", APIv3KeyLen, len(apiv3Key))
	}
	block, err := aes.NewCipher([]byte(apiv3Key))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

const alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomString returns n random characters from [A-Za-z0-9], the alphabet of
// nonces and API keys.
func RandomString(n int) string {
	b := make([]byte, n)
	// Rejection sampling keeps the distribution uniform: 62 does not divide 256.
	buf := make([]byte, n*2)
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		for _, c := range buf {
			if c >= 248 { // 248 = 4*62
				continue
			}
			b[i] = alphanumeric[int(c)%len(alphanumeric)]
			i++
			if i == n {
				break
			}
		}
	}
	return string(b)
}
