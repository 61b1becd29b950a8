package phone_test

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/journal"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
)

// getHolding is a GET from a browser whose phone was last used as holder
// ("" for a browser that never opened the phone).
func getHolding(t *testing.T, u, holder string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if holder != "" {
		req.AddCookie(&http.Cookie{Name: phone.UserCookie, Value: url.PathEscape(holder)})
	}
	resp, err := browserless.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// orderUser is the user whose order page loc is, and the code it shows.
func orderUser(t *testing.T, loc string) (string, string) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(u.Path, "/phone/u/") || !strings.HasSuffix(u.Path, "/order") {
		t.Fatalf("not an order page: %q", loc)
	}
	return strings.TrimSuffix(strings.TrimPrefix(u.Path, "/phone/u/"), "/order"), u.Query().Get("code")
}

// TestOpenChoosesThePayer: a page's link to the phone opens the order as
// the user it names when that is a sandbox user, else as whoever holds the
// phone, else as the default user; an unknown name is ignored.
func TestOpenChoosesThePayer(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 321, "https://merchant.example/n")
	for _, tc := range []struct{ name, as, holder, want string }{
		{"as names a user", "buyer-wang", "", "buyer-wang"},
		{"as beats the holder", "buyer-wang", "buyer-li", "buyer-wang"},
		{"unknown as: the holder", "walkin_123", "buyer-li", "buyer-li"},
		{"unknown as, no holder: the default", "walkin_123", "", users.Seed[0].ID},
		{"no as: the holder", "", "buyer-broke", "buyer-broke"},
		{"no as, no holder: the default", "", "", users.Seed[0].ID},
		{"unknown holder: the default", "", "nobody", users.Seed[0].ID},
		{"as with a path in it is no user", "../buyer-li", "buyer-wang", "buyer-wang"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"wallet": {"wechatpay"}, "code": {code}}
			if tc.as != "" {
				q.Set("as", tc.as)
			}
			st, loc, _ := getHolding(t, e.URL+phone.OpenPath+"?"+q.Encode(), tc.holder)
			if st != http.StatusSeeOther {
				t.Fatalf("open: %d", st)
			}
			user, got := orderUser(t, loc)
			if user != tc.want || got != code {
				t.Fatalf("opened as %q the code %q; want %q and %q", user, got, tc.want, code)
			}
			// The order page it leads to is that user's, and the phone
			// now remembers them.
			st, _, body := getHolding(t, e.URL+loc, tc.holder)
			if st != http.StatusOK || !strings.Contains(body, `data-paying-as="`+tc.want+`"`) {
				t.Fatalf("order page %d:\n%s", st, body)
			}
		})
	}
	// Without wallet, the wallet that knows the code opens it.
	st, loc, _ := getHolding(t, e.URL+phone.OpenPath+"?"+url.Values{"code": {code}, "as": {"buyer-li"}}.Encode(), "")
	if u, err := url.Parse(loc); err != nil || st != http.StatusSeeOther || u.Query().Get("wallet") != "wechatpay" {
		t.Fatalf("open without wallet: %d %q %v", st, loc, err)
	}
}

func TestOpenRefusals(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 321, "https://merchant.example/n")
	for _, tc := range []struct {
		name string
		q    string
		want string
	}{
		{"no code", url.Values{"wallet": {"wechatpay"}}.Encode(), "缺少付款码"},
		{"blank code", url.Values{"wallet": {"wechatpay"}, "code": {"  "}}.Encode(), "缺少付款码"},
		{"unknown wallet", url.Values{"wallet": {"paypal"}, "code": {code}}.Encode(), "没有这个钱包"},
		{"another wallet's code", url.Values{"wallet": {"alipay"}, "code": {code}}.Encode(), "这不是支付宝的付款码"},
		{"nobody's code", url.Values{"code": {"hello"}}.Encode(), "没有钱包认得这个码"},
		{"too long", url.Values{"code": {code + strings.Repeat("A", 5000)}}.Encode(), "超过 4096 字节"},
		{"not UTF-8", "code=weixin://wxpay/bizpayurl?pr=%ff", "不是有效的 UTF-8"},
		{"as twice", url.Values{"code": {code}, "as": {"buyer-li", "buyer-wang"}}.Encode(), "as 出现了 2 次"},
		{"code twice", url.Values{"code": {code, code}}.Encode(), "code 出现了 2 次"},
	} {
		st, loc, body := getHolding(t, e.URL+phone.OpenPath+"?"+tc.q, "buyer-li")
		if st != http.StatusBadRequest || loc != "" || !strings.Contains(html.UnescapeString(body), tc.want) {
			t.Errorf("%s: %d %q, body lacks %q", tc.name, st, loc, tc.want)
		}
	}
}

// TestHandOffsPayAsTheHolder: a wallet's own pay links (WeChat's h5_url,
// Alipay's wap cashier) open as whoever holds the phone, and that user is
// the one the wallet records as payer.
func TestHandOffsPayAsTheHolder(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	h5, no := h5Order(t, e, "https://merchant.example/after")
	for holder, want := range map[string]string{"": users.Seed[0].ID, "buyer-wang": "buyer-wang"} {
		st, loc, _ := getHolding(t, h5, holder)
		if user, _ := orderUser(t, loc); st != http.StatusSeeOther || user != want {
			t.Fatalf("h5 link held by %q opens as %q; want %q", holder, user, want)
		}
	}
	st, loc, _ := getHolding(t, h5, "buyer-li")
	user, code := orderUser(t, loc)
	if st != http.StatusSeeOther || user != "buyer-li" {
		t.Fatalf("h5 link held by 李娜 opens as %q", user)
	}
	if st, _, body := postForm(t, e.URL+"/phone/u/buyer-li/pay", url.Values{"wallet": {"wechatpay"}, "code": {code}, "pin": {phone.PIN}}); st != http.StatusSeeOther {
		t.Fatalf("李娜 pays: %d\n%s", st, body)
	}
	if !paidBy(e.Sandbox().WeChatPay().Phone(), "buyer-li", no) {
		t.Fatalf("WeChat does not record 李娜 as the payer of %s", no)
	}

	c := e.Sandbox().Credentials().Alipay
	client, err := alipaysdk.New(c.AppID, c.AppPrivateKey, true, alipaysdk.WithProductionGateway(e.URL+"/gateway.do"), alipaysdk.WithTimeLocation(chinatime.Location))
	if err != nil {
		t.Fatal(err)
	}
	wap := alipaysdk.TradeWapPay{}
	wap.OutTradeNo, wap.Subject, wap.TotalAmount, wap.ProductCode, wap.ReturnURL = outTradeNo("WAP"), "手机网站支付", "3.21", "QUICK_WAP_WAY", "https://merchant.example/return"
	link, err := client.TradeWapPay(wap)
	if err != nil {
		t.Fatal(err)
	}
	st, cashier, _ := getHolding(t, link.String(), "buyer-wang")
	if st/100 != 3 || !strings.Contains(cashier, "/phone/alipay/cashier") {
		t.Fatalf("wap link: %d %q", st, cashier)
	}
	if !strings.HasPrefix(cashier, "http") {
		cashier = e.URL + cashier
	}
	st, loc, _ = getHolding(t, cashier, "buyer-wang")
	user, code = orderUser(t, loc)
	if st != http.StatusSeeOther || user != "buyer-wang" {
		t.Fatalf("wap cashier held by 王芳 opens as %q", user)
	}
	if st, _, body := postForm(t, e.URL+"/phone/u/buyer-wang/pay", url.Values{"wallet": {"alipay"}, "code": {code}, "pin": {phone.PIN}}); st != http.StatusSeeOther {
		t.Fatalf("王芳 pays: %d\n%s", st, body)
	}
	if !paidBy(e.Sandbox().Alipay().Phone(), "buyer-wang", wap.OutTradeNo) {
		t.Fatalf("Alipay does not record 王芳 as the payer of %s", wap.OutTradeNo)
	}
}

// paidBy reports whether the wallet's records say user paid the merchant's
// order no.
func paidBy(w phone.Wallet, user, no string) bool {
	for _, r := range w.History(user) {
		if r.OutTradeNo == no && r.User == user {
			return true
		}
	}
	return false
}

// TestOrderPageSwitchesPayer: the order page says who pays, with their
// initial, and offers every other sandbox user in one tap, on the same
// order.
func TestOrderPageSwitchesPayer(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	_, code, _ := nativeOrder(t, e, 654, "https://merchant.example/n")
	_, _, body := get(t, e.URL+"/phone/u/buyer-zhang/order?"+url.Values{"wallet": {"wechatpay"}, "code": {code}}.Encode())
	for _, want := range []string{`data-paying-as="buyer-zhang"`, `data-paying-name>付款人 张伟 ·`, `>张</span>`} {
		if !strings.Contains(body, want) {
			t.Fatalf("the order page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `data-pay-as="buyer-zhang"`) {
		t.Fatal("the order page offers to switch to the payer already shown")
	}
	for _, u := range users.Seed[1:] {
		href := "/phone/u/" + u.ID + "/order?" + url.Values{"wallet": {"wechatpay"}, "code": {code}}.Encode()
		if !strings.Contains(body, `href="`+html.EscapeString(href)+`" data-pay-as="`+u.ID+`"`) {
			t.Fatalf("the order page does not offer %s (%s):\n%s", u.Name, href, body)
		}
		st, _, page := get(t, e.URL+href)
		if st != http.StatusOK || !strings.Contains(page, `data-paying-as="`+u.ID+`"`) || !strings.Contains(page, `>`+phone.Initial(u.Name)+`</span>`) {
			t.Fatalf("switching to %s: %d", u.ID, st)
		}
	}
	// A paid order offers no one.
	e.Pay(code, "buyer-li")
	_, _, body = get(t, e.URL+"/phone/u/buyer-zhang/order?"+url.Values{"wallet": {"wechatpay"}, "code": {code}}.Encode())
	if strings.Contains(body, "data-pay-as") {
		t.Fatal("a paid order offers to switch payer")
	}
}

func TestInitial(t *testing.T) {
	for name, want := range map[string]string{"张伟": "张", " 李娜": "李", "amy": "a", "": "?", "\xff": "?"} {
		if got := phone.Initial(name); got != want {
			t.Errorf("Initial(%q) = %q, want %q", name, got, want)
		}
	}
}

// FuzzOpen opens any link to the phone, held by anyone: the answer is the
// order page of the user PayerFor's rule names, for a code the wallet
// recognizes, or a refusal that says why; never a server error.
func FuzzOpen(f *testing.F) {
	j, err := journal.Open(filepath.Join(f.TempDir(), "j"), journal.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { j.Close() })
	dir, err := users.Open(j)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][2]string{
		{"wallet=wechatpay&code=weixin://wxpay/bizpayurl?pr%3Dabc&as=buyer-wang", ""},
		{"code=weixin://wxpay/bizpayurl?pr%3Dabc", "buyer-li"},
		{"code=weixin://wxpay/bizpayurl?pr%3Dabc&as=nobody", "buyer-broke"},
		{"code=weixin://wxpay/bizpayurl?pr%3Dabc&as=buyer-li&as=buyer-wang", ""},
		{"wallet=alipay&code=x", ""}, {"code=%ff", ""}, {"code=;;;&&&", "%zz"}, {"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	h := phone.New(phone.Config{Wallets: []phone.Wallet{stubWallet{}}, Users: dir})
	f.Fuzz(func(t *testing.T, query, holder string) {
		req := httptest.NewRequest("GET", "/phone/open", nil)
		req.URL.RawQuery = query
		if holder != "" {
			req.Header.Set("Cookie", phone.UserCookie+"="+url.PathEscape(holder))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusSeeOther:
			q, err := url.ParseQuery(query)
			if err != nil {
				t.Fatal(err)
			}
			want := dir.Default()
			if u, err := dir.Get(holder); err == nil && len(req.Cookies()) == 1 && req.Cookies()[0].Value == url.PathEscape(holder) {
				want = u.ID
			}
			if u, err := dir.Get(q.Get("as")); err == nil {
				want = u.ID
			}
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || loc.Path != "/phone/u/"+want+"/order" || loc.Query().Get("wallet") != "wechatpay" {
				t.Fatalf("open %q held by %q redirects to %q; want %s's order", query, holder, rec.Header().Get("Location"), want)
			}
			if got := loc.Query().Get("code"); !(stubWallet{}).Recognizes(got) || len(got) > 4096 || got != strings.TrimSpace(q.Get("code")) {
				t.Fatalf("open %q goes to the order for %q", query, got)
			}
		case http.StatusBadRequest:
			if !strings.Contains(rec.Body.String(), `role="alert"`) {
				t.Fatalf("refusal of %q without a message:\n%s", query, rec.Body)
			}
		default:
			t.Fatalf("open %q: %d\n%s", query, rec.Code, rec.Body)
		}
	})
}
