package alipay

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
)

var outTradeNoPattern = regexp.MustCompile(`^[0-9A-Za-z_]{1,64}$`)

// tradeParams reads and checks the fields that create a trade.
func (s *Simulator) tradeParams(c *call) (*Trade, *answer) {
	fail := func(a answer) (*Trade, *answer) { return nil, &a }
	get := func(name string) (string, *answer) {
		v, ok := c.bizString(name)
		if !ok {
			a := invalidParameter(name + " 应为字符串")
			return "", &a
		}
		return v, nil
	}
	t := &Trade{Method: c.method, SellerID: c.seller.PID, AuthAppID: c.seller.AppID, NotifyURL: c.notifyURL, ReturnURL: c.returnURL}
	var bad *answer
	if t.OutTradeNo, bad = get("out_trade_no"); bad != nil {
		return fail(*bad)
	}
	if t.OutTradeNo == "" {
		return fail(answer{result: alipayapi.Failure(alipayapi.CodeMissingArguments, "isv.missing-out-trade-no", "缺少参数 out_trade_no")})
	}
	if !outTradeNoPattern.MatchString(t.OutTradeNo) {
		return fail(invalidParameter("out_trade_no 应为 64 个字符以内的字母、数字、下划线"))
	}
	amount, bad := get("total_amount")
	if bad != nil {
		return fail(*bad)
	}
	if amount == "" {
		return fail(answer{result: alipayapi.Failure(alipayapi.CodeMissingArguments, "isv.missing-total-amount", "缺少参数 total_amount")})
	}
	fen, err := alipayapi.ParseYuan(amount)
	if err != nil {
		return fail(invalidParameter("total_amount: " + err.Error()))
	}
	t.Total = fen
	if t.Subject, bad = get("subject"); bad != nil {
		return fail(*bad)
	}
	if t.Subject == "" {
		return fail(answer{result: alipayapi.Failure(alipayapi.CodeMissingArguments, "isv.missing-subject", "缺少参数 subject")})
	}
	if utf8.RuneCountInString(t.Subject) > 256 {
		return fail(invalidParameter("subject 超过 256 个字符"))
	}
	if t.Body, bad = get("body"); bad != nil {
		return fail(*bad)
	}
	if t.Passback, bad = get("passback_params"); bad != nil {
		return fail(*bad)
	}
	if t.ProductCode, bad = get("product_code"); bad != nil {
		return fail(*bad)
	}
	for _, u := range []struct{ name, v string }{{"notify_url", t.NotifyURL}, {"return_url", t.ReturnURL}} {
		if u.v == "" {
			continue
		}
		if pu, err := url.Parse(u.v); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return fail(answer{result: alipayapi.Failure(alipayapi.CodeInvalidArguments, "isv.invalid-"+strings.ReplaceAll(u.name, "_", "-"), u.name+" 应为 http(s) 绝对地址")})
		}
	}
	timeout, bad := get("timeout_express")
	if bad != nil {
		return fail(*bad)
	}
	expire, bad := get("time_expire")
	if bad != nil {
		return fail(*bad)
	}
	now := s.now()
	switch {
	case expire != "":
		at, err := chinatime.ParseDateTime(expire)
		if err != nil {
			// wap.pay documents minutes only: yyyy-MM-dd HH:mm.
			at, err = time.ParseInLocation("2006-01-02 15:04", expire, chinatime.Location)
			at = at.UTC()
		}
		if err != nil {
			return fail(invalidParameter("time_expire 格式应为 yyyy-MM-dd HH:mm:ss"))
		}
		if !at.After(now) {
			return fail(invalidParameter("time_expire 应晚于当前时间"))
		}
		t.TimeExpire = at
	case timeout != "":
		at, err := parseTimeout(timeout, now)
		if err != nil {
			return fail(invalidParameter("timeout_express: " + err.Error()))
		}
		t.TimeExpire = at
	}
	return t, nil
}

// parseTimeout reads timeout_express: 1m–15d in m, h or d, or 1c (the end
// of today, Beijing time).
func parseTimeout(v string, now time.Time) (time.Time, error) {
	if v == "1c" {
		y, m, d := now.In(chinatime.Location).Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, chinatime.Location).UTC(), nil
	}
	if len(v) < 2 {
		return time.Time{}, errf("应为如 90m、2h、1d、1c 的值")
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n <= 0 {
		return time.Time{}, errf("应为如 90m、2h、1d、1c 的值")
	}
	var d time.Duration
	switch v[len(v)-1] {
	case 'm':
		d = time.Duration(n) * time.Minute
	case 'h':
		d = time.Duration(n) * time.Hour
	case 'd':
		d = time.Duration(n) * 24 * time.Hour
	default:
		return time.Time{}, errf("单位应为 m、h、d 或 1c")
	}
	if d < time.Minute || d > 15*24*time.Hour {
		return time.Time{}, errf("取值范围为 1m～15d")
	}
	return now.Add(d), nil
}

type simpleError string

func (e simpleError) Error() string { return string(e) }

func errf(s string) error { return simpleError(s) }

func fingerprint(t *Trade) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{
		t.Method, t.SellerID, t.OutTradeNo, strconv.FormatInt(t.Total, 10), t.Subject, t.Body, t.Buyer, t.ProductCode,
	}, "\x00")))
	return hex.EncodeToString(sum[:])
}

// openTrade creates t, or finds the trade an earlier identical request
// created. Callers hold s.mu.
func (s *Simulator) openTrade(t *Trade) (*Trade, *answer) {
	t.Key = tradeKey(t.SellerID, t.OutTradeNo)
	t.Fingerprint = fingerprint(t)
	if old, ok := s.trades[t.Key]; ok {
		s.expireIfDue(old)
		switch {
		case old.Status == StatusTradeClosed && !old.Scanned && old.Method == t.Method && old.Fingerprint == t.Fingerprint:
			// A code closed before anyone scanned it: Alipay answers the
			// same precreate again with its code, as if the trade were
			// open (merchants report precreate always answers a qr_code),
			// but the code stays closed: scanning it is refused
			// (closedBeforeScan) and queries still find no trade. Other
			// content under the out_trade_no is refused as closed, below.
			return old, nil
		case old.Status == StatusTradeSuccess || old.Status == StatusTradeFinished:
			a := businessFailed("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
			return nil, &a
		case old.Status == StatusTradeClosed:
			a := businessFailed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
			return nil, &a
		case old.Fingerprint != t.Fingerprint:
			a := businessFailed("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改: out_trade_no "+t.OutTradeNo+" 已用于另一笔交易")
			return nil, &a
		}
		return old, nil
	}
	now := s.now()
	t.TradeNo = now.In(chinatime.Location).Format("20060102") + "22001" + sandboxkeys.Digits(15)
	t.Status = StatusWaitBuyerPay
	t.CreatedAt = now
	if err := s.putTrade(t); err != nil {
		a := systemError()
		return nil, &a
	}
	return t, nil
}

func systemError() answer {
	return answer{result: alipayapi.Failure(alipayapi.CodeServiceUnavailable, "isp.unknow-error", "系统繁忙")}
}

func (s *Simulator) precreate(c *call) answer {
	t, bad := s.tradeParams(c)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.trades[tradeKey(t.SellerID, t.OutTradeNo)]; !ok || old.QRCode == "" {
		t.QRCode = "https://qr.alipay.com/bax0" + randomLower(21)
	}
	t, bad = s.openTrade(t)
	if bad != nil {
		return *bad
	}
	return success(map[string]string{"out_trade_no": t.OutTradeNo, "qr_code": t.QRCode})
}

// create is alipay.trade.create: a trade inside the wallet (mini program,
// in-app browser) for a known buyer.
func (s *Simulator) create(c *call) answer {
	t, bad := s.tradeParams(c)
	if bad != nil {
		return *bad
	}
	buyerID, _ := c.bizString("buyer_id")
	openID, _ := c.bizString("buyer_open_id")
	if buyerID == "" && openID == "" {
		return invalidParameter("buyer_id 和 buyer_open_id 不能同时为空")
	}
	u, found := s.userByBuyer(buyerID, openID, c.seller.AppID)
	if !found && openID != "" {
		u, found = s.userByBuyer("", openID, s.creds.AppID)
	}
	if !found {
		return businessFailed("ACQ.BUYER_NOT_EXIST", "买家不存在")
	}
	t.Buyer = u.ID
	t.Scanned = true
	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad = s.openTrade(t)
	if bad != nil {
		return *bad
	}
	return success(map[string]string{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo})
}

// pagePay is alipay.trade.page.pay and alipay.trade.wap.pay: the browser
// arrives with signed parameters and is sent on to the sandbox cashier.
func (s *Simulator) pagePay(c *call) answer {
	t, bad := s.tradeParams(c)
	if bad != nil {
		return *bad
	}
	t.Scanned = true
	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad = s.openTrade(t)
	if bad != nil {
		return *bad
	}
	return answer{redirect: s.cfg.BaseURL + "/phone/alipay/cashier?code=" + t.TradeNo}
}

// findTrade resolves out_trade_no or trade_no for the calling seller.
// Callers hold s.mu.
func (s *Simulator) findTrade(c *call) (*Trade, *answer) {
	outTradeNo, _ := c.bizString("out_trade_no")
	tradeNo, _ := c.bizString("trade_no")
	if outTradeNo == "" && tradeNo == "" {
		a := invalidParameter("out_trade_no 和 trade_no 不能同时为空")
		return nil, &a
	}
	var t *Trade
	if tradeNo != "" {
		t = s.byTradeNo[tradeNo]
	} else {
		t = s.trades[tradeKey(c.seller.PID, outTradeNo)]
	}
	if t == nil || t.SellerID != c.seller.PID || (outTradeNo != "" && t.OutTradeNo != outTradeNo) || !t.Scanned {
		a := businessFailed("ACQ.TRADE_NOT_EXIST", "交易不存在")
		return nil, &a
	}
	s.expireIfDue(t)
	return t, nil
}

type queryFields struct {
	TradeNo        string `json:"trade_no"`
	OutTradeNo     string `json:"out_trade_no"`
	BuyerLogonID   string `json:"buyer_logon_id,omitempty"`
	TradeStatus    string `json:"trade_status"`
	TotalAmount    string `json:"total_amount"`
	BuyerPayAmount string `json:"buyer_pay_amount,omitempty"`
	PointAmount    string `json:"point_amount,omitempty"`
	InvoiceAmount  string `json:"invoice_amount,omitempty"`
	ReceiptAmount  string `json:"receipt_amount,omitempty"`
	SendPayDate    string `json:"send_pay_date,omitempty"`
	BuyerUserID    string `json:"buyer_user_id,omitempty"`
	BuyerOpenID    string `json:"buyer_open_id,omitempty"`
	Subject        string `json:"subject,omitempty"`
	Body           string `json:"body,omitempty"`
	FundBillList   []fund `json:"fund_bill_list,omitempty"`
}

type fund struct {
	FundChannel string `json:"fund_channel"`
	Amount      string `json:"amount"`
}

func (s *Simulator) query(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad := s.findTrade(c)
	if bad != nil {
		return *bad
	}
	q := queryFields{
		TradeNo: t.TradeNo, OutTradeNo: t.OutTradeNo, TradeStatus: t.Status,
		TotalAmount: alipayapi.FormatYuan(t.Total), Subject: t.Subject, Body: t.Body,
	}
	if t.PaidBy != "" {
		paid := alipayapi.FormatYuan(t.Total)
		q.BuyerLogonID = LogonID(t.PaidBy)
		q.BuyerPayAmount, q.InvoiceAmount, q.ReceiptAmount, q.PointAmount = paid, paid, paid, "0.00"
		q.SendPayDate = chinatime.DateTime(t.PaidAt)
		q.BuyerUserID = BuyerID(t.PaidBy)
		q.BuyerOpenID = BuyerOpenID(t.PaidBy, t.AuthAppID)
		q.FundBillList = []fund{{FundChannel: "ALIPAYACCOUNT", Amount: paid}}
	}
	return success(q)
}

// closedBeforeScan is what the buyer's Alipay says on scanning a code the
// merchant closed (or that expired) before anyone scanned it.
const closedBeforeScan = "支付失败，本笔交易已关闭，请收银员重新收款"

// close is alipay.trade.close. A precreated code nobody has scanned is no
// trade yet, so Alipay answers ACQ.TRADE_NOT_EXIST, as before the scan;
// but it does remember the close: the code can no longer be paid (a scan
// is refused with closedBeforeScan), queries go on answering
// ACQ.TRADE_NOT_EXIST, and a precreate of the same out_trade_no answers
// the same, unpayable, code. That is what merchants observe of the real
// gateway (closing before the scan "locks" the code; the buyer is told
// 本笔交易已关闭); the docs only list ACQ.TRADE_NOT_EXIST for close.
func (s *Simulator) close(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.unscannedTrade(c); t != nil {
		if t.Status == StatusWaitBuyerPay {
			next := *t
			next.Status = StatusTradeClosed
			next.ClosedAt = s.now()
			if err := s.putTrade(&next); err != nil {
				return systemError()
			}
		}
		return businessFailed("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	t, bad := s.findTrade(c)
	if bad != nil {
		return *bad
	}
	switch t.Status {
	case StatusTradeClosed:
		return businessFailed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
	case StatusTradeSuccess, StatusTradeFinished:
		return businessFailed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	next := *t
	next.Status = StatusTradeClosed
	next.ClosedAt = s.now()
	if err := s.putTrade(&next); err != nil {
		return systemError()
	}
	return success(map[string]string{"trade_no": t.TradeNo, "out_trade_no": t.OutTradeNo})
}

// unscannedTrade is the calling seller's precreated trade that
// out_trade_no names, if nobody has scanned its code (nor was it found by
// trade_no, which the merchant cannot know yet). Callers hold s.mu.
func (s *Simulator) unscannedTrade(c *call) *Trade {
	outTradeNo, _ := c.bizString("out_trade_no")
	tradeNo, _ := c.bizString("trade_no")
	if outTradeNo == "" || tradeNo != "" {
		return nil
	}
	t := s.trades[tradeKey(c.seller.PID, outTradeNo)]
	if t == nil || t.Scanned {
		return nil
	}
	return t
}

// cancel is alipay.trade.cancel: an unpaid trade is closed, a paid one is
// refunded in full.
func (s *Simulator) cancel(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	outTradeNo, _ := c.bizString("out_trade_no")
	tradeNo, _ := c.bizString("trade_no")
	// Cancel reaches a precreated trade even before it is scanned.
	if t := s.trades[tradeKey(c.seller.PID, outTradeNo)]; t != nil && outTradeNo != "" && !t.Scanned {
		next := *t
		next.Scanned = true
		if err := s.putTrade(&next); err != nil {
			return systemError()
		}
	}
	t, bad := s.findTrade(c)
	if bad != nil {
		return *bad
	}
	_ = tradeNo
	action := "close"
	switch t.Status {
	case StatusTradeFinished:
		return businessFailed("ACQ.TRADE_HAS_FINISHED", "交易已完结")
	case StatusTradeClosed:
		if t.PaidBy != "" {
			action = "refund"
		}
	case StatusWaitBuyerPay:
		next := *t
		next.Status = StatusTradeClosed
		next.ClosedAt = s.now()
		if err := s.putTrade(&next); err != nil {
			return systemError()
		}
	case StatusTradeSuccess:
		action = "refund"
		if remaining := t.Total - t.Refunded; remaining > 0 {
			if _, bad := s.applyRefund(t, "CANCEL-"+t.OutTradeNo, remaining, "交易撤销"); bad != nil {
				return *bad
			}
		}
	}
	return success(map[string]string{"trade_no": t.TradeNo, "out_trade_no": t.OutTradeNo, "retry_flag": "N", "action": action})
}
