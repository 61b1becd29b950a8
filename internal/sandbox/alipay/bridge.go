package alipay

import (
	"net/url"
	"strings"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
)

// The payment inside Alipay: a page calls AlipayJSBridge.call('tradePay',
// {tradeNO}) with the trade_no of an alipay.trade.create. The sandbox's
// bridge.js sends that call to bridgePath with the page's return_url; the
// link is the trade's code on the phone pages from then on.

// bridgePath is where bridge.js sends tradePay.
const bridgePath = "/phone/alipay/jsapi"

// The results bridge.js's caller finds in its URL's fragment: tradePay's
// resultCode.
const (
	bridgeOK     = "alipay=9000"
	bridgeCancel = "alipay=6001"
	bridgeFail   = "alipay=4000"
)

// bridgeCall is a tradePay call, its form checked.
type bridgeCall struct {
	TradeNo string
	Return  *url.URL
}

func badCall(format string, args ...any) error {
	return phone.Refuse(phone.ErrBadCall, format, args...)
}

// parseBridgeCall checks the form of a call (the query of a bridge link):
// tradeNO and return_url present once, return_url absolute http(s).
func parseBridgeCall(rawQuery string) (bridgeCall, error) {
	var c bridgeCall
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return c, badCall("参数无法解析 (the parameters do not parse): %v", err)
	}
	for _, k := range []string{"tradeNO", "return_url"} {
		if len(q[k]) > 1 {
			return c, badCall("参数 %s 出现了不止一次 (%s is given more than once)", k, k)
		}
	}
	ret := q.Get("return_url")
	if ret == "" {
		return c, badCall("缺少 return_url：请用沙箱的 bridge.js 发起支付 (return_url is missing: call through the sandbox's bridge.js)")
	}
	var ok bool
	if c.Return, ok = phone.HTTPURL(ret); !ok {
		return c, badCall("return_url 应为 http(s) 绝对地址 (return_url must be an absolute http(s) URL): %q", truncate(ret, 200))
	}
	if c.TradeNo = q.Get("tradeNO"); c.TradeNo == "" {
		return c, badCall("tradePay 缺少参数 tradeNO：应为 alipay.trade.create 返回的 trade_no (tradeNO is missing: the trade_no alipay.trade.create returned)")
	}
	if len(c.TradeNo) > 64 {
		return c, badCall("tradeNO 超过 64 个字符 (tradeNO is longer than 64 characters)")
	}
	return c, nil
}

// bridgeLink reports whether code is a bridge link and, if so, checks its
// call.
func bridgeLink(code string) (bridgeCall, bool, error) {
	u, err := url.Parse(strings.TrimSpace(code))
	if err != nil || u.Path != bridgePath {
		return bridgeCall{}, false, nil
	}
	c, err := parseBridgeCall(u.RawQuery)
	return c, true, err
}

// checkBridgeCall finds the call's trade: one alipay.trade.create made.
// Callers hold s.mu.
func (s *Simulator) checkBridgeCall(c bridgeCall) (*Trade, error) {
	t := s.byTradeNo[c.TradeNo]
	if t == nil {
		return nil, phone.Refuse(phone.ErrUnknownCode, "找不到交易 %s：tradeNO 不存在或不是这个沙箱创建的 (no trade has this tradeNO)", truncate(c.TradeNo, 64))
	}
	if t.Method != "alipay.trade.create" {
		return nil, badCall("交易 %s 由 %s 创建；tradePay 只支付 alipay.trade.create 创建的交易 (tradePay pays trades made by alipay.trade.create only)", t.TradeNo, t.Method)
	}
	return t, nil
}

// FailURL is where a refused call sends the browser back: its return_url
// with #alipay=4000.
func (phoneWallet) FailURL(link string) string {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil {
		return ""
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil || len(q["return_url"]) != 1 {
		return ""
	}
	ret, ok := phone.HTTPURL(q.Get("return_url"))
	if !ok {
		return ""
	}
	return phone.WithFragment(ret, bridgeFail)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
