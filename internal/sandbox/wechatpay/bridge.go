package wechatpay

import (
	"net/url"
	"strings"

	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// The JSAPI payment inside WeChat: a page calls
// WeixinJSBridge.invoke('getBrandWCPayRequest', {appId, timeStamp,
// nonceStr, package: 'prepay_id=…', signType: 'RSA', paySign}). The
// sandbox's bridge.js sends that call to bridgePath with the page's
// return_url; the link is the order's code on the phone pages from then on.

// bridgePath is where bridge.js sends getBrandWCPayRequest.
const bridgePath = "/phone/wechatpay/jsapi"

// The results bridge.js's caller finds in its URL's fragment, as
// getBrandWCPayRequest's err_msg would say get_brand_wcpay_request:ok.
const (
	bridgeOK     = "wechatpay=ok"
	bridgeCancel = "wechatpay=cancel"
	bridgeFail   = "wechatpay=fail"
)

// bridgeCall is a getBrandWCPayRequest call, its form checked.
type bridgeCall struct {
	AppID, TimeStamp, NonceStr, Package, SignType, PaySign string
	PrepayID                                               string
	Return                                                 *url.URL
}

// message is what paySign signs.
func (c bridgeCall) message() []byte {
	return []byte(c.AppID + "\n" + c.TimeStamp + "\n" + c.NonceStr + "\n" + c.Package + "\n")
}

var bridgeParams = []string{"appId", "timeStamp", "nonceStr", "package", "signType", "paySign", "return_url"}

func badCall(format string, args ...any) error {
	return phone.Refuse(phone.ErrBadCall, format, args...)
}

// parseBridgeCall checks the form of a call (the query of a bridge link):
// every parameter present once, return_url absolute http(s), package
// naming a prepay id, signType RSA. It does not look at orders or keys.
func parseBridgeCall(rawQuery string) (bridgeCall, error) {
	var c bridgeCall
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return c, badCall("参数无法解析 (the parameters do not parse): %v", err)
	}
	for _, k := range bridgeParams {
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
	c.AppID, c.TimeStamp, c.NonceStr = q.Get("appId"), q.Get("timeStamp"), q.Get("nonceStr")
	c.Package, c.SignType, c.PaySign = q.Get("package"), q.Get("signType"), q.Get("paySign")
	for _, p := range []struct{ name, v string }{
		{"appId", c.AppID}, {"timeStamp", c.TimeStamp}, {"nonceStr", c.NonceStr},
		{"package", c.Package}, {"signType", c.SignType}, {"paySign", c.PaySign},
	} {
		if p.v == "" {
			return c, badCall("getBrandWCPayRequest 缺少参数 %s (%s is missing)", p.name, p.name)
		}
	}
	if len(c.TimeStamp) > 20 || strings.Trim(c.TimeStamp, "0123456789") != "" {
		return c, badCall("timeStamp 应为秒级时间戳的数字字符串 (timeStamp must be the seconds since 1970, as a string of digits): %q", truncate(c.TimeStamp, 40))
	}
	if len(c.NonceStr) > 32 {
		return c, badCall("nonceStr 不能超过 32 个字符 (nonceStr is at most 32 characters)")
	}
	id, found := strings.CutPrefix(c.Package, "prepay_id=")
	if !found || !isPrepayID(id) {
		return c, badCall("package 应为 prepay_id=<JSAPI 下单返回的 prepay_id> (package must be prepay_id=<the prepay_id of a JSAPI prepay>): %q", truncate(c.Package, 80))
	}
	c.PrepayID = id
	if c.SignType != "RSA" {
		return c, badCall("signType 应为 RSA：API v3 的 JSAPI 支付用 RSA 签名 (signType must be RSA for API v3): %q", truncate(c.SignType, 40))
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

// checkBridgeCall finds the call's order and verifies paySign with the
// merchant's key, as WeChat does before showing the payment sheet.
// Callers hold s.mu.
func (s *Simulator) checkBridgeCall(c bridgeCall) (*Order, error) {
	o := s.byPrepay[c.PrepayID]
	if o == nil {
		return nil, phone.Refuse(phone.ErrUnknownCode, "找不到预支付交易 %s：prepay_id 不存在或不是这个沙箱下的单 (no order has this prepay_id)", c.PrepayID)
	}
	if o.TradeType != TradeJSAPI {
		return nil, badCall("这笔订单是 %s 下单，getBrandWCPayRequest 只能支付 JSAPI 下单的订单 (getBrandWCPayRequest pays JSAPI orders only; this one is %s)", o.TradeType, o.TradeType)
	}
	if c.AppID != o.AppID && (o.SubAppID == "" || c.AppID != o.SubAppID) {
		return nil, badCall("appId %s 不是下单时的 appid %s (appId is not the appid the order was placed with)", truncate(c.AppID, 40), o.AppID)
	}
	if err := wechatpayv3.Verify(s.keys.merchantPub, c.message(), c.PaySign); err != nil {
		return nil, badCall(`paySign 验签失败：应为商户 API 私钥对 "appId\ntimeStamp\nnonceStr\npackage\n" 的 SHA256 with RSA 签名，Base64 编码 (paySign does not verify: it must be the merchant key's SHA256-with-RSA signature, in Base64, of appId\ntimeStamp\nnonceStr\npackage\n)`)
	}
	return o, nil
}

// FailURL is where a refused call sends the browser back: its return_url
// with #wechatpay=fail.
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
