package recon

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Synthetic bills in the sandbox's layouts, written row by row so that a
// million-row bill never sits in memory.

// genRow is a bill row and its fee exactly as the bill writes it.
type genRow struct {
	Row
	feeMicro int64 // micro-yuan; the cost to the merchant (negative on refunds)
}

var genDay = time.Date(2025, 3, 14, 16, 0, 0, 0, time.UTC) // 2025-03-15 00:00 in Beijing

// synthRow is row i of n: every tenth a refund of the payment nine rows
// before it, fees 0.6% exact to the micro-yuan (sub-fen, as WeChat may
// write them), times spread over one Beijing day in order.
func synthRow(channel string, i, n int) genRow {
	base := i // the trade: this row's, or for a refund the payment's
	if i%10 == 9 {
		base = i - 9
	}
	amount := int64(1 + (base*7919)%200000)
	var buf [128]byte
	b := append(buf[:0], 'T')
	b = appendPadded(b, base, 11)
	otn := len(b)
	if channel == ChannelAlipay {
		b = append(b, "2025031522001"...)
		b = appendPadded(b, base, 15)
	} else {
		b = append(b, "42000000"...)
		b = appendPadded(b, base, 20)
	}
	txn := len(b)
	orn, rid := txn, txn
	if i%10 == 9 {
		b = append(b, 'R')
		b = appendPadded(b, i, 11)
		orn = len(b)
		if channel == ChannelWeChatPay {
			b = append(b, "503000000"...)
			b = appendPadded(b, i, 20)
		}
		rid = len(b)
	}
	s := string(b)
	r := Row{
		Channel:       channel,
		Kind:          KindPayment,
		OutTradeNo:    s[:otn],
		TransactionID: s[otn:txn],
		OutRefundNo:   s[txn:orn],
		RefundID:      s[orn:rid],
		Status:        StatusSuccess,
		Amount:        amount,
		At:            genDay.Add(time.Duration(int64(i) * int64(24*time.Hour) / int64(n))).Truncate(time.Second),
		Merchant:      "1900000001",
	}
	if channel == ChannelAlipay {
		r.Merchant = "2088621000000001"
	}
	if i%10 == 9 {
		r.Kind, r.Amount = KindRefund, amount/2+1
	}
	micro := r.Amount * 60 // 0.6% of A fen is 60·A micro-yuan
	if channel == ChannelAlipay {
		micro = (r.Amount*60 + 5000) / 10000 * 10000 // Alipay: whole fen, half up
	}
	if r.Kind == KindRefund {
		micro = -micro
	}
	r.Fee = microToFen(micro)
	return genRow{Row: r, feeMicro: micro}
}

func appendPadded(dst []byte, v, width int) []byte {
	var tmp [24]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// appendYuan writes v (10^-6 yuan) with the given number of decimals, which
// must not drop digits.
func appendYuan(dst []byte, micro int64, decimals int) []byte {
	if micro < 0 {
		dst = append(dst, '-')
		micro = -micro
	}
	dst = strconv.AppendInt(dst, micro/1_000_000, 10)
	dst = append(dst, '.')
	frac := micro % 1_000_000
	div := int64(100_000)
	for d := 0; d < decimals; d++ {
		dst = append(dst, byte('0'+frac/div%10))
		div /= 10
	}
	return dst
}

func fenMicro(fen int64) int64 { return fen * 10_000 }

func appendBeijing(dst []byte, t time.Time) []byte {
	return t.In(beijing).AppendFormat(dst, time.DateTime)
}

var beijing = time.FixedZone("Asia/Shanghai", 8*60*60)

const wxHeaderAll = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"

const wxSummaryHeader = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"

// writeWeChatBill writes an ALL trade bill of n rows, row(i) for each,
// as the sandbox writes one.
func writeWeChatBill(w io.Writer, n int, row func(i int) genRow) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.WriteString(wxHeaderAll + "\n"); err != nil {
		return err
	}
	var settled, refunded, fees, orderTotal int64
	var line []byte
	for i := 0; i < n; i++ {
		g := row(i)
		r := &g.Row
		f := func(s string) { line = append(line, '`'); line = append(line, s...); line = append(line, ',') }
		fy := func(fen int64) {
			line = append(line, '`')
			line = appendYuan(line, fenMicro(fen), 2)
			line = append(line, ',')
		}
		line = line[:0]
		line = append(line, '`')
		line = appendBeijing(line, r.At)
		line = append(line, ',')
		f("wxd678efh567hg6787")
		f(r.Merchant)
		f("0")
		f("")
		f(r.TransactionID)
		f(r.OutTradeNo)
		f("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
		f("NATIVE")
		if r.Kind == KindPayment {
			f(r.Status)
			f("OTHERS")
			f("CNY")
			fy(r.Amount)
			f("0.00")
			f("0")
			f("0")
			f("0.00")
			f("0.00")
			f("")
			f("")
			settled += r.Amount
			orderTotal += r.Amount
		} else {
			f("REFUND")
			f("OTHERS")
			f("CNY")
			f("0.00")
			f("0.00")
			f(r.RefundID)
			f(r.OutRefundNo)
			fy(r.Amount)
			f("0.00")
			f("ORIGINAL")
			f(r.Status)
			refunded += r.Amount
		}
		f("hutong 测试商品")
		f("")
		line = append(line, '`')
		line = appendYuan(line, g.feeMicro, 5)
		line = append(line, ',')
		fees += g.feeMicro
		f("0.60%")
		if r.Kind == KindPayment {
			fy(r.Amount)
			f("0.00")
		} else {
			f("0.00")
			fy(r.Amount)
		}
		line = append(line, "`\n"...)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	line = line[:0]
	line = append(line, wxSummaryHeader+"\n`"...)
	line = strconv.AppendInt(line, int64(n), 10)
	for _, v := range []int64{settled, refunded, 0} {
		line = append(line, ",`"...)
		line = appendYuan(line, fenMicro(v), 2)
	}
	line = append(line, ",`"...)
	line = appendYuan(line, fees, 5)
	for _, v := range []int64{orderTotal, refunded} {
		line = append(line, ",`"...)
		line = appendYuan(line, fenMicro(v), 2)
	}
	line = append(line, '\n')
	if _, err := bw.Write(line); err != nil {
		return err
	}
	return bw.Flush()
}

const apHeader = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"

func gbk(s string) []byte { return mustGBK(s) }

// writeAlipayBill writes a bill zip of n rows as the sandbox writes one:
// GBK detail and summary files, GBK entry names.
func writeAlipayBill(w io.Writer, n int, row func(i int) genRow) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	name := func(s string) string { return string(gbk(s)) }
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: name("20886210000000010156_20250315_业务明细.csv"), NonUTF8: true, Method: zip.Deflate})
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(fw, 1<<20)
	for _, s := range []string{
		"#支付宝业务明细查询\n#账号：[20886210000000010156]\n#起始日期：[2025年03月15日 00:00:00]   终止日期：[2025年03月16日 00:00:00]\n",
		"#-----------------------------------------业务明细列表----------------------------------------\n",
		apHeader + "\n",
	} {
		if _, err := bw.Write(gbk(s)); err != nil {
			return err
		}
	}
	trade, refund, subject := gbk("交易\t"), gbk("退款\t"), gbk("hutong 测试商品 · 豆浆")
	var payN, refundN int
	var payAmt, refundAmt, fees int64
	var line []byte
	for i := 0; i < n; i++ {
		g := row(i)
		r := &g.Row
		amount := r.Amount
		if r.Kind == KindRefund {
			amount = -amount
		}
		line = append(line[:0], r.TransactionID...)
		line = append(line, "\t,"...)
		line = append(line, r.OutTradeNo...)
		line = append(line, "\t,"...)
		if r.Kind == KindPayment {
			line = append(line, trade...)
			payN++
			payAmt += amount
		} else {
			line = append(line, refund...)
			refundN++
			refundAmt += amount
		}
		line = append(line, ',')
		line = append(line, subject...)
		line = append(line, ',')
		line = appendBeijing(line, r.At.Add(-time.Minute))
		line = append(line, ',')
		line = appendBeijing(line, r.At)
		line = append(line, ",\t,\t,\t,\t,186****1234\t,"...)
		line = appendYuan(line, fenMicro(amount), 2)
		line = append(line, ',')
		line = appendYuan(line, fenMicro(amount), 2)
		line = append(line, ",0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,"...)
		line = append(line, r.OutRefundNo...)
		line = append(line, "\t,"...)
		line = appendYuan(line, -g.feeMicro, 2)
		fees += g.feeMicro
		line = append(line, ",0.00,\n"...)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	for _, s := range []string{
		"#-----------------------------------------业务明细列表结束------------------------------------\n",
		fmt.Sprintf("#交易合计：%d笔，商家实收共%s元，商家优惠共0.00元\n", payN, appendYuan(nil, fenMicro(payAmt), 2)),
		fmt.Sprintf("#退款合计：%d笔，商家实收退款共%s元，商家优惠退款共0.00元\n", refundN, appendYuan(nil, fenMicro(refundAmt), 2)),
		"#导出时间：[2025年03月16日 09:00:00]\n",
	} {
		if _, err := bw.Write(gbk(s)); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	fw, err = zw.CreateHeader(&zip.FileHeader{Name: name("20886210000000010156_20250315_业务明细(汇总).csv"), NonUTF8: true, Method: zip.Deflate})
	if err != nil {
		return err
	}
	net := payAmt + refundAmt
	sum := fmt.Sprintf("#支付宝业务汇总查询\n#账号：[20886210000000010156]\n"+
		"门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\n"+
		"合计,,%d,%d,%s,%s,0.00,0.00,0.00,%s,0.00,%s\n#导出时间：[2025年03月16日 09:00:00]\n",
		payN, refundN, appendYuan(nil, fenMicro(net), 2), appendYuan(nil, fenMicro(net), 2), appendYuan(nil, -fees, 2), appendYuan(nil, fenMicro(net)-fees, 2))
	enc, err := simplifiedchinese.GBK.NewEncoder().String(sum)
	if err != nil {
		return err
	}
	if _, err := fw.Write([]byte(enc)); err != nil {
		return err
	}
	return zw.Close()
}
