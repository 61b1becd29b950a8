package console

// The merchant portal's own pages: API keys, webhook endpoints with the
// merchant's recent events, and statements. A merchant user sees its own
// merchant only; platform roles open the same pages for any merchant with
// ?merchant=ID. Changing keys and endpoints is for administrators and the
// merchant itself: the other platform roles help merchants, they do not
// hold their credentials.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/csvsafe"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/webhook"
)

// credentialRoles may create and revoke a merchant's API keys and change
// its webhook endpoints.
var credentialRoles = []accounts.Role{accounts.RoleAdmin, accounts.RoleMerchant}

// portalEvents is how many of the merchant's latest events the webhooks
// page lists.
const portalEvents = 50

// statementMaxDays bounds one statement, so a mistyped year cannot ask
// for a decade of movements in one page.
const statementMaxDays = 366

func (h *Handler) portalRoutes() {
	h.route("GET /console/keys", allRoles, h.portalKeys)
	h.route("POST /console/keys", credentialRoles, h.portalKeyCreate)
	h.route("POST /console/keys/{id}/revoke", credentialRoles, h.portalKeyRevoke)
	h.route("GET /console/webhooks", allRoles, h.portalWebhooks)
	h.route("POST /console/webhooks", credentialRoles, h.portalEndpointCreate)
	h.route("POST /console/webhooks/{id}/delete", credentialRoles, h.portalEndpointDelete)
	h.route("GET /console/statement", allRoles, h.portalStatement)
	h.route("GET /console/statement.csv", allRoles, h.portalStatementCSV)
}

// portalPage is what every portal page knows: whose pages they are, and
// whether the visitor may change them.
type portalPage struct {
	Merchant  merchant.Merchant
	Platform  bool // a platform role looking at a merchant: links carry ?merchant=
	CanChange bool
}

// Query is what the page's links add to keep to this merchant:
// "merchant=ID&" for platform roles, "" in the portal.
func (p portalPage) Query() string {
	if !p.Platform {
		return ""
	}
	return "merchant=" + url.QueryEscape(p.Merchant.ID) + "&"
}

// portalPick asks a platform role which merchant to open.
type portalPick struct {
	Path, Merchant string
}

// portalMerchant is the merchant whose page this is: the merchant user's
// own, whatever the request says; for platform roles the one named by
// ?merchant= (or the form's merchant field), which must exist. Anything
// else is answered here, and ok is false.
func (h *Handler) portalMerchant(w http.ResponseWriter, r *http.Request, v *visit, nav, title string) (portalPage, bool) {
	pp := portalPage{Platform: v.scope == "", CanChange: slices.Contains(credentialRoles, v.user.Role)}
	id := v.scope
	if id == "" {
		id = strings.TrimSpace(r.FormValue("merchant"))
	}
	pick := func(status int, msg string) {
		h.render(w, status, "portal-pick.html", v, page{Title: title, Nav: nav, Error: msg, Data: portalPick{Path: r.URL.Path, Merchant: id}})
	}
	switch {
	case id == "":
		pick(http.StatusBadRequest, "请指明商户：在地址后加 ?merchant=商户编号。")
		return pp, false
	case len(id) > 64:
		pick(http.StatusBadRequest, "商户编号太长。")
		return pp, false
	}
	m, err := h.cfg.Gateway.MerchantService().Get(r.Context(), id)
	switch {
	case errors.Is(err, notfound.Err):
		pick(http.StatusNotFound, fmt.Sprintf("没有编号为 %q 的商户。", id))
		return pp, false
	case err != nil:
		h.cfg.Logger.Error("console: reading a merchant", "merchant", id, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取商户，请稍后再试。")
		return pp, false
	}
	pp.Merchant = m
	return pp, true
}

// portalDone is where a change sends the browser back to: path, for the
// same merchant, with a line saying what was done.
func portalDone(pp portalPage, path, done string) string {
	return path + "?" + pp.Query() + "done=" + url.QueryEscape(done)
}

// --- API keys

type keysPage struct {
	portalPage
	Keys []store.APIKey
	// New is the key just created, with its secret: on this answer only.
	New *newKey
}

type newKey struct{ ID, Secret string }

// keyAudit is a key as the audit log keeps it: never its secret.
type keyAudit struct {
	ID         string    `json:"id"`
	MerchantID string    `json:"merchant_id"`
	Prefix     string    `json:"prefix"`
	CreatedAt  time.Time `json:"created_at"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

func auditKey(k store.APIKey) keyAudit {
	return keyAudit{ID: k.ID, MerchantID: k.MerchantID, Prefix: k.Prefix, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
}

func (h *Handler) portalKeys(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "keys", "API 密钥")
	if !ok {
		return
	}
	h.renderKeys(w, r, v, http.StatusOK, keysPage{portalPage: pp}, "")
}

// renderKeys lists the merchant's keys under kp's message; on a failure
// to read them it says so instead.
func (h *Handler) renderKeys(w http.ResponseWriter, r *http.Request, v *visit, status int, kp keysPage, errMsg string) {
	keys, err := h.cfg.Gateway.MerchantService().Keys(r.Context(), kp.Merchant.ID)
	if err != nil {
		h.cfg.Logger.Error("console: listing API keys", "merchant", kp.Merchant.ID, "err", err)
		if kp.New == nil {
			h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取 API 密钥，请稍后再试。")
			return
		}
		// The secret must still be shown: it is its only showing.
		errMsg = "暂时无法列出其他密钥。"
	}
	kp.Keys = keys
	h.render(w, status, "keys.html", v, page{Title: "API 密钥", Nav: "keys", Data: kp, Error: errMsg, Info: r.URL.Query().Get("done")})
}

// portalKeyCreate makes a key and answers with its secret, this once: it
// is not in the address (a redirect would put it in the history), not in
// the audit log, and hutong keeps only its hash.
func (h *Handler) portalKeyCreate(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "keys", "API 密钥")
	if !ok {
		return
	}
	// The log keeps the key as listed: id, prefix and time, never its secret.
	ctx, rec := h.audited(r, v, "key.create", "", pp.Merchant.ID, nil, func(made any) any {
		k, _ := made.(store.APIKey)
		return auditKey(k)
	})
	rec.objectOf = func(made any) string { k, _ := made.(store.APIKey); return "api_key:" + k.ID }
	k, secret, err := h.cfg.Gateway.MerchantService().CreateKey(ctx, pp.Merchant.ID)
	if err != nil {
		h.cfg.Logger.Error("console: creating an API key", "merchant", pp.Merchant.ID, "err", err)
		h.renderKeys(w, r, v, http.StatusInternalServerError, keysPage{portalPage: pp}, "暂时无法新建密钥，请稍后再试。")
		return
	}
	rec.done(ctx, store.APIKey{ID: k.ID, MerchantID: k.MerchantID})
	h.renderKeys(w, r, v, http.StatusOK, keysPage{portalPage: pp, New: &newKey{ID: k.ID, Secret: secret}}, "")
}

// portalKeyRevoke revokes one of the merchant's keys; another merchant's
// is not found and stays as it is. The key stops working in this process
// at once and in other gateway processes within 30 seconds (the time they
// remember a key: merchants.Service.RevokeKey).
func (h *Handler) portalKeyRevoke(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "keys", "API 密钥")
	if !ok {
		return
	}
	id := r.PathValue("id")
	svc := h.cfg.Gateway.MerchantService()
	keys, err := svc.Keys(r.Context(), pp.Merchant.ID)
	if err != nil {
		h.cfg.Logger.Error("console: listing API keys", "merchant", pp.Merchant.ID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法吊销，请稍后再试。")
		return
	}
	var before *keyAudit
	for _, k := range keys {
		if k.ID == id {
			a := auditKey(k)
			before = &a
		}
	}
	if before == nil {
		h.renderKeys(w, r, v, http.StatusNotFound, keysPage{portalPage: pp}, "没有这个密钥。")
		return
	}
	ctx, rec := h.audited(r, v, "key.revoke", "api_key:"+id, pp.Merchant.ID, before, func(made any) any {
		k, _ := made.(store.APIKey)
		return auditKey(k)
	})
	after, err := svc.RevokeKey(ctx, pp.Merchant.ID, id)
	switch {
	case errors.Is(err, notfound.Err):
		h.renderKeys(w, r, v, http.StatusNotFound, keysPage{portalPage: pp}, "没有这个密钥。")
		return
	case err != nil:
		h.cfg.Logger.Error("console: revoking an API key", "key", id, "err", err)
		h.renderKeys(w, r, v, http.StatusInternalServerError, keysPage{portalPage: pp}, "暂时无法吊销，请稍后再试。")
		return
	}
	rec.done(ctx, after)
	http.Redirect(w, r, portalDone(pp, "/console/keys", "已吊销密钥 "+id+"，它不能再调用接口。"), http.StatusSeeOther)
}

// --- webhook endpoints and events

type webhooksPage struct {
	portalPage
	Endpoints []webhook.Endpoint
	// New is the endpoint just added, with its signing secret: on this
	// answer only.
	New    *webhook.Endpoint
	URL    string // the address typed, kept when it is refused
	Events []portalEvent
}

// portalEvent is one of the merchant's events with how its deliveries
// went.
type portalEvent struct {
	ID, Type  string
	At        time.Time
	PaymentID string // the payment it is about, "" when none
	Tries     int
	Last      *store.WebhookAttempt
}

// paymentOfEvent is the payment an event is about: the object itself (a
// payment), or the payment it belongs to (a refund, a wallet order).
func paymentOfEvent(data json.RawMessage) string {
	var o struct {
		ID        string `json:"id"`
		PaymentID string `json:"payment_id"`
	}
	if json.Unmarshal(data, &o) != nil {
		return ""
	}
	if o.PaymentID != "" {
		return o.PaymentID
	}
	if strings.HasPrefix(o.ID, "pay_") {
		return o.ID
	}
	return ""
}

func (h *Handler) portalWebhooks(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "webhooks", "Webhook")
	if !ok {
		return
	}
	h.renderWebhooks(w, r, v, http.StatusOK, webhooksPage{portalPage: pp}, "")
}

// renderWebhooks draws the endpoints and recent events under wp's
// message.
func (h *Handler) renderWebhooks(w http.ResponseWriter, r *http.Request, v *visit, status int, wp webhooksPage, errMsg string) {
	ctx := r.Context()
	svc := h.cfg.Gateway.WebhookService()
	var err error
	if wp.Endpoints, err = svc.ListEndpoints(ctx, wp.Merchant.ID); err == nil {
		err = h.portalEventsOf(r, &wp)
	}
	if err != nil {
		h.cfg.Logger.Error("console: a merchant's webhooks", "merchant", wp.Merchant.ID, "err", err)
		if wp.New == nil {
			h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取 Webhook，请稍后再试。")
			return
		}
		errMsg = "暂时无法列出其他地址和事件。" // the secret must still be shown
	}
	h.render(w, status, "webhooks.html", v, page{Title: "Webhook", Nav: "webhooks", Data: wp, Error: errMsg, Info: r.URL.Query().Get("done")})
}

func (h *Handler) portalEventsOf(r *http.Request, wp *webhooksPage) error {
	events, err := h.cfg.Gateway.WebhookService().ListEvents(r.Context(), wp.Merchant.ID, "", "", portalEvents)
	if err != nil {
		return err
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	tries, err := h.cfg.Gateway.DB.Pool().WebhookAttemptsOf(r.Context(), ids...)
	if err != nil {
		return fmt.Errorf("reading deliveries: %w", err)
	}
	byEvent := map[string][]store.WebhookAttempt{}
	for _, t := range tries {
		byEvent[t.EventID] = append(byEvent[t.EventID], t)
	}
	for _, e := range events {
		pe := portalEvent{ID: e.ID, Type: e.Type, At: e.Created, PaymentID: paymentOfEvent(e.Data)}
		if ts := byEvent[e.ID]; len(ts) > 0 {
			pe.Tries, pe.Last = len(ts), &ts[len(ts)-1]
		}
		wp.Events = append(wp.Events, pe)
	}
	return nil
}

// portalEndpointCreate adds an endpoint through the webhooks service, so
// its address policy (public addresses only) applies; the signing secret
// is shown on this answer only, and kept out of the audit log.
func (h *Handler) portalEndpointCreate(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "webhooks", "Webhook")
	if !ok {
		return
	}
	raw := strings.TrimSpace(r.PostFormValue("url"))
	// The log keeps the endpoint without its signing secret.
	ctx, rec := h.audited(r, v, "webhook_endpoint.create", "", pp.Merchant.ID, nil, func(made any) any {
		ep, _ := made.(webhook.Endpoint)
		ep.Secret = ""
		return ep
	})
	rec.objectOf = func(made any) string { ep, _ := made.(webhook.Endpoint); return "webhook_endpoint:" + ep.ID }
	ep, err := h.cfg.Gateway.WebhookService().CreateEndpoint(ctx, pp.Merchant.ID, raw)
	if err != nil {
		var fe *payment.FieldError
		if errors.As(err, &fe) {
			h.renderWebhooks(w, r, v, http.StatusUnprocessableEntity, webhooksPage{portalPage: pp, URL: raw}, "这个地址不能接收 Webhook："+fe.Message)
			return
		}
		h.cfg.Logger.Error("console: adding a webhook endpoint", "merchant", pp.Merchant.ID, "err", err)
		h.renderWebhooks(w, r, v, http.StatusInternalServerError, webhooksPage{portalPage: pp, URL: raw}, "暂时无法添加，请稍后再试。")
		return
	}
	rec.done(ctx, ep)
	h.renderWebhooks(w, r, v, http.StatusOK, webhooksPage{portalPage: pp, New: &ep}, "")
}

// portalEndpointDelete stops deliveries to one of the merchant's
// endpoints; another merchant's is not found and keeps receiving.
func (h *Handler) portalEndpointDelete(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "webhooks", "Webhook")
	if !ok {
		return
	}
	id := r.PathValue("id")
	svc := h.cfg.Gateway.WebhookService()
	endpoints, err := svc.ListEndpoints(r.Context(), pp.Merchant.ID)
	if err != nil {
		h.cfg.Logger.Error("console: listing webhook endpoints", "merchant", pp.Merchant.ID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法删除，请稍后再试。")
		return
	}
	var before *webhook.Endpoint
	for i := range endpoints {
		if endpoints[i].ID == id {
			before = &endpoints[i]
		}
	}
	if before == nil {
		h.renderWebhooks(w, r, v, http.StatusNotFound, webhooksPage{portalPage: pp}, "没有这个接收地址。")
		return
	}
	before.Secret = ""
	ctx, rec := h.audited(r, v, "webhook_endpoint.delete", "webhook_endpoint:"+id, pp.Merchant.ID, before, func(any) any { return nil })
	switch err := svc.DeleteEndpoint(ctx, pp.Merchant.ID, id); {
	case errors.Is(err, notfound.Err):
		h.renderWebhooks(w, r, v, http.StatusNotFound, webhooksPage{portalPage: pp}, "没有这个接收地址。")
		return
	case err != nil:
		h.cfg.Logger.Error("console: deleting a webhook endpoint", "endpoint", id, "err", err)
		h.renderWebhooks(w, r, v, http.StatusInternalServerError, webhooksPage{portalPage: pp}, "暂时无法删除，请稍后再试。")
		return
	}
	rec.done(ctx, nil)
	http.Redirect(w, r, portalDone(pp, "/console/webhooks", "已删除接收地址 "+before.URL+"，不再向它投递。"), http.StatusSeeOther)
}

// --- statements

type statementPage struct {
	portalPage
	From, To  string // Beijing dates, both included, as typed
	Statement *money.Statement
	Lines     []statementLine
}

// statementLine is a movement as people read it.
type statementLine struct {
	money.Movement
	KindName string
}

// kindName says what a movement of the payable is, in the merchant's
// words.
func kindName(kind string) string {
	switch kind {
	case ledger.KindReleased:
		return "确认收货，货款入账"
	case ledger.KindPaidOut:
		return "结算打款"
	case ledger.KindRefundRequested:
		return "退款"
	case ledger.KindRefundDone:
		return "退款完成"
	case ledger.KindRefundFailed:
		return "退款失败，退回"
	case ledger.KindPaid:
		return "支付"
	case ledger.KindDuplicate:
		return "重复支付"
	case ledger.KindDuplicateRefund:
		return "重复支付退回"
	case ledger.KindDuplicateFailure:
		return "重复支付退回失败"
	}
	return kind
}

// statementPeriod reads ?from=&to= (Beijing dates, both included; this
// month so far when both are missing) as the instants [from, to).
func (h *Handler) statementPeriod(r *http.Request) (fromDay, toDay string, from, to time.Time, problem string) {
	q := r.URL.Query()
	fromDay, toDay = strings.TrimSpace(q.Get("from")), strings.TrimSpace(q.Get("to"))
	if fromDay == "" && toDay == "" {
		today := chinatime.Date(clock.Func(h.cfg.Gateway.Now).Now())
		fromDay, toDay = today[:8]+"01", today
	}
	from, _, err1 := chinatime.ParseDate(fromDay)
	_, to, err2 := chinatime.ParseDate(toDay)
	switch {
	case err1 != nil:
		return fromDay, toDay, from, to, fmt.Sprintf("开始日期 %q 应写成 2024-09-01", fromDay)
	case err2 != nil:
		return fromDay, toDay, from, to, fmt.Sprintf("结束日期 %q 应写成 2024-09-30", toDay)
	case !to.After(from):
		return fromDay, toDay, from, to, "结束日期不能早于开始日期"
	case to.Sub(from) > statementMaxDays*24*time.Hour:
		return fromDay, toDay, from, to, fmt.Sprintf("一次最多查 %d 天", statementMaxDays)
	}
	return fromDay, toDay, from, to, ""
}

func (h *Handler) portalStatement(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "statement", "对账单")
	if !ok {
		return
	}
	sp := statementPage{portalPage: pp}
	var from, to time.Time
	var problem string
	sp.From, sp.To, from, to, problem = h.statementPeriod(r)
	if problem != "" {
		h.render(w, http.StatusBadRequest, "statement.html", v, page{Title: "对账单", Nav: "statement", Data: sp, Error: problem})
		return
	}
	st, err := h.cfg.Gateway.MoneyService().MerchantStatement(r.Context(), pp.Merchant.ID, from, to)
	if err != nil {
		h.cfg.Logger.Error("console: a statement", "merchant", pp.Merchant.ID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法生成对账单，请稍后再试。")
		return
	}
	sp.Statement = &st
	for _, m := range st.Movements {
		sp.Lines = append(sp.Lines, statementLine{Movement: m, KindName: kindName(m.Kind)})
	}
	h.render(w, http.StatusOK, "statement.html", v, page{Title: "对账单", Nav: "statement", Data: sp})
}

// portalStatementCSV is the statement as a spreadsheet: amounts in fen as
// numbers (a refund is negative), times in Beijing time with their
// offset, and every text cell neutralised (csvsafe), since memos and ids
// come from outside. It starts with a byte order mark, without which
// Excel reads UTF-8 Chinese as garbage.
func (h *Handler) portalStatementCSV(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "statement", "对账单")
	if !ok {
		return
	}
	fromDay, toDay, from, to, problem := h.statementPeriod(r)
	if problem != "" {
		h.render(w, http.StatusBadRequest, "statement.html", v, page{Title: "对账单", Nav: "statement",
			Data: statementPage{portalPage: pp, From: fromDay, To: toDay}, Error: problem})
		return
	}
	st, err := h.cfg.Gateway.MoneyService().MerchantStatement(r.Context(), pp.Merchant.ID, from, to)
	if err != nil {
		h.cfg.Logger.Error("console: a statement", "merchant", pp.Merchant.ID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法生成对账单，请稍后再试。")
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="statement-`+fileSafe(pp.Merchant.ID)+"-"+fromDay+"-"+toDay+`.csv"`)
	if _, err := w.Write([]byte("\ufeff")); err != nil {
		return // the browser is gone
	}
	cw := csvsafe.NewWriter(w)
	e := csvsafe.Empty
	at := func(t time.Time) csvsafe.Cell { return csvsafe.Time(t.In(chinatime.Location)) }
	_ = cw.Header("时间（北京时间）", "类型", "支付单号", "退款单号", "备注", "金额（分）", "余额（分）")
	_ = cw.Write(at(from), csvsafe.Text("期初余额"), e, e, e, e, csvsafe.Int(st.Opening))
	for _, m := range st.Movements {
		_ = cw.Write(at(m.At), csvsafe.Text(kindName(m.Kind)), csvsafe.Text(m.PaymentID), csvsafe.Text(m.RefundID), csvsafe.Text(m.Memo),
			csvsafe.Int(m.Amount), csvsafe.Int(m.Balance))
	}
	_ = cw.Write(at(to), csvsafe.Text("期末余额"), e, e, e, e, csvsafe.Int(st.Closing))
	// The writer's first error sticks; only Flush's needs a look.
	if err := cw.Flush(); err != nil {
		h.cfg.Logger.Warn("console: writing a statement", "merchant", pp.Merchant.ID, "err", err)
	}
}

// fileSafe keeps the letters, digits, '-' and '_' of s, for a file name
// in a header.
func fileSafe(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			return c
		}
		return -1
	}, s)
}
