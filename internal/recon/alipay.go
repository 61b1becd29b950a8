package recon

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Alipay trade bill columns the parser reads.
const (
	apTradeNo    = "支付宝交易号"
	apOutTradeNo = "商户订单号"
	apType       = "业务类型"
	apFinished   = "完成时间"
	apTotal      = "订单金额（元）"
	apReceived   = "商家实收（元）"
	apRequestNo  = "退款批次号/请求号"
	apFee        = "服务费（元）"

	apSumName     = "门店编号"
	apSumTotal    = "合计"
	apSumPayN     = "交易订单总笔数"
	apSumRefundN  = "退款订单总笔数"
	apSumAmount   = "订单金额（元）"
	apSumReceived = "商家实收（元）"
	apSumFee      = "服务费（元）"

	apDetailSuffix  = "_业务明细.csv"
	apSummarySuffix = "_业务明细(汇总).csv"
)

// The business types, in GBK as the bill writes them.
var (
	gbkTrade  = mustGBK("交易")
	gbkRefund = mustGBK("退款")
)

func mustGBK(s string) []byte {
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

// gbkString decodes GBK text to UTF-8.
func gbkString(b []byte) (string, error) {
	if isASCII(b) {
		return string(b), nil
	}
	out, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(out) || bytes.ContainsRune(out, utf8.RuneError) {
		return "", fmt.Errorf("not GBK text")
	}
	return string(out), nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// AlipayBillReader reads an Alipay trade bill (alipay.data.dataservice.
// bill.downloadurl.query, bill_type trade): a zip holding a detail CSV
// (…_业务明细.csv) and a summary CSV (…_业务明细(汇总).csv), both GBK, with
// comment lines starting with #. Rows come from the detail file; when its
// end is reached, its footer (#交易合计…, #退款合计…) and the summary file's
// 合计 row are checked against the rows, and Next returns io.EOF only if
// they agree.
//
// Row fields: Kind from 业务类型 (交易 or 退款); Amount is 订单金额（元）
// without its sign; Fee is 服务费（元） with the sign turned to Row's rule
// (the bill writes a payment's fee negative) and rounded half to even;
// OutRefundNo is 退款批次号/请求号; At is 完成时间; Status is always
// StatusSuccess; Merchant is the PID of the #账号 line (the account
// without its 0156 suffix).
//
// The detail file is split into lines and fields as bytes: GBK's second
// bytes are never below 0x40, so ',', '\t', '#' and '\n' always stand for
// themselves. Only the fields a Row needs are decoded to UTF-8.
type AlipayBillReader struct {
	zr      *zip.Reader
	name    string // the detail file's name, UTF-8
	bill    string // for errors
	summary *zip.File
	rc      io.ReadCloser
	br      *bufio.Reader
	line    int64
	read    *rangeCounter

	merchant string
	ncols    int
	col      struct{ tradeNo, otn, typ, finished, total, received, requestNo, fee int }
	fields   [][]byte
	scratch  []byte
	dates    dateCache
	intern   interner
	prog     progressor
	inFooter bool
	footer   []string // decoded footer comment lines

	rows, payN, refundN int64
	received            [2]int64 // Σ 商家实收 as written: payments, refunds (negative)
	totalNet            int64    // Σ 订单金额 as written
	feesMicro           int64    // Σ 服务费 as written, micro-yuan
	err                 error
}

// rangeCounter records how far reads have gone into [lo, hi) of the zip:
// the detail file's compressed data, once it is known.
type rangeCounter struct {
	r            io.ReaderAt
	lo, hi, high int64
}

func (c *rangeCounter) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if end := min(off+int64(n), c.hi); end > c.high {
		c.high = end
	}
	return n, err
}

func (c *rangeCounter) done() int64 { return max(0, c.high-c.lo) }

// NewAlipayBill opens the bill zip of the given size, finds its detail
// file and reads up to its column row. Its progress counts the detail
// file's compressed bytes, out of their number (WithProgress's bytesTotal
// is not used).
func NewAlipayBill(r io.ReaderAt, size int64, opts ...Option) (*AlipayBillReader, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	a := &AlipayBillReader{bill: "alipay bill", read: &rangeCounter{r: r}, intern: interner{}}
	zr, err := zip.NewReader(a.read, size)
	if err != nil {
		return nil, &ParseError{Bill: a.bill, Msg: "not a zip: " + err.Error(), Err: ErrMalformed}
	}
	a.zr = zr
	var detail *zip.File
	for _, f := range zr.File {
		name := f.Name
		if f.NonUTF8 || !utf8.ValidString(name) {
			if name, err = gbkString([]byte(f.Name)); err != nil {
				name = f.Name
			}
		}
		switch {
		case strings.HasSuffix(name, apDetailSuffix):
			if detail != nil {
				return nil, &ParseError{Bill: a.bill, Msg: "the zip holds two detail files (" + a.name + ", " + name + ")", Err: ErrMalformed}
			}
			detail, a.name = f, name
		case strings.HasSuffix(name, apSummarySuffix):
			a.summary = f
		}
	}
	if detail == nil {
		return nil, &ParseError{Bill: a.bill, Msg: "the zip holds no detail file (…" + apDetailSuffix + ")", Err: ErrMalformed}
	}
	a.bill = "alipay bill " + a.name
	off, err := detail.DataOffset()
	if err != nil {
		return nil, &ParseError{Bill: a.bill, Msg: err.Error(), Err: ErrMalformed}
	}
	a.read.lo, a.read.hi, a.read.high = off, off+int64(detail.CompressedSize64), off
	o.bytesTotal = int64(detail.CompressedSize64)
	if a.rc, err = detail.Open(); err != nil {
		return nil, &ParseError{Bill: a.bill, Msg: err.Error(), Err: ErrMalformed}
	}
	a.br = bufio.NewReaderSize(a.rc, maxLine)
	a.prog = newProgressor(o, a.read.done)
	if err := a.readHead(); err != nil {
		a.rc.Close()
		return nil, err
	}
	return a, nil
}

func (a *AlipayBillReader) fail(field string, value []byte, format string, args ...any) error {
	v := shorten(value)
	if s, err := gbkString(value); err == nil {
		v = shorten([]byte(s))
	}
	return &ParseError{Bill: a.bill, Line: a.line, Field: field, Value: v, Msg: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

func (a *AlipayBillReader) truncated(msg string) error {
	return &ParseError{Bill: a.bill, Line: a.line, Msg: msg, Err: ErrTruncated}
}

// readLine returns the next non-empty line, without its line ending.
func (a *AlipayBillReader) readLine(br *bufio.Reader) ([]byte, error) {
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			a.line++
			return nil, a.fail("", nil, "line longer than %d bytes", maxLine)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			a.line++
			return nil, &ParseError{Bill: a.bill, Line: a.line, Msg: "reading: " + err.Error(), Err: ErrTruncated}
		}
		if len(b) == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		a.line++
		b = bytes.TrimRight(b, "\r\n")
		if len(b) > 0 {
			return b, nil
		}
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
	}
}

var accountLine = regexp.MustCompile(`^#账号：\[(\d+)\]`)

// readHead reads the comment lines and the column row.
func (a *AlipayBillReader) readHead() error {
	for {
		b, err := a.readLine(a.br)
		if errors.Is(err, io.EOF) {
			return a.truncated("the detail file has no column row")
		}
		if err != nil {
			return err
		}
		if b[0] == '#' {
			text, err := gbkString(b)
			if err != nil {
				return a.fail("", b, "a comment line is not GBK text")
			}
			if m := accountLine.FindStringSubmatch(text); m != nil {
				// The account is the PID and "0156" (CNY).
				a.merchant = strings.TrimSuffix(m[1], "0156")
				if len(m[1]) != 20 {
					a.merchant = m[1]
				}
			}
			continue
		}
		header, err := gbkString(b)
		if err != nil {
			return a.fail("", b, "the column row is not GBK text")
		}
		cols := map[string]int{}
		for i, name := range strings.Split(header, ",") {
			name = strings.TrimRight(name, "\t ")
			if _, dup := cols[name]; dup {
				return a.fail(name, nil, "column appears twice in the header")
			}
			cols[name] = i
		}
		a.ncols = len(cols)
		c := &a.col
		for _, f := range []struct {
			p    *int
			name string
		}{
			{&c.tradeNo, apTradeNo}, {&c.otn, apOutTradeNo}, {&c.typ, apType}, {&c.finished, apFinished},
			{&c.total, apTotal}, {&c.received, apReceived}, {&c.requestNo, apRequestNo}, {&c.fee, apFee},
		} {
			i, ok := cols[f.name]
			if !ok {
				return a.fail(f.name, nil, "the header lacks this column: not an Alipay trade bill")
			}
			*f.p = i
		}
		if a.merchant == "" {
			return a.fail("", nil, "no #账号：[…] line before the column row")
		}
		a.fields = make([][]byte, 0, a.ncols)
		return nil
	}
}

// Next returns the next row, or io.EOF once the footer and the summary
// file have been read and checked.
func (a *AlipayBillReader) Next() (Row, error) {
	if a.err != nil {
		return Row{}, a.err
	}
	row, err := a.next()
	if err != nil {
		a.err = err
		a.rc.Close()
		if errors.Is(err, io.EOF) {
			a.prog.finish(a.rows)
		}
	}
	return row, err
}

func (a *AlipayBillReader) next() (Row, error) {
	for {
		b, err := a.readLine(a.br)
		if errors.Is(err, io.EOF) {
			return Row{}, a.finish()
		}
		if err != nil {
			return Row{}, err
		}
		if b[0] == '#' {
			text, err := gbkString(b)
			if err != nil {
				return Row{}, a.fail("", b, "a comment line is not GBK text")
			}
			a.inFooter = true
			a.footer = append(a.footer, text)
			if len(a.footer) > 16 {
				return Row{}, a.fail("", b, "too many comment lines after the rows")
			}
			continue
		}
		if a.inFooter {
			return Row{}, a.fail("", b, "a row after the list's end")
		}
		row, err := a.row(b)
		if err != nil {
			return Row{}, err
		}
		a.rows++
		a.prog.tick(a.rows)
		return row, nil
	}
}

func (a *AlipayBillReader) money(b []byte, name string, scale int) (int64, error) {
	v, err := parseFixed(b, scale)
	if err != nil {
		return 0, a.fail(name, b, "not a yuan amount (%v)", err)
	}
	if limit := MaxAmount * pow10(scale-scaleFen); v > limit || v < -limit {
		return 0, a.fail(name, b, "amount out of range")
	}
	return v, nil
}

func pow10(n int) int64 {
	v := int64(1)
	for ; n > 0; n-- {
		v *= 10
	}
	return v
}

func (a *AlipayBillReader) row(b []byte) (Row, error) {
	f := a.fields[:0]
	for {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			f = append(f, trimCell(b))
			break
		}
		f = append(f, trimCell(b[:i]))
		b = b[i+1:]
	}
	a.fields = f
	if len(f) != a.ncols {
		return Row{}, a.fail("", nil, "the row has %d fields, the header %d", len(f), a.ncols)
	}
	c := &a.col
	row := Row{Channel: ChannelAlipay, Status: StatusSuccess, Merchant: a.merchant}
	typ := f[c.typ]
	switch {
	case bytes.Equal(typ, gbkTrade):
		row.Kind = KindPayment
	case bytes.Equal(typ, gbkRefund):
		row.Kind = KindRefund
	default:
		return row, a.fail(apType, typ, "neither 交易 nor 退款")
	}
	refund := row.Kind == KindRefund
	var ok bool
	if row.At, ok = a.dates.parse(f[c.finished]); !ok {
		return row, a.fail(apFinished, f[c.finished], "not a time like 2006-01-02 15:04:05")
	}
	total, err := a.money(f[c.total], apTotal, scaleFen)
	if err != nil {
		return row, err
	}
	received, err := a.money(f[c.received], apReceived, scaleFen)
	if err != nil {
		return row, err
	}
	fee, err := a.money(f[c.fee], apFee, scaleMicro)
	if err != nil {
		return row, err
	}
	// The bill's totals are sums of the values as written.
	side := 0
	if refund {
		side = 1
	}
	for _, t := range []struct {
		sum *int64
		v   int64
	}{{&a.totalNet, total}, {&a.feesMicro, fee}, {&a.received[side], received}} {
		if !addChecked(t.sum, t.v) {
			return row, a.fail("", nil, "the bill's totals overflow")
		}
	}
	// Payments are written positive and their fee negative (taken from the
	// merchant); refunds the other way round.
	if refund {
		total, received, fee = -total, -received, -fee
		a.refundN++
	} else {
		a.payN++
	}
	if total < 1 {
		return row, a.fail(apTotal, f[c.total], "the amount must be positive on a payment, negative on a refund")
	}
	if received < 0 || received > total {
		return row, a.fail(apReceived, f[c.received], "the merchant's part must have the amount's sign and be at most the amount")
	}
	row.Amount = total
	row.Fee = microToFen(-fee)
	if row.Fee < 0 || row.Fee > row.Amount {
		return row, a.fail(apFee, f[c.fee], "the fee must have the opposite sign of the amount and be at most the amount")
	}
	if refund {
		row.Fee = -row.Fee
	}

	s := a.scratch[:0]
	var ends [3]int
	ids := []struct {
		col  int
		name string
	}{{c.otn, apOutTradeNo}, {c.tradeNo, apTradeNo}, {c.requestNo, apRequestNo}}
	for i, id := range ids {
		v := f[id.col]
		if id.col == c.requestNo && !refund {
			if len(v) != 0 {
				return row, a.fail(apRequestNo, v, "a payment has no refund request number")
			}
			ends[i] = len(s)
			continue
		}
		if !validID(v) {
			return row, a.fail(id.name, v, "not an order or refund number")
		}
		s = append(s, v...)
		ends[i] = len(s)
	}
	a.scratch = s
	str := string(s)
	row.OutTradeNo, row.TransactionID, row.OutRefundNo = str[:ends[0]], str[ends[0]:ends[1]], str[ends[1]:ends[2]]
	return row, nil
}

// trimCell drops the tab (and spaces) Alipay appends to keep spreadsheets
// from reading numbers as numbers.
func trimCell(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\t' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && (b[0] == '\t' || b[0] == ' ') {
		b = b[1:]
	}
	return b
}

var (
	footerTrades  = regexp.MustCompile(`^#交易合计：(\d+)笔，商家实收共(-?\d+(?:\.\d+)?)元`)
	footerRefunds = regexp.MustCompile(`^#退款合计：(\d+)笔，商家实收退款共(-?\d+(?:\.\d+)?)元`)
)

// finish checks the footer and the summary file once the detail file has
// ended.
func (a *AlipayBillReader) finish() error {
	mismatch := func(field, says, rows string) error {
		return &ParseError{Bill: a.bill, Line: a.line, Field: field, Value: says,
			Msg: fmt.Sprintf("the bill says %s but the rows add up to %s", says, rows), Err: ErrSummaryMismatch}
	}
	var sawTrades, sawRefunds bool
	for _, l := range a.footer {
		for _, m := range []struct {
			re       *regexp.Regexp
			saw      *bool
			n, total int64
			what     string
		}{
			{footerTrades, &sawTrades, a.payN, a.received[0], "交易合计"},
			{footerRefunds, &sawRefunds, a.refundN, a.received[1], "退款合计"},
		} {
			g := m.re.FindStringSubmatch(l)
			if g == nil {
				continue
			}
			*m.saw = true
			n, err := strconv.ParseInt(g[1], 10, 64)
			if err != nil || n != m.n {
				return mismatch(m.what, g[1]+"笔", strconv.FormatInt(m.n, 10))
			}
			v, err := parseFixed([]byte(g[2]), scaleFen)
			if err != nil || v != m.total {
				return mismatch(m.what, g[2]+"元", formatFixed(m.total, scaleFen))
			}
		}
	}
	if !sawTrades || !sawRefunds {
		return a.truncated("the detail file ends without its totals (#交易合计…, #退款合计…)")
	}
	if a.summary == nil {
		return io.EOF
	}
	return a.checkSummary(mismatch)
}

// checkSummary reads the summary file's 合计 row.
func (a *AlipayBillReader) checkSummary(mismatch func(field, says, rows string) error) error {
	rc, err := a.summary.Open()
	if err != nil {
		return &ParseError{Bill: a.bill, Msg: "summary file: " + err.Error(), Err: ErrMalformed}
	}
	defer rc.Close()
	name, _ := gbkString([]byte(a.summary.Name))
	a.bill, a.line = "alipay bill "+name, 0
	br := bufio.NewReaderSize(rc, 4096)
	var cols map[string]int
	for {
		b, err := a.readLine(br)
		if errors.Is(err, io.EOF) {
			return a.truncated("the summary file has no 合计 row")
		}
		if err != nil {
			return err
		}
		if b[0] == '#' {
			continue
		}
		text, err := gbkString(b)
		if err != nil {
			return a.fail("", b, "not GBK text")
		}
		cells := strings.Split(text, ",")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cols == nil {
			if cells[0] != apSumName {
				return a.fail("", b, "not the summary's column row")
			}
			cols = map[string]int{}
			for i, c := range cells {
				cols[c] = i
			}
			for _, need := range []string{apSumPayN, apSumRefundN, apSumAmount, apSumFee} {
				if _, ok := cols[need]; !ok {
					return a.fail(need, nil, "the summary's header lacks this column")
				}
			}
			continue
		}
		if cells[0] != apSumTotal {
			continue // a store's line
		}
		if len(cells) != len(cols) {
			return a.fail("", b, "the 合计 row has %d fields, the header %d", len(cells), len(cols))
		}
		for _, n := range []struct {
			name string
			want int64
		}{{apSumPayN, a.payN}, {apSumRefundN, a.refundN}} {
			v := cells[cols[n.name]]
			if got, err := strconv.ParseInt(v, 10, 64); err != nil || got != n.want {
				return mismatch(n.name, v, strconv.FormatInt(n.want, 10))
			}
		}
		for _, m := range []struct {
			name  string
			scale int
			want  int64
		}{{apSumAmount, scaleFen, a.totalNet}, {apSumFee, scaleMicro, a.feesMicro}} {
			v := cells[cols[m.name]]
			got, err := parseFixed([]byte(v), m.scale)
			if err != nil {
				return a.fail(m.name, []byte(v), "not a yuan amount (%v)", err)
			}
			if got != m.want {
				return mismatch(m.name, v, formatFixed(m.want, m.scale))
			}
		}
		return io.EOF
	}
}

// Merchant is the bill's account (the seller's PID).
func (a *AlipayBillReader) Merchant() string { return a.merchant }

// Rows is how many rows have been returned.
func (a *AlipayBillReader) Rows() int64 { return a.rows }

var _ RowSource = (*AlipayBillReader)(nil)
