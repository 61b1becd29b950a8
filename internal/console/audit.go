package console

import (
	"net/http"
	"strings"

	"github.com/hutong-pay/hutong/internal/accounts"
)

type auditPage struct {
	Entries []accounts.AuditEntry
	Query   accounts.AuditQuery
	More    string
}

// audit browses the audit log, newest first: everything for platform
// roles, the merchant's own for the portal.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request, v *visit) {
	q := r.URL.Query()
	aq := accounts.AuditQuery{MerchantID: v.scope, Action: strings.TrimSpace(q.Get("action")), Object: strings.TrimSpace(q.Get("object")),
		Before: q.Get("before"), Limit: pageSize + 1}
	if v.scope == "" {
		aq.MerchantID = strings.TrimSpace(q.Get("merchant"))
	}
	entries, err := h.cfg.Accounts.AuditLog(r.Context(), aq)
	if err != nil {
		h.cfg.Logger.Error("console: reading the audit log", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取操作记录，请稍后再试。")
		return
	}
	ap := auditPage{Entries: entries, Query: aq}
	if len(entries) > pageSize {
		ap.Entries = entries[:pageSize]
		ap.More = entries[pageSize-1].Cursor()
	}
	h.render(w, http.StatusOK, "audit.html", v, page{Title: "操作记录", Nav: "audit", Data: ap})
}
