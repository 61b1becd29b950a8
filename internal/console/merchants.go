package console

import (
	"embed"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"html/template"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/campaign"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
)

// Who may do what on the merchants', money and reconciliation pages. The
// platform's roles read them; operations, who sign merchants up, invite,
// suspend and resume; only finance moves money or closes a discrepancy.
// The merchant role sees its own balances and nothing of the others'.
var (
	platformRoles = []accounts.Role{accounts.RoleAdmin, accounts.RoleOperations, accounts.RoleFinance, accounts.RoleSupport}
	onboardRoles  = []accounts.Role{accounts.RoleAdmin, accounts.RoleOperations}
	financeRoles  = []accounts.Role{accounts.RoleAdmin, accounts.RoleFinance}
)

//go:embed templates/money/*.html
var moneyTemplateFS embed.FS

// moneyRoutes adds the merchants', campaigns', money and reconciliation
// pages to the console. Their templates use functions of their own, so
// they are parsed here, beside the console's layout, rather than with the
// other pages.
func (h *Handler) moneyRoutes() {
	h.tmpl = template.Must(template.Must(h.tmpl.Clone()).Funcs(moneyFuncs).ParseFS(moneyTemplateFS, "templates/money/*.html"))
	h.route("GET /console/merchants", platformRoles, h.merchants)
	h.route("POST /console/merchants/{id}/invite", onboardRoles, h.invite)
	h.route("POST /console/contracts/{id}/{action}", onboardRoles, h.contractAction)
	h.route("GET /console/campaigns", platformRoles, h.campaigns)
	h.route("GET /console/campaigns/{id}", platformRoles, h.campaignPage)
	h.route("POST /console/campaigns/{id}/remind", onboardRoles, h.campaignRemind)
	h.route("GET /console/money", allRoles, h.money)
	h.route("POST /console/money/settle", financeRoles, h.settle)
	h.route("GET /console/recon", platformRoles, h.reconRuns)
	h.route("GET /console/recon/{id}", platformRoles, h.reconRun)
	h.route("POST /console/recon/{id}/items/{seq}/resolve", financeRoles, h.resolve)
}

// channelName is a wallet as people call it.
func channelName(ch string) string {
	if w, ok := channel.LookupWallet(ch); ok {
		return w.Title
	}
	return ch
}

// contractStateName is a contract's state as people read it.
func contractStateName(s string) string {
	switch s {
	case "", contract.NotInvited:
		return "未邀请"
	case contract.Invited:
		return "已邀请"
	case contract.Signed:
		return "已签约"
	case contract.Submitted:
		return "审核中"
	case contract.Active:
		return "已开通"
	case contract.Rejected:
		return "被驳回"
	case contract.Suspended:
		return "已暂停"
	}
	return s
}

func sizeName(s string) string {
	switch s {
	case "small":
		return "小型"
	case "medium":
		return "中型"
	case "large":
		return "大型"
	}
	return s
}

// moneyFuncs are the template functions of these pages.
var moneyFuncs = template.FuncMap{
	"channelName": channelName, "contractStateName": contractStateName, "sizeName": sizeName, "tierName": tierName,
	"accountName": accountName, "reconKindName": reconKindName, "inc": func(i int) int { return i + 1 },
}

// channels are the wallets this gateway takes, in order.
func (h *Handler) channels() []string {
	return slices.Sorted(maps.Keys(h.cfg.Gateway.Accounts))
}

type merchantsPage struct {
	Query    merchantQuery
	Channels []string
	Rows     []merchantRow
	More     string
	CanAct   bool
	Sizes    []string
}

type merchantQuery struct{ Region, Size, Category string }

type merchantRow struct {
	Merchant merchant.Merchant
	Tier     string
	// Contracts are by channel, in Channels' order; a missing one is
	// not invited (ID "").
	Contracts []merchantContract
}

type merchantContract struct {
	Channel, ID, State string
}

// merchants lists merchants with their contract on each wallet, filtered
// by region (a prefix of the code: a province, a prefecture), size and
// category.
func (h *Handler) merchants(w http.ResponseWriter, r *http.Request, v *visit) {
	q := r.URL.Query()
	mq := merchantQuery{Region: strings.TrimSpace(q.Get("region")), Size: q.Get("size"), Category: strings.TrimSpace(q.Get("category"))}
	mp := merchantsPage{Query: mq, Channels: h.channels(), CanAct: slices.Contains(onboardRoles, v.user.Role), Sizes: []string{"small", "medium", "large"}}
	var bad []string
	if strings.Trim(mq.Region, "0123456789") != "" || len(mq.Region) > 6 {
		bad = append(bad, "地区应为行政区划代码的前几位数字，如 13（河北）或 1306（保定）")
	}
	if mq.Size != "" && !slices.Contains(mp.Sizes, mq.Size) {
		bad = append(bad, "规模应为小型、中型或大型")
	}
	if len(mq.Category) > 32 || len(q.Get("after")) > 64 {
		bad = append(bad, "搜索的条件太长")
	}
	if len(bad) > 0 {
		h.render(w, http.StatusBadRequest, "merchants.html", v, page{Title: "商户", Nav: "merchants", Error: strings.Join(bad, "；"), Data: mp})
		return
	}
	rows, err := h.cfg.Gateway.DB.Pool().MerchantList(r.Context(), store.MerchantListParams{Category: mq.Category, RegionCode: mq.Region, Size: mq.Size,
		After: q.Get("after"), Limit: pageSize + 1})
	if err != nil {
		h.cfg.Logger.Error("console: listing merchants", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取商户，请稍后再试。")
		return
	}
	if len(rows) > pageSize {
		rows = rows[:pageSize]
		mp.More = rows[pageSize-1].Merchant.ID
	}
	for _, row := range rows {
		mr := merchantRow{Merchant: row.Merchant}
		// A code that names no county-level place has no single tier.
		if tier, err := rollout.Tier(row.Merchant.RegionCode, nil); err == nil {
			mr.Tier = tier
		}
		for _, ch := range mp.Channels {
			c := row.Contracts[ch]
			mr.Contracts = append(mr.Contracts, merchantContract{Channel: ch, ID: c.ID, State: c.State})
		}
		mp.Rows = append(mp.Rows, mr)
	}
	h.render(w, http.StatusOK, "merchants.html", v, page{Title: "商户", Nav: "merchants", Data: mp, Info: q.Get("done")})
}

// contractSnapshot is a contract as the audit log keeps it: never the
// signing link, whose token lets anyone sign for the merchant.
func contractSnapshot(c contract.Contract) map[string]any {
	return map[string]any{"id": c.ID, "merchant_id": c.MerchantID, "channel": c.Channel, "state": c.State, "reason": c.Reason}
}

// contractMade is a contract the onboarding service made, as the audit
// log keeps it.
func contractMade(made any) any {
	c, _ := made.(contract.Contract)
	return contractSnapshot(c)
}

// invite invites a merchant to a wallet's contract (making the contract
// if it has none).
func (h *Handler) invite(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	merchantID, ch := r.PathValue("id"), r.PostFormValue("channel")
	if _, err := h.cfg.Gateway.MerchantService().Get(ctx, merchantID); err != nil {
		if errors.Is(err, notfound.Err) {
			h.fail(w, r, v, http.StatusNotFound, "没有这个商户。")
			return
		}
		h.cfg.Logger.Error("console: reading a merchant", "merchant", merchantID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法邀请，请稍后再试。")
		return
	}
	if !slices.Contains(h.channels(), ch) {
		h.fail(w, r, v, http.StatusBadRequest, "请选择一个钱包。")
		return
	}
	var before any
	if old, err := h.cfg.Gateway.OnboardingService().ListContracts(ctx, onboardingFilter(merchantID, ch)); err == nil && len(old) == 1 {
		before = contractSnapshot(old[0].Contract)
	}
	actx, rec := h.audited(r, v, "contract.invite", "", merchantID, before, contractMade)
	rec.objectOf = func(made any) string { c, _ := made.(contract.Contract); return "contract:" + c.ID }
	cv, err := h.cfg.Gateway.OnboardingService().Invite(actx, merchantID, ch, v.user.Email)
	if err != nil {
		h.contractRefused(w, r, v, "邀请", err)
		return
	}
	rec.done(actx, cv.Contract)
	http.Redirect(w, r, "/console/merchants?done="+url.QueryEscape(fmt.Sprintf("已邀请 %s 开通%s（合约 %s）", merchantID, channelName(ch), cv.ID)), http.StatusSeeOther)
}

// contractAction suspends or resumes a contract, with a reason.
func (h *Handler) contractAction(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	id := r.PathValue("id")
	var kind, verb string
	switch r.PathValue("action") {
	case "suspend":
		kind, verb = contract.ActSuspend, "暂停"
	case "resume":
		kind, verb = contract.ActResume, "恢复"
	default:
		h.fail(w, r, v, http.StatusNotFound, "没有这个操作。")
		return
	}
	old, err := h.cfg.Gateway.OnboardingService().GetContract(ctx, "", id)
	if err != nil {
		h.contractRefused(w, r, v, verb, err)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if len(reason) > 200 {
		h.fail(w, r, v, http.StatusBadRequest, "原因太长（至多 200 字节）。")
		return
	}
	actx, rec := h.audited(r, v, "contract."+r.PathValue("action"), "contract:"+id, old.MerchantID, contractSnapshot(old.Contract), contractMade)
	cv, err := h.cfg.Gateway.OnboardingService().Act(actx, id, contract.Action{Kind: kind, Actor: v.user.Email, Reason: reason})
	if err != nil {
		h.contractRefused(w, r, v, verb, err)
		return
	}
	rec.done(actx, cv.Contract)
	http.Redirect(w, r, "/console/merchants?done="+url.QueryEscape(fmt.Sprintf("已%s %s 的%s合约", verb, cv.MerchantID, channelName(cv.Channel))), http.StatusSeeOther)
}

// contractRefused answers an onboarding action that did not happen.
func (h *Handler) contractRefused(w http.ResponseWriter, r *http.Request, v *visit, verb string, err error) {
	var se *contract.StateError
	var fe *payment.FieldError
	switch {
	case errors.Is(err, notfound.Err):
		h.fail(w, r, v, http.StatusNotFound, "没有这个合约或商户。")
	case errors.As(err, &se):
		h.fail(w, r, v, http.StatusConflict, verb+"未完成：合约当前"+contractStateName(se.State)+"，"+se.Message)
	case errors.As(err, &fe):
		h.fail(w, r, v, http.StatusBadRequest, verb+"未完成："+fe.Error())
	default:
		h.cfg.Logger.Error("console: a contract action", "action", verb, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法"+verb+"，请稍后再试。")
	}
}

type campaignsPage struct {
	Campaigns []campaign.Campaign
}

// campaigns lists the signing campaigns, newest first.
func (h *Handler) campaigns(w http.ResponseWriter, r *http.Request, v *visit) {
	list, err := h.cfg.Gateway.OnboardingService().ListCampaigns(r.Context())
	if err != nil {
		h.cfg.Logger.Error("console: listing campaigns", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取签约活动，请稍后再试。")
		return
	}
	h.render(w, http.StatusOK, "campaigns.html", v, page{Title: "签约活动", Nav: "merchants", Data: campaignsPage{Campaigns: list}})
}

type campaignView struct {
	P campaign.Progress
	// Percent is the share of merchants active, and Elapsed the share of
	// the time from the campaign's start to its deadline gone, both 0–100.
	Percent, Elapsed int
	// BarWidth and ElapsedX are those shares on the bar, 400 wide.
	BarWidth, ElapsedX int
	States             []stateCount
	Late               bool // the projected end is after the deadline
	CanRemind          bool // the visitor may remind the merchants now
}

type stateCount struct {
	State string
	N     int
}

// campaignPage shows a campaign's progress toward its deadline: a bar of
// the merchants active against the time gone, the pace, the states, and
// who will miss the deadline at that pace.
func (h *Handler) campaignPage(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.cfg.Gateway.OnboardingService().CampaignProgress(r.Context(), r.PathValue("id"))
	if errors.Is(err, notfound.Err) {
		h.fail(w, r, v, http.StatusNotFound, "没有这个签约活动。")
		return
	}
	if err != nil {
		h.cfg.Logger.Error("console: a campaign's progress", "campaign", r.PathValue("id"), "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取签约进度，请稍后再试。")
		return
	}
	cv := campaignView{P: p, CanRemind: slices.Contains(onboardRoles, v.user.Role)}
	if p.Total > 0 {
		cv.Percent = p.Active * 100 / p.Total
	}
	c := p.Campaign
	if span := c.Deadline.Sub(c.Created); span > 0 {
		gone := h.now().Sub(c.Created)
		cv.Elapsed = int(math.Round(100 * min(1, max(0, gone.Seconds()/span.Seconds()))))
	}
	cv.BarWidth, cv.ElapsedX = cv.Percent*4, cv.Elapsed*4
	cv.Late = !p.ProjectedDone.IsZero() && p.ProjectedDone.After(c.Deadline)
	for _, s := range []string{contract.NotInvited, contract.Invited, contract.Signed, contract.Submitted, contract.Rejected, contract.Suspended, contract.Active} {
		if n := p.ByState[s]; n > 0 {
			cv.States = append(cv.States, stateCount{State: s, N: n})
		}
	}
	h.render(w, http.StatusOK, "campaign.html", v, page{Title: "签约活动 " + c.Name, Nav: "merchants", Data: cv, Info: r.URL.Query().Get("done")})
}

// campaignRemind reminds the campaign's merchants not active yet, now,
// audited: an operator chasing the deadline.
func (h *Handler) campaignRemind(w http.ResponseWriter, r *http.Request, v *visit) {
	id := r.PathValue("id")
	ctx, rec := h.audited(r, v, "campaign.remind", "campaign:"+id, "", nil, func(made any) any {
		n, _ := made.(int)
		return map[string]int{"reminded": n}
	})
	n, err := h.cfg.Gateway.OnboardingService().RemindNow(ctx, id)
	if errors.Is(err, notfound.Err) {
		h.fail(w, r, v, http.StatusNotFound, "没有这个签约活动。")
		return
	}
	if err != nil {
		h.cfg.Logger.Error("console: reminding a campaign", "campaign", id, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法提醒，请稍后再试。")
		return
	}
	rec.done(ctx, n)
	http.Redirect(w, r, "/console/campaigns/"+id+"?done="+url.QueryEscape(fmt.Sprintf("已提醒 %d 家尚未开通的商户", n)), http.StatusSeeOther)
}

// now is the gateway's clock (tests move it).
func (h *Handler) now() time.Time { return clock.Func(h.cfg.Gateway.Now).Now() }

// onboardingFilter selects a merchant's contract on a channel.
func onboardingFilter(merchantID, ch string) onboarding.ContractFilter {
	return onboarding.ContractFilter{MerchantID: merchantID, Channel: ch}
}
