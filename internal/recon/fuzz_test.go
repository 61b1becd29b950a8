package recon

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// checkRows reads a parser to its end and holds every accepted row to the
// rules a Row promises; errors must be ParseErrors, and sticky.
func checkRows(t *testing.T, src RowSource, channel string) (rows int64) {
	t.Helper()
	for ; rows < 100_000; rows++ {
		r, err := src.Next()
		if err != nil {
			var pe *ParseError
			if !errors.Is(err, io.EOF) && !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a ParseError", err, err)
			}
			if _, again := src.Next(); !errors.Is(again, err) {
				t.Fatalf("error not sticky: %v then %v", err, again)
			}
			if !errors.Is(err, io.EOF) {
				_ = err.Error() // formats without panicking
			}
			return rows
		}
		sane(t, &r, channel)
	}
	return rows
}

func sane(t *testing.T, r *Row, channel string) {
	t.Helper()
	bad := func(what string) { t.Fatalf("accepted a row with %s: %+v", what, *r) }
	if r.Channel != channel {
		bad("another channel")
	}
	if r.Amount < 1 || r.Amount > MaxAmount {
		bad("an amount out of range")
	}
	switch r.Kind {
	case KindPayment:
		if r.Fee < 0 || r.Fee > r.Amount {
			bad("a payment fee out of range")
		}
		if r.OutRefundNo != "" || r.RefundID != "" {
			bad("refund numbers on a payment")
		}
	case KindRefund:
		if r.Fee > 0 || -r.Fee > r.Amount {
			bad("a refund fee out of range")
		}
		if r.OutRefundNo == "" {
			bad("no refund number")
		}
	default:
		bad("an unknown kind")
	}
	if r.OutTradeNo == "" || r.TransactionID == "" || r.Status == "" || r.Merchant == "" {
		bad("an empty identifier")
	}
	if strings.ContainsAny(r.OutTradeNo+r.OutRefundNo, "\x00,` \t\n") {
		bad("a number that is not one")
	}
	if r.At.Location() != time.UTC || r.At.Year() < 1970 {
		bad("a bad time")
	}
}

func FuzzWeChatTradeBill(f *testing.F) {
	bill := wechatBill(f, 12, nil)
	f.Add(bill)
	f.Add(gzipped(f, bill))
	f.Add(mutate(bill, 2, 22, "0.0050"))
	f.Add(mutate(bill, 11, 9, "SUCCESS"))
	lines := strings.Split(string(bill), "\n")
	f.Add([]byte(strings.Join(lines[:3], "\n")))
	// A SUCCESS bill and a REFUND bill, as the sandbox writes them.
	f.Add([]byte("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注\n" +
		"`2025-03-15 10:00:00,`wx1,`1900000001,`0,`,`4200,`N1,`o1,`NATIVE,`SUCCESS,`OTHERS,`CNY,`1.00,`0.00,`a,`,`0.01000,`0.60%,`1.00,`\n" +
		"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n`1,`1.00,`0.00,`0.00,`0.01000,`1.00,`0.00\n"))
	f.Add([]byte("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n" +
		"`2025-03-15 10:00:00,`wx1,`1900000001,`1900000109,`,`4200,`N1,`o1,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`2025-03-15 11:00:00,`2025-03-15 11:00:10,`5030,`N1-R,`0.50,`0.00,`ORIGINAL,`SUCCESS,`a,`,`-0.00300,`0.60%,`0.00,`0.50,`\n" +
		"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n`1,`0.00,`0.50,`0.00,`-0.00300,`0.00,`0.50\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewWeChatTradeBill(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a ParseError", err, err)
			}
			return
		}
		rows := checkRows(t, r, ChannelWeChatPay)
		if _, err := r.Next(); errors.Is(err, io.EOF) && r.Summary().Count != rows {
			t.Fatalf("accepted a bill of %d rows whose summary says %d", rows, r.Summary().Count)
		}
	})
}

// FuzzAlipayBill fuzzes the two files inside the zip (as raw GBK bytes);
// the zip around them is made by the harness.
func FuzzAlipayBill(f *testing.F) {
	files := unzipRaw(f, alipayBill(f, 12))
	f.Add(files[0], files[1])
	f.Add(files[0], []byte{})
	f.Add(bytes.Replace(files[0], []byte("0.00\t,0.00,R00000000009"), []byte("0.00\t,0.00,"), 1), files[1])
	f.Fuzz(func(t *testing.T, detail, summary []byte) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, file := range []struct {
			name string
			data []byte
		}{{"20886210000000010156_20250315_业务明细.csv", detail}, {"20886210000000010156_20250315_业务明细(汇总).csv", summary}} {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: string(mustGBK(file.name)), NonUTF8: true, Method: zip.Store})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(file.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := NewAlipayBill(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a ParseError", err, err)
			}
			return
		}
		checkRows(t, r, ChannelAlipay)
	})
}

func unzipRaw(t testing.TB, data []byte) [][]byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		out = append(out, b)
	}
	return out
}

// The sort's encoding gives back any row it accepts.
func FuzzSortEncoding(f *testing.F) {
	f.Add("payment", "N1", "", "4200", "", "SUCCESS", "1900000001", "wechatpay", int64(100), int64(1), int64(1700000000), int64(5))
	f.Add("refund", "N1", "R1", "", "5030", "", "", "", int64(-1), int64(-1), int64(-62135596800), int64(0))
	f.Fuzz(func(t *testing.T, kind, otn, orn, txn, rid, status, merchant, channel string, amount, fee, sec, nsec int64) {
		r := Row{Kind: kind, OutTradeNo: otn, OutRefundNo: orn, TransactionID: txn, RefundID: rid, Status: status,
			Merchant: merchant, Channel: channel, Amount: amount, Fee: fee}
		if nsec >= 0 && nsec < 1e9 && (sec != zeroUnix || nsec != 0) {
			r.At = time.Unix(sec, nsec).UTC()
		}
		enc, klen, err := encodeRow(nil, &r)
		if err != nil {
			return
		}
		var d decoder
		back, err := d.decode(enc[:klen], enc[klen:])
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if back != r {
			t.Fatalf("round trip\n got %+v\nwant %+v", back, r)
		}
	})
}
