package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/campaign"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// listed is the merchant ids the merchants page lists, in order.
var merchantRow = regexp.MustCompile(`data-merchant="([^"]+)"`)

func listed(body string) []string {
	var out []string
	for _, m := range merchantRow.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestMerchantsPage: operations filters merchants by region prefix, size
// and category and sees each one's contract state on both wallets; it
// invites one to WeChat Pay, which makes the contract and is audited, and
// a second invitation is refused. Support reads but may not invite; the
// merchant role may not see the page.
func TestMerchantsPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		var made []merchant.Merchant
		for _, m := range []merchant.Merchant{
			{Name: "河北县城杂货", RegionCode: "130627", Size: "small", Category: "grocery"},
			{Name: "保定市区服饰", RegionCode: "130602", Size: "large", Category: "apparel"},
			{Name: "深圳南山数码", RegionCode: "440305", Size: "large", Category: "electronics"},
		} {
			m, err := e.Svc.MerchantService().Create(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, m)
		}
		county, city, shenzhen := made[0].ID, made[1].ID, made[2].ID

		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"region=13", []string{county, city}},
			{"region=13&size=large", []string{city}},
			{"size=large", []string{city, shenzhen}},
			{"category=electronics", []string{shenzhen}},
			{"region=44&category=grocery", nil},
		} {
			st, _, body := ops.do("GET", "/console/merchants?"+tc.query, nil)
			if st != http.StatusOK {
				t.Fatalf("merchants?%s: %d", tc.query, st)
			}
			// Pages are in id order; ids are random, so compare as sets.
			slices.Sort(tc.want)
			if got := listed(body); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("merchants?%s lists %v, want %v", tc.query, got, tc.want)
			}
		}
		if st, _, body := ops.do("GET", "/console/merchants?region=13x", nil); st != http.StatusBadRequest || !strings.Contains(body, "地区") {
			t.Errorf("a region that is no code prefix: %d", st)
		}
		_, _, body := ops.do("GET", "/console/merchants?region=130627", nil)
		if !strings.Contains(body, `data-contract="wechatpay" data-state="not_invited"`) || !strings.Contains(body, "县城") {
			t.Errorf("the county shop's row lacks its contract state or market tier:\n%s", body)
		}

		token := ops.csrf("/console/merchants")
		st, loc, _ := ops.do("POST", "/console/merchants/"+county+"/invite", url.Values{"csrf": {token}, "channel": {"wechatpay"}})
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/merchants?done=") {
			t.Fatalf("invite: %d %s", st, loc)
		}
		contracts, err := e.Svc.OnboardingService().ListContracts(ctx, onboarding.ContractFilter{MerchantID: county})
		if err != nil || len(contracts) != 1 || contracts[0].Channel != "wechatpay" || contracts[0].State != contract.Invited {
			t.Fatalf("contracts after the invitation: %+v %v", contracts, err)
		}
		if _, _, body := ops.do("GET", "/console/merchants?region=130627", nil); !strings.Contains(body, `data-contract="wechatpay" data-state="invited"`) {
			t.Error("the page does not show the invitation")
		}
		log, err := e.acc.AuditLog(ctx, accounts.AuditQuery{Object: "contract:" + contracts[0].ID, Limit: 10})
		if err != nil || len(log) != 1 || log[0].Action != "contract.invite" || log[0].ActorEmail != "ops@hutong.test" || log[0].MerchantID != county || len(log[0].After) == 0 {
			t.Fatalf("audit of the invitation: %+v %v", log, err)
		}
		if strings.Contains(string(log[0].After), "token") {
			t.Errorf("the audit log keeps the signing link: %s", log[0].After)
		}
		if st, _, body := ops.do("POST", "/console/merchants/"+county+"/invite", url.Values{"csrf": {token}, "channel": {"wechatpay"}}); st != http.StatusConflict || !strings.Contains(body, "已邀请") {
			t.Errorf("inviting twice: %d", st)
		}
		if st, _, _ := ops.do("POST", "/console/merchants/"+county+"/invite", url.Values{"csrf": {token}, "channel": {"paypal"}}); st != http.StatusBadRequest {
			t.Errorf("inviting to a wallet the gateway does not take: %d", st)
		}
		if st, _, _ := ops.do("POST", "/console/merchants/m_nobody/invite", url.Values{"csrf": {token}, "channel": {"wechatpay"}}); st != http.StatusNotFound {
			t.Errorf("inviting a merchant that does not exist: %d", st)
		}
		// Only an active contract can be suspended; nothing is audited.
		if st, _, _ := ops.do("POST", "/console/contracts/"+contracts[0].ID+"/suspend", url.Values{"csrf": {token}, "reason": {"投诉"}}); st != http.StatusConflict {
			t.Errorf("suspending an invited contract: %d, want 409", st)
		}
		if st, _, _ := ops.do("POST", "/console/contracts/ct_nobody/suspend", url.Values{"csrf": {token}}); st != http.StatusNotFound {
			t.Errorf("suspending a contract that does not exist: %d", st)
		}
		if log, _ := e.acc.AuditLog(ctx, accounts.AuditQuery{Object: "contract:" + contracts[0].ID, Limit: 10}); len(log) != 1 {
			t.Errorf("refused actions were audited: %+v", log)
		}

		sup := newBrowser(t, e.URL)
		sup.login("support@hutong.test")
		st, _, body = sup.do("GET", "/console/merchants", nil)
		if st != http.StatusOK || strings.Contains(body, "data-invite-form") {
			t.Errorf("support: %d, offered an invitation: %v", st, strings.Contains(body, "data-invite-form"))
		}
		if st, _, _ := sup.do("POST", "/console/merchants/"+city+"/invite", url.Values{"csrf": {sup.csrf("/console/merchants")}, "channel": {"alipay"}}); st != http.StatusForbidden {
			t.Errorf("support inviting: %d, want 403", st)
		}

		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		for _, path := range []string{"/console/merchants", "/console/campaigns"} {
			if st, _, _ := shop.do("GET", path, nil); st != http.StatusForbidden {
				t.Errorf("the merchant role on %s: %d, want 403", path, st)
			}
		}
		if _, _, body := shop.do("GET", "/console/money", nil); strings.Contains(body, `href="/console/merchants"`) {
			t.Error("the portal's navigation links to the merchants page")
		}
	})
}

// TestCampaignPage: a campaign's page shows its progress toward the
// deadline as a bar and numbers, and lists who will miss the deadline at
// this pace.
func TestCampaignPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		onb := e.Svc.OnboardingService()
		if _, err := onb.CreateAgreement(ctx, "alipay", "支付宝收款服务协议", "协议正文", "ops@hutong.test", false); err != nil {
			t.Fatal(err)
		}
		c, err := onb.CreateCampaign(ctx, campaign.Campaign{Channel: "alipay", Name: "双十一前开通支付宝", Deadline: time.Now().Add(12 * time.Hour), CreatedBy: "ops@hutong.test"})
		if err != nil {
			t.Fatal(err)
		}
		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		if _, _, body := ops.do("GET", "/console/campaigns", nil); !strings.Contains(body, `data-campaign="`+c.ID+`"`) {
			t.Error("the campaigns page does not list the campaign")
		}
		st, _, body := ops.do("GET", "/console/campaigns/"+c.ID, nil)
		if st != http.StatusOK {
			t.Fatalf("the campaign: %d", st)
		}
		for _, want := range []string{"<svg", "data-progress", `data-bar`, "0 / 2", `data-state="invited"`,
			`data-at-risk-merchant="` + e.Merchants[0].ID + `"`, `data-at-risk-merchant="` + e.Merchants[1].ID + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the campaign page lacks %s", want)
			}
		}
		if strings.Contains(body, "<script") {
			t.Error("the campaign page has a script")
		}
		if st, _, _ := ops.do("GET", "/console/campaigns/cmp_nobody", nil); st != http.StatusNotFound {
			t.Errorf("a campaign that does not exist: %d", st)
		}
		// Operations remind the merchants not active yet, at once, audited.
		if !strings.Contains(body, "data-remind-form") {
			t.Fatal("operations are not offered the reminder")
		}
		st, loc, _ := ops.do("POST", "/console/campaigns/"+c.ID+"/remind", url.Values{"csrf": {ops.csrf("/console/campaigns/" + c.ID)}})
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/campaigns/"+c.ID+"?done=") {
			t.Fatalf("remind: %d %s", st, loc)
		}
		log, err := e.Accounts.AuditLog(ctx, accounts.AuditQuery{Object: "campaign:" + c.ID, Limit: 5})
		if err != nil || len(log) != 1 || log[0].Action != "campaign.remind" || log[0].ActorEmail != "ops@hutong.test" || !strings.Contains(string(log[0].After), `"reminded":2`) {
			t.Fatalf("the reminder's audit: %+v %v", log, err)
		}
		if st, _, _ := ops.do("POST", "/console/campaigns/cmp_nobody/remind", url.Values{"csrf": {ops.csrf("/console/campaigns/" + c.ID)}}); st != http.StatusNotFound {
			t.Errorf("reminding for no campaign: %d", st)
		}
	})
}
