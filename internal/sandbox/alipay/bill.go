package alipay

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
)

// FeeRateBasisPoints is the sandbox's service fee, 0.60%.
const FeeRateBasisPoints = 60

// Fee is the service fee on an amount, rounded half up to the fen.
func Fee(amount int64) int64 { return (amount*FeeRateBasisPoints + 5000) / 10000 }

const billURLTTL = 30 * time.Second

type billToken struct {
	PID     string `json:"p"`
	Date    string `json:"d"` // yyyy-MM-dd or yyyy-MM
	Expires int64  `json:"e"`
}

func (s *Simulator) signBillToken(t billToken) string { return s.billToken.Sign(t) }

func (s *Simulator) parseBillToken(tok string) (billToken, bool) {
	var t billToken
	if !s.billToken.Open(tok, &t) {
		return t, false
	}
	return t, s.now().Unix() <= t.Expires
}

// billRange reads bill_date: a day (yyyy-MM-dd) or a month (yyyy-MM), in
// Beijing time.
func billRange(date string) (start, end time.Time, ok bool) {
	if len(date) == len("2006-01") {
		m, err := time.ParseInLocation("2006-01", date, chinatime.Location)
		if err != nil {
			return start, end, false
		}
		return m.UTC(), m.AddDate(0, 1, 0).UTC(), true
	}
	start, end, err := chinatime.ParseDate(date)
	return start, end, err == nil
}

// billURL is alipay.data.dataservice.bill.downloadurl.query. Like the
// WeChat sandbox, it issues today's bill so far; the real gateway only
// from the next day.
func (s *Simulator) billURL(c *call) answer {
	typ, _ := c.bizString("bill_type")
	date, _ := c.bizString("bill_date")
	if typ == "" {
		return answer{result: alipayapi.Failure(alipayapi.CodeMissingArguments, "isv.missing-bill-type", "缺少参数 bill_type")}
	}
	if typ != "trade" && typ != "signcustomer" {
		return invalidParameter("bill_type 应为 trade 或 signcustomer")
	}
	start, _, ok := billRange(date)
	if !ok {
		return invalidParameter("bill_date 格式应为 yyyy-MM-dd 或 yyyy-MM")
	}
	if start.After(s.now()) {
		return businessFailed("isp.bill_not_exist", "账单不存在")
	}
	tok := s.signBillToken(billToken{PID: c.seller.PID, Date: date, Expires: s.now().Add(billURLTTL).Unix()})
	return success(map[string]string{"bill_download_url": s.cfg.BaseURL + "/sandbox/alipay/bill?fileType=csv.zip&token=" + tok})
}

// downloadBill serves the zip of GBK CSV files the download URL names.
func (s *Simulator) downloadBill(w http.ResponseWriter, r *http.Request) {
	tok, ok := s.parseBillToken(r.URL.Query().Get("token"))
	if !ok {
		http.Error(w, "the download URL is invalid or has expired (it lives 30 s); ask the gateway for a new one", http.StatusForbidden)
		return
	}
	start, end, _ := billRange(tok.Date)
	s.mu.Lock()
	detail, summary := s.buildBill(tok.PID, start, end)
	s.mu.Unlock()
	compact := strings.ReplaceAll(tok.Date, "-", "")
	account := tok.PID + "0156"
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct {
		name string
		text string
	}{
		{account + "_" + compact + "_业务明细.csv", detail},
		{account + "_" + compact + "_业务明细(汇总).csv", summary},
	} {
		gbk, err := simplifiedchinese.GBK.NewEncoder().String(f.text)
		if err != nil {
			http.Error(w, "bill encoding: "+err.Error(), http.StatusInternalServerError)
			return
		}
		// Entry names are GBK too, without the zip UTF-8 flag, as Alipay
		// writes them.
		name, _ := simplifiedchinese.GBK.NewEncoder().String(f.name)
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, NonUTF8: true, Method: zip.Deflate, Modified: s.now()})
		if err == nil {
			_, err = fw.Write([]byte(gbk))
		}
		if err != nil {
			http.Error(w, "the bill could not be zipped: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if err := zw.Close(); err != nil {
		http.Error(w, "the bill could not be zipped: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+account+"_"+compact+`.csv.zip"`)
	w.Write(buf.Bytes())
}

// billHeader is the column row of the trade detail bill.
const billHeader = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"

// billRow is one line of the detail file.
type billRow struct {
	at     time.Time
	fields []string
	amount int64
	fee    int64
	refund bool
	trade  *Trade
	ref    *Refund // nil for a payment
}

// billFeeColumn is 服务费（元）, written with the opposite sign of fee.
const billFeeColumn = 22

func paymentBillRow(t *Trade) billRow {
	fee := Fee(t.Total)
	return billRow{at: t.PaidAt, amount: t.Total, fee: fee, trade: t, fields: []string{
		t.TradeNo + "\t", t.OutTradeNo + "\t", "交易\t", billText(t.Subject), chinatime.DateTime(t.CreatedAt), chinatime.DateTime(t.PaidAt),
		"\t", "\t", "\t", "\t", LogonID(t.PaidBy) + "\t", alipayapi.FormatYuan(t.Total), alipayapi.FormatYuan(t.Total),
		"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00\t", "0.00", "\t", alipayapi.FormatYuan(-fee), "0.00", billText(t.Body),
	}}
}

// refundBillRow is a refund's row; fee is what it gives back (refundFees).
func refundBillRow(t *Trade, r *Refund, fee int64) billRow {
	return billRow{at: r.CreatedAt, amount: -r.Amount, fee: -fee, refund: true, trade: t, ref: r, fields: []string{
		t.TradeNo + "\t", t.OutTradeNo + "\t", "退款\t", billText(t.Subject), chinatime.DateTime(t.CreatedAt), chinatime.DateTime(r.CreatedAt),
		"\t", "\t", "\t", "\t", LogonID(t.PaidBy) + "\t", alipayapi.FormatYuan(-r.Amount), alipayapi.FormatYuan(-r.Amount),
		"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00\t", "0.00", r.OutRequestNo + "\t", alipayapi.FormatYuan(fee), "0.00", billText(r.Reason),
	}}
}

// refundFees is the fee each refund gives back: the fee on its own
// amount, rounded half up, except for the refund that completes its
// trade's refunds, which gives back what is left of the trade's fee, so
// that a trade refunded in full, in however many parts, costs the seller
// no fee. Refunds count in the order they were made. Callers hold s.mu.
func (s *Simulator) refundFees() map[*Refund]int64 {
	byTrade := map[string][]*Refund{}
	for _, r := range s.refunds {
		byTrade[r.TradeKey] = append(byTrade[r.TradeKey], r)
	}
	fees := make(map[*Refund]int64, len(s.refunds))
	for key, refunds := range byTrade {
		slices.SortFunc(refunds, func(a, b *Refund) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.Key, b.Key)
		})
		var total int64
		if t := s.trades[key]; t != nil {
			total = t.Total
		}
		var returned, refunded int64
		for _, r := range refunds {
			fee := Fee(r.Amount)
			if refunded += r.Amount; refunded == total {
				fee = Fee(total) - returned
			}
			returned += fee
			fees[r] = fee
		}
	}
	return fees
}

// buildBill writes the detail and summary files of a seller's trades in
// [start, end). Callers hold s.mu.
func (s *Simulator) buildBill(pid string, start, end time.Time) (detail, summary string) {
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(start) && t.Before(end) }
	var rows []billRow
	for _, t := range s.trades {
		if t.SellerID != pid {
			continue
		}
		if in(t.PaidAt) {
			rows = append(rows, paymentBillRow(t))
		}
	}
	feeBack := s.refundFees()
	for _, r := range s.refunds {
		t := s.trades[r.TradeKey]
		if t == nil || t.SellerID != pid || !in(r.CreatedAt) {
			continue
		}
		rows = append(rows, refundBillRow(t, r, feeBack[r]))
	}
	rows = s.applyBillFaults(rows, start, end)
	slices.SortFunc(rows, func(a, b billRow) int { return a.at.Compare(b.at) })

	period := fmt.Sprintf("#起始日期：[%s]   终止日期：[%s]", cnDateTime(start), cnDateTime(end))
	exported := "#导出时间：[" + cnDateTime(s.now()) + "]"
	var d strings.Builder
	d.WriteString("#支付宝业务明细查询\n#账号：[" + pid + "0156]\n" + period + "\n")
	d.WriteString("#-----------------------------------------业务明细列表----------------------------------------\n")
	d.WriteString(billHeader + "\n")
	var payN, refundN int
	var payAmt, refundAmt, fees int64
	for _, r := range rows {
		d.WriteString(strings.Join(r.fields, ",") + "\n")
		if r.refund {
			refundN++
			refundAmt += -r.amount
		} else {
			payN++
			payAmt += r.amount
		}
		fees += r.fee
	}
	d.WriteString("#-----------------------------------------业务明细列表结束------------------------------------\n")
	fmt.Fprintf(&d, "#交易合计：%d笔，商家实收共%s元，商家优惠共0.00元\n", payN, alipayapi.FormatYuan(payAmt))
	fmt.Fprintf(&d, "#退款合计：%d笔，商家实收退款共%s元，商家优惠退款共0.00元\n", refundN, alipayapi.FormatYuan(-refundAmt))
	d.WriteString(exported + "\n")

	var sm strings.Builder
	sm.WriteString("#支付宝业务汇总查询\n#账号：[" + pid + "0156]\n" + period + "\n")
	sm.WriteString("#-----------------------------------------业务汇总列表----------------------------------------\n")
	sm.WriteString("门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\n")
	fmt.Fprintf(&sm, "合计,,%d,%d,%s,%s,0.00,0.00,0.00,%s,0.00,%s\n", payN, refundN,
		alipayapi.FormatYuan(payAmt-refundAmt), alipayapi.FormatYuan(payAmt-refundAmt), alipayapi.FormatYuan(-fees), alipayapi.FormatYuan(payAmt-refundAmt-fees))
	sm.WriteString("#-----------------------------------------业务汇总列表结束------------------------------------\n")
	sm.WriteString(exported + "\n")
	return d.String(), sm.String()
}

func cnDateTime(t time.Time) string {
	return t.In(chinatime.Location).Format("2006年01月02日 15:04:05")
}

// billText keeps free text from breaking the comma-separated layout, and
// drops what GBK cannot encode.
func billText(s string) string {
	s = strings.NewReplacer(",", "，", "\r", " ", "\n", " ").Replace(s)
	var b strings.Builder
	enc := simplifiedchinese.GBK.NewEncoder()
	for _, r := range s {
		if _, err := enc.String(string(r)); err != nil {
			b.WriteRune('?')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
