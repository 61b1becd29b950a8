package recon

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func alipayBill(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeAlipayBill(&buf, n, func(i int) genRow { return synthRow(ChannelAlipay, i, n) }); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readAlipay(data []byte) ([]Row, error) {
	r, err := NewAlipayBill(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	return ReadAll(r)
}

// billFiles is a bill zip's files as UTF-8 text, by entry name.
type billFile struct{ name, text string }

func unzipBill(t testing.TB, data []byte) []billFile {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out []billFile
	for _, f := range zr.File {
		rc, _ := f.Open()
		raw, _ := io.ReadAll(rc)
		rc.Close()
		name, _ := simplifiedchinese.GBK.NewDecoder().String(f.Name)
		text, _ := simplifiedchinese.GBK.NewDecoder().String(string(raw))
		out = append(out, billFile{name, text})
	}
	return out
}

func zipBill(t testing.TB, files []billFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		name, _ := simplifiedchinese.GBK.NewEncoder().String(f.name)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, NonUTF8: true, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		text, err := simplifiedchinese.GBK.NewEncoder().String(f.text)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAlipayRoundTrip(t *testing.T) {
	t.Parallel()
	const n = 35
	rows, err := readAlipay(alipayBill(t, n))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if want := synthRow(ChannelAlipay, i, n).Row; r != want {
			t.Fatalf("row %d\n got %+v\nwant %+v", i, r, want)
		}
	}
}

func TestAlipayMalformed(t *testing.T) {
	t.Parallel()
	files := unzipBill(t, alipayBill(t, 12))
	// Detail: 1–4 comments, 5 the column row, 6–17 rows (15 a refund),
	// 18 end of list, 19 trades total, 20 refunds total, 21 export time.
	detail := func(line, field int, v string) func([]billFile) {
		return func(fs []billFile) {
			lines := strings.Split(fs[0].text, "\n")
			if field < 0 {
				lines[line-1] = v
			} else {
				cells := strings.Split(lines[line-1], ",")
				cells[field] = v
				lines[line-1] = strings.Join(cells, ",")
			}
			fs[0].text = strings.Join(lines, "\n")
		}
	}
	summaryCell := func(field int, v string) func([]billFile) {
		return func(fs []billFile) {
			lines := strings.Split(fs[1].text, "\n")
			cells := strings.Split(lines[3], ",")
			cells[field] = v
			lines[3] = strings.Join(cells, ",")
			fs[1].text = strings.Join(lines, "\n")
		}
	}
	for _, c := range []struct {
		name   string
		change func([]billFile)
		is     error
		line   int64
		field  string
		msg    string
	}{
		{"business type", detail(6, 2, "转账\t"), ErrMalformed, 6, apType, "neither"},
		{"finish time", detail(7, 5, "2025/03/15 10:00:00"), ErrMalformed, 7, apFinished, "time"},
		{"payment amount negative", detail(7, 11, "-79.20"), ErrMalformed, 7, apTotal, "positive on a payment"},
		{"refund amount positive", detail(15, 11, "1.00"), ErrMalformed, 15, apTotal, "negative on a refund"},
		{"amount three decimals", detail(7, 11, "79.201"), ErrMalformed, 7, apTotal, "too many decimals"},
		{"received above the amount", detail(7, 12, "80.00"), ErrMalformed, 7, apReceived, "at most the amount"},
		{"fee positive on a payment", detail(7, 22, "0.50"), ErrMalformed, 7, apFee, "opposite sign"},
		{"fee above the amount", detail(7, 22, "-100.00"), ErrMalformed, 7, apFee, "at most the amount"},
		{"out_trade_no empty", detail(8, 1, "\t"), ErrMalformed, 8, apOutTradeNo, "order or refund number"},
		{"trade_no bad", detail(8, 0, "20250315 22001\t"), ErrMalformed, 8, apTradeNo, "order or refund number"},
		{"payment with a request number", detail(8, 21, "R1\t"), ErrMalformed, 8, apRequestNo, "no refund request number"},
		{"refund without a request number", detail(15, 21, "\t"), ErrMalformed, 15, apRequestNo, "order or refund number"},
		{"too few fields", detail(9, -1, "1,2,3"), ErrMalformed, 9, "", "fields"},
		{"row after the end", detail(21, -1, detail6(files)), ErrMalformed, 21, "", "after the list's end"},
		{"trades count", detail(19, -1, "#交易合计：10笔，商家实收共0.00元，商家优惠共0.00元"), ErrSummaryMismatch, 0, "交易合计", "says 10笔 but the rows add up to 11"},
		{"trades received", detail(19, -1, "#交易合计：11笔，商家实收共1.00元，商家优惠共0.00元"), ErrSummaryMismatch, 0, "交易合计", "says 1.00元"},
		{"refunds total", detail(20, -1, "#退款合计：1笔，商家实收退款共-9.99元，商家优惠退款共0.00元"), ErrSummaryMismatch, 0, "退款合计", "says -9.99元"},
		{"no totals", detail(20, -1, "#"), ErrTruncated, 0, "", "without its totals"},
		{"no account", detail(2, -1, "#"), ErrMalformed, 5, "", "#账号"},
		{"summary trade count", summaryCell(2, "99"), ErrSummaryMismatch, 0, apSumPayN, "says 99"},
		{"summary fee", summaryCell(9, "-1.00"), ErrSummaryMismatch, 0, apSumFee, "says -1.00 but the rows add up to"},
		{"summary amount", summaryCell(4, "1.00"), ErrSummaryMismatch, 0, apSumAmount, "says 1.00"},
		{"no detail file", func(fs []billFile) { fs[0].name = "x.csv" }, ErrMalformed, 0, "", "no detail file"},
		{"two detail files", func(fs []billFile) { fs[1].name = fs[0].name }, ErrMalformed, 0, "", "two detail files"},
		{"no column row", func(fs []billFile) { fs[0].text = "#支付宝业务明细查询\n#账号：[20886210000000010156]\n" }, ErrTruncated, 0, "", "no column row"},
		{"not a bill", func(fs []billFile) { fs[0].text = "#账号：[20886210000000010156]\na,b,c\n" }, ErrMalformed, 2, apTradeNo, "not an Alipay trade bill"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := append([]billFile(nil), files...)
			c.change(fs)
			_, err := readAlipay(zipBill(t, fs))
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, c.is) {
				t.Fatalf("error %v, want a ParseError %v", err, c.is)
			}
			if (c.line != 0 && pe.Line != c.line) || pe.Field != c.field || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got line %d field %q: %v\nwant line %d field %q, %q", pe.Line, pe.Field, err, c.line, c.field, c.msg)
			}
		})
	}
	if _, err := readAlipay([]byte("PK not a zip")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("not a zip: %v", err)
	}
	// A bill without its summary file is still checked against its footer.
	if rows, err := readAlipay(zipBill(t, files[:1])); err != nil || len(rows) != 12 {
		t.Fatalf("detail only: %d rows, %v", len(rows), err)
	}
}

// detail6 is the first row of the detail file, for the "row after the end"
// case.
func detail6(files []billFile) string { return strings.Split(files[0].text, "\n")[5] }

type slowReaderAt struct {
	r     io.ReaderAt
	pause time.Duration
}

func (s slowReaderAt) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(s.pause)
	return s.r.ReadAt(p, off)
}

func TestAlipayProgress(t *testing.T) {
	t.Parallel()
	data := alipayBill(t, 30000)
	var calls [][3]int64
	var last time.Time
	r, err := NewAlipayBill(slowReaderAt{bytes.NewReader(data), 5 * time.Millisecond}, int64(len(data)), WithProgress(func(rows, done, total int64) {
		if len(calls) > 0 && time.Since(last) < progressInterval && rows != 30000 {
			t.Errorf("calls %v apart", time.Since(last))
		}
		last = time.Now()
		calls = append(calls, [3]int64{rows, done, total})
	}, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if len(calls) < 3 {
		t.Fatalf("calls %v", calls)
	}
	for i, c := range calls {
		if c[1] > c[2] || c[2] <= 0 || c[2] >= int64(len(data)) || (i > 0 && (c[0] < calls[i-1][0] || c[1] < calls[i-1][1])) {
			t.Fatalf("calls %v", calls)
		}
	}
	if end := calls[len(calls)-1]; end[0] != 30000 || end[1] != end[2] {
		t.Fatalf("last call %v", end)
	}
}
