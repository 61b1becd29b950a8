package recon

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// WeChat trade bill columns the parser reads, by the names the platform
// gives them.
const (
	wxTime         = "交易时间"
	wxMchID        = "商户号"
	wxSubMchID     = "特约商户号"
	wxTransaction  = "微信订单号"
	wxOutTradeNo   = "商户订单号"
	wxTradeState   = "交易状态"
	wxSettled      = "应结订单金额"
	wxRefundID     = "微信退款单号"
	wxOutRefundNo  = "商户退款单号"
	wxRefund       = "退款金额"
	wxRefundStatus = "退款状态"
	wxRefundTime   = "退款成功时间"
	wxFee          = "手续费"
	wxTotal        = "订单金额"
	wxRefundAsked  = "申请退款金额"

	wxSumCount    = "总交易单数"
	wxSumSettled  = "应结订单总金额"
	wxSumRefunded = "退款总金额"
	wxSumFees     = "手续费总金额"
)

// maxLine bounds a bill line; a longer one is malformed (and memory stays
// bounded whatever the input).
const maxLine = 64 << 10

const wxBill = "wechatpay trade bill"

// WeChatBillReader reads a WeChat Pay trade bill (GET /v3/bill/tradebill,
// bill_type ALL, SUCCESS or REFUND) one row at a time. The bill is CSV in
// UTF-8: a header row naming the columns, one row per payment or refund
// whose fields each start with a backtick, then a summary header and one
// summary row. The summary's count, settled total, refund total and fee
// total are checked against the rows when the end is reached: Next returns
// io.EOF only if they agree.
//
// Columns are found by name, so the three layouts (27, 20 and 29 columns)
// read alike. A row is a refund if it has a 商户退款单号 (other than "0");
// its 交易状态 must then be REFUND, and only then. Row fields: Amount is
// 订单金额 (payments) or 申请退款金额 (refunds); Status is 交易状态 or
// 退款状态; At is 交易时间, or 退款成功时间 where the bill has it (the
// REFUND bill, whose 交易时间 is the order's); Fee is 手续费 rounded half
// to even.
type WeChatBillReader struct {
	cr    *countingReader
	br    *bufio.Reader
	line  int64
	cols  map[string]int
	ncols int
	col   struct {
		time, mch, sub, txn, otn, state, settled, fee   int
		refundID, orn, refund, refundStatus, refundTime int
		total, refundAsked                              int
	}
	fields  [][]byte
	scratch []byte
	dates   dateCache
	dates2  dateCache
	intern  interner
	prog    progressor

	rows                         int64
	settled, refunded, feesMicro int64
	summary                      WeChatBillSummary
	err                          error
}

// WeChatBillSummary is the bill's own totals, known once Next has returned
// io.EOF.
type WeChatBillSummary struct {
	Count    int64 // 总交易单数
	Settled  int64 // 应结订单总金额, fen
	Refunded int64 // 退款总金额, fen
	// FeesMicro is 手续费总金额 in micro-yuan (1/10,000 fen), exact.
	FeesMicro int64
}

var gzipMagic = []byte{0x1f, 0x8b}

// NewWeChatTradeBill starts reading a trade bill, plain or gzip (told apart
// by gzip's magic bytes), and reads its header row.
func NewWeChatTradeBill(r io.Reader, opts ...Option) (*WeChatBillReader, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.progress != nil && o.bytesTotal <= 0 {
		o.bytesTotal = sizeOf(r)
	}
	w := &WeChatBillReader{cr: &countingReader{r: r}, intern: interner{}}
	w.prog = newProgressor(o, func() int64 { return w.cr.n })
	br := bufio.NewReaderSize(w.cr, maxLine)
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &ParseError{Bill: wxBill, Msg: "bad gzip: " + err.Error(), Err: ErrMalformed}
		}
		br = bufio.NewReaderSize(zr, maxLine)
	}
	w.br = br
	if err := w.readHeader(); err != nil {
		return nil, err
	}
	return w, nil
}

// sizeOf finds the size of what r reads, or -1.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Stat() (os.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	case interface{ Size() int64 }:
		return v.Size()
	case interface{ Len() int }:
		return int64(v.Len())
	}
	return -1
}

func (w *WeChatBillReader) fail(field string, value []byte, format string, args ...any) error {
	return &ParseError{Bill: wxBill, Line: w.line, Field: field, Value: shorten(value), Msg: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

// readLine returns the next non-empty line without its line ending, or
// io.EOF.
func (w *WeChatBillReader) readLine() ([]byte, error) {
	for {
		b, err := w.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			w.line++
			return nil, w.fail("", nil, "line longer than %d bytes", maxLine)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			w.line++
			return nil, &ParseError{Bill: wxBill, Line: w.line, Msg: "reading: " + err.Error(), Err: ErrTruncated}
		}
		if len(b) == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		w.line++
		b = bytes.TrimRight(b, "\r\n")
		if len(b) > 0 {
			return b, nil
		}
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
	}
}

func (w *WeChatBillReader) readHeader() error {
	b, err := w.readLine()
	if errors.Is(err, io.EOF) {
		return &ParseError{Bill: wxBill, Msg: "empty bill", Err: ErrTruncated}
	}
	if err != nil {
		return err
	}
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	w.cols = map[string]int{}
	for i, name := range bytes.Split(b, []byte(",")) {
		if _, dup := w.cols[string(name)]; dup {
			return w.fail(string(name), nil, "column appears twice in the header")
		}
		w.cols[string(name)] = i
	}
	w.ncols = len(w.cols)
	idx := func(name string, required bool) (int, error) {
		i, ok := w.cols[name]
		if !ok {
			if required {
				return -1, w.fail(name, nil, "the header lacks this column: not a WeChat Pay trade bill")
			}
			return -1, nil
		}
		return i, nil
	}
	c := &w.col
	for _, f := range []struct {
		p        *int
		name     string
		required bool
	}{
		{&c.time, wxTime, true}, {&c.mch, wxMchID, true}, {&c.sub, wxSubMchID, false},
		{&c.txn, wxTransaction, true}, {&c.otn, wxOutTradeNo, true}, {&c.state, wxTradeState, true},
		{&c.settled, wxSettled, true}, {&c.fee, wxFee, true},
		{&c.refundID, wxRefundID, false}, {&c.orn, wxOutRefundNo, false}, {&c.refund, wxRefund, false},
		{&c.refundStatus, wxRefundStatus, false}, {&c.refundTime, wxRefundTime, false},
		{&c.total, wxTotal, false}, {&c.refundAsked, wxRefundAsked, false},
	} {
		if *f.p, err = idx(f.name, f.required); err != nil {
			return err
		}
	}
	if c.orn >= 0 { // a bill with refunds has all of the refund columns
		for _, name := range []string{wxRefundID, wxRefund, wxRefundStatus, wxRefundAsked} {
			if _, err := idx(name, true); err != nil {
				return err
			}
		}
	}
	if c.total < 0 && c.orn < 0 {
		return w.fail(wxTotal, nil, "the header lacks this column: not a WeChat Pay trade bill")
	}
	w.fields = make([][]byte, 0, w.ncols)
	return nil
}

// Next returns the next row, or io.EOF once the summary has been read and
// checked. After any other error the bill must be dropped as a whole.
func (w *WeChatBillReader) Next() (Row, error) {
	if w.err != nil {
		return Row{}, w.err
	}
	row, err := w.next()
	if err != nil {
		w.err = err
		if errors.Is(err, io.EOF) {
			w.prog.finish(w.rows)
		}
	}
	return row, err
}

func (w *WeChatBillReader) next() (Row, error) {
	b, err := w.readLine()
	if errors.Is(err, io.EOF) {
		return Row{}, &ParseError{Bill: wxBill, Line: w.line, Msg: "the bill ends without its summary (总交易单数…)", Err: ErrTruncated}
	}
	if err != nil {
		return Row{}, err
	}
	if b[0] != '`' {
		if bytes.HasPrefix(b, []byte(wxSumCount)) {
			return Row{}, w.readSummary(b)
		}
		return Row{}, w.fail("", b, "a row's fields must each start with a backtick")
	}
	w.fields = splitBacktick(w.fields[:0], b)
	if len(w.fields) != w.ncols {
		return Row{}, w.fail("", b, "the row has %d fields, the header %d", len(w.fields), w.ncols)
	}
	row, err := w.row()
	if err != nil {
		return Row{}, err
	}
	w.rows++
	w.prog.tick(w.rows)
	return row, nil
}

// splitBacktick splits "`a,`b,`c" into a, b, c. Separating on ",`" rather
// than "," keeps a stray comma in free text from shifting the columns.
func splitBacktick(dst [][]byte, b []byte) [][]byte {
	b = b[1:]
	for {
		i := bytes.Index(b, []byte(",`"))
		if i < 0 {
			return append(dst, b)
		}
		dst = append(dst, b[:i])
		b = b[i+2:]
	}
}

func (w *WeChatBillReader) amount(col int, name string, sum *int64) (int64, error) {
	v := w.fields[col]
	fen, err := parseFixed(v, scaleFen)
	if err != nil {
		return 0, w.fail(name, v, "not a yuan amount with two decimals (%v)", err)
	}
	if fen < 0 || fen > MaxAmount {
		return 0, w.fail(name, v, "amount outside [0, %s] yuan", formatFixed(MaxAmount, scaleFen))
	}
	if sum != nil && !addChecked(sum, fen) {
		return 0, w.fail(name, v, "the bill's total overflows")
	}
	return fen, nil
}

func (w *WeChatBillReader) row() (Row, error) {
	c := &w.col
	f := w.fields
	row := Row{Channel: ChannelWeChatPay, Kind: KindPayment}

	at, ok := w.dates.parse(f[c.time])
	if !ok {
		return row, w.fail(wxTime, f[c.time], "not a time like 2006-01-02 15:04:05")
	}
	row.At = at

	state := f[c.state]
	if !validStatus(state) {
		return row, w.fail(wxTradeState, state, "not a trade state")
	}
	refundRow := false
	if c.orn >= 0 {
		orn := f[c.orn]
		refundRow = len(orn) > 0 && string(orn) != "0"
	}
	if refundRow != (string(state) == "REFUND") {
		if refundRow {
			return row, w.fail(wxTradeState, state, "a row with a 商户退款单号 is a REFUND row")
		}
		return row, w.fail(wxOutRefundNo, nil, "a REFUND row needs its 商户退款单号")
	}

	if _, err := w.amount(c.settled, wxSettled, &w.settled); err != nil {
		return row, err
	}
	if c.refund >= 0 {
		if _, err := w.amount(c.refund, wxRefund, &w.refunded); err != nil {
			return row, err
		}
	}

	feeV := f[c.fee]
	micro, err := parseFixed(feeV, scaleMicro)
	if err != nil {
		return row, w.fail(wxFee, feeV, "not a yuan amount with at most six decimals (%v)", err)
	}
	if micro > MaxAmount*microPerFen || micro < -MaxAmount*microPerFen || !addChecked(&w.feesMicro, micro) {
		return row, w.fail(wxFee, feeV, "fee out of range")
	}
	row.Fee = microToFen(micro)

	// The identifiers go into one string: one allocation per row.
	s := w.scratch[:0]
	var idEnds [4]int
	ids := []struct {
		col  int
		name string
	}{{c.otn, wxOutTradeNo}, {c.txn, wxTransaction}, {c.orn, wxOutRefundNo}, {c.refundID, wxRefundID}}
	if !refundRow {
		ids = ids[:2]
	}
	for i, id := range ids {
		v := f[id.col]
		if !validID(v) {
			return row, w.fail(id.name, v, "not an order or refund number")
		}
		s = append(s, v...)
		idEnds[i] = len(s)
	}
	w.scratch = s
	str := string(s)
	row.OutTradeNo, row.TransactionID = str[:idEnds[0]], str[idEnds[0]:idEnds[1]]

	merchant := f[c.mch]
	if c.sub >= 0 && len(f[c.sub]) > 0 && string(f[c.sub]) != "0" {
		merchant = f[c.sub]
	}
	if !validID(merchant) {
		return row, w.fail(wxMchID, merchant, "not a merchant number")
	}
	row.Merchant = w.intern.get(merchant)

	if !refundRow {
		row.Status = w.intern.get(state)
		amountCol, name := c.settled, wxSettled
		if c.total >= 0 {
			amountCol, name = c.total, wxTotal
		}
		if row.Amount, err = w.amount(amountCol, name, nil); err != nil {
			return row, err
		}
		if row.Amount < 1 {
			return row, w.fail(name, f[amountCol], "a payment of nothing")
		}
		if row.Fee < 0 || row.Fee > row.Amount {
			return row, w.fail(wxFee, feeV, "a payment's fee must be between 0 and its amount")
		}
		return row, nil
	}

	row.Kind = KindRefund
	row.OutRefundNo, row.RefundID = str[idEnds[1]:idEnds[2]], str[idEnds[2]:idEnds[3]]
	st := f[c.refundStatus]
	if !validStatus(st) {
		return row, w.fail(wxRefundStatus, st, "not a refund status")
	}
	row.Status = w.intern.get(st)
	if row.Amount, err = w.amount(c.refundAsked, wxRefundAsked, nil); err != nil {
		return row, err
	}
	if row.Amount < 1 {
		return row, w.fail(wxRefundAsked, f[c.refundAsked], "a refund of nothing")
	}
	if row.Fee > 0 || -row.Fee > row.Amount {
		return row, w.fail(wxFee, feeV, "a refund's fee must be between minus its amount and 0")
	}
	if c.refundTime >= 0 { // the REFUND bill's 交易时间 is the order's
		if row.At, ok = w.dates2.parse(f[c.refundTime]); !ok {
			return row, w.fail(wxRefundTime, f[c.refundTime], "not a time like 2006-01-02 15:04:05")
		}
	}
	return row, nil
}

// readSummary reads the summary header and row and checks them against
// the rows, then expects the end of the file.
func (w *WeChatBillReader) readSummary(header []byte) error {
	names := bytes.Split(bytes.TrimPrefix(header, []byte("\uFEFF")), []byte(","))
	b, err := w.readLine()
	if errors.Is(err, io.EOF) {
		return &ParseError{Bill: wxBill, Line: w.line, Msg: "the summary header has no summary row", Err: ErrTruncated}
	}
	if err != nil {
		return err
	}
	if b[0] != '`' {
		return w.fail("", b, "the summary's fields must each start with a backtick")
	}
	vals := splitBacktick(nil, b)
	if len(vals) != len(names) {
		return w.fail("", b, "the summary has %d fields, its header %d", len(vals), len(names))
	}
	got := map[string][]byte{}
	for i, n := range names {
		got[string(n)] = vals[i]
	}
	field := func(name string) ([]byte, error) {
		v, ok := got[name]
		if !ok {
			return nil, w.fail(name, nil, "the summary lacks this column")
		}
		return v, nil
	}
	sum := &w.summary
	v, err := field(wxSumCount)
	if err != nil {
		return err
	}
	if sum.Count, err = strconv.ParseInt(string(v), 10, 64); err != nil || sum.Count < 0 {
		return w.fail(wxSumCount, v, "not a count")
	}
	for _, t := range []struct {
		name  string
		scale int
		dst   *int64
	}{{wxSumSettled, scaleFen, &sum.Settled}, {wxSumRefunded, scaleFen, &sum.Refunded}, {wxSumFees, scaleMicro, &sum.FeesMicro}} {
		v, err := field(t.name)
		if err != nil {
			return err
		}
		if *t.dst, err = parseFixed(v, t.scale); err != nil {
			return w.fail(t.name, v, "not a yuan amount (%v)", err)
		}
	}
	line := w.line
	mismatch := func(name, says, rows string) error {
		return &ParseError{Bill: wxBill, Line: line, Field: name, Value: says,
			Msg: fmt.Sprintf("the summary says %s but the rows add up to %s", says, rows), Err: ErrSummaryMismatch}
	}
	switch {
	case sum.Count != w.rows:
		return mismatch(wxSumCount, strconv.FormatInt(sum.Count, 10), strconv.FormatInt(w.rows, 10)+" rows")
	case sum.Settled != w.settled:
		return mismatch(wxSumSettled, formatFixed(sum.Settled, scaleFen), formatFixed(w.settled, scaleFen))
	case sum.Refunded != w.refunded:
		return mismatch(wxSumRefunded, formatFixed(sum.Refunded, scaleFen), formatFixed(w.refunded, scaleFen))
	case sum.FeesMicro != w.feesMicro:
		return mismatch(wxSumFees, formatFixed(sum.FeesMicro, scaleMicro), formatFixed(w.feesMicro, scaleMicro))
	}
	if b, err := w.readLine(); !errors.Is(err, io.EOF) {
		if err != nil {
			return err
		}
		return w.fail("", b, "text after the summary")
	}
	return io.EOF
}

// Summary is the bill's own totals; valid once Next has returned io.EOF.
func (w *WeChatBillReader) Summary() WeChatBillSummary { return w.summary }

// Rows is how many rows have been returned.
func (w *WeChatBillReader) Rows() int64 { return w.rows }

var _ RowSource = (*WeChatBillReader)(nil)
