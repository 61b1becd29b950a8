package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestConsoleTestPaymentPaidByTheWalletSandbox: the gateway serve and the
// demo run with a wallet sandbox hands its console the sandbox's test
// buyer, so a merchant's test payment made in the portal is paid there;
// one on real wallets (no sandbox URL) offers no such button.
func TestConsoleTestPaymentPaidByTheWalletSandbox(t *testing.T) {
	sb := sandboxtest.Start(t)
	ctx := context.Background()
	wallets, err := walletAccounts(ctx, sb.Sandbox().Credentials(), sb.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	svc := &gateway.Service{DB: storetest.SQLite(t), Accounts: wallets, BaseURL: base, Logger: slog.New(slog.DiscardHandler)}
	m, err := svc.MerchantService().Create(ctx, merchant.Merchant{Name: "县城超市"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&accounts.Service{DB: svc.DB}).AddUser(ctx, accounts.AddUserParams{Email: "shop@hutong.test", Name: "店长",
		Role: accounts.RoleMerchant, MerchantID: m.ID, Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	withSandbox, pages := gatewayHandler(svc, svc.Logger, 0, sb.URL)
	srv.Config.Handler = withSandbox
	srv.Start()
	t.Cleanup(func() { srv.Close(); pages.Shutdown() })
	realWallets, realPages := gatewayHandler(svc, svc.Logger, 0, "")
	real := httptest.NewServer(realWallets)
	t.Cleanup(func() { real.Close(); realPages.Shutdown() })

	for _, c := range []struct {
		base    string
		sandbox bool
	}{{real.URL, false}, {base, true}} {
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		do := func(method, path string, form url.Values) string {
			t.Helper()
			var res *http.Response
			var err error
			if form == nil {
				res, err = hc.Get(c.base + path)
			} else {
				res, err = hc.PostForm(c.base+path, form)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: %d %v\n%s", method, path, res.StatusCode, err, body)
			}
			return string(body)
		}
		do("POST", "/console/login", url.Values{"email": {"shop@hutong.test"}, "password": {"correct horse battery"}})
		form := do("GET", "/console/test-payments", nil)
		field := func(name string) string {
			m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindStringSubmatch(form)
			if m == nil {
				t.Fatalf("the test payment form has no %s", name)
			}
			return m[1]
		}
		csrf := field("csrf")
		page := do("POST", "/console/test-payments", url.Values{"csrf": {csrf}, "order": {field("order")}, "method": {"wechatpay.native"}, "amount": {"0.01"}})
		if got := strings.Contains(page, "data-sandbox-pay"); got != c.sandbox {
			t.Fatalf("sandbox %v: the test payment offers the sandbox's buyer: %v", c.sandbox, got)
		}
		if !c.sandbox {
			continue
		}
		id := regexp.MustCompile(`data-payment-id>([^<]+)<`).FindStringSubmatch(page)
		if id == nil {
			t.Fatalf("the test payment's page names no payment:\n%s", page)
		}
		if paid := do("POST", "/console/test-payments/"+id[1]+"/sandbox-pay", url.Values{"csrf": {csrf}}); !strings.Contains(paid, `data-status="`) {
			t.Fatalf("after the sandbox paid:\n%s", paid)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			p, err := svc.PaymentService().GetPayment(ctx, m.ID, id[1])
			if err == nil && p.Status == payment.StatusSucceeded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the test payment is %s (%v), want succeeded", p.Status, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
