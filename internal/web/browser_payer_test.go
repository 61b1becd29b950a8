package web_test

// Browser tests of who pays: the sandbox phone pays as the payment's buyer
// when the cashier names them, as the phone's holder on a wallet's own pay
// link, and as the friend on a pay-for-me link; each checked against the
// wallet's records and the gateway's payer record, not only the pages.

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// walletPayer is who the wallet says paid payment id: the sandbox user its
// records name as payer of the paid wallet order, and the payer's wallet id
// in the gateway's payer record. It fails the test unless both agree.
func walletPayer(t *testing.T, e *gatewaytest.Env, id string) (string, bool) {
	t.Helper()
	e.Eventually("paid", func() bool { return e.Status(0, id) == "succeeded" })
	p, err := e.Svc.PaymentService().PaymentByID(context.Background(), id)
	if err != nil || p.Payer == nil {
		t.Fatalf("payment %s: %v, payer %+v", id, err, p.Payer)
	}
	wallets := map[string]phone.Wallet{"wechatpay": e.Sandbox.Sandbox().WeChatPay().Phone(), "alipay": e.Sandbox.Sandbox().Alipay().Phone()}
	who := ""
	for _, u := range users.Seed {
		for _, r := range wallets[p.Channel].History(u.ID) {
			if r.OutTradeNo == p.PaidAttempt {
				if who != "" {
					t.Fatalf("the wallet names two payers of %s: %s and %s", p.PaidAttempt, who, u.ID)
				}
				who = u.ID
			}
		}
	}
	want := map[string]string{"wechatpay": users.OpenID(who, e.Sandbox.Credentials().AppID), "alipay": alipay.BuyerID(who)}[p.Channel]
	if who == "" || p.Payer.Wallet != want {
		t.Fatalf("the wallet's records name %q as payer of %s; the gateway recorded %q", who, p.PaidAttempt, p.Payer.Wallet)
	}
	return who, p.Payer.IsBuyer
}

// TestBrowserSandboxPhonePaysAsTheBuyer: at one computer, after the
// sandbox phone was last used as 李娜, 王芳's cashier links to the phone,
// which opens her order as 王芳; she pays, and the wallet records 王芳.
func TestBrowserSandboxPhonePaysAsTheBuyer(t *testing.T) {
	person := browsertest.Start(t, "wang", desktop)
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	person.Do(S("use the phone as 李娜", chromedp.Navigate(e.Sandbox.URL+"/phone/u/buyer-li?wallet=wechatpay")),
		S("", chromedp.WaitVisible(chromedp.CSS(`[data-balance]`))))
	for _, method := range []string{"wechatpay.native", "alipay.precreate"} {
		p := buyerPayment(t, e, "b-wang-"+strings.ReplaceAll(method, ".", "-"), "buyer-wang", "王芳")
		var link, payer, name string
		person.Do(S("open 王芳's cashier", chromedp.Navigate(p.CheckoutURL)),
			S("choose "+method, browsertest.Click(chromedp.CSS(`[data-method="`+method+`"]`))),
			S("see the sandbox phone link", chromedp.WaitVisible(chromedp.CSS(`[data-sandbox-phone]`))),
			S("", browsertest.Attr(`[data-sandbox-phone]`, "href", &link)))
		// The link opens a new tab; the same browser opens it here.
		person.Do(S("open it", chromedp.Navigate(link)),
			S("see who pays", browsertest.Attr(`[data-paying-as]`, "data-paying-as", &payer)),
			S("", browsertest.Text(`[data-paying-name]`, &name)))
		person.Screenshot("phone-pays-as-buyer-" + method)
		if payer != "buyer-wang" || !strings.Contains(name, "王芳") {
			t.Fatalf("%s: the phone opened 王芳's order as %q (%q)", method, payer, name)
		}
		person.Do(payOnPhone("王芳")...)
		if who, isBuyer := walletPayer(t, e, p.ID); who != "buyer-wang" || !isBuyer {
			t.Fatalf("%s: the wallet's payer is %q (buyer: %v), not 王芳", method, who, isBuyer)
		}
	}
}

// TestBrowserHandOffsPayAsTheHolder: on a phone last used as 李娜, the
// jumps to WeChat (H5) and to Alipay (wap) from 张伟's cashier open as 李娜,
// who pays; the wallets record 李娜.
func TestBrowserHandOffsPayAsTheHolder(t *testing.T) {
	person := browsertest.Start(t, "li", browsertest.Options{UserAgent: phoneUA})
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	person.Do(S("use the phone as 李娜", chromedp.Navigate(e.Sandbox.URL+"/phone/u/buyer-li?wallet=alipay")),
		S("", chromedp.WaitVisible(chromedp.CSS(`[data-balance]`))))
	for _, method := range []string{"wechatpay.h5", "alipay.wap"} {
		p := buyerPayment(t, e, "b-holder-"+strings.ReplaceAll(method, ".", "-"), "buyer-zhang", "张伟")
		var payer string
		person.Do(S("open the cashier", chromedp.Navigate(p.CheckoutURL)),
			S("tap "+method, browsertest.Click(chromedp.CSS(`[data-method="`+method+`"]`))),
			S("see who pays", browsertest.Attr(`[data-paying-as]`, "data-paying-as", &payer)))
		person.Screenshot("hand-off-as-holder-" + method)
		if payer != "buyer-li" {
			t.Fatalf("%s: the wallet opened as %q on 李娜's phone", method, payer)
		}
		person.Do(payOnPhone("李娜")...)
		person.Do(S("back on the result", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))))
		if who, _ := walletPayer(t, e, p.ID); who != "buyer-li" {
			t.Fatalf("%s: the wallet's payer is %q, not 李娜", method, who)
		}
	}
}

// TestBrowserPayForMeFriendPays: 张伟 asks a friend. The friend opens the
// link in their own browser; the wallet opens as the default user (张伟,
// the asker), the order page says so, and one tap makes 李娜 the payer. The
// friend's page says the friend paid, and so does the friend's other
// device opening the link later; the asker's page says a friend paid. The
// wallet and the gateway record 李娜, through the request.
func TestBrowserPayForMeFriendPays(t *testing.T) {
	asker := browsertest.Start(t, "asker", desktop)
	friend := browsertest.Start(t, "friend", browsertest.Options{UserAgent: phoneUA})
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{})
	p := buyerPayment(t, e, "b-pfm-friend", "buyer-zhang", "张伟")
	pfm, err := e.Client(0).CreatePayForMe(context.Background(), p.ID, client.PayForMeParams{Note: "帮我付一下"})
	if err != nil {
		t.Fatal(err)
	}
	asker.Do(S("the asker waits on the cashier", chromedp.Navigate(p.CheckoutURL)), S("", chromedp.WaitVisible(chromedp.CSS(`[data-amount]`))))

	var first, payer, done string
	friend.Do(S("open the link", chromedp.Navigate(pfm.URL)),
		S("tap 打开微信支付", browsertest.Click(chromedp.CSS(`[data-method="wechatpay.h5"]`))),
		S("see who the wallet would pay as", browsertest.Attr(`[data-paying-as]`, "data-paying-as", &first)))
	friend.Screenshot("pay-for-me-who-pays")
	if first != users.Seed[0].ID {
		t.Fatalf("a fresh phone opens as %q", first)
	}
	friend.Do(S("tap 李娜", browsertest.Click(chromedp.CSS(`[data-pay-as="buyer-li"]`))),
		S("see 李娜 pays", chromedp.WaitVisible(chromedp.CSS(`[data-paying-as="buyer-li"]`))),
		S("", browsertest.Attr(`[data-paying-as]`, "data-paying-as", &payer)))
	friend.Do(payOnPhone("李娜")...)
	friend.Do(S("see the result", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))), S("", browsertest.Text(`[data-result]`, &done)))
	friend.Screenshot("pay-for-me-friend-paid")
	if payer != "buyer-li" || !strings.Contains(done, "你已帮 张*") {
		t.Fatalf("the friend (%s) sees %q", payer, done)
	}
	asker.Do(S("the asker's page says a friend paid", chromedp.WaitVisible(chromedp.CSS(`[data-paid-by-friend]`))))
	asker.Screenshot("pay-for-me-asker")

	// The friend's computer, which never chose a method, opens the link.
	other := browsertest.Start(t, "friend-desktop", desktop)
	var later string
	other.Do(S("open the link again", chromedp.Navigate(pfm.URL)),
		S("see the result", chromedp.WaitVisible(chromedp.CSS(`[data-result="succeeded"]`))), S("", browsertest.Text(`[data-result]`, &later)))
	if !strings.Contains(later, "你已帮 张*") || strings.Contains(later, "其他人") {
		t.Fatalf("the friend's other device sees %q", later)
	}

	if who, isBuyer := walletPayer(t, e, p.ID); who != "buyer-li" || isBuyer {
		t.Fatalf("the wallet's payer is %q (buyer: %v), not the friend 李娜", who, isBuyer)
	}
	if got, err := e.Svc.PaymentService().PaymentByID(context.Background(), p.ID); err != nil || got.Payer.PayForMe != pfm.ID {
		t.Fatalf("paid through %q, not the request %s: %v", got.Payer.PayForMe, pfm.ID, err)
	}
}
