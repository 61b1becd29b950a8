package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/campaign"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

func application(name, license string) map[string]any {
	return map[string]any{"name": name, "short_name": name, "license_number": license, "legal_person": "张三", "contact_name": "张三",
		"contact_phone": "13800138000", "contact_email": "owner@example.com", "service_phone": "0571-88888888",
		"bank_account_name": "张三", "bank_account_number": "6222021234567890123"}
}

// TestCampaignToActive: an operator signs up the county shops for WeChat
// Pay before a deadline, from invitation to active, through the sandbox's
// real onboarding API: one shop is rejected by the wallet and resubmitted;
// the progress report follows; each shop's buyers see WeChat Pay exactly
// when its contract is active, and pay through its new sub-merchant.
func TestCampaignToActive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := gatewaytest.Start(t, db, gatewaytest.Options{ContractsRequired: map[string]bool{"wechatpay": true},
			Merchants: []merchant.Merchant{}})
		ctx := context.Background()
		// Three shops in counties of Hebei, one city shop that is not invited.
		var shops []merchant.Merchant
		for i, m := range []map[string]any{
			{"name": "唐县百货", "category": "grocery", "region_code": "130627", "size": "small"},
			{"name": "涿州超市", "category": "grocery", "region_code": "130681", "size": "small"},
			{"name": "易县粮油", "category": "grocery", "region_code": "130633", "size": "small"},
			{"name": "北京服饰", "category": "apparel", "region_code": "110105", "size": "large"},
		} {
			var got merchant.Merchant
			if st := e.Call(e.Platform, "POST", "/v1/merchants", m, &got); st != http.StatusCreated || got.RegionCode != m["region_code"] {
				t.Fatalf("merchant %d: %d %+v", i, st, got)
			}
			shops = append(shops, got)
		}
		if st := e.Call(e.Platform, "POST", "/v1/merchants", map[string]any{"name": "坏店", "region_code": "13062"}, nil); st != http.StatusBadRequest {
			t.Fatalf("a bad region code: %d", st)
		}
		if st := e.Call(e.Platform, "POST", "/v1/campaigns", map[string]any{"channel": "wechatpay", "deadline": time.Now().Add(48 * time.Hour)}, nil); st != http.StatusBadRequest {
			t.Fatalf("a campaign before the agreement: %d", st)
		}
		e.Call(e.Platform, "POST", "/v1/agreements", map[string]any{"channel": "wechatpay", "title": "微信支付开通协议", "body": "条款……"}, nil)
		var cmp campaign.Campaign
		if st := e.Call(e.Platform, "POST", "/v1/campaigns", map[string]any{"channel": "wechatpay", "name": "县域开通", "deadline": time.Now().Add(48 * time.Hour),
			"filter": map[string]any{"category": "grocery", "region": "13"}, "remind_every": "1h"}, &cmp); st != http.StatusCreated || cmp.Invited != 3 {
			t.Fatalf("campaign: %d %+v", st, cmp)
		}
		var list struct{ Data []onboarding.ContractView }
		e.Call(e.Platform, "GET", "/v1/contracts?campaign_id="+cmp.ID, nil, &list)
		if len(list.Data) != 3 {
			t.Fatalf("contracts %+v", list.Data)
		}
		byMerchant := map[string]onboarding.ContractView{}
		for _, c := range list.Data {
			byMerchant[c.MerchantID] = c
			if c.State != "invited" || c.SignURL == "" {
				t.Fatalf("contract %+v", c)
			}
		}
		// The reminder job tells each merchant not yet active, with its link.
		if err := e.Svc.OnboardingService().RemindCampaign(ctx, jobs.Job{Payload: []byte(`{"id":"` + cmp.ID + `"}`)}); err != nil {
			t.Fatal(err)
		}
		var reminders int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE type = 'contract.reminder'`).Scan(&reminders); err != nil {
			t.Fatal(err)
		}
		if reminders != 3 {
			t.Fatalf("%d reminders, want 3", reminders)
		}
		// All three sign on the page; the wallet will reject the second once.
		licenses := []string{"92130627MA2JDMCK9H", "92130681MA2JDMCK9H", "92130633MA2JDMCK9H"}
		for i := range 3 {
			if st := signViaPage(t, e, byMerchant[shops[i].ID], "店主", ""); st != http.StatusSeeOther {
				t.Fatalf("sign %d: %d", i, st)
			}
		}
		ref1 := "hutong_" + byMerchant[shops[1].ID].ID[3:]
		if st := e.Sandbox.Helper("POST", "/sandbox/v1/wechatpay/applyment_outcome", map[string]any{"outcome": "rejected", "reason": "营业执照照片模糊",
			"field": "license_copy", "business_code": ref1}, nil); st != http.StatusOK {
			t.Fatalf("outcome: %d", st)
		}
		for i := range 3 {
			c := byMerchant[shops[i].ID]
			if st := e.Call(e.Platform, "POST", "/v1/contracts/"+c.ID+"/submit", application(shops[i].Name, licenses[i]), &c); st != http.StatusOK {
				t.Fatalf("submit %d: %d", i, st)
			}
		}
		state := func(i int) onboarding.ContractView {
			var c onboarding.ContractView
			e.Call(e.Platform, "GET", "/v1/contracts/"+byMerchant[shops[i].ID].ID, nil, &c)
			return c
		}
		e.Eventually("the wallet decides", func() bool {
			return state(0).State == "active" && state(1).State == "rejected" && state(2).State == "active"
		})
		if c := state(1); c.Reason == "" || c.Payable {
			t.Fatalf("rejected contract %+v", c)
		}
		var pr campaign.Progress
		e.Call(e.Platform, "GET", "/v1/campaigns/"+cmp.ID, nil, &pr)
		if pr.Total != 3 || pr.Active != 2 || pr.ByState["rejected"] != 1 || pr.ByRegion["13"]["active"] != 2 {
			t.Fatalf("progress %+v", pr)
		}
		// The rejected shop fixes its application and resubmits.
		e.Sandbox.Helper("POST", "/sandbox/v1/wechatpay/applyment_outcome", map[string]any{"outcome": "approved", "business_code": ref1}, nil)
		c1 := byMerchant[shops[1].ID]
		if st := e.Call(e.Platform, "POST", "/v1/contracts/"+c1.ID+"/submit", application(shops[1].Name, licenses[1]), nil); st != http.StatusOK {
			t.Fatalf("resubmit: %d", st)
		}
		e.Eventually("resubmitted and approved", func() bool { return state(1).State == "active" })
		e.Call(e.Platform, "GET", "/v1/campaigns/"+cmp.ID, nil, &pr)
		if pr.Active != 3 || len(pr.AtRisk) != 0 {
			t.Fatalf("progress at the end %+v", pr)
		}
		// Each active shop's checkout offers WeChat Pay, and a payment goes
		// through its new sub-merchant; the city shop has no contract.
		_, key, _ := e.Svc.MerchantService().CreateKey(ctx, shops[0].ID)
		_, cityKey, _ := e.Svc.MerchantService().CreateKey(ctx, shops[3].ID)
		var ms methodsAnswer
		e.Call(key, "GET", "/v1/methods?buyer_id=b1", nil, &ms)
		if len(ms.Data) == 0 || ms.Data[0].Method != "wechatpay.native" {
			t.Fatalf("active shop's methods %+v", ms)
		}
		e.Call(cityKey, "GET", "/v1/methods?buyer_id=b1", nil, &ms)
		for _, m := range ms.Data {
			if m.Method == "wechatpay.native" {
				t.Fatal("an uninvited shop's checkout shows WeChat Pay")
			}
		}
		m0, _ := e.Svc.MerchantService().Get(ctx, shops[0].ID)
		if m0.Wallets["wechatpay"].SubMerchant == "" {
			t.Fatal("the active contract did not record the sub_mchid")
		}
		p, err := e.Svc.PaymentService().CreatePayment(ctx, m0, payment.Request{MerchantOrderID: "county-1", Amount: 880, Currency: "CNY", Description: "酱油",
			Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b1"}})
		if err != nil {
			t.Fatalf("a payment through the new sub-merchant: %v", err)
		}
		if st := e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "wechatpay", "code": p.NextAction.QRCode}, nil); st != http.StatusOK {
			t.Fatalf("pay: %d", st)
		}
		e.Eventually("paid to the sub-merchant", func() bool {
			got, _ := e.Svc.PaymentService().GetPayment(ctx, m0.ID, p.ID)
			return got.Status == "succeeded"
		})
		// Reminders went to no one (all active) — but the invitations were
		// published as contract.invited events with the signing link.
		var evs struct{ Data []webhooks.Event }
		e.Call(key, "GET", "/v1/events", nil, &evs)
		found := false
		for _, ev := range evs.Data {
			found = found || ev.Type == onboarding.EventContractInvited
		}
		if !found {
			t.Fatal("no contract.invited event for the merchant")
		}
	})
}

// TestAlipayOnboarding: a merchant authorizes the platform's app in Alipay
// (the sandbox issues the app_auth_code its page would); the contract's
// submission exchanges it, a rejected review is reported with Alipay's
// reason, a fresh authorization succeeds, and the merchant's payments go
// through its app_auth_token.
func TestAlipayOnboarding(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{ContractsRequired: map[string]bool{"alipay": true}})
	ctx := context.Background()
	seller := e.Sandbox.Sandbox().Alipay().Merchants()[len(e.Sandbox.Sandbox().Alipay().Merchants())-1]
	e.Call(e.Platform, "POST", "/v1/agreements", map[string]any{"channel": "alipay", "title": "支付宝服务协议", "body": "条款……"}, nil)
	var c onboarding.ContractView
	e.Call(e.Platform, "POST", "/v1/contracts", map[string]any{"merchant_id": e.Merchants[0].ID, "channel": "alipay"}, &c)
	if st := signViaPage(t, e, c, "店主", ""); st != http.StatusSeeOther {
		t.Fatalf("sign: %d", st)
	}
	code := func(outcome string) string {
		e.Sandbox.Helper("POST", "/sandbox/v1/alipay/authorization_outcome", map[string]any{"outcome": outcome, "reason": "经营类目不符", "merchant": seller.PID}, nil)
		var out struct {
			Code string `json:"app_auth_code"`
		}
		if st := e.Sandbox.Helper("POST", "/sandbox/v1/alipay/app_auth_codes", map[string]any{"merchant": seller.PID}, &out); st != http.StatusOK || out.Code == "" {
			t.Fatalf("auth code: %d", st)
		}
		return out.Code
	}
	st := e.Call(e.Platform, "POST", "/v1/contracts/"+c.ID+"/submit", map[string]any{"app_auth_code": code("rejected")}, &c)
	if st != http.StatusOK {
		t.Fatalf("submit with a rejected authorization: %d", st)
	}
	e.Eventually("rejected", func() bool {
		e.Call(e.Platform, "GET", "/v1/contracts/"+c.ID, nil, &c)
		return c.State == "rejected"
	})
	if !strings.Contains(c.Reason, "经营类目不符") || c.Payable {
		t.Fatalf("rejected contract: %+v", c)
	}
	if st := e.Call(e.Platform, "POST", "/v1/contracts/"+c.ID+"/submit", map[string]any{"app_auth_code": code("approved")}, &c); st != http.StatusOK {
		t.Fatalf("submit: %d", st)
	}
	e.Eventually("active", func() bool {
		e.Call(e.Platform, "GET", "/v1/contracts/"+c.ID, nil, &c)
		return c.State == "active"
	})
	m, _ := e.Svc.MerchantService().Get(ctx, e.Merchants[0].ID)
	if m.Wallets["alipay"].SubMerchant == "" {
		t.Fatal("no app_auth_token recorded")
	}
	if !shown(e, "b1", "alipay.precreate") {
		t.Fatal("Alipay hidden under an active contract")
	}
	p, err := e.Svc.PaymentService().CreatePayment(ctx, m, payment.Request{MerchantOrderID: "ali-1", Amount: 500, Currency: "CNY", Description: "茶叶",
		Method: "alipay.precreate", Buyer: payment.Buyer{ID: "b1"}})
	if err != nil {
		t.Fatalf("a payment for the authorized seller: %v", err)
	}
	if st := e.Sandbox.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "alipay", "code": p.NextAction.QRCode}, nil); st != http.StatusOK {
		t.Fatalf("pay: %d", st)
	}
	e.Eventually("paid", func() bool {
		got, _ := e.Svc.PaymentService().GetPayment(ctx, m.ID, p.ID)
		return got.Status == "succeeded"
	})

	// The day's Alipay reconciliation reads the authorized merchant's own
	// bill beside the app's (which does not hold its trade): it matches.
	run, err := e.Svc.MoneyService().Reconcile(ctx, "alipay", chinatime.Date(time.Now()), nil)
	if err != nil || run.Summary.Matched != 1 || run.Summary.Discrepancies() != 0 {
		_, items, _ := e.Svc.MoneyService().ReconRunItems(ctx, run.ID)
		t.Fatalf("reconciled %+v (%v): %+v", run.Summary, err, items)
	}
}
