package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"image"
	"image/color"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/returnsig"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/web"
)

const (
	desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	phoneUA   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	wechatUA  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.50.2600(0x28003257) NetType/WIFI Language/zh_CN"
	alipayUA  = "Mozilla/5.0 (Linux; U; Android 14; zh-CN; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0 Mobile Safari/537.36 AlipayClient/10.6.0.8000 Language/zh-Hans"
)

// browser is a cookie-keeping client with a User-Agent that does not
// follow redirects, so tests see each step.
type browser struct {
	t  *testing.T
	e  *gatewaytest.Env
	ua string
	hc *http.Client
}

func newBrowser(t *testing.T, e *gatewaytest.Env, ua string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, e: e, ua: ua, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// answer is what a page answered the browser: its status and headers. The
// body comes alongside as text, read whole and closed.
type answer struct {
	StatusCode int
	Header     http.Header
}

func (b *browser) do(method, target string, form url.Values) (answer, string) {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.e.URL + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	req.Header.Set("User-Agent", b.ua)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host)
	}
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("%s %s: reading the page: %v", method, target, err)
	}
	return answer{StatusCode: res.StatusCode, Header: res.Header}, string(raw)
}

func (b *browser) get(target string) (answer, string) { return b.do("GET", target, nil) }

func mustContain(t *testing.T, page, want string) {
	t.Helper()
	if !strings.Contains(page, want) {
		t.Fatalf("the page lacks %q:\n%s", want, page)
	}
}

func cashierPayment(t *testing.T, e *gatewaytest.Env, merchant int, method, order string) *client.Payment {
	t.Helper()
	p, err := e.Client(merchant).CreatePayment(context.Background(), client.PaymentParams{MerchantOrderID: order, Amount: 1990, Currency: "CNY",
		Description: "豆浆油条", Method: method, Buyer: client.Buyer{ID: "buyer-1", Name: "张伟"}, ReturnURL: "https://shop.example/back?o=" + order,
		Items: []client.Item{{Title: "豆浆", Quantity: 2, Amount: 700}, {Title: "油条", Quantity: 3, Amount: 1290}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// attempts reads a payment's wallet orders through the API.
func attempts(t *testing.T, e *gatewaytest.Env, merchant int, paymentID string) []map[string]any {
	t.Helper()
	req, err := http.NewRequest("GET", e.URL+"/v1/payments/"+paymentID+"/attempts", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.Keys[merchant])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Data []map[string]any }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Data
}

func qrOf(a map[string]any) string {
	na, _ := a["next_action"].(map[string]any)
	s, _ := na["qr_code"].(string)
	return s
}

func payAtSandbox(t *testing.T, e *gatewaytest.Env, wallet, code, user string) int {
	t.Helper()
	return e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": wallet, "code": code, "user": user}, nil)
}

// TestCashierDesktopQR: a payment made with method cashier, opened on a
// desktop, paid by scanning WeChat's code; the page's result returns to the
// merchant with a signature the client verifies.
func TestCashierDesktopQR(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		p := cashierPayment(t, e, 0, "cashier", "o-cashier")
		if p.NextAction == nil || p.NextAction.Type != "redirect" || p.NextAction.URL != e.URL+"/pay/"+p.ID || p.CheckoutURL != p.NextAction.URL {
			t.Fatalf("a cashier payment's next_action = %+v, checkout_url %q", p.NextAction, p.CheckoutURL)
		}
		b := newBrowser(t, e, desktopUA)
		_, page := b.get("/pay/" + p.ID)
		for _, want := range []string{"豆浆油条", "¥19.90", "豆浆 × 2", `data-method="wechatpay.native"`, `data-method="alipay.precreate"`, "data-any-qr", e.Merchants[0].Name} {
			mustContain(t, page, want)
		}
		res, _ := b.do("POST", "/pay/"+p.ID+"/attempts", url.Values{"method": {"wechatpay.native"}})
		if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "?attempt=pa_") {
			t.Fatalf("choosing WeChat: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		_, page = b.get(res.Header.Get("Location"))
		mustContain(t, page, "data-wallet-qr")
		as := attempts(t, e, 0, p.ID)
		if len(as) != 1 || !strings.HasPrefix(qrOf(as[0]), "weixin://wxpay/bizpayurl") {
			t.Fatalf("attempts = %v", as)
		}
		// The QR picture on the page is the wallet's own code.
		res, svg := b.get("/pay/" + p.ID + "/attempts/" + as[0]["id"].(string) + "/qr.svg")
		if res.Header.Get("Content-Type") != "image/svg+xml" || decodeSVG(t, svg) != qrOf(as[0]) {
			t.Fatalf("the attempt's QR does not read back as its code")
		}
		if st := payAtSandbox(t, e, "wechatpay", qrOf(as[0]), "buyer-li"); st != http.StatusOK {
			t.Fatalf("sandbox pay: %d", st)
		}
		e.Eventually("payment succeeded", func() bool { return e.Status(0, p.ID) == "succeeded" })
		got, err := e.Client(0).GetPayment(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PaidMethod != "wechatpay.native" || got.Payer == nil || !got.Payer.IsBuyer {
			t.Fatalf("paid payment: method %q payer %+v", got.PaidMethod, got.Payer)
		}
		// The page's event stream says so; the cashier now shows the result.
		_, events := b.get("/pay/" + p.ID + "/events")
		mustContain(t, events, `"status":"succeeded"`)
		res, _ = b.get("/pay/" + p.ID)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("a paid cashier: %d", res.StatusCode)
		}
		_, page = b.get("/pay/" + p.ID + "/done")
		mustContain(t, page, `data-result="succeeded"`)
		ret := regexp.MustCompile(`href="([^"]+)" data-return`).FindStringSubmatch(page)
		if ret == nil {
			t.Fatalf("no return link:\n%s", page)
		}
		u, err := url.Parse(html.UnescapeString(ret[1]))
		if err != nil {
			t.Fatal(err)
		}
		if u.Host != "shop.example" || u.Query().Get("o") != "o-cashier" {
			t.Fatalf("return link %s", u)
		}
		key, err := e.Client(0).ReturnKey(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r, err := client.VerifyReturn(key, e.Merchants[0].ID, u.Query(), time.Minute)
		if err != nil || r.Status != "succeeded" || r.Amount != 1990 || r.PaymentID != p.ID || r.MerchantOrderID != "o-cashier" {
			t.Fatalf("VerifyReturn = %+v, %v", r, err)
		}
		if _, err := client.VerifyReturn(key, e.Merchants[1].ID, u.Query(), time.Minute); !errors.Is(err, returnsig.ErrSignature) {
			t.Fatalf("another merchant verified the return: %v", err)
		}
		// The result page asks how the new method went; the answer is kept
		// with the method that paid.
		mustContain(t, page, `href="/feedback/`+p.ID+`" data-feedback-link`)
		_, form := b.get("/feedback/" + p.ID)
		mustContain(t, form, "你觉得用微信支付付款怎么样？")
		if res, _ := b.do("POST", "/feedback/"+p.ID, url.Values{"rating": {"9"}}); res.StatusCode != http.StatusBadRequest {
			t.Fatalf("a rating of 9: %d", res.StatusCode)
		}
		_, thanks := b.do("POST", "/feedback/"+p.ID, url.Values{"rating": {"4"}, "text": {"扫码很快"}})
		mustContain(t, thanks, "data-feedback-thanks")
		fbs, err := e.Svc.RolloutService().ListFeedback(context.Background(), rollouts.FeedbackFilter{MerchantID: e.Merchants[0].ID})
		if err != nil || len(fbs) != 1 || fbs[0].Method != "wechatpay.native" || fbs[0].Rating != 4 || fbs[0].PaymentID != p.ID {
			t.Fatalf("feedback %+v %v", fbs, err)
		}
	})
}

// TestCashierPhoneJump: on a phone the cashier offers the wallets' jumps;
// Alipay's wap cashier is where the browser goes.
func TestCashierPhoneJump(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	p := cashierPayment(t, e, 0, "cashier", "o-phone")
	b := newBrowser(t, e, phoneUA)
	_, page := b.get("/pay/" + p.ID)
	mustContain(t, page, `data-method="wechatpay.h5"`)
	mustContain(t, page, `data-method="alipay.wap"`)
	if strings.Contains(page, "data-any-qr") {
		t.Error("a phone is shown a QR code to scan with itself")
	}
	res, _ := b.do("POST", "/pay/"+p.ID+"/attempts", url.Values{"method": {"alipay.wap"}})
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, e.Sandbox.URL) {
		t.Fatalf("alipay.wap jump: %d %s", res.StatusCode, loc)
	}
	res, _ = b.do("POST", "/pay/"+p.ID+"/attempts", url.Values{"method": {"wechatpay.h5"}})
	loc = res.Header.Get("Location")
	if !strings.Contains(loc, "redirect_url="+url.QueryEscape(e.URL+"/pay/"+p.ID+"/done")) {
		t.Fatalf("wechatpay.h5 jump lacks the way back: %s", loc)
	}
	// Once: WeChat reads one redirect_url, and a second, appended again by
	// the page, made the link ambiguous.
	if u, err := url.Parse(loc); err != nil || len(u.Query()["redirect_url"]) != 1 {
		t.Fatalf("wechatpay.h5 jump carries redirect_url %d times: %s", len(u.Query()["redirect_url"]), loc)
	}
	// A method not offered here is refused and makes nothing.
	res, _ = b.do("POST", "/pay/"+p.ID+"/attempts", url.Values{"method": {"wechatpay.app"}})
	if res.StatusCode != http.StatusBadRequest || len(attempts(t, e, 0, p.ID)) != 2 {
		t.Fatalf("an app method from the cashier: %d", res.StatusCode)
	}
}

// TestAggregateCodeByUserAgent: the payment's one code sends WeChat's and
// Alipay's in-app browsers to their wallet's authorization, and shows the
// cashier to any other browser.
func TestAggregateCodeByUserAgent(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	p := cashierPayment(t, e, 0, "aggregate", "o-agg")
	if p.NextAction == nil || p.NextAction.Type != "qr_code" || p.NextAction.QRCode != e.URL+"/pay/"+p.ID {
		t.Fatalf("aggregate next_action = %+v", p.NextAction)
	}
	res, _ := newBrowser(t, e, wechatUA).get("/pay/" + p.ID)
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusFound || loc.Path != "/connect/oauth2/authorize" || loc.Query().Get("scope") != "snsapi_base" ||
		loc.Query().Get("redirect_uri") != e.URL+"/pay/"+p.ID+"/wallet/wechatpay" || loc.Fragment != "wechat_redirect" {
		t.Fatalf("WeChat browser: %d %s", res.StatusCode, loc)
	}
	res, _ = newBrowser(t, e, alipayUA).get("/pay/" + p.ID)
	loc, err = url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusFound || loc.Path != "/oauth2/publicAppAuthorize.htm" || loc.Query().Get("scope") != "auth_base" ||
		loc.Query().Get("redirect_uri") != e.URL+"/pay/"+p.ID+"/wallet/alipay" {
		t.Fatalf("Alipay browser: %d %s", res.StatusCode, loc)
	}
	res, page := newBrowser(t, e, desktopUA).get("/pay/" + p.ID)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("plain browser: %d", res.StatusCode)
	}
	mustContain(t, page, `data-method="wechatpay.native"`)
	// The code itself reads back as the payment's URL.
	_, svg := newBrowser(t, e, desktopUA).get("/pay/" + p.ID + "/qr.svg")
	if got := decodeSVG(t, svg); got != e.URL+"/pay/"+p.ID {
		t.Fatalf("the one code reads %q", got)
	}
	// A forged or reused authorization code pays nothing.
	res, _ = newBrowser(t, e, wechatUA).get("/pay/" + p.ID + "/wallet/wechatpay?code=forged&state=" + p.ID)
	if res.StatusCode != http.StatusBadGateway || len(attempts(t, e, 0, p.ID)) != 0 {
		t.Fatalf("a forged code: %d", res.StatusCode)
	}
}

// TestPayForMeOnePayer: two friends open the same pay-for-me request; the
// second to try after the first paid is turned away before any wallet
// charges them, and a wallet order left open is closed.
func TestPayForMeOnePayer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		p := cashierPayment(t, e, 0, "cashier", "o-pfm")
		pfm, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{Note: "帮我付一下早饭"})
		if err != nil {
			t.Fatal(err)
		}
		if pfm.URL != e.URL+"/pfm/"+pfm.ID || pfm.ShareCode == nil || !strings.Contains(pfm.ShareCode.Message, pfm.ShareCode.Token) {
			t.Fatalf("pay-for-me = %+v", pfm)
		}
		a, b := newBrowser(t, e, desktopUA), newBrowser(t, e, desktopUA)
		_, page := a.get("/pfm/" + pfm.ID)
		mustContain(t, page, "张*")
		mustContain(t, page, "帮我付一下早饭")
		mustContain(t, page, "豆浆 × 2")
		if strings.Contains(page, "张伟") || strings.Contains(page, "buyer-1") {
			t.Fatal("the payer sees the buyer's name or id")
		}
		// Both friends choose a wallet; b's order stays open at Alipay.
		b.choose(p.ID, pfm.ID, "alipay.precreate")
		a.choose(p.ID, pfm.ID, "wechatpay.native")
		as := attempts(t, e, 0, p.ID)
		if len(as) != 2 {
			t.Fatalf("attempts = %v", as)
		}
		if payAtSandbox(t, e, "wechatpay", qrOf(as[1]), "buyer-li") != http.StatusOK {
			t.Fatal("friend a could not pay")
		}
		e.Eventually("payment succeeded", func() bool { return e.Status(0, p.ID) == "succeeded" })
		got, err := e.Client(0).GetPayment(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Payer == nil || got.Payer.IsBuyer || got.Payer.PayForMe != pfm.ID {
			t.Fatalf("payer = %+v; want not the buyer, through %s", got.Payer, pfm.ID)
		}
		// b's open order is closed at the wallet: scanning it pays nothing.
		e.Eventually("the other attempt closed", func() bool { return attempts(t, e, 0, p.ID)[0]["status"] == "closed" })
		if st := payAtSandbox(t, e, "alipay", qrOf(as[0]), "buyer-wang"); st != http.StatusConflict && st != http.StatusNotFound {
			t.Fatalf("paying the closed order: %d", st)
		}
		// b tries again: refused before any wallet order is made.
		res, _ := b.do("POST", "/pay/"+p.ID+"/attempts", url.Values{"method": {"wechatpay.native"}, "pfm": {pfm.ID}})
		if res.StatusCode != http.StatusSeeOther || len(attempts(t, e, 0, p.ID)) != 2 {
			t.Fatalf("a second payer after payment: %d, %d attempts", res.StatusCode, len(attempts(t, e, 0, p.ID)))
		}
		_, page = b.get(res.Header.Get("Location"))
		mustContain(t, page, "data-paid-by-other")
		// The request is paid; its webhook names the payer.
		r, err := e.Svc.PayForMeService().Get(context.Background(), pfm.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "paid" {
			t.Fatalf("pay-for-me status %q", r.Status)
		}
	})
}

// TestPayForMeBothPaid: when both wallets complete before hutong can close
// either, the second payment is refunded in full and recorded, and the
// payment's own refundable amount is untouched.
func TestPayForMeBothPaid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{NoWorker: true})
		p := cashierPayment(t, e, 0, "cashier", "o-both")
		pfm, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{})
		if err != nil {
			t.Fatal(err)
		}
		a, b := newBrowser(t, e, desktopUA), newBrowser(t, e, desktopUA)
		a.choose(p.ID, pfm.ID, "wechatpay.native")
		b.choose(p.ID, pfm.ID, "alipay.precreate")
		as := attempts(t, e, 0, p.ID)
		// Both pay before any job runs: the close of the loser is held back.
		if payAtSandbox(t, e, "wechatpay", qrOf(as[0]), "buyer-li") != http.StatusOK || payAtSandbox(t, e, "alipay", qrOf(as[1]), "buyer-wang") != http.StatusOK {
			t.Fatal("a friend could not pay")
		}
		// Whichever notification arrives first pays; the other is the duplicate.
		winner := ""
		e.Eventually("both notifications applied", func() bool {
			as := attempts(t, e, 0, p.ID)
			for i, a := range as {
				if a["status"] == "succeeded" && as[1-i]["status"] == "duplicate" {
					winner = a["method"].(string)
				}
			}
			return winner != ""
		})
		e.StartWorker()
		var refundID string
		e.Eventually("the duplicate refunded", func() bool {
			evs, err := e.Client(0).ListEvents(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if ev.Type == "payment.duplicate_charge" {
					var d struct {
						RefundID string `json:"refund_id"`
					}
					if err := json.Unmarshal(ev.Data, &d); err != nil {
						t.Fatalf("the duplicate charge event's data: %v\n%s", err, ev.Data)
					}
					refundID = d.RefundID
				}
			}
			if refundID == "" {
				return false
			}
			r, err := e.Client(0).GetRefund(context.Background(), refundID)
			return err == nil && r.Status == "succeeded"
		})
		r, err := e.Client(0).GetRefund(context.Background(), refundID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Client(0).GetPayment(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Amount != 1990 || got.AmountRefunded != 0 || got.Status != "succeeded" || got.PaidMethod != winner {
			t.Fatalf("refund %+v, payment refunded %d status %s", r, got.AmountRefunded, got.Status)
		}
		// The merchant can still refund the whole payment.
		if _, err := e.Client(0).CreateRefund(context.Background(), p.ID, 1990, "return", ""); err != nil {
			t.Fatalf("refunding the paid payment: %v", err)
		}
	})
}

// TestPayForMeRevoked: a revoked request shows why and takes no payment;
// so does an expired one.
func TestPayForMeRevoked(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	p := cashierPayment(t, e, 0, "cashier", "o-revoke")
	pfm, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{ExpiresIn: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client(1).RevokePayForMe(context.Background(), pfm.ID); err == nil {
		t.Fatal("another merchant revoked the request")
	}
	if r, err := e.Client(0).RevokePayForMe(context.Background(), pfm.ID); err != nil || r.Status != "revoked" {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	b := newBrowser(t, e, desktopUA)
	res, page := b.get("/pfm/" + pfm.ID)
	if res.StatusCode != http.StatusGone {
		t.Fatalf("a revoked request: %d", res.StatusCode)
	}
	mustContain(t, page, "这个代付请求已被撤销。")
	// An expired request reads as expired.
	short, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{ExpiresIn: 1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if res, page := b.get("/pfm/" + short.ID); res.StatusCode != http.StatusGone || !strings.Contains(page, "这个代付请求已过期。") {
		t.Fatalf("an expired request: %d", res.StatusCode)
	}
	res, _ = b.do("POST", "/pay/"+p.ID+"/attempts", url.Values{"method": {"wechatpay.native"}, "pfm": {pfm.ID}})
	if res.StatusCode != http.StatusConflict || len(attempts(t, e, 0, p.ID)) != 0 {
		t.Fatalf("paying through a revoked request: %d", res.StatusCode)
	}
	// Its share code no longer resolves.
	_, err = client.New(e.URL, e.Platform).ResolveShareCode(context.Background(), pfm.ShareCode.Message)
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != "share_code_revoked" {
		t.Fatalf("resolving a revoked request's code: %v", err)
	}
}

// TestShareCodes: a code pasted inside a chat message, its width and case
// changed by the chat app, leads to its target; each refusal says why.
func TestShareCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{})
		ctx := context.Background()
		p := cashierPayment(t, e, 0, "cashier", "o-share")
		sc, err := e.Client(0).CreateShareCode(ctx, client.ShareCodeParams{Target: "payment", TargetID: p.ID, Source: "wechat_group"})
		if err != nil {
			t.Fatal(err)
		}
		if sc.URL != e.URL+"/pay/"+p.ID || !strings.Contains(sc.Message, sc.Text) {
			t.Fatalf("share code %+v", sc)
		}
		// Full-width, lower case, inside a chat message.
		mangled := "[群聊] 王芳: 快来 😄 " + toFullWidthLower(sc.Token) + " 复制打开"
		b := newBrowser(t, e, phoneUA)
		res, _ := b.do("POST", "/s/", url.Values{"text": {mangled}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != sc.URL {
			t.Fatalf("pasting %q: %d %s", mangled, res.StatusCode, res.Header.Get("Location"))
		}
		// A product code leads to the merchant's page, with the code for credit.
		prod, err := e.Client(0).CreateShareCode(ctx, client.ShareCodeParams{Target: "product", TargetID: "p-rice", Source: "ad:double11", URL: "https://shop.example/p/rice", Title: "五常大米"})
		if err != nil {
			t.Fatal(err)
		}
		res, _ = b.do("POST", "/s/", url.Values{"text": {prod.Message}})
		if loc := res.Header.Get("Location"); loc != "https://shop.example/p/rice?share_code="+prod.ID {
			t.Fatalf("product code leads to %q", loc)
		}
		// Refusals, each with its reason.
		typo := []byte(sc.Token)
		typo[3] = map[bool]byte{true: '2', false: '3'}[typo[3] != '2']
		limited, err := e.Client(0).CreateShareCode(ctx, client.ShareCodeParams{Target: "store", TargetID: e.Merchants[0].ID, Source: "wechat_moments", MaxUses: ptr(int64(1))})
		if err != nil {
			t.Fatal(err)
		}
		soon := time.Now().Add(time.Second)
		expiring, err := e.Client(0).CreateShareCode(ctx, client.ShareCodeParams{Target: "store", TargetID: e.Merchants[0].ID, Source: "wechat_moments", ExpiresAt: &soon})
		if err != nil {
			t.Fatal(err)
		}
		platform := client.New(e.URL, e.Platform)
		if _, err := platform.ResolveShareCode(ctx, limited.Text); err != nil {
			t.Fatalf("first use of a one-use code: %v", err)
		}
		time.Sleep(time.Until(soon) + 50*time.Millisecond)
		for text, code := range map[string]string{
			"今天天气不错":                 "share_code_absent",
			"￥" + string(typo) + "￥": "share_code_mistyped",
			"￥23456789AB3￥":          "share_code_unknown",
			limited.Text:             "share_code_used_up",
			expiring.Text:            "share_code_expired",
		} {
			_, err := platform.ResolveShareCode(ctx, text)
			var ae *client.Error
			if !errors.As(err, &ae) || ae.Code != code {
				t.Errorf("resolve %q: %v; want %s", text, err, code)
			}
		}
		// Another merchant's key does not see this merchant's code.
		if _, err := e.Client(1).ResolveShareCode(ctx, sc.Text); err == nil {
			t.Error("merchant B resolved merchant A's code")
		}
		// A payment made through the product's code is credited to it and
		// its source when paid.
		credited, err := e.Client(0).CreatePayment(ctx, client.PaymentParams{MerchantOrderID: "o-credited", Amount: 3990, Currency: "CNY",
			Description: "五常大米", Method: "cashier", Buyer: client.Buyer{ID: "b9"}, ShareCode: prod.ID}, "")
		if err != nil {
			t.Fatal(err)
		}
		code := b.choose(credited.ID, "", "wechatpay.native")
		if st := payAtSandbox(t, e, "wechatpay", code, ""); st != http.StatusOK {
			t.Fatalf("paying the credited payment: %d", st)
		}
		e.Eventually("payment succeeded", func() bool { return e.Status(0, credited.ID) == "succeeded" })
		stats, err := e.Svc.ShareCodeService().Stats(ctx, e.Merchants[0].ID, "source")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, st := range stats {
			if st.Key == "ad:double11" {
				found = st.PaidOrders == 1 && st.PaidAmount == 3990 && st.Resolves == 1
			}
		}
		if !found {
			t.Fatalf("stats by source: %+v", stats)
		}
	})
}

// TestStoreCode: a merchant's static code; the buyer types an amount and
// the merchant sees a payment like any other.
func TestStoreCode(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	m := e.Merchants[1]
	b := newBrowser(t, e, desktopUA)
	_, page := b.get("/m/" + m.ID)
	mustContain(t, page, m.Name)
	for _, bad := range []string{"", "0", "-5", "1.234", "abc"} {
		res, _ := b.do("POST", "/m/"+m.ID, url.Values{"amount": {bad}})
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("amount %q: %d", bad, res.StatusCode)
		}
	}
	res, _ := b.do("POST", "/m/"+m.ID, url.Values{"amount": {"１２.５"}, "note": {"买水果"}})
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/pay/pay_") {
		t.Fatalf("store pay: %d %s", res.StatusCode, loc)
	}
	got, err := e.Client(1).GetPayment(context.Background(), strings.TrimPrefix(loc, "/pay/"))
	if err != nil || got.Amount != 1250 || got.Method != "cashier" || got.Description != "买水果" {
		t.Fatalf("the store payment: %+v %v", got, err)
	}
	if _, err := e.Client(0).GetPayment(context.Background(), got.ID); err == nil {
		t.Error("another merchant reads the store payment")
	}
	// A form from another site is refused.
	req, err := http.NewRequest("POST", e.URL+"/m/"+m.ID, strings.NewReader("amount=1"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a cross-site form: %v", err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site form: %d", res2.StatusCode)
	}
}

func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{"张伟": "张*", "欧阳娜娜": "欧***", "Alice": "A****", "": "一位朋友", "王": "王*"} {
		if got := web.MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQRSVGReadsBack(t *testing.T) {
	for _, text := range []string{"weixin://wxpay/bizpayurl?pr=abc123", "https://qr.alipay.com/bax01234", "http://127.0.0.1:8080/pay/pay_0123456789abcdefghjkmnpq", strings.Repeat("长", 100)} {
		svg, err := web.QRSVG(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeSVG(t, string(svg)); got != text {
			t.Errorf("QR of %q reads %q", text, got)
		}
	}
}

// decodeSVG rasterizes QRSVG's path (M x y hN v1 h-N z squares) and reads
// it with a QR reader.
func decodeSVG(t *testing.T, svg string) string {
	t.Helper()
	vb := regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`).FindStringSubmatch(svg)
	if vb == nil {
		t.Fatalf("not a QR SVG: %.200s", svg)
	}
	n, err := strconv.Atoi(vb[1])
	if err != nil {
		t.Fatal(err)
	}
	const scale = 6
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h(\d+)`).FindAllStringSubmatch(svg, -1) {
		x, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatal(err)
		}
		y, err := strconv.Atoi(m[2])
		if err != nil {
			t.Fatal(err)
		}
		run, err := strconv.Atoi(m[3])
		if err != nil {
			t.Fatal(err)
		}
		for dx := 0; dx < run*scale; dx++ {
			for dy := 0; dy < scale; dy++ {
				img.SetGray(x*scale+dx, y*scale+dy, color.Gray{})
			}
		}
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("the QR does not read: %v", err)
	}
	return res.GetText()
}

func toFullWidthLower(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		b.WriteRune(r - '!' + '！')
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

var _ = fmt.Sprint
