package wechatpay_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/channel/wechatpay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	sbwechat "github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

// application is a complete sub-merchant application of an individual
// business (its licence starts 92), under a fresh business_code.
func application() channel.MerchantApplication {
	return channel.MerchantApplication{
		Ref: "hutong_" + no("ob"), Name: "县城百货店", ShortName: "县城百货", LicenseNumber: "92330411MA2JDMCK9H",
		LegalPerson: "张三", ContactName: "张三", ContactPhone: "13800138000", ContactEmail: "zhang@example.com",
		ServicePhone: "0571-88888888", BankAccountName: "张三", BankAccountNumber: "6222021234567890123",
	}
}

// clock is the sandbox's clock, moved on by tests (within the five minutes
// a signed request's timestamp may be off).
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time             { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration)    { c.offset.Add(int64(d)) }
func withClock(c *clock) sandboxtest.Option { return sandboxtest.WithNow(c.now) }

func setOutcome(t *testing.T, e *sandboxtest.Env, o sbwechat.ApplymentOutcome) {
	t.Helper()
	var out map[string]any
	if st := e.Helper("POST", "/sandbox/v1/wechatpay/applyment_outcome", o, &out); st != http.StatusOK {
		t.Fatalf("set outcome %+v: %d %v", o, st, out)
	}
}

func applyments(t *testing.T, e *sandboxtest.Env) map[string]sbwechat.ApplymentView {
	t.Helper()
	var out struct{ Data []sbwechat.ApplymentView }
	if st := e.Helper("GET", "/sandbox/v1/wechatpay/applyments", nil, &out); st != http.StatusOK {
		t.Fatalf("applyments: %d", st)
	}
	m := map[string]sbwechat.ApplymentView{}
	for _, a := range out.Data {
		m[a.BusinessCode] = a
	}
	return m
}

// payAsSubMerchant checks that the wallet takes a partner payment for sub
// and credits it.
func payAsSubMerchant(t *testing.T, e *sandboxtest.Env, conn *wechatpay.Connector, sub string) {
	t.Helper()
	out := no("OB")
	a, err := conn.Prepay(ctx, channel.Prepay{OutTradeNo: out, Method: channel.WeChatNative, Amount: 1234, Description: "新商户首单",
		NotifyURL: "https://gw.example/notify/wechatpay/main", SubMerchant: sub})
	if err != nil {
		t.Fatalf("partner prepay for %s: %v", sub, err)
	}
	e.Pay(a.QRCode, "")
	tr, err := conn.Query(ctx, out, sub)
	if err != nil {
		t.Fatal(err)
	}
	if tr.State != channel.TradePaid || tr.SubMerchant != sub || tr.Merchant != e.Credentials().MchID || tr.Amount != 1234 {
		t.Fatalf("trade %+v, want paid to %s", tr, sub)
	}
}

func TestOnboardingApproved(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	app := application()
	ob, err := conn.SubmitMerchant(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if ob.State != channel.OnboardingActive || ob.WalletState != sbwechat.ApplymentFinished || ob.Ref != app.Ref || len(ob.SubMerchant) != 10 {
		t.Fatalf("onboarding %+v, want active at once with a sub_mchid (the default review)", ob)
	}
	q, err := conn.QueryMerchant(ctx, app.Ref)
	if err != nil || q != ob {
		t.Fatalf("query = %+v, %v; want %+v", q, err, ob)
	}
	// Submitting again changes nothing: the application is not sent twice.
	again, err := conn.SubmitMerchant(ctx, app)
	if err != nil || again != ob {
		t.Fatalf("submit again = %+v, %v", again, err)
	}
	a := applyments(t, e)[app.Ref]
	if a.Submissions != 1 || a.MerchantName != app.Name || a.SubMchID != ob.SubMerchant {
		t.Fatalf("sandbox applyment %+v", a)
	}
	var subs struct{ Data []sbwechat.SubMerchant }
	e.Helper("GET", "/sandbox/v1/wechatpay/sub_merchants", nil, &subs)
	found := false
	for _, sm := range subs.Data {
		found = found || sm.SubMchID == ob.SubMerchant && sm.Name == app.ShortName && sm.SpMchID == e.Credentials().MchID
	}
	if !found {
		t.Fatalf("sub_mchid %s not among the sub-merchants %+v", ob.SubMerchant, subs.Data)
	}
	payAsSubMerchant(t, e, conn, ob.SubMerchant)
}

func TestOnboardingRejectedThenResubmittedThenApproved(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	app := application()
	setOutcome(t, e, sbwechat.ApplymentOutcome{BusinessCode: app.Ref, Outcome: sbwechat.OutcomeRejected, Reason: "营业执照照片模糊，请重新上传", Field: "license_copy"})
	ob, err := conn.SubmitMerchant(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if ob.State != channel.OnboardingRejected || ob.WalletState != sbwechat.ApplymentRejected || ob.SubMerchant != "" ||
		!strings.Contains(ob.Reason, "营业执照照片") || !strings.Contains(ob.Reason, "营业执照照片模糊，请重新上传") {
		t.Fatalf("onboarding %+v, want rejected naming the field and reason", ob)
	}
	first := applyments(t, e)[app.Ref]
	if len(first.AuditDetail) != 1 || first.AuditDetail[0].Field != "license_copy" {
		t.Fatalf("audit_detail %+v", first.AuditDetail)
	}
	// Other applications keep the default review.
	other, err := conn.SubmitMerchant(ctx, application())
	if err != nil || other.State != channel.OnboardingActive {
		t.Fatalf("another application: %+v, %v", other, err)
	}

	// Resubmitted, edited, while the review would still refuse.
	app.ShortName = "县城百货二店"
	ob, err = conn.SubmitMerchant(ctx, app)
	if err != nil || ob.State != channel.OnboardingRejected {
		t.Fatalf("resubmitted under the same review: %+v, %v", ob, err)
	}
	// The merchant fixed it; the review approves the next submission.
	setOutcome(t, e, sbwechat.ApplymentOutcome{BusinessCode: app.Ref, Outcome: sbwechat.OutcomeApproved})
	ob, err = conn.SubmitMerchant(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if ob.State != channel.OnboardingActive || ob.SubMerchant == "" || ob.Reason != "" {
		t.Fatalf("onboarding %+v, want active", ob)
	}
	last := applyments(t, e)[app.Ref]
	if last.ApplymentID != first.ApplymentID || last.Submissions != 3 || last.MerchantName != app.Name || len(last.AuditDetail) != 0 {
		t.Fatalf("the resubmissions should be the same application, reviewed 3 times: %+v (first %d)", last, first.ApplymentID)
	}
	payAsSubMerchant(t, e, conn, ob.SubMerchant)
}

func TestOnboardingNeedsInfo(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	for _, via := range []string{"sign_url", "helper"} {
		t.Run(via, func(t *testing.T) {
			app := application()
			setOutcome(t, e, sbwechat.ApplymentOutcome{BusinessCode: app.Ref, Outcome: sbwechat.OutcomeNeedsInfo, Reason: "请核实结算银行账户"})
			ob, err := conn.SubmitMerchant(ctx, app)
			if err != nil {
				t.Fatal(err)
			}
			if ob.State != channel.OnboardingNeedsInfo || ob.WalletState != sbwechat.ApplymentToBeConfirmed ||
				!strings.HasPrefix(ob.SignURL, e.URL+"/sandbox/wechatpay/applyment/sign?") || !strings.Contains(ob.Reason, "请核实结算银行账户") {
				t.Fatalf("onboarding %+v, want needs_info with a sign_url", ob)
			}
			// Submitting again while the merchant must act sends nothing.
			if again, err := conn.SubmitMerchant(ctx, app); err != nil || again != ob {
				t.Fatalf("submit again: %+v, %v", again, err)
			}
			switch via {
			case "sign_url": // the super administrator opens the link and confirms
				resp, err := http.Get(ob.SignURL)
				if err != nil {
					t.Fatal(err)
				}
				page, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(page), "完成验证并签约") || !strings.Contains(string(page), app.Name) {
					t.Fatalf("sign page %d: %s", resp.StatusCode, page)
				}
				// A POST from another site is refused and changes nothing.
				req, _ := http.NewRequest("POST", ob.SignURL, nil)
				req.Header.Set("Sec-Fetch-Site", "cross-site")
				resp, err = http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("cross-site POST: %d", resp.StatusCode)
				}
				if q, _ := conn.QueryMerchant(ctx, app.Ref); q.State != channel.OnboardingNeedsInfo {
					t.Fatalf("after a refused POST: %+v", q)
				}
				resp, err = http.Post(ob.SignURL, "application/x-www-form-urlencoded", nil)
				if err != nil {
					t.Fatal(err)
				}
				page, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(page), sbwechat.ApplymentFinished) {
					t.Fatalf("confirm on the page %d: %s", resp.StatusCode, page)
				}
			case "helper":
				var v sbwechat.ApplymentView
				if st := e.Helper("POST", "/sandbox/v1/wechatpay/applyments/confirm", map[string]string{"business_code": app.Ref}, &v); st != 200 || v.ApplymentState != sbwechat.ApplymentFinished {
					t.Fatalf("confirm: %d %+v", st, v)
				}
				if st := e.Helper("POST", "/sandbox/v1/wechatpay/applyments/confirm", map[string]string{"business_code": app.Ref}, nil); st != http.StatusConflict {
					t.Fatalf("confirm twice: %d", st)
				}
			}
			q, err := conn.QueryMerchant(ctx, app.Ref)
			if err != nil || q.State != channel.OnboardingActive || q.SubMerchant == "" || q.SignURL != "" {
				t.Fatalf("after confirming: %+v, %v", q, err)
			}
		})
	}
}

// TestOnboardingDelayAndRestart: the review takes its delay on the
// sandbox's clock, reviewing until then, and a restart forgets neither the
// application nor the review settings.
func TestOnboardingDelayAndRestart(t *testing.T) {
	t.Parallel()
	var c clock
	e := sandboxtest.Start(t, withClock(&c))
	conn := connector(t, e)
	setOutcome(t, e, sbwechat.ApplymentOutcome{Outcome: sbwechat.OutcomeApproved, DelayMS: 60_000})
	app := application()
	ob, err := conn.SubmitMerchant(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if ob.State != channel.OnboardingReviewing || ob.WalletState != sbwechat.ApplymentAuditing || ob.SubMerchant != "" {
		t.Fatalf("onboarding %+v, want reviewing", ob)
	}
	c.advance(59 * time.Second)
	if q, err := conn.QueryMerchant(ctx, app.Ref); err != nil || q.State != channel.OnboardingReviewing {
		t.Fatalf("before the delay: %+v, %v", q, err)
	}
	// Another application, rejected after its own delay, across a restart.
	rej := application()
	setOutcome(t, e, sbwechat.ApplymentOutcome{BusinessCode: rej.Ref, Outcome: sbwechat.OutcomeRejected, Reason: "商户简称与经营内容不符", Field: "merchant_shortname", DelayMS: 30_000})
	if ob, err := conn.SubmitMerchant(ctx, rej); err != nil || ob.State != channel.OnboardingReviewing {
		t.Fatalf("second application: %+v, %v", ob, err)
	}

	e.Restart()
	conn = connector(t, e)
	c.advance(2 * time.Second)
	q, err := conn.QueryMerchant(ctx, app.Ref)
	if err != nil || q.State != channel.OnboardingActive || q.SubMerchant == "" {
		t.Fatalf("after the delay and a restart: %+v, %v", q, err)
	}
	if q2, err := conn.QueryMerchant(ctx, rej.Ref); err != nil || q2.State != channel.OnboardingReviewing {
		t.Fatalf("the other review is not due yet: %+v, %v", q2, err)
	}
	c.advance(30 * time.Second)
	q2, err := conn.QueryMerchant(ctx, rej.Ref)
	if err != nil || q2.State != channel.OnboardingRejected || !strings.Contains(q2.Reason, "商户简称：商户简称与经营内容不符") {
		t.Fatalf("rejected after its delay: %+v, %v", q2, err)
	}
	var settings struct {
		Default       sbwechat.ApplymentOutcome
		BusinessCodes []sbwechat.ApplymentOutcome `json:"business_codes"`
	}
	e.Helper("GET", "/sandbox/v1/wechatpay/applyment_outcome", nil, &settings)
	if settings.Default.DelayMS != 60_000 || len(settings.BusinessCodes) != 1 || settings.BusinessCodes[0].BusinessCode != rej.Ref {
		t.Fatalf("review settings after a restart: %+v", settings)
	}

	// The sub_mchid approved before (and read after) the restart works,
	// and survives another restart.
	e.Restart()
	conn = connector(t, e)
	payAsSubMerchant(t, e, conn, q.SubMerchant)
	if again, err := conn.QueryMerchant(ctx, app.Ref); err != nil || again != q {
		t.Fatalf("after a second restart: %+v, %v; want %+v", again, err, q)
	}
}

// TestOnboardingApprovedSubMerchantPaysBeforeQuery: an application
// approved by now is a sub-merchant even before anyone asks about it.
func TestOnboardingApprovedSubMerchantPaysBeforeQuery(t *testing.T) {
	t.Parallel()
	var c clock
	e := sandboxtest.Start(t, withClock(&c))
	conn := connector(t, e)
	app := application()
	setOutcome(t, e, sbwechat.ApplymentOutcome{BusinessCode: app.Ref, Outcome: sbwechat.OutcomeApproved, DelayMS: 10_000})
	if _, err := conn.SubmitMerchant(ctx, app); err != nil {
		t.Fatal(err)
	}
	sub := applyments(t, e)[app.Ref]
	if sub.SubMchID != "" {
		t.Fatalf("the sub_mchid shows before the review ends: %+v", sub)
	}
	c.advance(11 * time.Second)
	var subs struct{ Data []sbwechat.SubMerchant }
	e.Helper("GET", "/sandbox/v1/wechatpay/sub_merchants", nil, &subs)
	var id string
	for _, sm := range subs.Data {
		if sm.Name == app.ShortName {
			id = sm.SubMchID
		}
	}
	if id == "" {
		t.Fatalf("no sub-merchant %q in %+v", app.ShortName, subs.Data)
	}
	payAsSubMerchant(t, e, conn, id)
}

func TestOnboardingBadInputRefused(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	for _, tc := range []struct {
		name  string
		edit  func(*channel.MerchantApplication)
		field string
	}{
		{"no mobile phone", func(a *channel.MerchantApplication) { a.ContactPhone = "" }, "/body/contact_info/mobile_phone"},
		{"bad mobile phone", func(a *channel.MerchantApplication) { a.ContactPhone = "12345" }, "/body/contact_info/mobile_phone"},
		{"bad email", func(a *channel.MerchantApplication) { a.ContactEmail = "not an address" }, "/body/contact_info/contact_email"},
		{"bad business_code", func(a *channel.MerchantApplication) { a.Ref = "hutong-" + no("x") }, "/path/business_code"}, // refused by the query the connector makes first
		{"no licence", func(a *channel.MerchantApplication) { a.LicenseNumber = "" }, "/body/subject_info/business_license_info/license_number"},
		{"bad licence", func(a *channel.MerchantApplication) { a.LicenseNumber = "ABC" }, "/body/subject_info/business_license_info/license_number"},
		{"no legal person", func(a *channel.MerchantApplication) { a.LegalPerson = "" }, "/body/subject_info/business_license_info/legal_person"},
		{"no service phone", func(a *channel.MerchantApplication) { a.ServicePhone = "" }, "/body/business_info/service_phone"},
		{"no account number", func(a *channel.MerchantApplication) { a.BankAccountNumber = "" }, "/body/bank_account_info/account_number"},
		{"bad account number", func(a *channel.MerchantApplication) { a.BankAccountNumber = "62-22" }, "/body/bank_account_info/account_number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := application()
			tc.edit(&app)
			_, err := conn.SubmitMerchant(ctx, app)
			var we *channel.WalletError
			if !errors.As(err, &we) || we.Code != "PARAM_ERROR" || we.Status != http.StatusBadRequest || !strings.Contains(we.Message, tc.field) {
				t.Fatalf("err = %v, want PARAM_ERROR naming %s", err, tc.field)
			}
		})
	}
	if got := len(applyments(t, e)); got != 0 {
		t.Fatalf("%d applications stored from refused submissions", got)
	}
	if _, err := conn.QueryMerchant(ctx, "hutong_never_submitted"); !errors.Is(err, channel.ErrNotFound) {
		t.Fatalf("unknown business_code: %v, want ErrNotFound", err)
	}
}
