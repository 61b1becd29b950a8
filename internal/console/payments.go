package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"net/url"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/webhook"
)

// pageSize is how many payments a search page lists.
const pageSize = 50

type searchPage struct {
	Query    searchQuery
	Payments []payment.Payment
	More     string // the Before of the next page, "" when none
}

// searchQuery is a payment search as the form sends it.
type searchQuery struct {
	ID, Buyer, Status, Method, Merchant, From, To string
}

// payments searches payments: by any id a person may hold (ours, the
// merchant's order number, the wallet's number), buyer, status, method,
// merchant (operators only) and day (Beijing time).
func (h *Handler) payments(w http.ResponseWriter, r *http.Request, v *visit) {
	q := r.URL.Query()
	sq := searchQuery{ID: strings.TrimSpace(q.Get("id")), Buyer: strings.TrimSpace(q.Get("buyer")), Status: q.Get("status"),
		Method: q.Get("method"), Merchant: strings.TrimSpace(q.Get("merchant")), From: q.Get("from"), To: q.Get("to")}
	p := store.PaymentSearchParams{MerchantID: v.scope, ID: sq.ID, BuyerID: sq.Buyer, Status: sq.Status, Method: sq.Method,
		Before: q.Get("before"), Limit: pageSize + 1}
	if v.scope == "" {
		p.MerchantID = sq.Merchant
	}
	var bad []string
	for _, d := range []struct {
		text string
		to   *time.Time
		add  int
	}{{sq.From, &p.From, 0}, {sq.To, &p.To, 1}} {
		if d.text == "" {
			continue
		}
		day, err := time.ParseInLocation("2006-01-02", d.text, beijing)
		if err != nil {
			bad = append(bad, fmt.Sprintf("日期 %q 应写成 2024-09-05", d.text))
			continue
		}
		*d.to = day.AddDate(0, 0, d.add).UTC()
	}
	if len(sq.ID) > 128 || len(sq.Buyer) > 128 || len(sq.Merchant) > 64 || len(p.Before) > 64 {
		bad = append(bad, "搜索的编号太长")
	}
	if len(bad) > 0 {
		h.render(w, http.StatusBadRequest, "payments.html", v, page{Title: "支付", Nav: "payments", Error: strings.Join(bad, "；"), Data: searchPage{Query: sq}})
		return
	}
	found, err := h.cfg.Gateway.DB.Pool().PaymentSearch(r.Context(), p)
	if err != nil {
		h.cfg.Logger.Error("console: searching payments", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法搜索，请稍后再试。")
		return
	}
	sp := searchPage{Query: sq, Payments: found}
	if len(found) > pageSize {
		sp.Payments = found[:pageSize]
		sp.More = found[pageSize-1].ID
	}
	h.render(w, http.StatusOK, "payments.html", v, page{Title: "支付", Nav: "payments", Data: sp})
}

// paymentPage is one payment with everything that happened to it.
type paymentPage struct {
	Payment  payment.Payment
	Merchant string
	Attempts []payment.Attempt
	Refunds  []payment.Refund
	Timeline []moment
	Events   []eventRow
	// Refundable is what may still be refunded, in fen.
	Refundable int64
	CanRefund  bool
}

type eventRow struct {
	ID, Type string
	At       time.Time
	Tries    []store.WebhookAttempt
}

// moment is one line of a payment's timeline.
type moment struct {
	At     time.Time
	Kind   string // what happened, in a word or two
	Text   string
	Failed bool
}

// loadPayment is a payment the visitor may see; another merchant's is a
// 404 exactly like a made-up id.
func (h *Handler) loadPayment(w http.ResponseWriter, r *http.Request, v *visit) (payment.Payment, bool) {
	p, err := h.cfg.Gateway.PaymentService().GetPayment(r.Context(), v.scope, r.PathValue("id"))
	switch {
	case errors.Is(err, notfound.Err):
		h.fail(w, r, v, http.StatusNotFound, "没有这笔支付。")
		return p, false
	case err != nil:
		h.cfg.Logger.Error("console: reading a payment", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取这笔支付，请稍后再试。")
		return p, false
	}
	return p, true
}

func (h *Handler) payment(w http.ResponseWriter, r *http.Request, v *visit) {
	p, ok := h.loadPayment(w, r, v)
	if !ok {
		return
	}
	pp, err := h.paymentPage(r, v, p)
	if err != nil {
		h.cfg.Logger.Error("console: a payment's timeline", "payment", p.ID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取这笔支付的经过，请稍后再试。")
		return
	}
	h.render(w, http.StatusOK, "payment.html", v, page{Title: "支付 " + p.ID, Nav: "payments", Data: pp, Info: r.URL.Query().Get("done")})
}

// paymentPage gathers a payment's wallet orders, refunds, the wallets'
// messages (applied and refused), its ledger entries, and its events with
// every delivery attempt, and orders them into one timeline.
func (h *Handler) paymentPage(r *http.Request, v *visit, p payment.Payment) (paymentPage, error) {
	ctx := r.Context()
	db := h.cfg.Gateway.DB.Pool()
	pp := paymentPage{Payment: p, CanRefund: slices.Contains(refundRoles, v.user.Role)}
	if m, err := h.cfg.Gateway.MerchantService().Get(ctx, p.MerchantID); err == nil {
		pp.Merchant = m.Name
	}
	var err error
	if pp.Attempts, err = db.AttemptList(ctx, p.ID); err != nil {
		return pp, err
	}
	if pp.Refunds, err = db.RefundsOf(ctx, p.ID); err != nil {
		return pp, err
	}
	pp.Refundable = p.Amount - p.Refunded
	add := func(at time.Time, kind, text string, failed bool) {
		pp.Timeline = append(pp.Timeline, moment{At: at, Kind: kind, Text: text, Failed: failed})
	}
	add(p.CreatedAt, "创建", fmt.Sprintf("%s，%s，方式 %s，买家 %s", p.Description, yuan(p.Amount), p.Method, p.Buyer.ID), false)
	objects := []string{p.ID}
	for _, a := range pp.Attempts {
		objects = append(objects, a.ID)
		add(a.CreatedAt, "钱包订单", fmt.Sprintf("%s 在 %s 下单（%s）", a.ID, a.Method, statusName(a.Status)), false)
	}
	for _, rf := range pp.Refunds {
		objects = append(objects, rf.ID)
		add(rf.CreatedAt, "退款", fmt.Sprintf("%s 退 %s（%s）%s", rf.ID, yuan(rf.Amount), statusName(rf.Status), rf.Reason), rf.Status == payment.RefundFailed)
		if !rf.SucceededAt.IsZero() {
			add(rf.SucceededAt, "退款到账", fmt.Sprintf("%s 钱包确认退款 %s", rf.ID, yuan(rf.Amount)), false)
		}
	}
	if !p.PaidAt.IsZero() {
		add(p.PaidAt, "支付成功", fmt.Sprintf("%s 付款 %s，钱包单号 %s", p.PaidMethod, yuan(p.Amount), p.WalletTradeNo), false)
	}
	msgs, err := db.WalletMessagesOf(ctx, objects...)
	if err != nil {
		return pp, err
	}
	for _, m := range msgs {
		add(m.ReceivedAt, "钱包通知", fmt.Sprintf("%s 的通知 %s（关于 %s）已验证并处理", m.Channel, m.EventID, m.ObjectID), false)
	}
	refused, err := db.Mismatches(ctx, p.MerchantID, p.ID)
	if err != nil {
		return pp, err
	}
	for _, m := range refused {
		add(m.FirstAt, "已拒绝", fmt.Sprintf("%s 的消息 %s（%s）：%s 应为 %q，却是 %q；共 %d 次", m.Channel, m.MessageID, m.Source, m.Field, m.Expected, m.Got, m.Times), true)
	}
	entries, err := db.LedgerEntries(ctx, store.LedgerEntriesParams{PaymentID: p.ID, Limit: 200})
	if err != nil {
		return pp, err
	}
	for _, e := range entries {
		var parts []string
		for _, l := range e.Lines {
			parts = append(parts, fmt.Sprintf("%s %s", l.Account, yuan(l.Amount)))
		}
		add(e.At, "记账", e.Kind+"："+strings.Join(parts, "，"), false)
	}
	events, err := db.EventsOf(ctx, p.MerchantID, objects...)
	if err != nil {
		return pp, err
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
		add(e.Created, "事件", e.Type+"（"+e.ID+"）", false)
	}
	tries, err := db.WebhookAttemptsOf(ctx, ids...)
	if err != nil {
		return pp, err
	}
	for _, e := range events {
		row := eventRow{ID: e.ID, Type: e.Type, At: e.Created}
		for _, t := range tries {
			if t.EventID == e.ID {
				row.Tries = append(row.Tries, t)
			}
		}
		pp.Events = append(pp.Events, row)
	}
	for _, t := range tries {
		text := fmt.Sprintf("%s 第 %d 次投递到 %s：HTTP %d，%d 毫秒", t.EventID, t.Attempt, t.EndpointID, t.StatusCode, t.Duration.Milliseconds())
		if t.Error != "" {
			text += "，" + t.Error
		}
		add(t.At, "Webhook", text, t.Error != "")
	}
	slices.SortStableFunc(pp.Timeline, func(a, b moment) int { return a.At.Compare(b.At) })
	return pp, nil
}

// refund refunds from the console, audited with the payment before and
// the refund made.
func (h *Handler) refund(w http.ResponseWriter, r *http.Request, v *visit) {
	p, ok := h.loadPayment(w, r, v)
	if !ok {
		return
	}
	amount, err := parseYuan(r.PostFormValue("amount"))
	if err != nil {
		h.back(w, r, v, p.ID, http.StatusBadRequest, "退款金额："+err.Error())
		return
	}
	if limit := h.supportRefundLimit(); v.user.Role == accounts.RoleSupport && amount > limit {
		h.back(w, r, v, p.ID, http.StatusForbidden, fmt.Sprintf("客服一次至多退 %s；更多请交财务办理。", yuan(limit)))
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	ctx, rec := h.audited(r, v, "payment.refund", "payment:"+p.ID, p.MerchantID, p, nil)
	rf, err := h.cfg.Gateway.RefundService().Create(ctx, p.MerchantID, p.ID, amount, reason, r.PostFormValue("kind"))
	if err != nil {
		var fe *payment.FieldError
		if errors.As(err, &fe) || errors.Is(err, payment.ErrRefundExceeds) || errors.Is(err, payment.ErrNotPaid) {
			h.back(w, r, v, p.ID, http.StatusUnprocessableEntity, "退款未受理："+err.Error())
			return
		}
		h.cfg.Logger.Error("console: refund", "payment", p.ID, "err", err)
		h.back(w, r, v, p.ID, http.StatusInternalServerError, "退款暂时无法受理，请稍后再试。")
		return
	}
	rec.done(ctx, rf)
	http.Redirect(w, r, "/console/payments/"+p.ID+"?done="+url.QueryEscape("已受理退款 "+rf.ID+"，"+yuan(rf.Amount)), http.StatusSeeOther)
}

func (h *Handler) supportRefundLimit() int64 {
	if h.cfg.SupportRefundLimit > 0 {
		return h.cfg.SupportRefundLimit
	}
	return DefaultSupportRefundLimit
}

// queryWallet asks the wallets about the payment now: support's answer to
// "I paid, why is my order unpaid?".
func (h *Handler) queryWallet(w http.ResponseWriter, r *http.Request, v *visit) {
	p, ok := h.loadPayment(w, r, v)
	if !ok {
		return
	}
	// Each wallet answer applied commits with the record; asking when no
	// wallet order is pending changes nothing and is recorded after.
	ctx, rec := h.audited(r, v, "payment.query_wallet", "payment:"+p.ID, p.MerchantID, p, walletAnswer)
	after, err := h.cfg.Gateway.PaymentService().QueryNow(ctx, p.MerchantID, p.ID)
	if err != nil {
		h.cfg.Logger.Warn("console: querying the wallet", "payment", p.ID, "err", err)
		h.back(w, r, v, p.ID, http.StatusBadGateway, "钱包暂时没有回答："+err.Error())
		return
	}
	rec.done(ctx, after)
	http.Redirect(w, r, "/console/payments/"+p.ID+"?done="+url.QueryEscape("已向钱包查询，当前状态："+statusName(after.Status)), http.StatusSeeOther)
}

// resend delivers an event to the merchant's endpoints again.
func (h *Handler) resend(w http.ResponseWriter, r *http.Request, v *visit) {
	id := r.PathValue("id")
	paymentID := r.PostFormValue("payment")
	p, err := h.cfg.Gateway.PaymentService().GetPayment(r.Context(), v.scope, paymentID)
	if err != nil {
		h.fail(w, r, v, http.StatusNotFound, "没有这笔支付。")
		return
	}
	// The event must be about this payment: a merchant resends only its
	// own, and the form cannot name another's.
	objects, err := h.objectsOf(r, p)
	if err != nil {
		h.cfg.Logger.Error("console: a payment's objects", "payment", p.ID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法重发，请稍后再试。")
		return
	}
	events, err := h.cfg.Gateway.DB.Pool().EventsOf(r.Context(), p.MerchantID, objects...)
	if err != nil || !slices.ContainsFunc(events, func(e webhook.Event) bool { return e.ID == id }) {
		h.fail(w, r, v, http.StatusNotFound, "没有这个事件。")
		return
	}
	resent := map[string]string{"event": id, "payment": p.ID}
	ctx, rec := h.audited(r, v, "webhook.resend", "event:"+id, p.MerchantID, nil, func(any) any { return resent })
	if err := h.cfg.Gateway.WebhookService().ResendEvent(ctx, p.MerchantID, id); err != nil {
		h.cfg.Logger.Error("console: resending an event", "event", id, "err", err)
		h.back(w, r, v, p.ID, http.StatusInternalServerError, "暂时无法重发，请稍后再试。")
		return
	}
	rec.done(ctx, nil)
	http.Redirect(w, r, "/console/payments/"+p.ID+"?done="+url.QueryEscape("已重发事件 "+id), http.StatusSeeOther)
}

// objectsOf is everything events and wallet messages about p name: the
// payment, its wallet orders and its refunds.
func (h *Handler) objectsOf(r *http.Request, p payment.Payment) ([]string, error) {
	db := h.cfg.Gateway.DB.Pool()
	attempts, err := db.AttemptList(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	refunds, err := db.RefundsOf(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	out := []string{p.ID}
	for _, a := range attempts {
		out = append(out, a.ID)
	}
	for _, rf := range refunds {
		out = append(out, rf.ID)
	}
	return out, nil
}

// back shows the payment again with an error above it.
func (h *Handler) back(w http.ResponseWriter, r *http.Request, v *visit, id string, status int, msg string) {
	p, err := h.cfg.Gateway.PaymentService().GetPayment(r.Context(), v.scope, id)
	if err != nil {
		h.fail(w, r, v, status, msg)
		return
	}
	pp, err := h.paymentPage(r, v, p)
	if err != nil {
		h.fail(w, r, v, status, msg)
		return
	}
	h.render(w, status, "payment.html", v, page{Title: "支付 " + p.ID, Nav: "payments", Data: pp, Error: msg})
}

// walletAnswer is a wallet's answer to "ask the wallet" as the audit log
// keeps it; the payment as it then stands is kept as it is.
func walletAnswer(made any) any {
	t, ok := made.(channel.Trade)
	if !ok {
		return made
	}
	return map[string]any{"wallet_order": t.OutTradeNo, "wallet_state": t.State, "wallet_trade_no": t.TransactionID, "amount": t.Amount}
}

// parseYuan reads an amount typed in yuan ("12.30", "12.3", "12") as fen,
// exactly.
func parseYuan(s string) (int64, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "¥")
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 10 || (dot && (len(frac) == 0 || len(frac) > 2)) {
		return 0, errors.New("应写成元，如 12.30")
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, errors.New("应写成元，如 12.30")
		}
	}
	y, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, errors.New("应写成元，如 12.30")
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt((frac + "0")[:2], 10, 64)
	}
	fen := y*100 + f
	if fen <= 0 {
		return 0, errors.New("应大于零")
	}
	return fen, nil
}
