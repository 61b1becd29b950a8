package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

const (
	rolloutMethod = "wechatpay.native"
	rolloutSalt   = "wechat-2024"
)

// seenBuyers records checkouts of n buyers at merchant m, shown the method
// as today (no rule), so a dry run has real buyers to judge.
func seenBuyers(t *testing.T, svc *rollouts.Service, merchantID string, n int) []string {
	t.Helper()
	var buyers []string
	for i := range n {
		b := fmt.Sprintf("buyer-%03d", i)
		buyers = append(buyers, b)
		svc.RecordExposures(rollout.Checkout{BuyerID: b, MerchantID: merchantID}, []rollout.Decision{{Method: rolloutMethod, Shown: true, Cohort: rollout.CohortDefault, Bucket: -1}}, "")
	}
	if err := svc.FlushExposures(context.Background()); err != nil {
		t.Fatal(err)
	}
	return buyers
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// confirmForm is the preview's confirm form: the values it carries.
func confirmForm(t *testing.T, body string) url.Values {
	t.Helper()
	start := strings.Index(body, "data-confirm-form")
	if start < 0 {
		t.Fatal("the preview has no confirm form")
	}
	form := body[start:]
	form = form[:strings.Index(form, "</form>")]
	out := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(form, -1) {
		out.Add(m[1], html.UnescapeString(m[2]))
	}
	return out
}

// editor is the editor's form for a 10% rule, as an operator fills it.
func editor(csrf, percent, reason string) url.Values {
	return url.Values{"csrf": {csrf}, "base": {"0"}, "enabled": {"on"}, "percent": {percent}, "salt": {rolloutSalt}, "days": {"7"}, "reason": {reason}}
}

// TestRolloutPages: operations ramps WeChat Native to 10% of buyers
// through the editor (a preview with the dry run and diff that saves
// nothing, then a confirmation that saves a new version under their
// email and reason), kills it for everyone and brings it back, and
// reverts to an older version; every change is audited. Bad input is
// refused naming the field; support reads and explains but changes
// nothing; the merchant role sees none of it; a POST without the page's
// token is refused.
func TestRolloutPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := start(t, db)
		svc := e.Svc.RolloutService()
		m := e.Merchants[0].ID
		buyers := seenBuyers(t, svc, m, 200)
		var in, out []string // under and over 10%
		for _, b := range buyers {
			if rollout.Bucket(rolloutSalt, b) < 1000 {
				in = append(in, b)
			} else {
				out = append(out, b)
			}
		}
		if len(in) == 0 || len(out) == 0 {
			t.Fatal("the buyers fall on one side of 10%")
		}
		shown := func(buyer string) bool {
			return slices.Contains(svc.MethodsFor(ctx, rollout.Checkout{BuyerID: buyer, MerchantID: m}), rolloutMethod)
		}
		history := func() []rollouts.RuleChange {
			t.Helper()
			h, err := svc.RuleHistory(ctx, rolloutMethod)
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		_, before, err := svc.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}

		ops := newBrowser(t, e.URL)
		ops.login("ops@hutong.test")
		st, _, body := ops.do("GET", "/console/rollout", nil)
		if st != http.StatusOK || !strings.Contains(body, `data-rollout-method="`+rolloutMethod+`" data-state="none"`) || !strings.Contains(body, "data-kill-form") {
			t.Fatalf("the overview: %d, want every method (none with a rule) and the kill switch", st)
		}
		token := ops.csrf("/console/rollout/" + rolloutMethod)

		// The preview: the dry run over the 200 buyers and the diff; nothing saved.
		st, _, body = ops.do("POST", "/console/rollout/"+rolloutMethod+"/preview", editor(token, "10", "先给一成买家"))
		if st != http.StatusOK {
			t.Fatalf("preview: %d", st)
		}
		for _, want := range []string{"data-not-saved", `data-seen>200<`, `data-added>0<`, fmt.Sprintf(`data-removed>%d<`, len(out)),
			`data-diff-field="percent_bps"`, "100.00%", "10.00%", `data-diff-field="salt"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the preview lacks %s", want)
			}
		}
		// The sample of buyers removed: over 10%, twenty of them.
		if m := regexp.MustCompile(`data-removed-sample>([^<]*)<`).FindStringSubmatch(body); m == nil {
			t.Error("the preview lists no buyer it removes")
		} else if ids := strings.Split(m[1], "、"); len(ids) != min(20, len(out)) || slices.ContainsFunc(ids, func(b string) bool { return !slices.Contains(out, b) }) {
			t.Errorf("the preview's removed buyers %v are not twenty of those over 10%%", ids)
		}
		if strings.Contains(body, `data-diff-field="enabled"`) {
			t.Error("the diff lists the switch, which did not change")
		}
		if h := history(); len(h) != 0 {
			t.Fatalf("the preview saved: %+v", h)
		}

		// Confirming with the values the preview carries saves version N+1.
		st, loc, _ := ops.do("POST", "/console/rollout/"+rolloutMethod+"/save", confirmForm(t, body))
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/rollout/"+rolloutMethod+"?done=") {
			t.Fatalf("confirm: %d %s", st, loc)
		}
		h := history()
		if len(h) != 1 || h[0].Version != before.Version+1 || h[0].Actor != "ops@hutong.test" || h[0].Reason != "先给一成买家" ||
			h[0].Rule == nil || h[0].Rule.BasisPoints != 1000 || h[0].Rule.Salt != rolloutSalt || !h[0].Rule.Enabled {
			t.Fatalf("history after the confirmation: %+v", h)
		}
		if !shown(in[0]) || shown(out[0]) {
			t.Fatalf("at 10%%: %s shown %v (want true), %s shown %v (want false)", in[0], shown(in[0]), out[0], shown(out[0]))
		}
		// A confirmation made from a stale preview is refused.
		if st, _, body := ops.do("POST", "/console/rollout/"+rolloutMethod+"/save", editor(token, "50", "又一次")); st != http.StatusConflict || !strings.Contains(body, "重新预览") {
			t.Fatalf("a confirmation after another change: %d", st)
		}

		// Bad input changes nothing, and says which field.
		long := strings.Repeat("x", 70)
		for _, c := range []struct {
			name, path string
			form       url.Values
			status     int
			field      string
		}{
			{"a percentage over 100", "/preview", editor(token, "120", "r"), http.StatusBadRequest, "percent_bps"},
			{"a percentage under 0", "/save", editor(token, "-1", "r"), http.StatusBadRequest, "percent_bps"},
			{"a percentage that is none", "/preview", editor(token, "ten", "r"), http.StatusBadRequest, "percent_bps"},
			{"an id too long", "/preview", func() url.Values { f := editor(token, "10", "r"); f.Set("allow_buyers", "b1\n"+long); return f }(), http.StatusBadRequest, "allow_buyers[1]"},
			{"an unknown tier", "/save", func() url.Values { f := editor(token, "10", "r"); f.Set("tiers", "village"); return f }(), http.StatusBadRequest, "tiers[0]"},
			{"no reason", "/preview", editor(token, "10", ""), http.StatusBadRequest, "reason"},
			{"a dry run of a year", "/preview", func() url.Values { f := editor(token, "10", "r"); f.Set("days", "365"); return f }(), http.StatusBadRequest, "days"},
		} {
			st, _, body := ops.do("POST", "/console/rollout/"+rolloutMethod+c.path, c.form)
			if st != c.status || !strings.Contains(body, "（"+c.field+"）") {
				t.Errorf("%s: %d, want %d naming %s", c.name, st, c.status, c.field)
			}
		}
		if st, _, body := ops.do("POST", "/console/rollout/nope.method/preview", editor(token, "10", "r")); st != http.StatusNotFound || !strings.Contains(body, "（method）") {
			t.Errorf("an unknown method: %d, want 404 naming the method", st)
		}
		if st, _, _ := ops.do("GET", "/console/rollout/cashier", nil); st != http.StatusNotFound {
			t.Errorf("a method of no wallet: %d, want 404", st)
		}
		if len(history()) != 1 {
			t.Fatalf("refused input changed the history: %+v", history())
		}

		// A POST without the page's token is refused and changes nothing.
		if st, _, _ := ops.do("POST", "/console/rollout/"+rolloutMethod+"/kill", url.Values{"confirm": {"yes"}, "reason": {"no token"}}); st != http.StatusForbidden {
			t.Fatalf("a kill without the token: %d, want 403", st)
		}

		// The kill switch: first a confirmation, then off for everyone, the
		// allow-listed too.
		if _, err := svc.SetRule(ctx, rolloutMethod, rollout.Rule{Enabled: true, BasisPoints: 1000, Salt: rolloutSalt, AllowBuyers: []string{out[1]}}, "ops@hutong.test", "团队试用"); err != nil {
			t.Fatal(err)
		}
		st, _, body = ops.do("POST", "/console/rollout/"+rolloutMethod+"/kill", url.Values{"csrf": {token}, "reason": {"钱包故障"}})
		if st != http.StatusOK || !strings.Contains(body, "data-switch-confirm-form") || len(history()) != 2 {
			t.Fatalf("the kill's first POST: %d, want a confirmation and nothing changed", st)
		}
		if st, _, _ := ops.do("POST", "/console/rollout/"+rolloutMethod+"/kill", url.Values{"csrf": {token}, "confirm": {"yes"}}); st != http.StatusBadRequest || len(history()) != 2 {
			t.Fatalf("a kill without a reason: %d, want 400 and nothing changed", st)
		}
		if st, loc, _ := ops.do("POST", "/console/rollout/"+rolloutMethod+"/kill", url.Values{"csrf": {token}, "confirm": {"yes"}, "reason": {"钱包故障"}}); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/rollout?done=") {
			t.Fatalf("kill: %d %s", st, loc)
		}
		for _, b := range []string{in[0], out[1]} {
			if shown(b) {
				t.Fatalf("after the kill switch %s still sees %s", b, rolloutMethod)
			}
		}
		var methods struct {
			Data []struct {
				Method string `json:"method"`
			} `json:"data"`
		}
		if st := e.Call(e.Keys[0], "GET", "/v1/methods?buyer_id="+in[0], nil, &methods); st != http.StatusOK {
			t.Fatalf("/v1/methods: %d", st)
		}
		for _, d := range methods.Data {
			if d.Method == rolloutMethod {
				t.Fatalf("/v1/methods still offers %s after the kill switch", rolloutMethod)
			}
		}
		if len(methods.Data) == 0 {
			t.Fatal("/v1/methods offers nothing: the kill switch hid more than its method")
		}
		if _, _, body := ops.do("GET", "/console/rollout", nil); !strings.Contains(body, `data-rollout-method="`+rolloutMethod+`" data-state="off"`) || !strings.Contains(body, "data-unkill-form") {
			t.Fatal("the overview does not show the method off")
		}
		if h := history(); h[0].Actor != "ops@hutong.test" || h[0].Reason != "钱包故障" || h[0].Rule.Enabled || h[0].Rule.BasisPoints != 1000 {
			t.Fatalf("the kill in the history: %+v", h[0])
		}

		// Back on: the rule as it was.
		if st, _, _ := ops.do("POST", "/console/rollout/"+rolloutMethod+"/unkill", url.Values{"csrf": {token}, "confirm": {"yes"}, "reason": {"钱包恢复"}}); st != http.StatusSeeOther {
			t.Fatalf("unkill: %d", st)
		}
		if !shown(in[0]) || !shown(out[1]) || shown(out[0]) {
			t.Fatal("back on, the rule is not the one before the kill")
		}

		// Revert to the first version: no allow-list.
		first := h[len(h)-1].Version
		if st, _, body := ops.do("POST", "/console/rollout/"+rolloutMethod+"/revert", url.Values{"csrf": {token}, "version": {fmt.Sprint(first)}}); st != http.StatusBadRequest || !strings.Contains(body, "（reason）") {
			t.Fatalf("a revert without a reason: %d", st)
		}
		if st, _, body := ops.do("POST", "/console/rollout/"+rolloutMethod+"/revert", url.Values{"csrf": {token}, "version": {"9999"}, "reason": {"r"}}); st != http.StatusBadRequest || !strings.Contains(body, "（version）") {
			t.Fatalf("a revert to no version: %d", st)
		}
		if st, _, _ := ops.do("POST", "/console/rollout/"+rolloutMethod+"/revert", url.Values{"csrf": {token}, "version": {fmt.Sprint(first)}, "reason": {"撤掉试用名单"}}); st != http.StatusSeeOther {
			t.Fatalf("revert: %d", st)
		}
		h = history()
		if len(h) != 5 || len(h[0].Rule.AllowBuyers) != 0 || h[0].Rule.BasisPoints != 1000 || h[0].Actor != "ops@hutong.test" || !strings.Contains(h[0].Reason, "撤掉试用名单") {
			t.Fatalf("after the revert: %+v", h[0])
		}
		if shown(out[1]) || !shown(in[0]) {
			t.Fatal("the revert did not restore the first version")
		}
		if st, _, body := ops.do("GET", "/console/rollout/"+rolloutMethod, nil); st != http.StatusOK || strings.Count(body, "data-version=") != 5 || !strings.Contains(body, "撤掉试用名单") {
			t.Fatalf("the method's page: %d, want every version", st)
		}

		// Every change made in the console is audited with before and after.
		log, err := e.acc.AuditLog(ctx, accounts.AuditQuery{Object: "rollout:" + rolloutMethod, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, a := range log {
			actions = append(actions, a.Action)
			if a.ActorEmail != "ops@hutong.test" || len(a.After) == 0 || (a.Action != "rollout.set" && len(a.Before) == 0) {
				t.Errorf("audit entry %+v: want ops', with before and after", a)
			}
		}
		if strings.Join(actions, ",") != "rollout.revert,rollout.unkill,rollout.kill,rollout.set" {
			t.Errorf("audited %v", actions)
		}

		// Explain: a buyer in and one out, in words.
		explain := func(b *browser, buyer string) (int, string) {
			st, _, body := b.do("GET", "/console/rollout/explain?method="+rolloutMethod+"&buyer="+buyer+"&merchant="+m+"&region=130627&platform=ios", nil)
			return st, body
		}
		if st, body := explain(ops, in[0]); st != http.StatusOK || !strings.Contains(body, `data-answer="`+rolloutMethod+`" data-shown="true"`) ||
			!strings.Contains(body, fmt.Sprintf("买家落在第 %d 号桶，小于 1000（10.00%%）", rollout.Bucket(rolloutSalt, in[0]))) {
			t.Errorf("explaining %s: %d\n%s", in[0], st, body)
		}

		// Support reads and explains, and changes nothing.
		sup := newBrowser(t, e.URL)
		sup.login("support@hutong.test")
		if st, body := explain(sup, out[0]); st != http.StatusOK || !strings.Contains(body, `data-answer="`+rolloutMethod+`" data-shown="false"`) ||
			!strings.Contains(body, fmt.Sprintf("买家落在第 %d 号桶，不小于 1000（10.00%%）", rollout.Bucket(rolloutSalt, out[0]))) {
			t.Errorf("explaining %s: %d\n%s", out[0], st, body)
		}
		if st, _, body := sup.do("GET", "/console/rollout/explain?buyer=b1&merchant=m_nobody", nil); st != http.StatusBadRequest || !strings.Contains(body, "（merchant）") {
			t.Errorf("explaining at no merchant: %d", st)
		}
		if st, _, body := sup.do("GET", "/console/rollout/explain?method=nope&buyer=b1&merchant="+m, nil); st != http.StatusBadRequest || !strings.Contains(body, "（method）") {
			t.Errorf("explaining no method: %d", st)
		}
		st, _, body = sup.do("GET", "/console/rollout", nil)
		if st != http.StatusOK || strings.Contains(body, "data-kill-form") || !strings.Contains(body, "撤掉试用名单") {
			t.Fatalf("support's overview: %d, want the rules without the kill switch", st)
		}
		if st, _, body := sup.do("GET", "/console/rollout/"+rolloutMethod, nil); st != http.StatusOK || strings.Contains(body, "data-rollout-editor") || strings.Contains(body, "data-revert-form") {
			t.Fatalf("support's method page: %d, want no editor", st)
		}
		supToken := sup.csrf("/console/rollout")
		for _, path := range []string{"/kill", "/unkill", "/preview", "/save", "/revert"} {
			f := editor(supToken, "100", "客服")
			f.Set("confirm", "yes")
			f.Set("version", "1")
			if st, _, _ := sup.do("POST", "/console/rollout/"+rolloutMethod+path, f); st != http.StatusForbidden {
				t.Errorf("support POST %s: %d, want 403", path, st)
			}
		}

		// The merchant role: none of these pages.
		shop := newBrowser(t, e.URL)
		shop.login("shop-b@hutong.test")
		for _, path := range []string{"/console/rollout", "/console/rollout/" + rolloutMethod, "/console/rollout/explain?buyer=b1&merchant=" + e.Merchants[1].ID} {
			if st, _, _ := shop.do("GET", path, nil); st != http.StatusForbidden {
				t.Errorf("merchant GET %s: %d, want 403", path, st)
			}
		}
		shopToken := shop.csrf("/console/payments")
		if st, _, _ := shop.do("POST", "/console/rollout/"+rolloutMethod+"/kill", url.Values{"csrf": {shopToken}, "confirm": {"yes"}, "reason": {"x"}}); st != http.StatusForbidden {
			t.Errorf("merchant kill: %d, want 403", st)
		}
		if _, _, body := shop.do("GET", "/console/payments", nil); strings.Contains(body, `href="/console/rollout"`) {
			t.Error("the portal's menu links to the rollout")
		}
		if len(history()) != 5 {
			t.Fatalf("support's or the merchant's POSTs changed the rule: %+v", history()[0])
		}
	})
}
