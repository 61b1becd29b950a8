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
