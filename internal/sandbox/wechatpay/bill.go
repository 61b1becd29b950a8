package wechatpay

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// FeeRateBasisPoints is the sandbox's channel fee, 0.60%, the common rate
// for ordinary merchants.
const FeeRateBasisPoints = 60

// billTokenTTL is how long a download_url works: 30 s, as the platform
// documents for /v3/bill/tradebill ("download_url 的有效期为30s"); a
// connector downloads right after applying, and applies again if too late.
const billTokenTTL = 30 * time.Second

// Bill headers, exactly as the platform writes them.
var (
	billHeaderAll     = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
	billHeaderSuccess = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注"
	billHeaderRefund  = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
	billSummaryHeader = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)

type billToken struct {
	MchID    string `json:"m"`
	SubMchID string `json:"s,omitempty"`
	Date     string `json:"d"`
	Type     string `json:"t"`
	Gzip     bool   `json:"z,omitempty"`
	Expires  int64  `json:"e"`
}

func (s *Simulator) signToken(t billToken) string { return s.keys.billToken.Sign(t) }

func (s *Simulator) parseToken(tok string) (billToken, bool) {
	var t billToken
	if !s.keys.billToken.Open(tok, &t) {
		return t, false
	}
	return t, s.now().Unix() <= t.Expires
}

// tradeBill answers a bill application with a signed, short-lived download
// URL and the SHA1 of the (uncompressed) file. Unlike the real platform,
// which publishes a day's bill the next morning, the sandbox also issues
// today's bill so far, so a test can pay and reconcile in one run.
func (s *Simulator) tradeBill(c *call) reply {
	q := c.r.URL.Query()
	date := q.Get("bill_date")
	if date == "" {
		return missing("query", "/bill_date")
	}
	start, end, err := chinatime.ParseDate(date)
	if err != nil {
		return paramError("query", "/bill_date", "格式规则校验失败，应为 yyyy-MM-dd", date)
	}
	now := s.now()
	if start.After(now) {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "参数错误 请检查bill_date: 不能申请未来日期的账单")
	}
	if start.Before(now.AddDate(0, -3, -1)) {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "参数错误 请检查bill_date: 只能下载三个月以内的账单")
	}
	typ := q.Get("bill_type")
	if typ == "" {
		typ = "ALL"
	}
	if typ != "ALL" && typ != "SUCCESS" && typ != "REFUND" {
		return paramError("query", "/bill_type", "枚举规则校验失败，应为 ALL、SUCCESS 或 REFUND", typ)
	}
	tar := q.Get("tar_type")
	if tar != "" && tar != "GZIP" {
		return paramError("query", "/tar_type", "枚举规则校验失败，只支持 GZIP", tar)
	}
	sub := q.Get("sub_mchid")
	if sub != "" {
		if rep, ok := s.checkSubMerchant(c.mchid, sub); !ok {
			return fail(http.StatusForbidden, wechatpayv3.CodeNoAuth, "无该子商户账单的权限: "+rep.body.(*wechatpayv3.Error).Message)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	file, rows := s.buildBill(c.mchid, sub, typ, start, end)
	if rows == 0 {
		return fail(http.StatusBadRequest, wechatpayv3.CodeNoStatementExist, "请求的账单文件不存在")
	}
	tok := billToken{MchID: c.mchid, SubMchID: sub, Date: date, Type: typ, Gzip: tar == "GZIP", Expires: now.Add(billTokenTTL).Unix()}
	token := s.signToken(tok)
	for k := range s.bills { // forget files whose token has expired
		if t, ok := s.parseToken(k); !ok || t.Expires < now.Unix() {
			delete(s.bills, k)
		}
	}
	s.bills[token] = file
	sum := sha1.Sum(file)
	return answer(map[string]string{
		"hash_type":    "SHA1",
		"hash_value":   hex.EncodeToString(sum[:]),
		"download_url": s.cfg.BaseURL + "/v3/billdownload/file?token=" + token,
	})
}

func (s *Simulator) downloadBill(c *call) reply {
	tok, valid := s.parseToken(c.r.URL.Query().Get("token"))
	if !valid {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "请按第一步申请账单的API指引，重新获取账单地址后再请求")
	}
	if tok.MchID != c.mchid {
		return fail(http.StatusForbidden, wechatpayv3.CodeNoAuth, "权限异常")
	}
	s.mu.Lock()
	file, ok := s.bills[c.r.URL.Query().Get("token")]
	if !ok { // the sandbox restarted since the application: build it again
		start, end, _ := chinatime.ParseDate(tok.Date)
		file, _ = s.buildBill(tok.MchID, tok.SubMchID, tok.Type, start, end)
	}
	s.mu.Unlock()
	if tok.Gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(file); err != nil {
			return fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误")
		}
		if err := zw.Close(); err != nil {
			return fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误")
		}
		return answer(rawBody{contentType: "application/x-gzip", data: buf.Bytes(), unsigned: true})
	}
	return answer(rawBody{contentType: "text/csv; charset=utf-8", data: file, unsigned: true})
}

// refundFees is the fee each succeeded refund gives back: the fee on its
// own amount, rounded half up, except for the refund that completes its
// order's refunds, which gives back what is left of the order's fee, so
// that an order refunded in full, in however many parts, costs the
// merchant no fee. Refunds count in the order they succeeded. Callers
// hold s.mu.
func (s *Simulator) refundFees() map[*Refund]int64 {
	byOrder := map[string][]*Refund{}
	for _, r := range s.refunds {
		if r.Status == RefundSuccess {
			byOrder[r.OrderKey] = append(byOrder[r.OrderKey], r)
		}
	}
	fees := make(map[*Refund]int64, len(s.refunds))
	for key, refunds := range byOrder {
		slices.SortFunc(refunds, func(a, b *Refund) int {
			if c := a.SuccessTime.Compare(b.SuccessTime); c != 0 {
				return c
			}
			return strings.Compare(a.Key, b.Key)
		})
		var total int64
		if o := s.orders[key]; o != nil {
			total = o.Total
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

// billRow is one line of a bill before formatting.
type billRow struct {
	at     time.Time
	order  *Order
	refund *Refund // nil for a payment row
	// Set only by bill faults (bill_faults.go):
	state    string // a payment row's 交易状态, if not SUCCESS
	feeDelta int64  // fen added to the size of the fee
}

// buildBill writes the trade bill of one Beijing day. Callers hold s.mu.
func (s *Simulator) buildBill(mchid, sub, typ string, start, end time.Time) ([]byte, int) {
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(start) && t.Before(end) }
	mine := func(o *Order) bool { return o.MchID == mchid && (sub == "" || o.SubMchID == sub) }
	var rows []billRow
	if typ != "REFUND" {
		for _, o := range s.orders {
			if mine(o) && in(o.SuccessTime) {
				rows = append(rows, billRow{at: o.SuccessTime, order: o})
			}
		}
	}
	if typ != "SUCCESS" {
		for _, r := range s.refunds {
			o := s.orders[r.OrderKey]
			if o != nil && mine(o) && r.Status == RefundSuccess && in(r.SuccessTime) {
				rows = append(rows, billRow{at: r.SuccessTime, order: o, refund: r})
			}
		}
	}
	rows = s.applyBillFaults(rows, mchid, sub, typ, start, end)
	slices.SortFunc(rows, func(a, b billRow) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.order.OutTradeNo, b.order.OutTradeNo)
	})

	feeBack := s.refundFees()
	var buf bytes.Buffer
	switch typ {
	case "ALL":
		buf.WriteString(billHeaderAll)
	case "SUCCESS":
		buf.WriteString(billHeaderSuccess)
	default:
		buf.WriteString(billHeaderRefund)
	}
	buf.WriteByte('\n')
	var settled, refunded, fees, orderTotal, refundAsked int64
	for _, row := range rows {
		o := row.order
		subCol := "0"
		if o.SubMchID != "" {
			subCol = o.SubMchID
		}
		common := []string{
			chinatime.DateTime(row.at), o.AppID, o.MchID, subCol, "", o.TransactionID, o.OutTradeNo,
			users.OpenID(o.PaidBy, o.AppID), o.TradeType,
		}
		var fields []string
		if row.refund == nil {
			fee := Fee(o.Total) + row.feeDelta
			state := "SUCCESS"
			if row.state != "" {
				state = row.state
			}
			settled += o.Total
			fees += fee
			orderTotal += o.Total
			fields = append(common, state, "OTHERS", "CNY", yuan(o.Total), "0.00")
			if typ == "ALL" {
				fields = append(fields, "0", "0", "0.00", "0.00", "", "")
			}
			fields = append(fields, billText(o.Desc), billText(o.Attach), feeYuan(fee), rate(), yuan(o.Total))
			if typ == "ALL" {
				fields = append(fields, "0.00")
			}
			fields = append(fields, "")
		} else {
			r := row.refund
			back, ok := feeBack[r]
			if !ok { // a row a bill fault made up or changed
				back = Fee(r.Amount)
			}
			fee := -(back + row.feeDelta)
			refunded += r.Amount
			fees += fee
			refundAsked += r.Amount
			if typ == "REFUND" {
				common[0] = chinatime.DateTime(o.SuccessTime)
			}
			fields = append(common, "REFUND", "OTHERS", "CNY", "0.00", "0.00")
			if typ == "REFUND" {
				fields = append(fields, chinatime.DateTime(r.CreatedAt), chinatime.DateTime(r.SuccessTime))
			}
			fields = append(fields, r.RefundID, r.OutRefundNo, yuan(r.Amount), "0.00", "ORIGINAL", r.Status,
				billText(o.Desc), billText(o.Attach), feeYuan(fee), rate(), "0.00", yuan(r.Amount), "")
		}
		writeBillLine(&buf, fields)
	}
	buf.WriteString(billSummaryHeader)
	buf.WriteByte('\n')
	writeBillLine(&buf, []string{
		fmt.Sprint(len(rows)), yuan(settled), yuan(refunded), "0.00", feeYuan(fees), yuan(orderTotal), yuan(refundAsked),
	})
	return buf.Bytes(), len(rows)
}

// writeBillLine prefixes every field with a backtick, as the platform does
// so that spreadsheets keep long numbers as text.
func writeBillLine(buf *bytes.Buffer, fields []string) {
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('`')
		buf.WriteString(f)
	}
	buf.WriteByte('\n')
}

// billText keeps free text from breaking the comma-separated layout.
func billText(s string) string {
	return strings.NewReplacer(",", "，", "\n", " ", "\r", " ", "`", "'").Replace(s)
}

// Fee is the channel fee on an amount: 0.60%, rounded half up to the fen.
func Fee(amount int64) int64 {
	return (amount*FeeRateBasisPoints + 5000) / 10000
}

func rate() string { return fmt.Sprintf("%d.%02d%%", FeeRateBasisPoints/100, FeeRateBasisPoints%100) }

// yuan writes fen as yuan with two decimals, exactly.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// feeYuan writes fees with five decimals, as the bill does.
func feeYuan(fen int64) string { return yuan(fen) + "000" }
