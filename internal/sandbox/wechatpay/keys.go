package wechatpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// Credentials is what a merchant needs to talk to the sandbox, exactly the
// "wechatpay" object of credentials.json.
type Credentials struct {
	MchID string `json:"mchid"`
	// MerchantName is the merchant's registered full name (商户全称), which
	// profit sharing checks a MERCHANT_ID receiver's name against.
	MerchantName        string `json:"merchant_name,omitempty"`
	AppID               string `json:"appid"`
	AppSecret           string `json:"app_secret"` // the AppID's official account's, for web OAuth
	MerchantSerialNo    string `json:"merchant_serial_no"`
	MerchantPrivateKey  string `json:"merchant_private_key"`
	MerchantCertificate string `json:"merchant_certificate"`
	APIv3Key            string `json:"apiv3_key"`
	PlatformSerialNo    string `json:"platform_serial_no"`
	PlatformCertificate string `json:"platform_certificate"`
	PlatformPublicKeyID string `json:"platform_public_key_id"`
	PlatformPublicKey   string `json:"platform_public_key"`
}

// secrets are the sandbox's own keys, never given to merchants.
type secrets struct {
	CACertificate       string `json:"ca_certificate"`
	CAPrivateKey        string `json:"ca_private_key"`
	PlatformPrivateKey  string `json:"platform_private_key"`   // behind platform_certificate
	PublicKeyPrivateKey string `json:"public_key_private_key"` // behind platform_public_key
	BillTokenKey        string `json:"bill_token_key"`         // HMAC key of bill download tokens
}

// keyring is the parsed form of credentials and secrets.
type keyring struct {
	merchantCert   *x509.Certificate
	merchantPub    *rsa.PublicKey
	platformKey    *rsa.PrivateKey
	platformCert   *x509.Certificate
	platformSerial string
	pubKeyID       string
	pubKeyKey      *rsa.PrivateKey
	billToken      sandboxkeys.Token
}

// generateCredentials creates a CA, the merchant's key and certificate, the
// platform's certificate key and its separate public key, as WeChat Pay
// issues them: RSA-2048, certificate serials as 40 upper-case hex digits.
func generateCredentials(mchid, appid, merchantName string) (Credentials, secrets, error) {
	var c Credentials
	var s secrets
	now := time.Now().UTC().Add(-time.Hour)

	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return c, s, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "hutong sandbox CA", Organization: []string{"hutong sandbox"}, Country: []string{"CN"}},
		NotBefore:             now,
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return c, s, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return c, s, err
	}

	issue := func(subject pkix.Name) (*rsa.PrivateKey, string, string, error) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, "", "", err
		}
		serial := randomSerial()
		tmpl := &x509.Certificate{
			SerialNumber: serial,
			Subject:      subject,
			NotBefore:    now,
			NotAfter:     now.AddDate(5, 0, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return nil, "", "", err
		}
		return key, serialHex(serial), pemEncode("CERTIFICATE", der), nil
	}

	merchantKey, merchantSerial, merchantCert, err := issue(pkix.Name{
		CommonName:         mchid,
		OrganizationalUnit: []string{merchantName},
		Organization:       []string{"微信商户系统"},
		Country:            []string{"CN"},
		Locality:           []string{"Shenzhen"},
	})
	if err != nil {
		return c, s, err
	}
	platformKey, platformSerial, platformCert, err := issue(pkix.Name{
		CommonName:         "Tenpay.com Root CA (sandbox)",
		OrganizationalUnit: []string{"Tenpay.com CA Center"},
		Organization:       []string{"Tenpay.com"},
		Country:            []string{"CN"},
		Locality:           []string{"Shenzhen"},
	})
	if err != nil {
		return c, s, err
	}
	pubKeyKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return c, s, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&pubKeyKey.PublicKey)
	if err != nil {
		return c, s, err
	}
	c = Credentials{
		MchID:               mchid,
		AppID:               appid,
		AppSecret:           randomHex(32),
		MerchantSerialNo:    merchantSerial,
		MerchantPrivateKey:  sandboxkeys.PrivatePEM(merchantKey),
		MerchantCertificate: merchantCert,
		APIv3Key:            wechatpayv3.RandomString(32),
		PlatformSerialNo:    platformSerial,
		PlatformCertificate: platformCert,
		PlatformPublicKeyID: "PUB_KEY_ID_" + sandboxkeys.Digits(30),
		PlatformPublicKey:   pemEncode("PUBLIC KEY", pubDER),
	}
	s = secrets{
		CACertificate:       pemEncode("CERTIFICATE", caDER),
		CAPrivateKey:        sandboxkeys.PrivatePEM(caKey),
		PlatformPrivateKey:  sandboxkeys.PrivatePEM(platformKey),
		PublicKeyPrivateKey: sandboxkeys.PrivatePEM(pubKeyKey),
		BillTokenKey:        wechatpayv3.RandomString(32),
	}
	return c, s, nil
}

func (c Credentials) keyring(s secrets) (*keyring, error) {
	k := &keyring{platformSerial: c.PlatformSerialNo, pubKeyID: c.PlatformPublicKeyID, billToken: sandboxkeys.Token{Key: []byte(s.BillTokenKey)}}
	var err error
	if k.merchantCert, err = parseCertificate(c.MerchantCertificate); err != nil {
		return nil, fmt.Errorf("merchant certificate: %w", err)
	}
	pub, ok := k.merchantCert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("merchant certificate does not hold an RSA key")
	}
	k.merchantPub = pub
	if k.platformCert, err = parseCertificate(c.PlatformCertificate); err != nil {
		return nil, fmt.Errorf("platform certificate: %w", err)
	}
	if k.platformKey, err = sandboxkeys.ParsePrivateKey(s.PlatformPrivateKey); err != nil {
		return nil, fmt.Errorf("platform key: %w", err)
	}
	if k.pubKeyKey, err = sandboxkeys.ParsePrivateKey(s.PublicKeyPrivateKey); err != nil {
		return nil, fmt.Errorf("public-key-mode key: %w", err)
	}
	return k, nil
}

func randomSerial() *big.Int {
	b := make([]byte, 20)
	rand.Read(b)
	b[0] &= 0x7f // positive
	b[0] |= 0x10 // always 40 hex digits
	return new(big.Int).SetBytes(b)
}

func serialHex(n *big.Int) string { return strings.ToUpper(hex.EncodeToString(n.Bytes())) }

func pemEncode(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func parseCertificate(s string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}
