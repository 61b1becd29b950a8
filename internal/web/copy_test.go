package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/payforme"
	"github.com/hutong-pay/hutong/internal/payment"
)

// shopperTokens are the only Latin letters a shopper page may show
// besides links, fingerprints and share-code tokens (browsertest): ids
// that a person may be asked to quote, in the fixtures below.
var shopperTokens = []*regexp.Regexp{
	// The share code message is written by internal/sharecode, whose
	// brand tag is not this package's to change.
	regexp.MustCompile(`【互通】`),
}

// TestShopperPagesReadAsChinese renders every page template in each of its
// states and fails on English or half-width punctuation next to Chinese
// (browsertest.CopyProblems), on a raw state name, and on a title that
// repeats the error message.
func TestShopperPagesReadAsChinese(t *testing.T) {
	h := New(Config{})
	at := time.Date(2026, 12, 2, 12, 15, 0, 0, time.UTC) // 20:15 in Beijing
	p := payment.Payment{ID: "pay_1", MerchantID: "m_1", MerchantOrderID: "20261202000123", Amount: 1990, Currency: "CNY",
		Description: "豆浆油条", Status: payment.StatusRequiresAction, ExpiresAt: at.Add(15 * time.Minute),
		Buyer: payment.Buyer{ID: "buyer-1", Name: "张伟"}, Items: []payment.Item{{Title: "豆浆", Quantity: 2, Amount: 700}, {Title: "油条", Quantity: 3, Amount: 1290}}}
	paid := p
	paid.Status, paid.PaidAt, paid.PaidMethod, paid.Payer = payment.StatusSucceeded, at, channel.AlipayWap, &payment.Payer{IsBuyer: true}
	byFriend := paid
	byFriend.Payer = &payment.Payer{PayForMe: "pfm_1"}
	closed := p
	closed.Status = payment.StatusCanceled
	pfm := &payforme.PayForMe{ID: "pfm_1", PaymentID: "pay_1", Status: "open", Note: "帮我付一下，谢谢！"}
	desktop := []methodChoice{{channel.WeChatNative, methodTitle(channel.WeChatNative), "wechatpay"}, {channel.AlipayQR, methodTitle(channel.AlipayQR), "alipay"}}
	phone := []methodChoice{{channel.WeChatH5, methodTitle(channel.WeChatH5), "wechatpay"}, {channel.AlipayWap, methodTitle(channel.AlipayWap), "alipay"}}
	qr := &payment.Attempt{ID: "pa_1", Method: channel.WeChatNative, Channel: "wechatpay", Status: payment.AttemptPending,
		NextAction: &channel.Action{Type: "qr_code", QRCode: "weixin://wxpay/bizpayurl?pr=abc123"}}
	alipayQR := &payment.Attempt{ID: "pa_2", Method: channel.AlipayQR, Channel: "alipay", Status: payment.AttemptPending,
		NextAction: &channel.Action{Type: "qr_code", QRCode: "https://qr.alipay.com/bax01234"}}
	jsapi := &payment.Attempt{ID: "pa_3", Method: channel.WeChatJSAPI, Channel: "wechatpay", Status: payment.AttemptPending}
	agreement := contract.Agreement{Channel: "wechatpay", Version: 2, Title: "微信支付开通服务协议", Body: "第一条 商户同意通过平台接入微信支付。",
		TextSHA256: strings.Repeat("ab", 32)}
	signing := func(state string, sig *contract.Signature) *onboarding.SigningPage {
		return &onboarding.SigningPage{Contract: onboarding.ContractView{Contract: contract.Contract{ID: "ct_1", Channel: "wechatpay", State: state, Signature: sig}},
			Merchant: merchant.Merchant{ID: "m_1", Name: "城市服饰"}, Agreement: agreement}
	}
	signed := &contract.Signature{Version: 2, TextHash: agreement.TextSHA256, Signer: "王经理", At: at}
	share := "【互通】复制这条消息 ￥AB23CD45EF6￥ 打开付款页查看「豆浆油条」"

	pages := []struct {
		name, tmpl string
		v          view
		want       []string
	}{
		{"cashier on a computer", "cashier.html", view{Title: "收银台", Payment: p, Merchant: "县城超市", Methods: desktop}, []string{"选择支付方式", "微信扫码支付", "请在 2026年12月2日 20:30 前付款"}},
		{"cashier on a phone", "cashier.html", view{Title: "收银台", Payment: p, Merchant: "县城超市", Methods: phone, Mobile: true}, []string{"打开微信支付"}},
		{"cashier with no method", "cashier.html", view{Title: "收银台", Payment: p, Merchant: "县城超市", Error: "这笔订单暂时没有可用的支付方式。"}, nil},
		{"cashier showing WeChat's code", "cashier.html", view{Title: "收银台", Payment: p, Merchant: "县城超市", Attempt: qr, Phone: "http://127.0.0.1:8071/phone/u/buyer-zhang/order?wallet=wechatpay"}, []string{"请用微信扫一扫", "在沙箱手机上扫码"}},
		{"cashier showing Alipay's code", "cashier.html", view{Title: "收银台", Payment: p, Merchant: "县城超市", Attempt: alipayQR}, []string{"请用支付宝扫一扫"}},
		{"pay-for-me", "cashier.html", view{Title: "帮朋友付款", Payment: p, Merchant: "县城超市", Methods: phone, Mobile: true, PayForMe: pfm, Buyer: MaskName("张伟")}, []string{"张* 请你帮忙付款：“帮我付一下，谢谢！”"}},
		{"in WeChat", "wallet.html", view{Title: "确认付款", Payment: p, Merchant: "县城超市", Attempt: jsapi, Channel: "wechatpay"}, []string{"使用微信支付"}},
		{"in Alipay", "wallet.html", view{Title: "确认付款", Payment: p, Merchant: "县城超市", Channel: "alipay"}, []string{"使用支付宝支付"}},
		{"paid", "done.html", view{Title: "支付结果", Payment: paid, Merchant: "县城超市", Return: "https://shop.example/back?hutong_sig=x"}, []string{"支付成功", "2026年12月2日 20:15", "返回商户", "说说这次付款的感受"}},
		{"paid by a friend", "done.html", view{Title: "支付结果", Payment: byFriend, Merchant: "县城超市"}, []string{"已由朋友代付"}},
		{"a friend paid here", "done.html", view{Title: "支付结果", Payment: byFriend, Merchant: "县城超市", PayForMe: pfm, Buyer: "张*", PaidHere: true}, []string{"你已帮 张* 付款 ¥19.90"}},
		{"someone else paid", "done.html", view{Title: "支付结果", Payment: byFriend, Merchant: "县城超市", PayForMe: pfm, Buyer: "张*"}, []string{"你无需再付"}},
		{"waiting", "done.html", view{Title: "支付结果", Payment: p, Merchant: "县城超市"}, []string{"正在确认付款"}},
		{"closed", "done.html", view{Title: "支付结果", Payment: closed, Merchant: "县城超市", Return: "https://shop.example/back"}, []string{"订单已关闭"}},
		{"feedback", "feedback.html", view{Title: "评价", Payment: paid, Merchant: "县城超市", Stars: []int{5, 4, 3, 2, 1}}, []string{"你觉得用支付宝付款怎么样？", "5 星"}},
		{"feedback refused", "feedback.html", view{Title: "评价", Payment: paid, Merchant: "县城超市", Stars: []int{5, 4, 3, 2, 1}, Error: feedbackRefusal(&payment.FieldError{Param: "rating"})}, []string{"请选择 1 到 5 星。"}},
		{"feedback thanks", "feedback.html", view{Title: "评价", Payment: paid, Merchant: "县城超市", Thanks: true}, []string{"谢谢你的反馈"}},
		{"share page", "share.html", view{Title: "打开分享口令", Text: share}, []string{"打开分享口令"}},
		{"share refused", "share.html", view{Title: "打开分享口令", Text: "你好", Error: "没有找到口令：请粘贴包含 ￥口令￥ 的整段消息。"}, nil},
		{"store code", "store.html", view{Title: "县城超市", Store: "县城超市", StoreID: "m_1"}, []string{"付款金额（元）"}},
		{"store code refused", "store.html", view{Title: "县城超市", Store: "县城超市", StoreID: "m_1", Amount: "abc", Error: "请输入付款金额，例如 12.50。"}, nil},
		{"signing", "sign.html", view{Title: signTitle("wechatpay"), Brand: "商户签约", Merchant: "城市服饰", Signing: signing(contract.Invited, nil), Text: "tok"}, []string{"签署微信支付开通协议", "已邀请，待签署", "我已阅读并同意以上协议"}},
		{"signing refused", "sign.html", view{Title: signTitle("wechatpay"), Brand: "商户签约", Merchant: "城市服饰", Signing: signing(contract.Invited, nil), Text: "tok", Error: signRefusal(&payment.FieldError{Param: "agreement"})}, []string{"协议在你阅读时更新了"}},
		{"signed", "sign.html", view{Title: signTitle("wechatpay"), Brand: "商户签约", Merchant: "城市服饰", Signing: signing(contract.Signed, signed)}, []string{"王经理 于 2026年12月2日 20:15（北京时间）签署了第 2 版", "已签署"}},
		{"under review", "sign.html", view{Title: signTitle("wechatpay"), Brand: "商户签约", Signing: signing(contract.Submitted, signed)}, []string{"审核中"}},
		{"active", "sign.html", view{Title: signTitle("wechatpay"), Brand: "商户签约", Signing: signing(contract.Active, signed)}, []string{"已开通"}},
		{"rate limited", "error.html", view{Title: "操作太频繁", Error: "操作太频繁，请 3 秒后再试。", Back: "/pay/pay_1"}, []string{"返回付款页"}},
		{"pay-for-me ended", "error.html", view{Title: "代付已结束", Error: pfmEnded("revoked")}, []string{"这个代付请求已被撤销。"}},
	}
	for _, c := range pages {
		w := httptest.NewRecorder()
		h.render(w, 200, c.tmpl, c.v)
		page := w.Body.String()
		if !strings.Contains(page, "</html>") {
			t.Errorf("%s: the page did not render:\n%s", c.name, page)
			continue
		}
		for _, problem := range browsertest.CopyProblems(page, shopperTokens...) {
			t.Errorf("%s: %s", c.name, problem)
		}
		text := browsertest.VisibleText(page)
		words := regexp.MustCompile(`[a-z]+://\S+`).ReplaceAllString(text, " ")
		for _, want := range c.want {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the page does not say %q:\n%s", c.name, want, text)
			}
		}
		for _, raw := range []string{"requires_action", "succeeded", "canceled", "invited", "submitted", "wechatpay", "alipay"} {
			if regexp.MustCompile(`\b` + raw + `\b`).MatchString(words) {
				t.Errorf("%s: the page shows the raw name %q", c.name, raw)
			}
		}
		if c.v.Error != "" && strings.Count(text, c.v.Error) != 1 {
			t.Errorf("%s: the message %q is shown %d times", c.name, c.v.Error, strings.Count(text, c.v.Error))
		}
	}
}

// TestErrorPageSaysItOnce: an error page shows its message once, in the
// body (the title is the page's name), with a way back.
func TestErrorPageSaysItOnce(t *testing.T) {
	h := New(Config{})
	w := httptest.NewRecorder()
	h.fail(w, 404, "没有找到这笔订单。", "no such payment")
	page := w.Body.String()
	if n := strings.Count(page, "没有找到这笔订单"); n != 1 {
		t.Errorf("the message appears %d times:\n%s", n, page)
	}
	if !strings.Contains(page, "data-back") || strings.Contains(page, "no such payment") {
		t.Errorf("an error page without a way back, or with the log's English:\n%s", page)
	}
}

// TestMessagesReadAsChinese reads every string literal of the pages' Go
// code that holds Chinese (the messages handlers put on pages) with the
// same check: English goes to the log in literals of its own.
func TestMessagesReadAsChinese(t *testing.T) {
	fset := token.NewFileSet()
	for _, file := range []string{"web.go", "limits.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
				return true
			}
			// Format verbs and Go's time layout are not copy.
			s = regexp.MustCompile(`%[0-9]*[dsqv]`).ReplaceAllString(s, "1")
			for _, problem := range browsertest.CopyProblems(strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(s)) {
				t.Errorf("%s: %s", fset.Position(lit.Pos()), problem)
			}
			return true
		})
	}
}
