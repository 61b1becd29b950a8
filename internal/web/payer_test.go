package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// buyerPayment is a cashier payment of a demo buyer, whose id is also a
// sandbox user's.
func buyerPayment(t *testing.T, e *gatewaytest.Env, order, buyerID, name string) *client.Payment {
	t.Helper()
	p, err := e.Client(0).CreatePayment(context.Background(), client.PaymentParams{MerchantOrderID: order, Amount: 1290, Currency: "CNY",
		Description: "义乌小商品", Method: "cashier", Buyer: client.Buyer{ID: buyerID, Name: name}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// choose picks method on a cashier (or pay-for-me, with pfmID) page and
// returns the wallet's code of the attempt it starts.
func (b *browser) choose(paymentID, pfmID, method string) string {
	b.t.Helper()
	form := url.Values{"method": {method}}
	if pfmID != "" {
		form.Set("pfm", pfmID)
	}
	res, _ := b.do("POST", "/pay/"+paymentID+"/attempts", form)
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil {
		b.t.Fatalf("choose %s: %d %q", method, res.StatusCode, res.Header.Get("Location"))
	}
	for _, a := range attempts(b.t, b.e, 0, paymentID) {
		if a["id"] == loc.Query().Get("attempt") {
			return qrOf(a)
		}
	}
	b.t.Fatalf("choose %s: no attempt %q", method, loc.Query().Get("attempt"))
	return ""
}

var phoneLink = regexp.MustCompile(`href="([^"]*)"[^>]*data-sandbox-phone`)

// sandboxPhoneLink chooses method on page (a cashier or pay-for-me page)
// and returns the link to the sandbox phone that the QR code shows.
func (b *browser) sandboxPhoneLink(paymentID, pfmID, method string) *url.URL {
	b.t.Helper()
	form := url.Values{"method": {method}}
	if pfmID != "" {
		form.Set("pfm", pfmID)
	}
	res, _ := b.do("POST", "/pay/"+paymentID+"/attempts", form)
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("choose %s: %d", method, res.StatusCode)
	}
	_, page := b.get(res.Header.Get("Location"))
	m := phoneLink.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("the page shows no sandbox phone link:\n%s", page)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// openOnPhone follows a sandbox phone link in a browser whose phone was
// last used as holder, and returns the user whose order page it opens and
// the code.
func openOnPhone(t *testing.T, link *url.URL, holder string) (string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", link.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if holder != "" {
		req.AddCookie(&http.Cookie{Name: phone.UserCookie, Value: holder})
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil || !strings.HasSuffix(loc.Path, "/order") {
		t.Fatalf("opening %s: %d %q", link, res.StatusCode, res.Header.Get("Location"))
	}
	return strings.TrimSuffix(strings.TrimPrefix(loc.Path, "/phone/u/"), "/order"), loc.Query().Get("code")
}

// TestSandboxPhoneLinkNamesTheBuyer: the cashier's link to the sandbox
// phone opens the order as the payment's buyer when the buyer is a sandbox
// user, whoever held the phone last; the wallet then records that user as
// the payer. A pay-for-me page's link never names the buyer who asked.
func TestSandboxPhoneLinkNamesTheBuyer(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	for _, method := range []string{"wechatpay.native", "alipay.precreate"} {
		p := buyerPayment(t, e, "o-wang-"+strings.ReplaceAll(method, ".", "-"), "buyer-wang", "王芳")
		link := newBrowser(t, e, desktopUA).sandboxPhoneLink(p.ID, "", method)
		if link.Scheme+"://"+link.Host+link.Path != e.Sandbox.URL+phone.OpenPath || link.Query().Get("as") != "buyer-wang" {
			t.Fatalf("%s: the cashier's phone link is %s", method, link)
		}
		user, code := openOnPhone(t, link, "buyer-li")
		if user != "buyer-wang" {
			t.Fatalf("%s: 王芳's order opens on a phone last used by 李娜 as %q", method, user)
		}
		wallet := strings.Split(method, ".")[0]
		if st := payAtSandbox(t, e, wallet, code, user); st != http.StatusOK {
			t.Fatalf("%s: 王芳 pays: %d", method, st)
		}
		e.Eventually("paid", func() bool { return e.Status(0, p.ID) == "succeeded" })
		got, err := e.Svc.PaymentService().PaymentByID(context.Background(), p.ID)
		want := map[string]string{"wechatpay": users.OpenID("buyer-wang", e.Sandbox.Credentials().AppID), "alipay": alipay.BuyerID("buyer-wang")}[wallet]
		if err != nil || got.Payer == nil || got.Payer.Wallet != want || !got.Payer.IsBuyer {
			t.Fatalf("%s: payer %+v, want 王芳 (%s) as the buyer", method, got.Payer, want)
		}
	}

	// A buyer who is no sandbox user: the phone's holder pays.
	p := buyerPayment(t, e, "o-walkin", "walkin_42", "顾客")
	link := newBrowser(t, e, desktopUA).sandboxPhoneLink(p.ID, "", "wechatpay.native")
	if user, _ := openOnPhone(t, link, "buyer-li"); user != "buyer-li" {
		t.Fatalf("an unknown buyer's order opens as %q, not the phone's holder", user)
	}

	// Pay-for-me: the link names no one; the friend's phone pays.
	p = buyerPayment(t, e, "o-pfm-link", "buyer-wang", "王芳")
	pfm, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"wechatpay.native", "alipay.precreate"} {
		link := newBrowser(t, e, desktopUA).sandboxPhoneLink(p.ID, pfm.ID, method)
		if link.Query().Has("as") || strings.Contains(link.RawQuery, "buyer-wang") {
			t.Fatalf("%s: the pay-for-me page's phone link names the buyer: %s", method, link)
		}
		if user, _ := openOnPhone(t, link, "buyer-li"); user != "buyer-li" {
			t.Fatalf("%s: the friend's phone (李娜) opens the order as %q", method, user)
		}
		if user, _ := openOnPhone(t, link, ""); user != users.Seed[0].ID {
			t.Fatalf("%s: a fresh phone opens the order as %q", method, user)
		}
	}
}

// TestPayForMeResultFromServerState: who paid is read from the payment's
// payer record, not from the browser: the friend who paid through a link is
// told so in any browser, and only someone else is told someone else paid.
func TestPayForMeResultFromServerState(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	p := buyerPayment(t, e, "o-pfm-state", "buyer-zhang", "张伟")
	pfmA, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{})
	if err != nil {
		t.Fatal(err)
	}
	pfmB, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{})
	if err != nil {
		t.Fatal(err)
	}
	// The friend chooses WeChat on a computer; a second friend, on the same
	// link, chooses Alipay and does not pay.
	chooser, second := newBrowser(t, e, desktopUA), newBrowser(t, e, desktopUA)
	code := chooser.choose(p.ID, pfmA.ID, "wechatpay.native")
	second.choose(p.ID, pfmA.ID, "alipay.precreate")
	if st := payAtSandbox(t, e, "wechatpay", code, "buyer-li"); st != http.StatusOK {
		t.Fatalf("the friend pays: %d", st)
	}
	e.Eventually("paid", func() bool { return e.Status(0, p.ID) == "succeeded" })

	paidHere := "你已帮 张*"
	result := func(b *browser, path string) string {
		t.Helper()
		res, page := b.get(path)
		for res.StatusCode == http.StatusSeeOther {
			res, page = b.get(res.Header.Get("Location"))
		}
		if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-result="succeeded"`) {
			t.Fatalf("%s: %d\n%s", path, res.StatusCode, page)
		}
		return page
	}
	// The friend's computer, where the method was chosen.
	mustContain(t, result(chooser, "/pay/"+p.ID+"/done?pfm="+pfmA.ID), paidHere)
	// The friend's phone, another browser, opening the link after paying.
	otherDevice := newBrowser(t, e, phoneUA)
	page := result(otherDevice, "/pfm/"+pfmA.ID)
	mustContain(t, page, paidHere)
	if strings.Contains(page, "data-paid-by-other") {
		t.Fatal("the friend who paid is told someone else did")
	}
	// The second friend on the same link did not pay.
	mustContain(t, result(second, "/pfm/"+pfmA.ID), "data-paid-by-other")
	// Another request of the same payment did not pay.
	page = result(otherDevice, "/pfm/"+pfmB.ID)
	mustContain(t, page, "data-paid-by-other")
	if strings.Contains(page, paidHere) {
		t.Fatal("the other request's page says its reader paid")
	}
	// The buyer who asked sees a friend paid.
	mustContain(t, result(newBrowser(t, e, desktopUA), "/pay/"+p.ID+"/done"), "data-paid-by-friend")

	// When the buyer pays themselves, the friend's link says someone else
	// paid, in any browser.
	p2 := buyerPayment(t, e, "o-pfm-self", "buyer-zhang", "张伟")
	pfmC, err := e.Client(0).CreatePayForMe(context.Background(), p2.ID, client.PayForMeParams{})
	if err != nil {
		t.Fatal(err)
	}
	code = newBrowser(t, e, desktopUA).choose(p2.ID, "", "wechatpay.native")
	if st := payAtSandbox(t, e, "wechatpay", code, "buyer-zhang"); st != http.StatusOK {
		t.Fatalf("the buyer pays: %d", st)
	}
	e.Eventually("paid", func() bool { return e.Status(0, p2.ID) == "succeeded" })
	for _, b := range []*browser{newBrowser(t, e, phoneUA), chooser} {
		page := result(b, "/pfm/"+pfmC.ID)
		mustContain(t, page, "data-paid-by-other")
		if strings.Contains(page, paidHere) {
			t.Fatal("the friend is told they paid what the buyer paid")
		}
	}
}
