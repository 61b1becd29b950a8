package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/recon"
)

// accountName is a ledger account as people read it, the merchant or
// wallet after it.
func accountName(account string) string {
	kind, of, _ := strings.Cut(account, ":")
	name := map[string]string{
		"escrow": "担保中（待买家确认收货）", "payable": "待结算给商户", "refunds_in_flight": "退款在途", "payouts": "已结算",
		"clearing": "钱包待清算", "fees": "钱包手续费", "duplicates": "重复支付待退", "commission": "平台佣金",
	}[kind]
	if name == "" {
		name = kind
	}
	if of != "" && (kind == "clearing" || kind == "fees" || kind == "duplicates") {
		name = channelName(of) + " " + name
	}
	return name
}

func reconKindName(k recon.ResultKind) string {
	switch k {
	case recon.MissingOurs:
		return "账单有、账上无"
	case recon.MissingWallet:
		return "账上有、账单无"
	case recon.AmountDiffers:
		return "金额不符"
	case recon.StatusDiffers:
		return "状态不符"
	case recon.FeeDiffers:
		return "手续费不符"
	case recon.MerchantDiffers:
		return "收款商户不符"
	}
	return string(k)
}

// balanceRow is one line of the balances: an account, or every
// merchant's accounts of one kind added up.
type balanceRow struct {
	Account string // the kind alone ("escrow") for a sum over merchants
	Amount  int64
}

type moneyPage struct {
	Merchant    string // "" for the whole platform
	Balances    []balanceRow
	Escrow      []escrowRow
	Settlements []money.Batch
	CanSettle   bool
	Yesterday   string
}

type escrowRow struct {
	Payment payment.Payment
	Due     bool // its auto-confirmation time has passed
}

// merchantKinds are the accounts every merchant has, in the order money
// moves through them.
var merchantKinds = []string{"escrow", "payable", "refunds_in_flight", "payouts"}

// money shows balances (the platform's, summed over merchants, or one
// merchant's), the payments in escrow with when each is released, and
// the settlements paid. The merchant role sees its own only.
func (h *Handler) money(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	merchantID := strings.TrimSpace(r.URL.Query().Get("merchant"))
	if v.scope != "" {
		// Another merchant's money is not there, as far as the portal goes.
		if merchantID != "" && merchantID != v.scope {
			h.fail(w, r, v, http.StatusNotFound, "没有这个商户。")
			return
		}
		merchantID = v.scope
	}
	if merchantID != "" && v.scope == "" {
		if _, err := h.cfg.Gateway.MerchantService().Get(ctx, merchantID); err != nil {
			if errors.Is(err, notfound.Err) {
				h.fail(w, r, v, http.StatusNotFound, "没有这个商户。")
				return
			}
			h.cfg.Logger.Error("console: reading a merchant", "merchant", merchantID, "err", err)
			h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取资金，请稍后再试。")
			return
		}
	}
	svc := h.cfg.Gateway.MoneyService()
	mp := moneyPage{Merchant: merchantID, CanSettle: v.scope == "" && slices.Contains(financeRoles, v.user.Role),
		Yesterday: h.now().In(beijing).AddDate(0, 0, -1).Format("2006-01-02")}
	balances, err := svc.Balances(ctx, merchantID)
	if err == nil {
		mp.Balances = sumBalances(balances, merchantID != "")
		var held []payment.Payment
		if held, err = svc.EscrowHeld(ctx, merchantID, pageSize); err == nil {
			now := h.now()
			for _, p := range held {
				mp.Escrow = append(mp.Escrow, escrowRow{Payment: p, Due: !p.AutoConfirmAt.IsZero() && !p.AutoConfirmAt.After(now)})
			}
			mp.Settlements, err = svc.Settlements(ctx, merchantID, pageSize)
		}
	}
	if err != nil {
		h.cfg.Logger.Error("console: reading the money", "merchant", merchantID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取资金，请稍后再试。")
		return
	}
	h.render(w, http.StatusOK, "money.html", v, page{Title: "资金", Nav: "money", Data: mp, Info: r.URL.Query().Get("done")})
}

// sumBalances orders one merchant's accounts by how money moves, or, for
// the platform, adds every merchant's accounts of a kind into one line
// and lists the wallets' and the platform's own accounts after them.
func sumBalances(bs []money.Balance, oneMerchant bool) []balanceRow {
	sums := map[string]int64{}
	var own []balanceRow
	for _, b := range bs {
		kind, _, _ := strings.Cut(b.Account, ":")
		if slices.Contains(merchantKinds, kind) {
			sums[kind] += b.Balance
			continue
		}
		own = append(own, balanceRow{Account: b.Account, Amount: b.Balance})
	}
	out := make([]balanceRow, 0, len(merchantKinds)+len(own))
	for _, k := range merchantKinds {
		// A merchant's account never posted to is shown as zero.
		out = append(out, balanceRow{Account: k, Amount: sums[k]})
	}
	if oneMerchant {
		return out
	}
	slices.SortFunc(own, func(a, b balanceRow) int { return strings.Compare(a.Account, b.Account) })
	return append(out, own...)
}

// settle runs the settlement of a day (Beijing date): every merchant's
// payable paid out, once per merchant and day.
func (h *Handler) settle(w http.ResponseWriter, r *http.Request, v *visit) {
	day := strings.TrimSpace(r.PostFormValue("day"))
	if _, err := time.ParseInLocation("2006-01-02", day, beijing); err != nil {
		h.fail(w, r, v, http.StatusBadRequest, fmt.Sprintf("结算日 %q 应写成 2024-09-05。", day))
		return
	}
	// A settlement is a transaction per merchant, and with profit sharing
	// wallet transfers besides: no one transaction holds it all. So the
	// request is recorded before it runs, and what it did after.
	if !h.recordAttempt(w, r, v, "settlement.run_requested", "settlement:"+day, "", nil, map[string]any{"day": day}) {
		return
	}
	batches, err := h.cfg.Gateway.MoneyService().Settle(r.Context(), day)
	if err != nil {
		// Settle may have paid some merchants before it failed: what it
		// did is audited all the same.
		h.record(r, v, "settlement.run", "settlement:"+day, "", nil, map[string]any{"day": day, "batches": batches, "error": err.Error()})
		h.cfg.Logger.Error("console: settling", "day", day, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, fmt.Sprintf("结算 %s 未全部完成（已结 %d 笔），请稍后再试。", day, len(batches)))
		return
	}
	h.record(r, v, "settlement.run", "settlement:"+day, "", nil, map[string]any{"day": day, "batches": batches})
	var total int64
	for _, b := range batches {
		total += b.Amount
	}
	msg := fmt.Sprintf("已结算 %s：%d 个商户，共 %s", day, len(batches), yuan(total))
	if len(batches) == 0 {
		msg = fmt.Sprintf("%s 没有可结算的款项（或当日已结算）", day)
	}
	http.Redirect(w, r, "/console/money?done="+url.QueryEscape(msg), http.StatusSeeOther)
}

type reconRunsPage struct {
	Runs []reconRunRow
	More string
}

type reconRunRow struct {
	Run            money.ReconRun
	Discrepancies  int64
	Resolved, Open int64
}

// reconRuns lists reconciliation runs, newest first, with how many of
// each one's discrepancies are still open.
func (h *Handler) reconRuns(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	svc := h.cfg.Gateway.MoneyService()
	after := r.URL.Query().Get("after")
	runs, err := svc.ReconRuns(ctx, after, pageSize+1)
	if errors.Is(err, notfound.Err) {
		h.fail(w, r, v, http.StatusNotFound, "没有这次对账。")
		return
	}
	var counts map[string]int
	if err == nil {
		ids := make([]string, len(runs))
		for i, run := range runs {
			ids[i] = run.ID
		}
		counts, err = svc.ReconResolvedCounts(ctx, ids...)
	}
	if err != nil {
		h.cfg.Logger.Error("console: listing reconciliation runs", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取对账，请稍后再试。")
		return
	}
	var rp reconRunsPage
	if len(runs) > pageSize {
		runs = runs[:pageSize]
		rp.More = runs[pageSize-1].ID
	}
	for _, run := range runs {
		d := run.Summary.Discrepancies()
		resolved := int64(counts[run.ID])
		rp.Runs = append(rp.Runs, reconRunRow{Run: run, Discrepancies: d, Resolved: resolved, Open: max(0, d-resolved)})
	}
	h.render(w, http.StatusOK, "recon.html", v, page{Title: "对账", Nav: "recon", Data: rp})
}

type reconRunPage struct {
	Run             money.ReconRun
	Open, Resolved  []money.ReconItemState
	CanResolve      bool
	MaxNote         int
	FailedToResolve int // the Seq of the item an error is about, -1 if none
	Note            string
}

// reconRun shows a run's discrepancies, open first, each with a form to
// resolve it (finance), and the resolved ones with their note, who and
// when.
func (h *Handler) reconRun(w http.ResponseWriter, r *http.Request, v *visit) {
	h.showRun(w, r, v, http.StatusOK, "", -1, "")
}

func (h *Handler) showRun(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string, failed int, note string) {
	run, items, err := h.cfg.Gateway.MoneyService().ReconRunItemsResolved(r.Context(), r.PathValue("id"))
	if errors.Is(err, notfound.Err) {
		h.fail(w, r, v, http.StatusNotFound, "没有这次对账。")
		return
	}
	if err != nil {
		h.cfg.Logger.Error("console: a reconciliation run", "run", r.PathValue("id"), "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取这次对账，请稍后再试。")
		return
	}
	rp := reconRunPage{Run: run, CanResolve: slices.Contains(financeRoles, v.user.Role), MaxNote: money.MaxResolutionNote, FailedToResolve: failed, Note: note}
	for _, it := range items {
		if it.Resolution == nil {
			rp.Open = append(rp.Open, it)
		} else {
			rp.Resolved = append(rp.Resolved, it)
		}
	}
	p := page{Title: "对账 " + run.Channel + " " + run.Day, Nav: "recon", Data: rp, Error: msg}
	if msg == "" {
		p.Info = r.URL.Query().Get("done")
	}
	h.render(w, status, "reconrun.html", v, p)
}

// resolve marks a discrepancy resolved with a note; who and when are the
// signed-in user and now.
func (h *Handler) resolve(w http.ResponseWriter, r *http.Request, v *visit) {
	runID := r.PathValue("id")
	seq, err := strconv.Atoi(r.PathValue("seq"))
	if err != nil || seq < 0 {
		h.fail(w, r, v, http.StatusNotFound, "没有这条差异。")
		return
	}
	note := r.PostFormValue("note")
	ctx, rec := h.audited(r, v, "recon.resolve", fmt.Sprintf("recon:%s/%d", runID, seq), "", nil, func(made any) any {
		p, _ := made.(money.ResolveParams)
		return map[string]any{"run_id": p.RunID, "seq": p.Seq, "key": p.Key, "note": p.Note, "by": p.By}
	})
	params := money.ResolveParams{RunID: runID, Seq: seq, Key: r.PostFormValue("key"), Note: note, By: v.user.Email}
	it, err := h.cfg.Gateway.MoneyService().ResolveReconItem(ctx, params)
	var fe *payment.FieldError
	switch {
	case errors.As(err, &fe):
		h.showRun(w, r, v, http.StatusBadRequest, fmt.Sprintf("第 %d 条差异未标记处理：请写明处理说明（至多 %d 字）。", seq+1, money.MaxResolutionNote), seq, note)
		return
	case errors.Is(err, notfound.Err):
		h.fail(w, r, v, http.StatusNotFound, "没有这条差异。")
		return
	case errors.Is(err, money.ErrAlreadyResolved):
		h.showRun(w, r, v, http.StatusConflict, fmt.Sprintf("第 %d 条差异已由 %s 于 %s 处理，未重复记录。", seq+1, it.Resolution.By, when(it.Resolution.At)), -1, "")
		return
	case err != nil:
		h.cfg.Logger.Error("console: resolving a discrepancy", "run", runID, "seq", seq, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法记录，请稍后再试。")
		return
	}
	rec.done(ctx, params)
	http.Redirect(w, r, "/console/recon/"+runID+"?done="+url.QueryEscape(fmt.Sprintf("已标记第 %d 条差异（%s）为已处理", seq+1, it.Key)), http.StatusSeeOther)
}
