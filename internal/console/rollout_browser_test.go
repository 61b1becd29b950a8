package console_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/browsertest"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestBrowserOperatorRampsAndKills: an operator opens the rollout in
// Chromium, ramps WeChat Native to 10% of buyers in the editor, reads the
// preview's dry run and diff, confirms, and then, the wallet failing,
// hits the kill switch; the page shows the method off, and buyers no
// longer see it.
func TestBrowserOperatorRampsAndKills(t *testing.T) {
	op := browsertest.Start(t, "operator", browsertest.Options{Width: 1280, Height: 900})
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{NoWorker: true})
	if _, err := e.Accounts.AddUser(context.Background(), accounts.AddUserParams{Email: "ops@hutong.test", Name: "运营小王",
		Role: accounts.RoleOperations, Password: password}); err != nil {
		t.Fatal(err)
	}
	svc := e.Svc.RolloutService()
	seenBuyers(t, svc, e.Merchants[0].ID, 50)
	row := `[data-rollout-method="` + rolloutMethod + `"]`

	var removed, diffPercent, info string
	op.Do(
		S("open the console", chromedp.Navigate(e.URL+"/console")),
		S("see the sign-in", chromedp.WaitVisible(chromedp.CSS(`form[data-login]`))),
		S("type the email", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "ops@hutong.test")),
		S("type the password", chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password)),
		S("sign in", browsertest.Click(chromedp.CSS(`form[data-login] button[type=submit]`))),
		S("open the rollout", browsertest.Click(chromedp.CSS(`nav a[href="/console/rollout"]`))),
		S("see the rules", chromedp.WaitVisible(chromedp.CSS(`[data-rollout-rules]`))),
	)
	op.Screenshot("console-rollout")
	op.Do(
		S("open the method", browsertest.Click(chromedp.CSS(row+` a`))),
		S("see the editor", chromedp.WaitVisible(chromedp.CSS(`form[data-rollout-editor]`))),
		S("set 10%", chromedp.SetValue(chromedp.CSS(`[data-percent]`), "10")),
		S("type a salt", chromedp.SendKeys(chromedp.CSS(`form[data-rollout-editor] input[name=salt]`), rolloutSalt)),
		S("allow the team", chromedp.SendKeys(chromedp.CSS(`[data-list="allow_buyers"]`), "team-1\nteam-2")),
		S("type the reason", chromedp.SendKeys(chromedp.CSS(`form[data-rollout-editor] [data-reason]`), "先给一成买家")),
		S("preview", browsertest.Click(chromedp.CSS(`[data-preview]`))),
		S("see the diff", chromedp.WaitVisible(chromedp.CSS(`[data-diff]`))),
		S("read the removed", browsertest.Text(`[data-removed]`, &removed)),
		S("read the percentage's change", browsertest.Text(`[data-diff-field="percent_bps"]`, &diffPercent)),
	)
	op.Look("console-rollout-preview")
	if h, _ := svc.RuleHistory(context.Background(), rolloutMethod); len(h) != 0 {
		t.Fatalf("the preview saved: %+v", h)
	}
	if !strings.Contains(diffPercent, "100.00%") || !strings.Contains(diffPercent, "10.00%") || removed == "0" {
		t.Fatalf("the preview reads %q, removing %s", diffPercent, removed)
	}
	op.Do(
		S("confirm", browsertest.Click(chromedp.CSS(`[data-confirm]`))),
		S("see it saved", chromedp.WaitVisible(chromedp.CSS(`[data-info]`))),
		S("read the notice", browsertest.Text(`[data-info]`, &info)),
	)
	h, err := svc.RuleHistory(context.Background(), rolloutMethod)
	if err != nil || len(h) != 1 || h[0].Rule.BasisPoints != 1000 || h[0].Actor != "ops@hutong.test" || !slices.Equal(h[0].Rule.AllowBuyers, []string{"team-1", "team-2"}) {
		t.Fatalf("saved %+v %v (notice %q)", h, err, info)
	}
	op.Screenshot("console-rollout-saved")

	var state string
	op.Do(
		S("back to the rules", browsertest.Click(chromedp.CSS(`nav a[href="/console/rollout"]`))),
		S("type why", chromedp.SendKeys(chromedp.CSS(row+` [data-kill-form] input[name=reason]`), "微信支付回调大面积失败")),
		S("hit the kill switch", browsertest.Click(chromedp.CSS(row+` [data-kill]`))),
		S("see the confirmation", chromedp.WaitVisible(chromedp.CSS(`[data-switch-confirm-form]`))),
	)
	op.Screenshot("console-rollout-kill-confirm")
	op.Do(
		S("confirm the kill", browsertest.Click(chromedp.CSS(`[data-switch-confirm]`))),
		S("see the notice", chromedp.WaitVisible(chromedp.CSS(`[data-info]`))),
		S("read the state", browsertest.Text(row+` [data-rollout-state]`, &state)),
	)
	op.Look("console-rollout-killed")
	if state != "已关闭" {
		t.Fatalf("after the kill switch the page shows %q, want 已关闭", state)
	}
	if slices.Contains(svc.MethodsFor(context.Background(), rollout.Checkout{BuyerID: "team-1", MerchantID: e.Merchants[0].ID}), rolloutMethod) {
		t.Fatal("after the kill switch an allow-listed buyer still sees the method")
	}
	// No missing glyph and nothing overflowing, on a desktop and a phone.
	op.LookAt("console-rollout-method", e.URL+"/console/rollout/"+rolloutMethod, browsertest.Desktop, browsertest.Phone)
	op.LookAt("console-rollout-explain", e.URL+"/console/rollout/explain?method="+rolloutMethod+"&buyer=team-1&merchant="+e.Merchants[0].ID, browsertest.Desktop, browsertest.Phone)
}
