package phone_test

// Browser tests: a person's click-through in real headless Chromium. They
// need Chromium; without it they skip, unless HUTONG_BROWSER_TESTS=1 (as in
// CI) makes them mandatory.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	alipaysdk "github.com/smartwalle/alipay/v3"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"

	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// browser starts headless Chromium for one test, phone-sized; see
// internal/browsertest for when it skips.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Start(t, "phone", browsertest.Options{}).Ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.SaveScreenshot(t, ctx, name)
}

func TestBrowserWeChatNativeQR(t *testing.T) {
	ctx := browser(t)
	e := sandboxtest.Start(t)
	no, code, client := nativeOrder(t, e, 1234, "https://merchant.example/notify")

	// The merchant shows a QR code; the person saves it and "scans" it by
	// uploading the picture on the phone page.
	matrix, err := qrcode.NewQRCodeWriter().Encode(code, gozxing.BarcodeFormat_QR_CODE, 300, 300, nil)
	if err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	if err := png.Encode(&img, matrix); err != nil {
		t.Fatal(err)
	}
	qrFile := filepath.Join(t.TempDir(), "wechat-qr.png")
	if err := os.WriteFile(qrFile, img.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	var amount, merchantText, tradeNo string
	err = steps(ctx,
		step{"open the phone as 李娜", chromedp.Navigate(e.URL + "/phone/u/buyer-li?wallet=wechatpay")},
		step{"see the scan form", chromedp.WaitVisible(chromedp.CSS(`#image`))},
		step{"choose the QR picture", chromedp.SetUploadFiles(chromedp.CSS(`#image`), []string{qrFile})},
		step{"tap 识别", browsertest.Click(chromedp.CSS(`form[action$="/scan"] button[type=submit]`))},
		step{"see the order", chromedp.WaitVisible(chromedp.CSS(`[data-amount]`))},
		step{"read the amount", textInto(`[data-amount]`, &amount)},
		step{"read the merchant", textInto(`.order small`, &merchantText)},
		step{"type the PIN", chromedp.SendKeys(chromedp.CSS(`#pin`), "123456")},
		step{"tap 确认支付", browsertest.Click(chromedp.CSS(`[data-confirm]`))},
		step{"see success", chromedp.WaitVisible(chromedp.CSS(`[data-trade-no]`))},
		step{"read the trade number", textInto(`[data-trade-no]`, &tradeNo)},
	)
	if err != nil {
		screenshot(t, ctx, "wechat-native-failed.png")
		t.Fatalf("click-through: %v", err)
	}
	screenshot(t, ctx, "wechat-native-paid.png")
	if amount != "¥12.34" || merchantText != "hutong 沙箱商户" || !strings.HasPrefix(tradeNo, "4200") {
		t.Fatalf("the page showed amount %q, merchant %q, trade %q", amount, merchantText, tradeNo)
	}
	// The merchant sees it paid through the official SDK.
	tx, _, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(context.Background(), native.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String(no), Mchid: core.String(e.Credentials().MchID),
	})
	if err != nil || *tx.TradeState != "SUCCESS" || *tx.TransactionId != tradeNo {
		t.Fatalf("merchant's query: %v %+v", err, tx)
	}
}

// TestBrowserWeChatNativePaste is the README's walk-through: open the
// phone, pick a user, switch to another, paste the code_url, confirm.
func TestBrowserWeChatNativePaste(t *testing.T) {
	ctx := browser(t)
	e := sandboxtest.Start(t)
	no, code, client := nativeOrder(t, e, 2580, "https://merchant.example/notify")
	before := balance(t, e, "buyer-wang", "wechatpay")

	var header, balanceText, amount, merchantText, tradeNo, payer string
	err := steps(ctx,
		step{"open the phone", chromedp.Navigate(e.URL + "/phone/")},
		step{"pick 张伟's WeChat", browsertest.Click(chromedp.CSS(`a[href="/phone/u/buyer-zhang?wallet=wechatpay"]`))},
		step{"see 张伟's wallet", chromedp.WaitVisible(chromedp.CSS(`[data-balance]`))},
		// SetValue fires the select's change event, as a person's choice does.
		step{"choose 王芳 in the header", chromedp.SetValue(chromedp.CSS(`[data-user-switch]`), "buyer-wang")},
		step{"see 王芳's wallet", chromedp.WaitVisible(chromedp.CSS(`form[action$="/phone/u/buyer-wang/scan"]`))},
		step{"read the wallet", textInto(`.balance small`, &header)},
		step{"read the balance", textInto(`[data-balance]`, &balanceText)},
		step{"paste the code", chromedp.SendKeys(chromedp.CSS(`#code`), code)},
		step{"tap 识别", browsertest.Click(chromedp.CSS(`form[action$="/scan"] button[type=submit]`))},
		step{"see the order", chromedp.WaitVisible(chromedp.CSS(`[data-amount]`))},
		step{"read the amount", textInto(`[data-amount]`, &amount)},
		step{"read the merchant", textInto(`.order small`, &merchantText)},
		step{"read the payer", textInto(`.order .hint`, &payer)},
		step{"type the PIN", chromedp.SendKeys(chromedp.CSS(`#pin`), "123456")},
		step{"tap 确认支付", browsertest.Click(chromedp.CSS(`[data-confirm]`))},
		step{"see success", chromedp.WaitVisible(chromedp.CSS(`[data-trade-no]`))},
		step{"read the trade number", textInto(`[data-trade-no]`, &tradeNo)},
	)
	if err != nil {
		screenshot(t, ctx, "wechat-paste-failed.png")
		t.Fatalf("click-through: %v", err)
	}
	screenshot(t, ctx, "wechat-paste-paid.png")
	if header != "王芳 的微信支付余额" || balanceText != phone.Yuan(before) {
		t.Fatalf("after switching the page shows %q %q", header, balanceText)
	}
	if amount != "¥25.80" || merchantText != "hutong 沙箱商户" || !strings.Contains(payer, "付款人 王芳") {
		t.Fatalf("the order page showed amount %q, merchant %q, payer %q", amount, merchantText, payer)
	}
	tx, _, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(context.Background(), native.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String(no), Mchid: core.String(e.Credentials().MchID),
	})
	if err != nil || *tx.TradeState != "SUCCESS" || *tx.TransactionId != tradeNo || *tx.Amount.PayerTotal != 2580 {
		t.Fatalf("merchant's query: %v %+v", err, tx)
	}
	if got := balance(t, e, "buyer-wang", "wechatpay"); got != before-2580 {
		t.Fatalf("王芳's balance %d, want %d", got, before-2580)
	}
}

// TestBrowserWeChatH5Return: a merchant's mobile page sends the browser to
// h5_url with its redirect_url; after paying, the browser is back on the
// merchant's page, which asks WeChat Pay (through the SDK) how it went.
func TestBrowserWeChatH5Return(t *testing.T) {
	ctx := browser(t)
	e := sandboxtest.Start(t)
	_, _, client := nativeOrder(t, e, 1, "https://merchant.example/notify")
	var no string
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		tx, _, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(r.Context(), native.QueryOrderByOutTradeNoRequest{
			OutTradeNo: core.String(r.URL.Query().Get("order")), Mchid: core.String(e.Credentials().MchID),
		})
		if err != nil {
			fmt.Fprintf(w, `<p id="result">查询失败: %v</p>`, err)
			return
		}
		fmt.Fprintf(w, `<p id="result">订单 %s %s</p>`, *tx.OutTradeNo, *tx.TradeState)
	}))
	defer merchant.Close()
	back := merchant.URL + "/paid?order="
	h5, no := h5Order(t, e, "")
	h5 = strings.TrimSuffix(h5, "&redirect_url=") + "&redirect_url=" + url.QueryEscape(back+no)

	var amount, returnHref, result string
	err := steps(ctx,
		step{"follow the merchant's h5_url", chromedp.Navigate(h5)},
		step{"land on the order", chromedp.WaitVisible(chromedp.CSS(`[data-amount]`))},
		step{"read the amount", textInto(`[data-amount]`, &amount)},
		step{"type the PIN", chromedp.SendKeys(chromedp.CSS(`#pin`), "123456")},
		step{"tap 确认支付", browsertest.Click(chromedp.CSS(`[data-confirm]`))},
		step{"see success", chromedp.WaitVisible(chromedp.CSS(`[data-return]`))},
		step{"read 返回商家", hrefInto(`[data-return]`, &returnHref)},
	)
	if err != nil {
		screenshot(t, ctx, "wechat-h5-failed.png")
		t.Fatalf("click-through: %v", err)
	}
	screenshot(t, ctx, "wechat-h5-paid.png")
	if amount != "¥1.99" || returnHref != back+no {
		t.Fatalf("amount %q, 返回商家 goes to %q", amount, returnHref)
	}
	err = steps(ctx,
		step{"arrive back at the merchant", chromedp.WaitVisible(chromedp.CSS(`#result`))},
		step{"read the merchant's page", textInto(`#result`, &result)},
	)
	if err != nil {
		screenshot(t, ctx, "wechat-h5-return-failed.png")
		t.Fatalf("return: %v", err)
	}
	screenshot(t, ctx, "wechat-h5-returned.png")
	if result != "订单 "+no+" SUCCESS" {
		t.Fatalf("merchant's page: %q", result)
	}
}

func TestBrowserAlipayWapPayAndReturn(t *testing.T) {
	ctx := browser(t)
	e := sandboxtest.Start(t)
	c := e.Sandbox().Credentials().Alipay
	client, err := alipaysdk.New(c.AppID, c.AppPrivateKey, true,
		alipaysdk.WithProductionGateway(e.URL+"/gateway.do"), alipaysdk.WithTimeLocation(chinatime.Location))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.LoadAliPayPublicKey(c.AlipayPublicKey); err != nil {
		t.Fatal(err)
	}

	// The merchant's return page verifies the synchronous return with the SDK.
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page := `<p id="result">商家已确认 ` + r.URL.Query().Get("out_trade_no") + ` ` + r.URL.Query().Get("total_amount") + `</p>`
		if err := client.VerifySign(r.URL.Query()); err != nil {
			page = `<p id="result">签名无效: ` + err.Error() + `</p>`
		}
		if _, err := io.WriteString(w, page); err != nil {
			t.Errorf("the merchant's return page: %v", err)
		}
	}))
	defer merchant.Close()

	no := outTradeNo("WAP")
	p := alipaysdk.TradeWapPay{}
	p.OutTradeNo, p.Subject, p.TotalAmount, p.ProductCode, p.ReturnURL = no, "手机网站支付 · 县城包邮", "66.60", "QUICK_WAP_WAY", merchant.URL+"/return"
	link, err := client.TradeWapPay(p)
	if err != nil {
		t.Fatal(err)
	}
	var amount, result string
	err = steps(ctx,
		step{"open the merchant's pay link", chromedp.Navigate(link.String())},
		step{"land on the cashier", chromedp.WaitVisible(chromedp.CSS(`[data-amount]`))},
		step{"read the amount", textInto(`[data-amount]`, &amount)},
		step{"type the PIN", chromedp.SendKeys(chromedp.CSS(`#pin`), "123456")},
		step{"tap 确认支付", browsertest.Click(chromedp.CSS(`[data-confirm]`))},
		step{"see success", chromedp.WaitVisible(chromedp.CSS(`[data-return]`))},
	)
	if err != nil {
		screenshot(t, ctx, "alipay-wap-failed.png")
		t.Fatalf("click-through: %v", err)
	}
	screenshot(t, ctx, "alipay-wap-paid.png")
	// The page goes back to the merchant by itself.
	err = steps(ctx,
		step{"arrive back at the merchant", chromedp.WaitVisible(chromedp.CSS(`#result`))},
		step{"read the merchant's page", textInto(`#result`, &result)},
	)
	if err != nil {
		screenshot(t, ctx, "alipay-wap-return-failed.png")
		t.Fatalf("return: %v", err)
	}
	screenshot(t, ctx, "alipay-wap-returned.png")
	if amount != "¥66.60" || result != "商家已确认 "+no+" 66.60" {
		t.Fatalf("amount %q, merchant page %q", amount, result)
	}
	q, err := client.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: no})
	if err != nil || q.TradeStatus != alipaysdk.TradeStatusSuccess {
		t.Fatalf("merchant's query: %v %+v", err, q)
	}
}

// textInto reads an element's text into dst, as one step of a Do.
func textInto(sel string, dst *string) chromedp.Action[chromedp.Void] {
	return browsertest.Text(sel, dst)
}

func hrefInto(sel string, dst *string) chromedp.Action[chromedp.Void] {
	return browsertest.Attr(sel, "href", dst)
}

// step is one thing a person does, named for the failure message.
type step struct {
	name   string
	action chromedp.Action[chromedp.Void]
}

// steps runs steps in order, each within 20 s, and names the one that fails.
func steps(ctx context.Context, all ...step) error {
	for _, s := range all {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := chromedp.Do(sctx, s.action)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// cashierPage is a merchant's page in the wallet's in-app browser: it loads
// the sandbox's bridge.js (async, so the page meets the bridge through its
// ready event, as in the apps) and pays when #pay is tapped. #result shows
// what came back in the URL's fragment.
func cashierPage(sandboxURL, script string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>收银台</title>
<script async src="%s/phone/static/bridge.js"></script></head>
<body><p id="result"></p><button id="pay" disabled>支付</button>
<script>
var result = document.getElementById("result"), button = document.getElementById("pay");
result.textContent = location.hash ? location.hash.slice(1) : "unpaid";
%s
</script></body></html>`, sandboxURL, script)
	}))
}

func locationInto(dst *string) chromedp.Action[chromedp.Void] { return browsertest.Location(dst) }

// TestBrowserWeChatBridge: a JSAPI cashier page calls
// WeixinJSBridge.invoke('getBrandWCPayRequest') with the parameters the
// official SDK signed; the person pays with the PIN on the sandbox phone and
// lands back on the page with #wechatpay=ok, the order paid.
func TestBrowserWeChatBridge(t *testing.T) {
	ctx := browser(t)
	e := sandboxtest.Start(t)
	no, p, svc := jsapiOrder(t, e, 1688, "buyer-li")
	params, err := json.Marshal(map[string]string{"appId": *p.Appid, "timeStamp": *p.TimeStamp, "nonceStr": *p.NonceStr,
		"package": *p.Package, "signType": *p.SignType, "paySign": *p.PaySign})
	if err != nil {
		t.Fatal(err)
	}
	merchant := cashierPage(e.URL, `var params = `+string(params)+`;
function onBridgeReady() { button.disabled = false; }
if (typeof WeixinJSBridge == "undefined") {
  document.addEventListener("WeixinJSBridgeReady", onBridgeReady, false);
} else {
  onBridgeReady();
}
button.onclick = function () {
  WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (res) { result.textContent = res.err_msg; });
};`)
	defer merchant.Close()
	page := merchant.URL + "/cashier?order=" + no

	var before, amount, payer, after, where string
	err = steps(ctx,
		step{"open the cashier page", chromedp.Navigate(page)},
		step{"wait for WeixinJSBridgeReady", chromedp.WaitEnabled(chromedp.CSS(`#pay`))},
		step{"read the page", textInto(`#result`, &before)},
		step{"tap 支付", browsertest.Click(chromedp.CSS(`#pay`))},
		step{"see the order on the phone", chromedp.WaitVisible(chromedp.CSS(`[data-amount]`))},
		step{"read the amount", textInto(`[data-amount]`, &amount)},
		step{"read the payer", textInto(`.order .hint`, &payer)},
		step{"type the PIN", chromedp.SendKeys(chromedp.CSS(`#pin`), phone.PIN)},
		step{"tap 确认支付", browsertest.Click(chromedp.CSS(`[data-confirm]`))},
		step{"see success", chromedp.WaitVisible(chromedp.CSS(`[data-return]`))},
	)
	if err != nil {
		screenshot(t, ctx, "wechat-bridge-failed.png")
		t.Fatalf("click-through: %v", err)
	}
	screenshot(t, ctx, "wechat-bridge-paid.png")
	err = steps(ctx,
		step{"arrive back at the cashier page", chromedp.WaitVisible(chromedp.CSS(`#pay`))},
		step{"read the page", textInto(`#result`, &after)},
		step{"read the address", locationInto(&where)},
	)
	if err != nil {
		screenshot(t, ctx, "wechat-bridge-return-failed.png")
		t.Fatalf("return: %v", err)
	}
	screenshot(t, ctx, "wechat-bridge-returned.png")
	if before != "unpaid" || amount != "¥16.88" || !strings.Contains(payer, "付款人 李娜") {
		t.Fatalf("page %q, amount %q, payer %q", before, amount, payer)
	}
	if after != "wechatpay=ok" || where != page+"#wechatpay=ok" {
		t.Fatalf("back at %q showing %q", where, after)
	}
	if s := orderState(t, svc, e, no); s != "SUCCESS" {
		t.Fatalf("order %s", s)
	}
}

// TestBrowserAlipayBridgeCancel: a cashier page calls
// AlipayJSBridge.call('tradePay') for a trade.create; the person gives up on
// the sandbox phone and lands back with #alipay=6001, the trade unpaid.
func TestBrowserAlipayBridgeCancel(t *testing.T) {
	ctx := browser(t)
	e := sandboxtest.Start(t)
	no, tradeNo, client := alipayCreate(t, e, "12.30", "buyer-wang")
	merchant := cashierPage(e.URL, `function ready(callback) {
  if (window.AlipayJSBridge) { callback(); } else { document.addEventListener("AlipayJSBridgeReady", callback, false); }
}
ready(function () { button.disabled = false; });
button.onclick = function () {
  AlipayJSBridge.call("tradePay", { tradeNO: "`+tradeNo+`" }, function (res) { result.textContent = res.resultCode; });
};`)
	defer merchant.Close()
	page := merchant.URL + "/cashier?order=" + no

	var amount, after, where string
	err := steps(ctx,
		step{"open the cashier page", chromedp.Navigate(page)},
		step{"wait for AlipayJSBridgeReady", chromedp.WaitEnabled(chromedp.CSS(`#pay`))},
		step{"tap 支付", browsertest.Click(chromedp.CSS(`#pay`))},
		step{"see the trade on the phone", chromedp.WaitVisible(chromedp.CSS(`[data-amount]`))},
		step{"read the amount", textInto(`[data-amount]`, &amount)},
		step{"tap 取消支付", browsertest.Click(chromedp.CSS(`[data-cancel]`))},
		step{"arrive back at the cashier page", chromedp.WaitVisible(chromedp.CSS(`#pay`))},
		step{"read the page", textInto(`#result`, &after)},
		step{"read the address", locationInto(&where)},
	)
	if err != nil {
		screenshot(t, ctx, "alipay-bridge-failed.png")
		t.Fatalf("click-through: %v", err)
	}
	screenshot(t, ctx, "alipay-bridge-cancelled.png")
	if amount != "¥12.30" || after != "alipay=6001" || where != page+"#alipay=6001" {
		t.Fatalf("amount %q, back at %q showing %q", amount, where, after)
	}
	if q, err := client.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: no}); err != nil || q.TradeStatus != alipaysdk.TradeStatusWaitBuyerPay {
		t.Fatalf("query: %v %+v", err, q)
	}
}
