package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// signViaPage signs a contract as its merchant would on the signing page.
func signViaPage(t *testing.T, e *gatewaytest.Env, c onboarding.ContractView, signer, token string) int {
	t.Helper()
	u, _ := url.Parse(c.SignURL)
	page, err := e.Svc.OnboardingService().ForSigning(context.Background(), c.ID, u.Query().Get("token"))
	if err != nil {
		t.Fatal(err)
	}
	if token == "" {
		token = u.Query().Get("token")
	}
	form := url.Values{"token": {token}, "version": {itoa(page.Agreement.Version)}, "text_sha256": {page.Agreement.TextSHA256}, "signer": {signer}, "agree": {"yes"}}
	req, _ := http.NewRequest("POST", e.URL+"/sign/"+c.ID, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.URL)
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestContractsGateTheChannel: with contracts required for WeChat Pay, a
// merchant's checkout shows it only once its contract is active under the
// current agreement; suspension hides it at once; new terms require
// signing again. Every transition is recorded.
func TestContractsGateTheChannel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{ContractsRequired: map[string]bool{"wechatpay": true}})
		m := e.Merchants[0].ID
		if shown(e, "b1", "wechatpay.native") || !shown(e, "b1", "alipay.precreate") {
			t.Fatal("WeChat shown without a contract, or Alipay hidden")
		}
		var ag contract.Agreement
		if st := e.Call(e.Platform, "POST", "/v1/agreements", map[string]any{"channel": "wechatpay", "title": "微信支付开通协议", "body": "第一条 ……"}, &ag); st != http.StatusCreated || ag.Version != 1 {
			t.Fatalf("agreement: %d %+v", st, ag)
		}
		var c onboarding.ContractView
		if st := e.Call(e.Platform, "POST", "/v1/contracts", map[string]any{"merchant_id": m, "channel": "wechatpay"}, &c); st != http.StatusCreated || c.State != "invited" {
			t.Fatalf("invite: %d %+v", st, c)
		}
		// Not signed: submitting is refused and nothing changes.
		if st := e.Call(e.Platform, "POST", "/v1/contracts/"+c.ID+"/submit", nil, nil); st != http.StatusConflict {
			t.Fatalf("submit unsigned: %d", st)
		}
		// A wrong token signs nothing.
		if st := signViaPage(t, e, c, "王经理", strings.Repeat("0", 40)); st != http.StatusForbidden {
			t.Fatalf("a forged signing link: %d", st)
		}
		if st := signViaPage(t, e, c, "王经理", ""); st != http.StatusSeeOther {
			t.Fatalf("sign: %d", st)
		}
		e.Call(e.Platform, "GET", "/v1/contracts/"+c.ID, nil, &c)
		if c.State != "signed" || c.Signature == nil || c.Signature.TextHash != ag.TextSHA256 || c.Signature.IP == "" {
			t.Fatalf("signed contract %+v", c)
		}
		// The operator activates it through the wallet's decision (here:
		// directly, as the wallet's poll would).
		ctx := context.Background()
		for _, kind := range []string{"submit", "approve"} {
			if _, err := e.Svc.OnboardingService().Act(ctx, c.ID, contractAction(kind, "wallet")); err != nil {
				t.Fatal(err)
			}
		}
		if !shown(e, "b1", "wechatpay.native") {
			t.Fatal("an active contract does not show WeChat")
		}
		// Suspension hides it at once.
		if st := e.Call(e.Platform, "POST", "/v1/contracts/"+c.ID+"/suspend", map[string]any{"reason": "风控复核"}, &c); st != http.StatusOK || c.State != "suspended" {
			t.Fatalf("suspend: %d %+v", st, c)
		}
		if shown(e, "b1", "wechatpay.native") {
			t.Fatal("a suspended contract still shows WeChat")
		}
		e.Call(e.Platform, "POST", "/v1/contracts/"+c.ID+"/resume", nil, &c)
		if !shown(e, "b1", "wechatpay.native") {
			t.Fatal("resumed, WeChat is hidden")
		}
		// New terms that require signing again: hidden until signed.
		e.Call(e.Platform, "POST", "/v1/agreements", map[string]any{"channel": "wechatpay", "title": "微信支付开通协议", "body": "第一条 …… 第二条 新增", "require_resign": true}, &ag)
		if shown(e, "b1", "wechatpay.native") {
			t.Fatal("shown under a superseded signature")
		}
		e.Call(e.Platform, "GET", "/v1/contracts/"+c.ID, nil, &c)
		if c.State != "invited" || c.Payable {
			t.Fatalf("after new terms: %+v", c)
		}
		var trs struct{ Data []map[string]any }
		e.Call(e.Keys[0], "GET", "/v1/contracts/"+c.ID+"/transitions", nil, &trs)
		want := []string{"invite", "sign", "submit", "approve", "suspend", "resume", "new_terms"}
		if len(trs.Data) != len(want) {
			t.Fatalf("transitions %v", trs.Data)
		}
		for i, tr := range trs.Data {
			if tr["action"] != want[i] || tr["actor"] == "" {
				t.Fatalf("transition %d: %v", i, tr)
			}
		}
		if trs.Data[4]["reason"] != "风控复核" || !strings.Contains(trs.Data[0]["actor"].(string), "test operator") {
			t.Fatalf("transition records %v", trs.Data)
		}
		// Another merchant cannot see it; a merchant key cannot invite.
		if st := e.Call(e.Keys[1], "GET", "/v1/contracts/"+c.ID, nil, nil); st != http.StatusNotFound {
			t.Fatalf("another merchant reads the contract: %d", st)
		}
		if st := e.Call(e.Keys[0], "POST", "/v1/contracts", map[string]any{"merchant_id": m, "channel": "alipay"}, nil); st != http.StatusForbidden {
			t.Fatalf("a merchant key invites: %d", st)
		}
	})
}

func contractAction(kind, actor string) contract.Action {
	return contract.Action{Kind: kind, Actor: actor}
}
