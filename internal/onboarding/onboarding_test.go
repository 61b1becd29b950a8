package onboarding_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/campaign"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// event is one Publish the service made.
type event struct {
	merchant, typ, object string
	data                  any
}

// recorder stands in for the events service.
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) Publish(_ context.Context, _ *sql.Tx, merchantID, typ, objectID string, object any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{merchantID, typ, objectID, object})
	return nil
}

func (r *recorder) of(typ string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if e.typ == typ {
			out = append(out, e)
		}
	}
	return out
}

// wallet is a wallet's onboarding that answers what the test sets.
type wallet struct {
	mu        sync.Mutex
	submitted []channel.MerchantApplication
	refuse    error
	answer    channel.Onboarding
}

func (w *wallet) SubmitMerchant(_ context.Context, a channel.MerchantApplication) (channel.Onboarding, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refuse != nil {
		return channel.Onboarding{}, w.refuse
	}
	w.submitted = append(w.submitted, a)
	return channel.Onboarding{Ref: a.Ref, State: channel.OnboardingSubmitted, WalletState: "APPLYMENT_STATE_AUDITING"}, nil
}

func (w *wallet) QueryMerchant(_ context.Context, ref string) (channel.Onboarding, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := w.answer
	a.Ref = ref
	return a, nil
}

var start = time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)

type env struct {
	svc    *onboarding.Service
	events *recorder
	wallet *wallet
	now    time.Time
	woken  int
}

// newEnv is an onboarding service on db whose WeChat Pay requires
// contracts and onboards through a test wallet, and whose Alipay has no
// onboarding; its clock stands still at e.now until a test moves it.
func newEnv(t *testing.T, db *store.DB, ms ...merchant.Merchant) *env {
	t.Helper()
	e := &env{events: &recorder{}, wallet: &wallet{}, now: start}
	e.svc = &onboarding.Service{DB: db, Now: func() time.Time { return e.now }, BaseURL: "https://pay.example",
		Wallets:           map[string]channel.Onboarder{"wechatpay": e.wallet, "alipay": nil},
		ContractsRequired: map[string]bool{"wechatpay": true}, Events: e.events, Wake: func() { e.woken++ }}
	for _, m := range ms {
		if _, err := (&merchants.Service{DB: db}).Create(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// due claims the jobs due by at, by kind.
func (e *env) due(t *testing.T, at time.Time) map[string]int {
	t.Helper()
	js, err := (&jobs.Queue{DB: e.svc.DB, Now: func() time.Time { return at }}).Claim(context.Background(), "test", 100, 24*time.Hour) // claimed once: held past every time a test looks at
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, j := range js {
		kinds[j.Kind]++
	}
	return kinds
}

func tokenOf(t *testing.T, v onboarding.ContractView) string {
	t.Helper()
	_, tok, ok := strings.Cut(v.SignURL, "?token=")
	if !ok || !strings.HasPrefix(v.SignURL, "https://pay.example/sign/"+v.ID+"?") {
		t.Fatalf("sign URL %q", v.SignURL)
	}
	return tok
}

// TestContractLifecycle takes a contract from invited to active through
// the wallet's onboarding, and back to invited under new terms, and sees
// Payable, the merchant's wallet, the transitions and the events follow.
func TestContractLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, merchant.Merchant{ID: "m_county", Name: "县城超市"})
		svc := e.svc
		payable := func(ch string) bool {
			t.Helper()
			ok, err := svc.Payable(ctx, "m_county", ch)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if payable("wechatpay") || !payable("alipay") {
			t.Fatal("without a contract: WeChat Pay (contracts required) must not be payable, Alipay must")
		}
		if _, err := svc.Invite(ctx, "m_county", "testpay", "key:op"); !isField(err, "channel") {
			t.Errorf("an invitation to a channel of no wallet: %v, want a field error on channel", err)
		}
		if _, err := svc.Invite(ctx, "m_nobody", "wechatpay", "key:op"); !errors.Is(err, notfound.Err) {
			t.Errorf("an invitation of an unknown merchant: %v, want not found", err)
		}
		if _, err := svc.CreateAgreement(ctx, "wechatpay", "微信支付开通服务协议", "第一条 商户同意接入微信支付。", "key:op", false); err != nil {
			t.Fatal(err)
		}
		c, err := svc.Invite(ctx, "m_county", "wechatpay", "key:op")
		if err != nil || c.State != contract.Invited {
			t.Fatalf("Invite = %+v, %v", c, err)
		}
		token := tokenOf(t, c)
		if inv := e.events.of(onboarding.EventContractInvited); len(inv) != 1 || inv[0].data.(onboarding.ContractView).SignURL != c.SignURL {
			t.Errorf("contract.invited events %+v, want one carrying the sign URL", inv)
		}
		if _, err := svc.Invite(ctx, "m_county", "wechatpay", "key:op"); !errors.Is(err, contract.ErrNotAllowed) {
			t.Errorf("a second invitation: %v, want ErrNotAllowed", err)
		}

		// Signing: only with the link's token, and only the text shown.
		for _, id := range []string{c.ID, "ct_nobody"} {
			if _, err := svc.ForSigning(ctx, id, "not-the-token"); !errors.Is(err, onboarding.ErrBadSignToken) {
				t.Errorf("ForSigning(%s) with a wrong token: %v, want ErrBadSignToken", id, err)
			}
		}
		page, err := svc.ForSigning(ctx, c.ID, token)
		if err != nil || page.Merchant.Name != "县城超市" || page.Agreement.Version != 1 || page.Agreement.TextSHA256 != contract.TextHash(page.Agreement.Title, page.Agreement.Body) {
			t.Fatalf("ForSigning = %+v, %v", page, err)
		}
		if _, err := svc.Sign(ctx, c.ID, token, 1, "another text", "张三", "203.0.113.9"); !isField(err, "agreement") {
			t.Errorf("signing a text not shown: %v, want a field error on agreement", err)
		}
		if c, err = svc.Sign(ctx, c.ID, token, 1, page.Agreement.TextSHA256, " 张三 ", "203.0.113.9"); err != nil || c.State != contract.Signed || c.Signature.Signer != "张三" {
			t.Fatalf("Sign = %+v, %v", c, err)
		}
		if payable("wechatpay") {
			t.Error("a signed contract is not payable before the wallet approves")
		}

		// Submitting: a refusal changes nothing; an answer puts the
		// contract under review, polled.
		e.wallet.refuse = errors.New("PARAM_ERROR")
		if _, err := svc.Submit(ctx, c.ID, "key:op", channel.MerchantApplication{}); !errors.Is(err, onboarding.ErrWalletRefused) {
			t.Errorf("a refused submission: %v, want ErrWalletRefused", err)
		}
		e.wallet.refuse = nil
		if c, err = svc.Submit(ctx, c.ID, "key:op", channel.MerchantApplication{}); err != nil || c.State != contract.Submitted {
			t.Fatalf("Submit = %+v, %v", c, err)
		}
		if app := e.wallet.submitted[0]; app.Name != "县城超市" || app.Ref != "hutong_"+strings.TrimPrefix(c.ID, "ct_") || c.OnboardingRef != app.Ref {
			t.Errorf("the wallet got %+v; the contract keeps ref %q", app, c.OnboardingRef)
		}
		if kinds := e.due(t, start.Add(time.Minute)); kinds[onboarding.KindContractPoll] != 1 || e.woken != 1 {
			t.Errorf("after a submission: jobs %v, worker woken %d times; want one %s, woken once", kinds, e.woken, onboarding.KindContractPoll)
		}

		// Polling: under review, the wallet's word is kept; approved, the
		// contract is active and the merchant's wallet recorded with it.
		e.wallet.answer = channel.Onboarding{State: channel.OnboardingReviewing, WalletState: "APPLYMENT_STATE_TO_BE_SIGNED"}
		if err := svc.RefreshContract(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if c, err = svc.GetContract(ctx, "", c.ID); err != nil || c.State != contract.Submitted || c.WalletState != "APPLYMENT_STATE_TO_BE_SIGNED" {
			t.Errorf("under review: %+v, %v", c, err)
		}
		e.now = start.Add(time.Hour)
		e.wallet.answer = channel.Onboarding{State: channel.OnboardingActive, WalletState: "APPLYMENT_STATE_FINISHED", SubMerchant: "1900000109"}
		if err := svc.RefreshContract(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if c, err = svc.GetContract(ctx, "m_county", c.ID); err != nil || c.State != contract.Active || !c.Payable || c.SubMerchant != "1900000109" {
			t.Fatalf("approved: %+v, %v", c, err)
		}
		if m, err := merchants.Get(ctx, db.Pool(), "m_county"); err != nil || m.Wallets["wechatpay"].SubMerchant != "1900000109" {
			t.Errorf("the merchant's wallets after approval: %+v, %v", m.Wallets, err)
		}
		if !payable("wechatpay") {
			t.Error("an active contract signed under the current agreement is payable")
		}
		if _, err := svc.GetContract(ctx, "m_city", c.ID); !errors.Is(err, notfound.Err) {
			t.Errorf("another merchant's contract: %v, want not found", err)
		}

		// New terms that require signing again take the contract back.
		if _, err := svc.CreateAgreement(ctx, "wechatpay", "微信支付开通服务协议", "第一条（修订）", "key:op", true); err != nil {
			t.Fatal(err)
		}
		if c, err = svc.GetContract(ctx, "", c.ID); err != nil || c.State != contract.Invited || c.Payable || payable("wechatpay") {
			t.Errorf("after new terms: %+v, %v; want invited and not payable", c, err)
		}
		trs, err := svc.Transitions(ctx, c.ID)
		var actions []string
		for _, tr := range trs {
			actions = append(actions, tr.Action)
		}
		if want := "invite sign submit approve new_terms"; err != nil || strings.Join(actions, " ") != want {
			t.Errorf("transitions %v, %v; want %s", actions, err, want)
		}
		if list, err := svc.ListAgreements(ctx); err != nil || len(list) != 2 || !list[1].RequireResign {
			t.Errorf("ListAgreements = %+v, %v", list, err)
		}
		if list, err := svc.ListContracts(ctx, onboarding.ContractFilter{State: contract.Invited}); err != nil || len(list) != 1 || list[0].ID != c.ID || list[0].SignURL != c.SignURL {
			t.Errorf("ListContracts(invited) = %+v, %v", list, err)
		}

		// A wallet whose connector has no onboarding takes no submission.
		if _, err := svc.CreateAgreement(ctx, "alipay", "支付宝授权收款协议", "第一条", "key:op", false); err != nil {
			t.Fatal(err)
		}
		ali, err := svc.Invite(ctx, "m_county", "alipay", "key:op")
		if err != nil {
			t.Fatal(err)
		}
		page, err = svc.ForSigning(ctx, ali.ID, tokenOf(t, ali))
		if err == nil {
			_, err = svc.Sign(ctx, ali.ID, tokenOf(t, ali), page.Agreement.Version, page.Agreement.TextSHA256, "张三", "203.0.113.9")
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Submit(ctx, ali.ID, "key:op", channel.MerchantApplication{}); !errors.Is(err, onboarding.ErrNoOnboarding) {
			t.Errorf("a submission to a wallet without onboarding: %v, want ErrNoOnboarding", err)
		}
	})
}

// TestPayableFailure: a database that cannot answer is an error, never
// "no contract": a payment refused for that would tell the merchant to
// sign what it has signed.
func TestPayableFailure(t *testing.T) {
	db := storetest.SQLite(t)
	e := newEnv(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.svc.Payable(context.Background(), "m_county", "wechatpay"); err == nil {
		t.Errorf("Payable on a closed database = %v, nil; want an error", ok)
	}
}

// TestCampaign invites the merchants a filter picks, reminds those not
// yet active, and reports who will miss the deadline.
func TestCampaign(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db,
			merchant.Merchant{ID: "m_county", Name: "县城超市", Category: "grocery", RegionCode: "341322", Size: "small"},
			merchant.Merchant{ID: "m_town", Name: "乡镇五金", Category: "hardware", RegionCode: "340102", Size: "small"},
			merchant.Merchant{ID: "m_city", Name: "城市服饰", Category: "apparel", RegionCode: "310101", Size: "large"})
		svc := e.svc
		cmp := campaign.Campaign{Channel: "wechatpay", Name: "安徽商户开通微信支付", Filter: campaign.Filter{Region: "34"},
			Deadline: start.Add(48 * time.Hour), RemindEvery: campaign.Duration(time.Hour), CreatedBy: "key:op"}
		if _, err := svc.CreateCampaign(ctx, cmp); !isField(err, "channel") {
			t.Errorf("a campaign before the agreement: %v, want a field error on channel", err)
		}
		if _, err := svc.CreateAgreement(ctx, "wechatpay", "微信支付开通服务协议", "第一条", "key:op", false); err != nil {
			t.Fatal(err)
		}
		late := cmp
		late.Deadline = start
		if _, err := svc.CreateCampaign(ctx, late); !isField(err, "deadline") {
			t.Errorf("a campaign whose deadline passed: %v, want a field error on deadline", err)
		}
		cmp, err := svc.CreateCampaign(ctx, cmp)
		if err != nil || cmp.Invited != 2 || cmp.Created != start {
			t.Fatalf("CreateCampaign = %+v, %v; want the two merchants of region 34 invited", cmp, err)
		}
		if got, err := svc.GetCampaign(ctx, cmp.ID); err != nil || got != cmp {
			t.Errorf("GetCampaign = %+v, %v; want %+v", got, err, cmp)
		}
		if _, err := svc.GetCampaign(ctx, "cmp_nobody"); !errors.Is(err, notfound.Err) {
			t.Errorf("GetCampaign of none: %v, want not found", err)
		}
		if list, err := svc.ListCampaigns(ctx); err != nil || len(list) != 1 || list[0] != cmp {
			t.Errorf("ListCampaigns = %+v, %v", list, err)
		}
		invited, err := svc.ListContracts(ctx, onboarding.ContractFilter{CampaignID: cmp.ID})
		if err != nil || len(invited) != 2 || len(e.events.of(onboarding.EventContractInvited)) != 2 {
			t.Fatalf("the campaign's contracts %+v, %v; invitations %d", invited, err, len(e.events.of(onboarding.EventContractInvited)))
		}
		if kinds := e.due(t, start.Add(time.Hour)); kinds[onboarding.KindCampaignRemind] != 1 {
			t.Errorf("jobs due in an hour %v, want one %s", kinds, onboarding.KindCampaignRemind)
		}

		// One merchant signs; both are still reminded (neither is active),
		// and the reminder comes back before the deadline.
		e.now = start.Add(time.Hour)
		first := invited[0]
		page, err := svc.ForSigning(ctx, first.ID, tokenOf(t, first))
		if err == nil {
			_, err = svc.Sign(ctx, first.ID, tokenOf(t, first), page.Agreement.Version, page.Agreement.TextSHA256, "李四", "203.0.113.9")
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.RemindCampaign(ctx, jobs.Job{Kind: onboarding.KindCampaignRemind, Payload: []byte(`{"id":"` + cmp.ID + `"}`)}); err != nil {
			t.Fatal(err)
		}
		reminders := e.events.of(onboarding.EventContractReminder)
		if len(reminders) != 2 {
			t.Fatalf("%d reminders, want 2", len(reminders))
		}
		for _, r := range reminders {
			if data := r.data.(map[string]any); data["campaign_id"] != cmp.ID || !strings.Contains(data["sign_url"].(string), "?token=") {
				t.Errorf("reminder %+v", data)
			}
		}
		if kinds := e.due(t, start.Add(2*time.Hour)); kinds[onboarding.KindCampaignRemind] != 1 {
			t.Errorf("jobs due in two hours %v, want the next %s", kinds, onboarding.KindCampaignRemind)
		}
		if err := svc.RemindCampaign(ctx, jobs.Job{Kind: onboarding.KindCampaignRemind, Payload: []byte(`{"id":"cmp_gone"}`)}); err != nil {
			t.Errorf("reminding for a campaign that is gone: %v, want nothing to do", err)
		}
		// An operator reminds at once: two more reminders, and no reminder
		// job beside the scheduled one (claimed just above), so the
		// schedule is not forked.
		if n, err := svc.RemindNow(ctx, cmp.ID); err != nil || n != 2 || len(e.events.of(onboarding.EventContractReminder)) != 4 {
			t.Errorf("RemindNow = %d, %v; %d reminders in all, want 2 more (4)", n, err, len(e.events.of(onboarding.EventContractReminder)))
		}
		if kinds := e.due(t, start.Add(2*time.Hour)); kinds[onboarding.KindCampaignRemind] != 0 {
			t.Errorf("jobs due after RemindNow %v, want no new %s", kinds, onboarding.KindCampaignRemind)
		}
		if _, err := svc.RemindNow(ctx, "cmp_gone"); !errors.Is(err, notfound.Err) {
			t.Errorf("RemindNow of no campaign: %v, want not found", err)
		}

		// An hour in, nobody active: each step is taken to last a day, so
		// neither merchant makes the two-day deadline, the one with more
		// steps left last.
		p, err := svc.CampaignProgress(ctx, cmp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 2 || p.Active != 0 || p.ByState[contract.Invited] != 1 || p.ByState[contract.Signed] != 1 || p.ByRegion["34"][contract.Invited] != 1 || len(p.AtRisk) != 2 {
			t.Fatalf("progress %+v", p)
		}
		if p.AtRisk[0].State != contract.Invited || p.AtRisk[1].State != contract.Signed {
			t.Errorf("at risk %+v; want the invited merchant first (latest expected)", p.AtRisk)
		}
	})
}

func isField(err error, param string) bool {
	var fe *payment.FieldError
	return errors.As(err, &fe) && fe.Param == param
}
