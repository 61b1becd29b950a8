package alipay_test

import (
	"crypto/rand"
	"crypto/rsa"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
)

var testKey, testPub = func() (string, string) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	return sandboxkeys.PrivatePEM(k), sandboxkeys.PublicPEM(&k.PublicKey)
}()
