package wechatpay_test

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// BenchmarkSDKNativePrepay is a full Native prepay round trip through the
// official SDK: the SDK signs, the sandbox verifies, creates the order,
// signs its answer, and the SDK verifies that. Two RSA-2048 signatures and
// two verifications per operation bound it; see BenchmarkRSA2048.
func BenchmarkSDKNativePrepay(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		b.Run(fmt.Sprintf("parallel=%v", parallel), func(b *testing.B) {
			e := sandboxtest.Start(b)
			client := publicKeyClient(b, e)
			c := e.Credentials()
			svc := native.NativeApiService{Client: client}
			var seq atomic.Int64
			prepay := func() {
				_, _, err := svc.Prepay(ctx, native.PrepayRequest{
					Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("bench"),
					OutTradeNo: core.String(fmt.Sprintf("BENCH%012d", seq.Add(1))), NotifyUrl: core.String("https://merchant.example/n"),
					Amount: &native.Amount{Total: core.Int64(1)},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						prepay()
					}
				})
			} else {
				for b.Loop() {
					prepay()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "prepays/s")
		})
	}
}

// BenchmarkRSA2048 measures the signing and verifying that bound every API
// v3 round trip on this machine.
func BenchmarkRSA2048(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	msg := wechatpayv3.ResponseMessage(1700000000, "nonce", []byte(`{"code_url":"weixin://wxpay/bizpayurl?pr=abcdefghij"}`))
	sig, err := wechatpayv3.Sign(key, msg)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := wechatpayv3.Sign(key, msg); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := wechatpayv3.Verify(&key.PublicKey, msg, sig); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
	})
}
