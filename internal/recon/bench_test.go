package recon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchRows is the size of the benchmark's bills; RECON_BENCH_ROWS
// overrides it for quicker runs.
func benchRows() int {
	if v, err := strconv.Atoi(os.Getenv("RECON_BENCH_ROWS")); err == nil && v >= 1000 {
		return v
	}
	return 1_000_000
}

// The discrepancies "ours" carries, one row in a thousand each: by the
// truth row's index modulo 1000 (x09 rows are refunds, x01–x05 payments).
const (
	modMissingOurs   = 101 // left out of ours: the bill has it
	modAmountDiffers = 209
	modStatusDiffers = 303
	modFeeDiffers    = 409
	modMissingWallet = 505 // ours has an extra row next to it
)

// oursSource is our books for synthRow's bill: the same rows in a
// scrambled order (index·stride mod n), with the discrepancies above.
func oursSource(channel string, n int) RowSource {
	stride := 999_983
	for gcd(stride, n) != 1 {
		stride += 2
	}
	j := 0
	var pending *Row
	return RowSourceFunc(func() (Row, error) {
		if pending != nil {
			r := *pending
			pending = nil
			return r, nil
		}
		for j < n {
			i := int(int64(j) * int64(stride) % int64(n))
			j++
			r := synthRow(channel, i, n).Row
			switch i % 1000 {
			case modMissingOurs:
				continue
			case modAmountDiffers:
				r.Amount++
			case modStatusDiffers:
				r.Status = "REVOKED"
			case modFeeDiffers:
				r.Fee++
			case modMissingWallet:
				x := r
				x.OutTradeNo = "X" + r.OutTradeNo[1:]
				pending = &x
			}
			return r, nil
		}
		return Row{}, io.EOF
	})
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// peakMemory samples the heap while a run lasts, and reads the process's
// peak resident set (VmHWM) where Linux lets it be reset.
type peakMemory struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	heap     uint64
	hwmReset bool
}

func startPeakMemory() *peakMemory {
	runtime.GC()
	p := &peakMemory{stop: make(chan struct{})}
	// Writing 5 to clear_refs resets VmHWM to the current RSS.
	p.hwmReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			p.heap = max(p.heap, m.HeapInuse)
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// end returns the peak heap in use and the peak RSS (-1 if unknown), MB.
func (p *peakMemory) end() (heapMB, rssMB float64) {
	close(p.stop)
	p.wg.Wait()
	rssMB = -1
	if b, err := os.ReadFile("/proc/self/status"); err == nil && p.hwmReset {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				rssMB = kb / 1024
			}
		}
	}
	return float64(p.heap) / (1 << 20), rssMB
}

// BenchmarkReconcileMillion parses a million-row bill, sorts it and our
// books (external sort, concurrently) and matches them, checking that
// every planted discrepancy is found. The bill is generated to a file
// first, outside the timing. It reports rows/s (bill rows), the peak heap
// in use and the peak RSS of the process.
func BenchmarkReconcileMillion(b *testing.B) {
	n := benchRows()
	dir := b.TempDir()
	wxPath := filepath.Join(dir, "wechat.csv")
	apPath := filepath.Join(dir, "alipay.zip")
	gen := func(path string, write func(io.Writer, int, func(int) genRow) error, channel string) {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := write(f, n, func(i int) genRow { return synthRow(channel, i, n) }); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	open := func(path string) (*os.File, int64) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		fi, _ := f.Stat()
		return f, fi.Size()
	}
	type variant struct {
		name    string
		channel string
		path    string
		sort    SortOptions
	}
	for _, v := range []variant{
		{"wechatpay", ChannelWeChatPay, wxPath, SortOptions{}},
		{"alipay", ChannelAlipay, apPath, SortOptions{}},
		// The alternative: sort each side wholly in memory.
		{"wechatpay-in-memory-sort", ChannelWeChatPay, wxPath, SortOptions{ChunkBytes: 1 << 40}},
	} {
		b.Run(v.name, func(b *testing.B) {
			if _, err := os.Stat(v.path); err != nil {
				if v.channel == ChannelWeChatPay {
					gen(v.path, writeWeChatBill, v.channel)
				} else {
					gen(v.path, writeAlipayBill, v.channel)
				}
			}
			f, size := open(v.path)
			defer f.Close()
			b.SetBytes(size)
			var heapMB, rssMB float64
			b.ResetTimer()
			for b.Loop() {
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					b.Fatal(err)
				}
				mem := startPeakMemory()
				var bill RowSource
				var err error
				if v.channel == ChannelWeChatPay {
					bill, err = NewWeChatTradeBill(f)
				} else {
					bill, err = NewAlipayBill(f, size)
				}
				if err != nil {
					b.Fatal(err)
				}
				sum, err := Reconcile(context.Background(), bill, oursSource(v.channel, n), v.sort, func(Result) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				h, r := mem.end()
				heapMB, rssMB = max(heapMB, h), max(rssMB, r)
				want := int64(n / 1000)
				if sum.MissingOurs != want || sum.MissingWallet != want || sum.AmountDiffers != want ||
					sum.StatusDiffers != want || sum.FeeDiffers != want || sum.Matched != int64(n)-4*want {
					b.Fatalf("summary %+v", sum)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(heapMB, "peak-heap-MB")
			if rssMB >= 0 {
				b.ReportMetric(rssMB, "peak-RSS-MB")
			}
			b.ReportMetric(float64(size)/(1<<20), "bill-MB")
		})
	}
}

// BenchmarkParse is the parsers alone, per row.
func BenchmarkParse(b *testing.B) {
	const n = 100_000
	for _, channel := range []string{ChannelWeChatPay, ChannelAlipay} {
		b.Run(channel, func(b *testing.B) {
			var buf strings.Builder
			var err error
			if channel == ChannelWeChatPay {
				err = writeWeChatBill(&buf, n, func(i int) genRow { return synthRow(channel, i, n) })
			} else {
				err = writeAlipayBill(&buf, n, func(i int) genRow { return synthRow(channel, i, n) })
			}
			if err != nil {
				b.Fatal(err)
			}
			data := buf.String()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for b.Loop() {
				r := strings.NewReader(data)
				var src RowSource
				if channel == ChannelWeChatPay {
					src, err = NewWeChatTradeBill(r)
				} else {
					src, err = NewAlipayBill(r, r.Size())
				}
				if err != nil {
					b.Fatal(err)
				}
				rows := 0
				for {
					_, err := src.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					rows++
				}
				if rows != n {
					b.Fatal(fmt.Sprint(rows, " rows"))
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
