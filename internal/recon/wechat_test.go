package recon

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func wechatBill(t testing.TB, n int, row func(i int) genRow) []byte {
	t.Helper()
	if row == nil {
		row = func(i int) genRow { return synthRow(ChannelWeChatPay, i, n) }
	}
	var buf bytes.Buffer
	if err := writeWeChatBill(&buf, n, row); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readWeChat(data []byte, opts ...Option) ([]Row, error) {
	r, err := NewWeChatTradeBill(bytes.NewReader(data), opts...)
	if err != nil {
		return nil, err
	}
	return ReadAll(r)
}

func TestWeChatRoundTrip(t *testing.T) {
	t.Parallel()
	const n = 35
	data := wechatBill(t, n, nil)
	for _, gz := range []bool{false, true} {
		in := data
		if gz {
			in = gzipped(t, data)
		}
		rows, err := readWeChat(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != n {
			t.Fatalf("%d rows", len(rows))
		}
		for i, r := range rows {
			if want := synthRow(ChannelWeChatPay, i, n).Row; r != want {
				t.Fatalf("gzip=%v row %d\n got %+v\nwant %+v", gz, i, r, want)
			}
		}
	}
	// CRLF line endings and a byte-order mark are read alike.
	crlf := append([]byte("\uFEFF"), bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))...)
	if rows, err := readWeChat(crlf); err != nil || len(rows) != n {
		t.Fatalf("CRLF bill: %d rows, %v", len(rows), err)
	}
}

// A fee written with sub-fen precision rounds half to even; the bill's
// fee total is checked against the exact sum, not the rounded one.
func TestWeChatFeeRounding(t *testing.T) {
	t.Parallel()
	fees := []int64{5000, 15000, 25000, 5010, 4990, -15000}
	want := []int64{0, 2, 2, 1, 0, -2}
	data := wechatBill(t, len(fees), func(i int) genRow {
		g := synthRow(ChannelWeChatPay, 1, 10) // a payment of 7920 fen
		g.feeMicro = fees[i]
		if fees[i] < 0 {
			g = synthRow(ChannelWeChatPay, 19, 20) // a refund of 39596 fen
			g.feeMicro = fees[i]
		}
		g.OutTradeNo += string(rune('a' + i))
		return g
	})
	if !bytes.Contains(data, []byte("`0.00500,")) || !bytes.Contains(data, []byte("`0.00499,")) {
		t.Fatalf("bill:\n%s", data)
	}
	rows, err := readWeChat(data)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r.Fee != want[i] {
			t.Errorf("fee %s yuan → %d fen, want %d", formatFixed(fees[i], 6), r.Fee, want[i])
		}
	}
}

// mutate changes field f (0-based) of line l (1-based) of a WeChat bill;
// f < 0 replaces the whole line.
func mutate(data []byte, l, f int, v string) []byte {
	lines := strings.Split(string(data), "\n")
	if f < 0 {
		lines[l-1] = v
	} else {
		fields := strings.Split(lines[l-1], ",`")
		if f == 0 {
			fields[0] = "`" + v
		} else {
			fields[f] = v
		}
		lines[l-1] = strings.Join(fields, ",`")
	}
	return []byte(strings.Join(lines, "\n"))
}

func TestWeChatMalformedRows(t *testing.T) {
	t.Parallel()
	base := wechatBill(t, 12, nil) // line 2 is a payment, line 11 a refund, 14–15 the summary
	for _, c := range []struct {
		name       string
		line, f    int
		value      string
		errLine    int64
		field, msg string
	}{
		{"time", 2, 0, "2025-02-30 10:00:00", 2, wxTime, "time"},
		{"settled not a number", 3, 12, "1.2.3", 3, wxSettled, "two decimals"},
		{"settled negative", 3, 12, "-1.00", 3, wxSettled, "outside"},
		{"settled three decimals", 3, 12, "1.001", 3, wxSettled, "two decimals"},
		{"fee seven decimals", 2, 22, "0.0000001", 2, wxFee, "six decimals"},
		{"fee text", 2, 22, "abc", 2, wxFee, "six decimals"},
		{"fee above the amount", 2, 22, "999.00000", 2, wxFee, "between 0 and its amount"},
		{"fee negative on a payment", 2, 22, "-0.01000", 2, wxFee, "between 0 and its amount"},
		{"out_trade_no empty", 4, 6, "", 4, wxOutTradeNo, "order or refund number"},
		{"out_trade_no with a space", 4, 6, "a b", 4, wxOutTradeNo, "order or refund number"},
		{"transaction_id empty", 4, 5, "", 4, wxTransaction, "order or refund number"},
		{"merchant empty", 4, 2, "", 4, wxMchID, "merchant"},
		{"REFUND state without refund numbers", 2, 9, "REFUND", 2, wxOutRefundNo, "needs its"},
		{"state lower case", 2, 9, "success", 2, wxTradeState, "trade state"},
		{"payment of nothing", 2, 24, "0.00", 2, wxTotal, "nothing"},
		{"refund status empty", 11, 19, "", 11, wxRefundStatus, "refund status"},
		{"refund asked not a number", 11, 25, "x", 11, wxRefundAsked, "two decimals"},
		{"refund fee positive", 11, 22, "0.01000", 11, wxFee, "between minus its amount and 0"},
		{"refund number 0 on a REFUND row", 11, 15, "0", 11, wxOutRefundNo, "needs its"},
		{"refund numbers on a SUCCESS row", 11, 9, "SUCCESS", 11, wxTradeState, "is a REFUND row"},
		{"refund id empty", 11, 14, "", 11, wxRefundID, "order or refund number"},
		{"too few fields", 5, -1, "`2025-03-15 00:00:00,`x", 5, "", "fields"},
		{"no backticks", 5, -1, "2025-03-15 00:00:00,x", 5, "", "backtick"},
		{"summary count", 15, 0, "11", 15, wxSumCount, "says 11 but the rows add up to 12 rows"},
		{"summary fee total", 15, 4, "1.00000", 15, wxSumFees, "says 1.000000 but the rows add up to"},
		{"summary settled", 15, 1, "0.01", 15, wxSumSettled, "says 0.01 but"},
		{"summary refunds", 15, 2, "9.99", 15, wxSumRefunded, "says 9.99 but"},
		{"summary count not a number", 15, 0, "x", 15, wxSumCount, "count"},
		{"text after the summary", 16, -1, "`1", 16, "", "after the summary"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := mutate(base, c.line, c.f, c.value)
			_, err := readWeChat(data)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			if pe.Line != c.errLine || pe.Field != c.field || !strings.Contains(pe.Error(), c.msg) {
				t.Fatalf("got line %d field %q: %v\nwant line %d field %q, %q", pe.Line, pe.Field, err, c.errLine, c.field, c.msg)
			}
			if strings.HasPrefix(c.name, "summary") && c.msg != "count" && !errors.Is(err, ErrSummaryMismatch) {
				t.Fatalf("%v is not ErrSummaryMismatch", err)
			}
		})
	}
}

func TestWeChatBrokenBills(t *testing.T) {
	t.Parallel()
	base := wechatBill(t, 3, nil)
	lines := strings.Split(string(base), "\n") // header, 3 rows, summary header, summary, ""
	for _, c := range []struct {
		name string
		data string
		is   error
		msg  string
	}{
		{"empty", "", ErrTruncated, "empty"},
		{"no summary", strings.Join(lines[:4], "\n") + "\n", ErrTruncated, "without its summary"},
		{"summary header only", strings.Join(lines[:5], "\n") + "\n", ErrTruncated, "no summary row"},
		{"cut mid-row", string(base[:len(lines[0])+40]), ErrMalformed, "fields"},
		{"a row missing", strings.Join(append(slicesClone(lines[:2]), lines[3:]...), "\n"), ErrSummaryMismatch, "3 but the rows add up to 2"},
		{"not a bill", "hello,world\n", ErrMalformed, "lacks this column"},
		{"duplicate column", strings.Replace(lines[0], "设备号", "商户号", 1) + "\n", ErrMalformed, "twice"},
		{"bad gzip", "\x1f\x8bnot gzip at all", ErrMalformed, "gzip"},
		{"long line", lines[0] + "\n`" + strings.Repeat("x", maxLine+10) + "\n", ErrMalformed, "longer than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := readWeChat([]byte(c.data))
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %v with %q", err, c.is, c.msg)
			}
		})
	}
	// A truncated gzip stream is an error too, never a short bill.
	gz := gzipped(t, base)
	if _, err := readWeChat(gz[:len(gz)-10]); err == nil {
		t.Fatal("a truncated gzip bill was accepted")
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// slowReader hands out a few bytes at a time, slowly.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 8<<10)])
}

func TestWeChatProgress(t *testing.T) {
	t.Parallel()
	const n = 4000
	data := wechatBill(t, n, nil)
	type call struct {
		at                time.Time
		rows, done, total int64
	}
	var calls []call
	r, err := NewWeChatTradeBill(slowReader{bytes.NewReader(data), 3 * time.Millisecond}, WithProgress(func(rows, done, total int64) {
		calls = append(calls, call{time.Now(), rows, done, total})
	}, int64(len(data))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if len(calls) < 3 {
		t.Fatalf("only %d progress calls over %d reads", len(calls), len(data)/(8<<10))
	}
	for i, c := range calls {
		if c.total != int64(len(data)) || c.done > c.total || c.rows > n {
			t.Fatalf("call %d: %+v", i, c)
		}
		if i > 0 && (c.rows < calls[i-1].rows || c.done < calls[i-1].done) {
			t.Fatalf("progress went back: %+v after %+v", c, calls[i-1])
		}
		if i > 0 && i < len(calls)-1 && c.at.Sub(calls[i-1].at) < progressInterval {
			t.Fatalf("calls %d and %d %v apart", i-1, i, c.at.Sub(calls[i-1].at))
		}
	}
	if last := calls[len(calls)-1]; last.rows != n || last.done != int64(len(data)) {
		t.Fatalf("last call %+v", last)
	}
	// Without a size, a bytes.Reader's is found; an opaque reader's is -1.
	for _, c := range []struct {
		r    io.Reader
		want int64
	}{{bytes.NewReader(data), int64(len(data))}, {io.MultiReader(bytes.NewReader(data)), -1}} {
		var total int64
		r, err := NewWeChatTradeBill(c.r, WithProgress(func(_, _, t int64) { total = t }, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ReadAll(r); err != nil {
			t.Fatal(err)
		}
		if total != c.want {
			t.Errorf("bytesTotal %d, want %d", total, c.want)
		}
	}
}

// gzipped is data gzip-compressed, as WeChat Pay may send a bill.
func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
