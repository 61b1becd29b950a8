package alipay_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// BenchmarkSDKPrecreate is an alipay.trade.precreate round trip through
// smartwalle/alipay: the SDK signs the parameters, the sandbox verifies,
// opens the trade, signs its answer, and the SDK verifies that.
func BenchmarkSDKPrecreate(b *testing.B) {
	e := sandboxtest.Start(b)
	client := newClient(b, e)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := alipaysdk.TradePreCreate{}
			p.OutTradeNo, p.Subject, p.TotalAmount = fmt.Sprintf("BENCH%012d", n.Add(1)), "bench", "0.01"
			res, err := client.TradePreCreate(p)
			if err != nil || !res.IsSuccess() {
				b.Fatal(err, res)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "precreates/s")
}

// BenchmarkV3Precreate is the same round trip over OpenAPI v3: the
// client signs the Authorization header over the JSON body, the sandbox
// verifies it and records the nonce, opens the trade, signs its answer in
// headers, and the client verifies that.
func BenchmarkV3Precreate(b *testing.B) {
	e := sandboxtest.Start(b)
	client := newV3Client(b, e)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			client.post("/v3/alipay/trade/precreate", map[string]string{
				"out_trade_no": fmt.Sprintf("BENCH%012d", n.Add(1)), "subject": "bench", "total_amount": "0.01",
			}, nil)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "precreates/s")
}
