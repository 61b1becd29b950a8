package console

// The rollout pages: who sees each wallet method and why, its rule's
// history, an editor whose every change is first dry-run over the buyers
// really seen and shown as a diff, the kill switch, and "why does this
// buyer (not) see it". Rules are the platform's, so the merchant role
// sees none of this; only admin and operations change anything.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/rollouts"
)

// Who may read the rules, and who may change them: every platform role
// reads and explains (support answers buyers with it); operations and
// admins ramp and kill.
var (
	rolloutReaders = []accounts.Role{accounts.RoleAdmin, accounts.RoleOperations, accounts.RoleFinance, accounts.RoleSupport}
	rolloutWriters = []accounts.Role{accounts.RoleAdmin, accounts.RoleOperations}
)

// rolloutRoutes adds the rollout pages to the console.
func (h *Handler) rolloutRoutes() {
	h.route("GET /console/rollout", rolloutReaders, h.rolloutOverview)
	h.route("GET /console/rollout/explain", rolloutReaders, h.rolloutExplain)
	h.route("GET /console/rollout/{method}", rolloutReaders, h.rolloutMethod)
	h.route("POST /console/rollout/{method}/preview", rolloutWriters, h.rolloutPreview)
	h.route("POST /console/rollout/{method}/save", rolloutWriters, h.rolloutSave)
	h.route("POST /console/rollout/{method}/kill", rolloutWriters, func(w http.ResponseWriter, r *http.Request, v *visit) {
		h.rolloutSwitch(w, r, v, false)
	})
	h.route("POST /console/rollout/{method}/unkill", rolloutWriters, func(w http.ResponseWriter, r *http.Request, v *visit) {
		h.rolloutSwitch(w, r, v, true)
	})
	h.route("POST /console/rollout/{method}/revert", rolloutWriters, h.rolloutRevert)
}

// Limits of the editor's own fields (the rule's are rollout.Rule.Validate's).
const (
	dryRunDays    = 7  // the dry run's default window, as the API's
	maxDryRunDays = 90 // as the API's
	sampleBuyers  = 20 // buyer ids a preview lists of those added or removed
	maxReason     = 500
)

// rolloutRow is one method on the overview.
type rolloutRow struct {
	Method  string
	Wallet  string
	Rule    *rollout.Rule
	Words   []string
	State   string // "none" (no rule: everyone), "on", "off"
	Last    *rollouts.RuleChange
	Version int // of the rule set when it last changed, 0 if never
}

type rolloutOverviewPage struct {
	Rows     []rolloutRow
	CanEdit  bool
	Methods  []string
	Platform []option
}

// rolloutOverview lists every wallet method's rule in words, with who
// changed it last and why, and the kill switch beside it.
func (h *Handler) rolloutOverview(w http.ResponseWriter, r *http.Request, v *visit) {
	svc := h.cfg.Gateway.RolloutService()
	_, raw, err := svc.Rules(r.Context())
	if err != nil {
		h.rolloutTrouble(w, r, v, "reading the rollout rules", err)
		return
	}
	history, err := svc.RuleHistory(r.Context(), "")
	if err != nil {
		h.rolloutTrouble(w, r, v, "reading the rollout history", err)
		return
	}
	p := rolloutOverviewPage{CanEdit: slices.Contains(rolloutWriters, v.user.Role), Methods: channel.MethodNames(), Platform: platformOptions(nil)}
	for _, m := range channel.AllMethods() {
		row := rolloutRow{Method: m.Name, State: "none"}
		row.Wallet, _ = channel.MethodWallet(m.Name)
		if rule, ok := raw.Methods[m.Name]; ok {
			row.Rule = &rule
			row.State = map[bool]string{true: "on", false: "off"}[rule.Enabled]
		}
		row.Words = ruleWords(row.Rule)
		for i := range history { // newest first: the first is the last change
			if history[i].Method == m.Name {
				row.Last, row.Version = &history[i], history[i].Version
				break
			}
		}
		p.Rows = append(p.Rows, row)
	}
	h.render(w, http.StatusOK, "rollout.html", v, page{Title: "灰度发布", Nav: "rollout", Data: p, Info: r.URL.Query().Get("done")})
}

// rolloutMethodPage is one method: its rule, history and the editor.
type rolloutMethodPage struct {
	Method  string
	Rule    *rollout.Rule
	Words   []string
	History []historyRow
	Form    ruleForm
	CanEdit bool
}

type historyRow struct {
	rollouts.RuleChange
	Words   []string
	Current bool
}

// rolloutMethod shows a method's rule, every version of it, and the
// editor filled with the rule as it is.
func (h *Handler) rolloutMethod(w http.ResponseWriter, r *http.Request, v *visit) {
	method, ok := h.rolloutMethodOf(w, r, v)
	if !ok {
		return
	}
	cur, base, err := h.currentRule(r, method)
	if err != nil {
		h.rolloutTrouble(w, r, v, "reading a rollout rule", err)
		return
	}
	f := formOf(cur)
	f.Base, f.Days = strconv.Itoa(base), strconv.Itoa(dryRunDays)
	h.renderMethod(w, r, v, http.StatusOK, method, f, "", r.URL.Query().Get("done"))
}

// renderMethod draws the method's page with the editor holding f.
func (h *Handler) renderMethod(w http.ResponseWriter, r *http.Request, v *visit, status int, method string, f ruleForm, errMsg, info string) {
	svc := h.cfg.Gateway.RolloutService()
	_, raw, err := svc.Rules(r.Context())
	if err != nil {
		h.rolloutTrouble(w, r, v, "reading the rollout rules", err)
		return
	}
	history, err := svc.RuleHistory(r.Context(), method)
	if err != nil {
		h.rolloutTrouble(w, r, v, "reading the rollout history", err)
		return
	}
	p := rolloutMethodPage{Method: method, Form: f, CanEdit: slices.Contains(rolloutWriters, v.user.Role)}
	if rule, ok := raw.Methods[method]; ok {
		p.Rule = &rule
	}
	p.Words = ruleWords(p.Rule)
	for i, c := range history {
		p.History = append(p.History, historyRow{RuleChange: c, Words: ruleWords(c.Rule), Current: i == 0})
	}
	p.Form.fill()
	h.render(w, status, "rollout_method.html", v, page{Title: "灰度 · " + method, Nav: "rollout", Data: p, Error: errMsg, Info: info})
}

// previewPage is a proposed rule before it is saved: what it changes and
// whom, over the buyers of the last Days days.
type previewPage struct {
	Method        string
	Form          ruleForm
	Diff          []diffLine
	HadRule       bool
	Words         []string
	Days, Seen    int
	Added         int
	Removed       int
	AddedSample   []string
	RemovedSample []string
}

// ruleEdit is an editor form's rule as sent, beside the rule as it is.
type ruleEdit struct {
	method string
	form   ruleForm
	rule   rollout.Rule
	days   int
	cur    *rollout.Rule
	base   int // the version the rule is at
}

// ruleEdit reads what the preview and the save both start from: the
// method, the form's rule (refused, the editor again with refused before
// the reason) and the method's current rule.
func (h *Handler) ruleEdit(w http.ResponseWriter, r *http.Request, v *visit, refused string) (ruleEdit, bool) {
	method, ok := h.rolloutMethodOf(w, r, v)
	if !ok {
		return ruleEdit{}, false
	}
	ed := ruleEdit{method: method, form: readRuleForm(r)}
	var err error
	if ed.rule, ed.days, err = ed.form.parse(); err != nil {
		h.renderMethod(w, r, v, http.StatusBadRequest, method, ed.form, refused+fieldMessage(err), "")
		return ed, false
	}
	if ed.cur, ed.base, err = h.currentRule(r, method); err != nil {
		h.rolloutTrouble(w, r, v, "reading a rollout rule", err)
		return ed, false
	}
	return ed, true
}

// rolloutPreview dry-runs the edited rule and shows its diff; it saves
// nothing. Its confirm form carries the same values to rolloutSave.
func (h *Handler) rolloutPreview(w http.ResponseWriter, r *http.Request, v *visit) {
	ed, ok := h.ruleEdit(w, r, v, "未预览，规则没有改动：")
	if !ok {
		return
	}
	method, f, rule, days, cur := ed.method, ed.form, ed.rule, ed.days, ed.cur
	added, removed, seen, err := h.cfg.Gateway.RolloutService().DryRun(r.Context(), method, rule, days)
	if err != nil {
		h.rolloutTrouble(w, r, v, "dry-running a rollout rule", err)
		return
	}
	p := previewPage{Method: method, Form: formOf(&rule), HadRule: cur != nil, Words: ruleWords(&rule), Days: days, Seen: seen,
		Added: len(added), Removed: len(removed), AddedSample: sample(added), RemovedSample: sample(removed)}
	p.Form.Reason, p.Form.Base, p.Form.Days = f.Reason, f.Base, strconv.Itoa(days)
	p.Form.fill()
	before := rollout.Rule{Enabled: true, BasisPoints: rollout.Buckets} // no rule: shown to everyone
	if cur != nil {
		before = *cur
	}
	p.Diff = ruleDiff(before, rule)
	h.render(w, http.StatusOK, "rollout_preview.html", v, page{Title: "预览 · " + method, Nav: "rollout", Data: p})
}

// ruleMade is a rule change as the audit log keeps it: the rule it made
// (null when it removed the rule).
func ruleMade(made any) any {
	rc, _ := made.(rollouts.RuleChange)
	return rc.Rule
}

// rolloutSave saves the rule a preview showed, as a new version with the
// operator's email and reason, unless the rule changed since the preview.
func (h *Handler) rolloutSave(w http.ResponseWriter, r *http.Request, v *visit) {
	ed, ok := h.ruleEdit(w, r, v, "未保存：")
	if !ok {
		return
	}
	method, f, rule, cur, base := ed.method, ed.form, ed.rule, ed.cur, ed.base
	// Someone else saved between this preview and its confirmation: the
	// dry run and diff the operator agreed to are no longer the truth.
	if f.Base != strconv.Itoa(base) {
		h.renderMethod(w, r, v, http.StatusConflict, method, f,
			fmt.Sprintf("未保存：预览之后这条规则已被修改（现在是第 %d 版），请重新预览。", base), "")
		return
	}
	ctx, rec := h.audited(r, v, "rollout.set", "rollout:"+method, "", cur, ruleMade)
	rc, err := h.cfg.Gateway.RolloutService().SetRule(ctx, method, rule, v.user.Email, f.Reason)
	if err != nil {
		if msg, ok := refusal(err); ok {
			h.renderMethod(w, r, v, http.StatusBadRequest, method, f, "未保存："+msg, "")
			return
		}
		h.rolloutTrouble(w, r, v, "saving a rollout rule", err)
		return
	}
	rec.done(ctx, rc)
	http.Redirect(w, r, "/console/rollout/"+method+"?done="+url.QueryEscape(fmt.Sprintf("已保存：%s 的规则现为第 %d 版。", method, rc.Version)), http.StatusSeeOther)
}

// switchPage asks to confirm the kill switch (or turning it back on).
type switchPage struct {
	Method string
	On     bool // turning the method back on
	Reason string
	Words  []string
}

// rolloutSwitch is the kill switch (on false) and its undoing (on true).
// The first POST, from the overview, asks for confirmation; the second,
// carrying confirm=yes and a reason, acts. Turning a method off keeps
// the rest of its rule, so turning it on again restores exactly who saw
// it.
func (h *Handler) rolloutSwitch(w http.ResponseWriter, r *http.Request, v *visit, on bool) {
	method, ok := h.rolloutMethodOf(w, r, v)
	if !ok {
		return
	}
	cur, _, err := h.currentRule(r, method)
	if err != nil {
		h.rolloutTrouble(w, r, v, "reading a rollout rule", err)
		return
	}
	done := func(msg string) {
		http.Redirect(w, r, "/console/rollout?done="+url.QueryEscape(msg), http.StatusSeeOther)
	}
	switch {
	case on && (cur == nil || cur.Enabled):
		done(method + " 已经是开启的，没有改动。")
		return
	case !on && cur != nil && !cur.Enabled:
		done(method + " 已经是关闭的，没有改动。")
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	confirmed := r.PostFormValue("confirm") == "yes"
	if !confirmed || reason == "" || len(reason) > maxReason {
		sp := switchPage{Method: method, On: on, Reason: reason, Words: ruleWords(cur)}
		status, msg := http.StatusOK, ""
		if confirmed {
			status, msg = http.StatusBadRequest, fmt.Sprintf("原因（reason）：必填，说明为什么，至多 %d 字节。", maxReason)
		}
		h.render(w, status, "rollout_switch.html", v, page{Title: "确认 · " + method, Nav: "rollout", Data: sp, Error: msg})
		return
	}
	next := rollout.Rule{BasisPoints: rollout.Buckets} // no rule yet: off for the everyone who saw it
	if cur != nil {
		next = *cur
	}
	next.Enabled = on
	action, word := "rollout.kill", "已关闭"
	if on {
		action, word = "rollout.unkill", "已重新开启"
	}
	ctx, rec := h.audited(r, v, action, "rollout:"+method, "", cur, ruleMade)
	rc, err := h.cfg.Gateway.RolloutService().SetRule(ctx, method, next, v.user.Email, reason)
	if err != nil {
		if msg, ok := refusal(err); ok {
			h.fail(w, r, v, http.StatusBadRequest, "未改动："+msg)
			return
		}
		h.rolloutTrouble(w, r, v, "switching a rollout rule", err)
		return
	}
	rec.done(ctx, rc)
	done(fmt.Sprintf("%s %s（第 %d 版）。", method, word, rc.Version))
}

// rolloutRevert makes a method's rule what it was at an earlier version.
func (h *Handler) rolloutRevert(w http.ResponseWriter, r *http.Request, v *visit) {
	method, ok := h.rolloutMethodOf(w, r, v)
	if !ok {
		return
	}
	cur, base, err := h.currentRule(r, method)
	if err != nil {
		h.rolloutTrouble(w, r, v, "reading a rollout rule", err)
		return
	}
	f := formOf(cur)
	f.Base, f.Days = strconv.Itoa(base), strconv.Itoa(dryRunDays)
	version, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("version")))
	if err != nil {
		h.renderMethod(w, r, v, http.StatusBadRequest, method, f, "未恢复：版本（version）应为历史中的版本号。", "")
		return
	}
	// The service prefixes its own words to the reason, so an empty one
	// must be caught here.
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" || len(reason) > maxReason {
		h.renderMethod(w, r, v, http.StatusBadRequest, method, f, fmt.Sprintf("未恢复：原因（reason）必填，至多 %d 字节。", maxReason), "")
		return
	}
	ctx, rec := h.audited(r, v, "rollout.revert", "rollout:"+method, "", cur, ruleMade)
	rc, err := h.cfg.Gateway.RolloutService().RevertRule(ctx, method, version, v.user.Email, reason)
	if err != nil {
		if msg, ok := refusal(err); ok {
			h.renderMethod(w, r, v, http.StatusBadRequest, method, f, "未恢复："+msg, "")
			return
		}
		h.rolloutTrouble(w, r, v, "reverting a rollout rule", err)
		return
	}
	rec.done(ctx, rc)
	http.Redirect(w, r, "/console/rollout/"+method+"?done="+url.QueryEscape(fmt.Sprintf("已恢复到第 %d 版的规则，记为第 %d 版。", version, rc.Version)), http.StatusSeeOther)
}

// explainPage answers "why does this buyer (not) see it".
type explainPage struct {
	Query     explainQuery
	Asked     bool
	Methods   []string
	Platforms []option
	Answers   []answer
	Merchant  string
}

type explainQuery struct{ Method, Buyer, Merchant, Region, Platform, App string }

type answer struct {
	Method string
	Shown  bool
	Cohort string
	Words  string // why, in Chinese
	Reason string // the rule engine's own sentence, as logs and the API show it
	Bucket int
	Tier   string
}

// rolloutExplain tells, for a buyer at a merchant's checkout, whether
// each method (or the one asked about) is shown and why.
func (h *Handler) rolloutExplain(w http.ResponseWriter, r *http.Request, v *visit) {
	q := r.URL.Query()
	eq := explainQuery{Method: strings.TrimSpace(q.Get("method")), Buyer: strings.TrimSpace(q.Get("buyer")), Merchant: strings.TrimSpace(q.Get("merchant")),
		Region: strings.TrimSpace(q.Get("region")), Platform: strings.TrimSpace(q.Get("platform")), App: strings.TrimSpace(q.Get("app"))}
	p := explainPage{Query: eq, Methods: channel.MethodNames(), Platforms: platformOptions([]string{eq.Platform})}
	show := func(status int, msg string) {
		h.render(w, status, "rollout_explain.html", v, page{Title: "为什么（看不）到", Nav: "rollout", Data: p, Error: msg})
	}
	if eq == (explainQuery{}) {
		show(http.StatusOK, "")
		return
	}
	c := rollout.Checkout{BuyerID: eq.Buyer, MerchantID: eq.Merchant, RegionCode: eq.Region, Platform: eq.Platform, AppVersion: eq.App}
	var bad []string
	if eq.Method != "" && !slices.Contains(p.Methods, eq.Method) {
		bad = append(bad, fmt.Sprintf("支付方式（method）：%q 不是钱包的支付方式", eq.Method))
	}
	if eq.Buyer == "" || len(eq.Buyer) > rollout.MaxIDLength {
		bad = append(bad, fmt.Sprintf("买家（buyer）：必填，至多 %d 字节", rollout.MaxIDLength))
	}
	if eq.Platform != "" && !payment.Platforms[eq.Platform] {
		bad = append(bad, fmt.Sprintf("平台（platform）：%q 不是平台", eq.Platform))
	}
	if eq.Region != "" {
		if _, err := rollout.Tier(eq.Region, nil); err != nil {
			bad = append(bad, "地区（region）："+err.Error())
		}
	}
	if eq.App != "" {
		if _, err := rollout.CompareVersions(eq.App, eq.App); err != nil {
			bad = append(bad, "App 版本（app）："+err.Error())
		}
	}
	if eq.Merchant == "" {
		bad = append(bad, "商户（merchant）：必填，签约和类目因商户而异")
	} else if len(bad) == 0 {
		m, err := h.cfg.Gateway.MerchantService().Get(r.Context(), eq.Merchant)
		switch {
		case errors.Is(err, notfound.Err):
			bad = append(bad, fmt.Sprintf("商户（merchant）：没有商户 %q", eq.Merchant))
		case err != nil:
			h.rolloutTrouble(w, r, v, "reading a merchant", err)
			return
		default:
			// The checkout is the merchant's: its category counts, as at
			// a real checkout (rollouts.CheckoutOf).
			c = rollouts.CheckoutOf(payment.Payment{MerchantID: m.ID, Buyer: payment.Buyer{ID: eq.Buyer, RegionCode: eq.Region, Platform: eq.Platform}}, m)
			c.AppVersion = eq.App
			p.Merchant = m.Name
		}
	}
	if len(bad) > 0 {
		show(http.StatusBadRequest, strings.Join(bad, "；"))
		return
	}
	ex, err := h.cfg.Gateway.RolloutService().Explain(r.Context(), c)
	if err != nil {
		h.rolloutTrouble(w, r, v, "explaining a checkout", err)
		return
	}
	p.Asked = true
	for _, e := range ex {
		if eq.Method != "" && e.Method != eq.Method {
			continue
		}
		p.Answers = append(p.Answers, answer{Method: e.Method, Shown: e.Shown, Cohort: e.Cohort, Words: explainWords(e, c), Reason: e.Reason, Bucket: e.Bucket, Tier: e.Tier})
	}
	show(http.StatusOK, "")
}

// rolloutMethodOf is the {method} of the path, a wallet method's name;
// anything else is answered 404 naming the field.
func (h *Handler) rolloutMethodOf(w http.ResponseWriter, r *http.Request, v *visit) (string, bool) {
	m := r.PathValue("method")
	if _, ok := channel.MethodWallet(m); !ok {
		h.fail(w, r, v, http.StatusNotFound, fmt.Sprintf("支付方式（method）：%q 不是钱包的支付方式；灰度规则只为 %s 设置。", m, strings.Join(channel.MethodNames(), "、")))
		return "", false
	}
	return m, true
}

// currentRule is a method's rule now (nil: none) and the version of its
// newest change (0: never changed), which a preview carries so that its
// confirmation can tell whether someone else saved in between.
func (h *Handler) currentRule(r *http.Request, method string) (*rollout.Rule, int, error) {
	svc := h.cfg.Gateway.RolloutService()
	history, err := svc.RuleHistory(r.Context(), method)
	if err != nil {
		return nil, 0, err
	}
	if len(history) == 0 {
		return nil, 0, nil
	}
	return history[0].Rule, history[0].Version, nil
}

func (h *Handler) rolloutTrouble(w http.ResponseWriter, r *http.Request, v *visit, doing string, err error) {
	h.cfg.Logger.Error("console: "+doing, "err", err)
	h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取或修改灰度规则，请稍后再试。")
}

// refusal is the message of an error that is the input's fault (a field
// the service refused), false for anything else.
func refusal(err error) (string, bool) {
	var fe *payment.FieldError
	var nf *notfound.Error
	switch {
	case errors.As(err, &fe):
		if fe.Param == "rule" {
			// SetRule wraps rollout's FieldError text: "percent_bps: must be …".
			field, msg, ok := strings.Cut(fe.Message, ": ")
			if ok {
				return fieldMessage(&rollout.FieldError{Field: field, Message: msg}), true
			}
		}
		return fieldLabel(fe.Param) + "：" + fe.Message, true
	case errors.As(err, &nf):
		return nf.Error(), true
	case errors.Is(err, rollouts.ErrConflict):
		return "同时有另一项修改，请重试。", true
	}
	return "", false
}

// The editor.

// ruleForm is the editor's fields as typed, so a refused form comes back
// as the person left it.
type ruleForm struct {
	Enabled       bool
	Percent       string // a percentage, up to two decimals: "12.5"
	Salt          string
	Lists         []listField
	Tiers         []string
	Platforms     []string
	MinAppVersion string
	Days          string
	Reason        string
	Base          string // the method's newest version when the editor was opened

	// Filled for the template.
	TierOptions     []option
	PlatformOptions []option
}

type listField struct{ Name, Label, Text string }

type option struct {
	Value, Label string
	Checked      bool
}

// listFields are a rule's lists, in the order the rule consults them.
var listFields = []listField{
	{Name: "allow_buyers", Label: "白名单 · 买家"}, {Name: "deny_buyers", Label: "黑名单 · 买家"},
	{Name: "allow_merchants", Label: "白名单 · 商户"}, {Name: "deny_merchants", Label: "黑名单 · 商户"},
	{Name: "allow_products", Label: "白名单 · 商品"}, {Name: "deny_products", Label: "黑名单 · 商品"},
	{Name: "allow_categories", Label: "白名单 · 类目"}, {Name: "deny_categories", Label: "黑名单 · 类目"},
}

// lists are the rule's lists in listFields' order.
func lists(r *rollout.Rule) []*[]string {
	return []*[]string{&r.AllowBuyers, &r.DenyBuyers, &r.AllowMerchants, &r.DenyMerchants,
		&r.AllowProducts, &r.DenyProducts, &r.AllowCategories, &r.DenyCategories}
}

// formOf is the editor holding rule; no rule is the rule that shows the
// method to everyone.
func formOf(rule *rollout.Rule) ruleForm {
	r := rollout.Rule{Enabled: true, BasisPoints: rollout.Buckets}
	if rule != nil {
		r = *rule
	}
	f := ruleForm{Enabled: r.Enabled, Percent: percentInput(r.BasisPoints), Salt: r.Salt, Tiers: r.Tiers, Platforms: r.Platforms, MinAppVersion: r.MinAppVersion}
	for i, l := range lists(&r) {
		lf := listFields[i]
		lf.Text = strings.Join(*l, "\n")
		f.Lists = append(f.Lists, lf)
	}
	return f
}

func readRuleForm(r *http.Request) ruleForm {
	f := ruleForm{Enabled: r.PostFormValue("enabled") == "on", Percent: strings.TrimSpace(r.PostFormValue("percent")), Salt: r.PostFormValue("salt"),
		Tiers: r.PostForm["tiers"], Platforms: r.PostForm["platforms"], MinAppVersion: strings.TrimSpace(r.PostFormValue("min_app_version")),
		Days: strings.TrimSpace(r.PostFormValue("days")), Reason: strings.TrimSpace(r.PostFormValue("reason")), Base: r.PostFormValue("base")}
	for _, lf := range listFields {
		lf.Text = r.PostFormValue(lf.Name)
		f.Lists = append(f.Lists, lf)
	}
	return f
}

// fill sets the template's options from the form's values.
func (f *ruleForm) fill() {
	f.TierOptions = nil
	for _, t := range rollout.Tiers {
		f.TierOptions = append(f.TierOptions, option{Value: t, Label: tierName(t), Checked: slices.Contains(f.Tiers, t)})
	}
	f.PlatformOptions = platformOptions(f.Platforms)
}

// formError is a field of the form that could not be read.
type formError struct{ Field, Message string }

func (e *formError) Error() string { return e.Field + ": " + e.Message }

// parse reads the form as a rule, checked by rollout.Rule.Validate (the
// same check as the API's), and the dry run's window in days.
func (f ruleForm) parse() (rollout.Rule, int, error) {
	r := rollout.Rule{Enabled: f.Enabled, Salt: f.Salt, Tiers: f.Tiers, Platforms: f.Platforms, MinAppVersion: f.MinAppVersion}
	bps, err := parsePercent(f.Percent)
	if err != nil {
		return r, 0, &formError{Field: "percent_bps", Message: err.Error()}
	}
	r.BasisPoints = bps
	for i, l := range lists(&r) {
		*l = splitIDs(f.Lists[i].Text)
	}
	if err := r.Validate(); err != nil {
		return r, 0, err
	}
	days := dryRunDays
	if f.Days != "" {
		if days, err = strconv.Atoi(f.Days); err != nil || days < 1 || days > maxDryRunDays {
			return r, 0, &formError{Field: "days", Message: fmt.Sprintf("应为 1 到 %d 的整数", maxDryRunDays)}
		}
	}
	if f.Reason == "" || len(f.Reason) > maxReason {
		return r, 0, &formError{Field: "reason", Message: fmt.Sprintf("必填，说明为什么改，至多 %d 字节", maxReason)}
	}
	return r, days, nil
}

// parsePercent reads a percentage with at most two decimals as basis
// points, exactly ("12.5" is 1250); the range is Validate's to check.
func parsePercent(s string) (int, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	neg := strings.HasPrefix(s, "-")
	whole, frac, dot := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if whole == "" || len(whole) > 6 || (dot && (frac == "" || len(frac) > 2)) || strings.ContainsFunc(whole+frac, func(c rune) bool { return c < '0' || c > '9' }) {
		return 0, errors.New("应写成百分数，至多两位小数，如 12.5")
	}
	n, _ := strconv.Atoi(whole) // six digits at most: cannot overflow
	f, _ := strconv.Atoi((frac + "00")[:2])
	bps := n*100 + f
	if neg {
		bps = -bps
	}
	return bps, nil
}

// percentInput is basis points as the editor shows them: 1250 is "12.5".
func percentInput(bps int) string {
	s := fmt.Sprintf("%d.%02d", bps/100, bps%100)
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, "0"), "0"), ".")
}

// splitIDs reads a list as typed: ids separated by new lines, spaces or
// commas (Chinese ones too). An id therefore holds no space.
func splitIDs(s string) []string {
	ids := strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == '，' || c == '、' || c == ';' || unicode.IsSpace(c) })
	if len(ids) == 0 {
		return nil
	}
	return ids
}

// fieldMessage is a refused field in words: its name, in Chinese and as
// the API names it, then why.
func fieldMessage(err error) string {
	var fe *rollout.FieldError
	var ff *formError
	switch {
	case errors.As(err, &fe):
		return fieldLabel(fe.Field) + "：" + fe.Message
	case errors.As(err, &ff):
		return fieldLabel(ff.Field) + "：" + ff.Message
	}
	return err.Error()
}

// fieldLabel names a field of a rule, or of the editor, as "中文（json）".
func fieldLabel(field string) string {
	name, _, _ := strings.Cut(field, "[")
	labels := map[string]string{"enabled": "开关", "percent_bps": "灰度比例", "salt": "分桶盐", "tiers": "市场层级", "platforms": "平台",
		"min_app_version": "最低 App 版本", "days": "试算天数", "reason": "原因", "method": "支付方式", "version": "版本"}
	for _, lf := range listFields {
		labels[lf.Name] = lf.Label
	}
	if l, ok := labels[name]; ok {
		return l + "（" + field + "）"
	}
	return field
}

func sample(ids []string) []string {
	if len(ids) > sampleBuyers {
		return ids[:sampleBuyers]
	}
	return ids
}

// The rule in words.

var platformLabels = map[string]string{"ios": "iOS", "android": "安卓", "h5": "手机网页（H5）", "miniprogram": "小程序", "pc": "电脑网页"}

func platformName(p string) string {
	if l, ok := platformLabels[p]; ok {
		return l
	}
	return p
}

// platformOptions are the platforms in a fixed order, those in checked
// ticked.
func platformOptions(checked []string) []option {
	var out []option
	for _, p := range []string{"ios", "android", "miniprogram", "h5", "pc"} {
		out = append(out, option{Value: p, Label: platformName(p), Checked: slices.Contains(checked, p)})
	}
	return out
}

// pct is basis points as a percentage: 1250 is "12.50%".
func pct(bps int) string {
	sign := ""
	if bps < 0 {
		sign, bps = "-", -bps
	}
	return fmt.Sprintf("%s%d.%02d%%", sign, bps/100, bps%100)
}

// some lists a few ids and how many more there are.
func some(ids []string) string {
	const shown = 5
	if len(ids) <= shown {
		return strings.Join(ids, "、")
	}
	return fmt.Sprintf("%s 等 %d 个", strings.Join(ids[:shown], "、"), len(ids))
}

func names(xs []string, name func(string) string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = name(x)
	}
	return strings.Join(out, "、")
}

// ruleWords says who sees a method under a rule, in the order the rule
// is applied.
func ruleWords(r *rollout.Rule) []string {
	if r == nil {
		return []string{"没有规则：所有买家都能看到。"}
	}
	var out []string
	if !r.Enabled {
		out = append(out, "紧急开关已关闭：任何买家都看不到，白名单也不例外。")
	}
	rc := *r
	for i, l := range lists(&rc) {
		if len(*l) > 0 {
			out = append(out, listFields[i].Label+"："+some(*l))
		}
	}
	if len(r.Platforms) > 0 {
		out = append(out, "只在这些平台："+names(r.Platforms, platformName))
	}
	if r.MinAppVersion != "" {
		out = append(out, "App 版本不低于 "+r.MinAppVersion)
	}
	if len(r.Tiers) > 0 {
		out = append(out, "只给这些市场层级："+names(r.Tiers, tierName))
	}
	switch {
	case r.BasisPoints >= rollout.Buckets:
		out = append(out, "比例：全部买家（100.00%）")
	case r.BasisPoints <= 0:
		out = append(out, "比例：0%，只有白名单看得到")
	default:
		out = append(out, fmt.Sprintf("比例：%s 的买家（分桶 0 到 %d）", pct(r.BasisPoints), r.BasisPoints-1))
	}
	if r.Salt != "" {
		out = append(out, "分桶盐："+r.Salt)
	}
	return out
}

// diffLine is one field a change alters.
type diffLine struct {
	Field, Label, Before, After, Note string
}

// ruleDiff lists the fields that differ between two rules.
func ruleDiff(before, after rollout.Rule) []diffLine {
	var out []diffLine
	add := func(field, b, a, note string) {
		if b != a {
			out = append(out, diffLine{Field: field, Label: fieldLabel(field), Before: b, After: a, Note: note})
		}
	}
	onOff := map[bool]string{true: "开启", false: "关闭"}
	add("enabled", onOff[before.Enabled], onOff[after.Enabled], "")
	add("percent_bps", pct(before.BasisPoints), pct(after.BasisPoints), "")
	add("salt", quoteEmpty(before.Salt), quoteEmpty(after.Salt), "换盐会重新打散所有买家")
	bl, al := lists(&before), lists(&after)
	for i, lf := range listFields {
		b, a := *bl[i], *al[i]
		var gone, come []string
		for _, id := range b {
			if !slices.Contains(a, id) {
				gone = append(gone, id)
			}
		}
		for _, id := range a {
			if !slices.Contains(b, id) {
				come = append(come, id)
			}
		}
		var note []string
		if len(come) > 0 {
			note = append(note, "加入 "+some(come))
		}
		if len(gone) > 0 {
			note = append(note, "移出 "+some(gone))
		}
		add(lf.Name, listText(b), listText(a), strings.Join(note, "；"))
	}
	add("tiers", everyoneIfEmpty(names(before.Tiers, tierName)), everyoneIfEmpty(names(after.Tiers, tierName)), "")
	add("platforms", everyoneIfEmpty(names(before.Platforms, platformName)), everyoneIfEmpty(names(after.Platforms, platformName)), "")
	add("min_app_version", everyoneIfEmpty(before.MinAppVersion), everyoneIfEmpty(after.MinAppVersion), "")
	return out
}

func listText(ids []string) string {
	if len(ids) == 0 {
		return "（空）"
	}
	return fmt.Sprintf("%d 个：%s", len(ids), some(ids))
}

func quoteEmpty(s string) string {
	if s == "" {
		return "（空）"
	}
	return s
}

func everyoneIfEmpty(s string) string {
	if s == "" {
		return "不限"
	}
	return s
}

// explainWords says in Chinese why a method is (not) shown at a
// checkout: the step of the rule that decided, with its numbers.
func explainWords(e rollouts.Explanation, c rollout.Checkout) string {
	r := e.Rule
	seen := "看得到"
	if !e.Shown {
		seen = "看不到"
	}
	why := func(s string) string { return seen + "：" + s + "。" }
	switch e.Cohort {
	case rollout.CohortDefault:
		return why("这个支付方式没有灰度规则，所有买家都能看到")
	case "no_contract":
		return why(fmt.Sprintf("商户 %s 还没有当前协议下有效的签约，这个钱包的支付方式都不显示（与灰度规则无关）", c.MerchantID))
	}
	if r == nil { // a cohort from the rules, yet no rule: say what the engine said
		return why(e.Reason)
	}
	switch e.Cohort {
	case rollout.CohortOff:
		return why("紧急开关已关闭，对所有买家隐藏，白名单也不例外")
	case rollout.CohortDeny, rollout.CohortAllow:
		return why(listedWhy(*r, c, e.Cohort == rollout.CohortDeny))
	case rollout.CohortUntargeted:
		switch {
		case len(r.Platforms) > 0 && !slices.Contains(r.Platforms, c.Platform):
			if c.Platform == "" {
				return why("不知道买家的平台，而规则只在 " + names(r.Platforms, platformName) + " 上显示")
			}
			return why("平台 " + platformName(c.Platform) + " 不在规则的平台（" + names(r.Platforms, platformName) + "）之中")
		case r.MinAppVersion != "" && c.AppVersion == "":
			return why("不知道买家的 App 版本，而规则要求不低于 " + r.MinAppVersion)
		case r.MinAppVersion != "":
			return why("App 版本 " + c.AppVersion + " 低于规则要求的 " + r.MinAppVersion)
		case len(r.Tiers) > 0 && c.RegionCode == "":
			return why("不知道买家的地区，而规则只给 " + names(r.Tiers, tierName))
		case len(r.Tiers) > 0:
			return why(fmt.Sprintf("地区 %s 属于%s，不在规则的市场层级（%s）之中", c.RegionCode, tierName(e.Tier), names(r.Tiers, tierName)))
		}
		return why(fmt.Sprintf("没有买家编号，无法分桶，而规则只给 %s 的买家", pct(r.BasisPoints)))
	case rollout.CohortPercent:
		if e.Bucket < 0 {
			return why("规则给全部买家，没有买家编号也一样")
		}
		return why(fmt.Sprintf("买家落在第 %d 号桶，小于 %d（%s），在灰度之内", e.Bucket, r.BasisPoints, pct(r.BasisPoints)))
	case rollout.CohortHoldout:
		return why(fmt.Sprintf("买家落在第 %d 号桶，不小于 %d（%s），在对照组（灰度之外）", e.Bucket, r.BasisPoints, pct(r.BasisPoints)))
	}
	return why(e.Reason)
}

// listedWhy names the list that decided, in the order the rule consults
// them (buyer, merchant, product, category; deny before allow).
func listedWhy(r rollout.Rule, c rollout.Checkout, deny bool) string {
	type check struct {
		what  string
		ids   []string
		allow []string
		deny  []string
	}
	for _, k := range []check{
		{"买家", []string{c.BuyerID}, r.AllowBuyers, r.DenyBuyers},
		{"商户", []string{c.MerchantID}, r.AllowMerchants, r.DenyMerchants},
		{"商品", c.ProductIDs, r.AllowProducts, r.DenyProducts},
		{"类目", c.Categories, r.AllowCategories, r.DenyCategories},
	} {
		list, name := k.allow, "白名单"
		if deny {
			list, name = k.deny, "黑名单"
		}
		for _, id := range k.ids {
			if id != "" && slices.Contains(list, id) {
				return fmt.Sprintf("%s %s 在%s上", k.what, id, name)
			}
		}
	}
	if deny {
		return "在黑名单上"
	}
	return "在白名单上"
}
