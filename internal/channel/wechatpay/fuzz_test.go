package wechatpay_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/channel/wechatpay"
)

// FuzzParseNotification: whatever arrives at the notify endpoint, the
// parser neither panics nor accepts it without the platform's signature.
func FuzzParseNotification(f *testing.F) {
	merchant, _ := rsa.GenerateKey(rand.Reader, 2048)
	platform, _ := rsa.GenerateKey(rand.Reader, 2048)
	conn, err := wechatpay.New(ctx, wechatpay.Config{
		MchID: "1900000001", AppID: "wx0", MerchantSerialNo: "S", MerchantPrivateKey: merchant,
		APIv3Key: strings.Repeat("k", 32), PlatformPublicKeyID: "PUB_KEY_ID_1", PlatformPublicKey: &platform.PublicKey,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`{"id":"1","event_type":"TRANSACTION.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAA","nonce":"123456789012","associated_data":"transaction"}}`, "PUB_KEY_ID_1", "1700000000", "nonce", "c2ln")
	f.Add(``, "", "", "", "")
	f.Fuzz(func(t *testing.T, body, serial, ts, nonce, sig string) {
		req := httptest.NewRequest("POST", "/notify/wechatpay/main", strings.NewReader(body))
		req.Header.Set("Wechatpay-Serial", serial)
		req.Header.Set("Wechatpay-Timestamp", ts)
		req.Header.Set("Wechatpay-Nonce", nonce)
		req.Header.Set("Wechatpay-Signature", sig)
		if n, err := conn.ParseNotification(req); err == nil {
			t.Fatalf("accepted an unsigned notification: %+v", n)
		}
	})
}
