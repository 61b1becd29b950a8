package console

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/audit"
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

// auditRecord is a console action's entry in the audit log, written in
// the transaction of the change it describes. The console puts it in the
// request's context (audit.WithRecorder) and the service that makes the
// change writes it there (audit.Record), so the change and its record
// commit together or not at all: a crash between the two cannot lose the
// record, and a record that cannot be written rolls the change back (the
// person is told the action failed, and it did).
//
// An action whose service ran no transaction that wrote it made no change
// in the database (asking a wallet that has nothing pending, say); done
// then records it on its own. Actions that change something outside the
// database (the sandbox's payment, a settlement's wallet transfers) are
// not one transaction with anything: they use record before and after.
type auditRecord struct {
	h     *Handler
	entry accounts.AuditEntry
	// after turns what the service made into the snapshot the log keeps;
	// nil keeps it as made.
	after func(made any) any
	// objectOf names the object from what the service made, for an
	// object whose id the service chooses (a new key); nil keeps the
	// entry's.
	objectOf func(made any) string
	written  atomic.Bool // set from the goroutine that runs the transaction
}

// audited returns r's context carrying the audit record of action on
// object (of merchantID, "" for the platform's), with before as the log
// shows the object before the action.
func (h *Handler) audited(r *http.Request, v *visit, action, object, merchantID string, before any, after func(made any) any) (context.Context, *auditRecord) {
	a := &auditRecord{h: h, after: after,
		entry: accounts.AuditEntry{ActorID: v.user.ID, ActorEmail: v.user.Email, Action: action, Object: object, MerchantID: merchantID, IP: v.ip}}
	if before != nil {
		var err error
		if a.entry.Before, err = json.Marshal(before); err != nil {
			h.cfg.Logger.Error("console: audit snapshot", "action", action, "err", err)
		}
	}
	return audit.WithRecorder(r.Context(), a.record), a
}

// record is the audit.Recorder: it writes the entry in tx with the
// snapshot of what the change made.
func (a *auditRecord) record(ctx context.Context, tx *sql.Tx, made any) error {
	e := a.entry
	if a.objectOf != nil {
		e.Object = a.objectOf(made)
	}
	if a.after != nil {
		made = a.after(made)
	}
	if made != nil {
		after, err := json.Marshal(made)
		if err != nil {
			return fmt.Errorf("the audit snapshot of %s: %w", e.Action, err)
		}
		e.After = after
	}
	if err := a.h.cfg.Accounts.Record(ctx, tx, e); err != nil {
		return err
	}
	a.written.Store(true)
	return nil
}

// done records the action on its own, with after, unless the service's
// transaction already did: call it once the action succeeded.
func (a *auditRecord) done(ctx context.Context, after any) {
	if a.written.Load() {
		return
	}
	if err := a.record(ctx, nil, after); err != nil {
		a.h.cfg.Logger.Error("console: the audit log did not record an action", "action", a.entry.Action, "object", a.entry.Object,
			"actor", a.entry.ActorEmail, "err", err)
	}
}

// record audits an action on its own, after it is done: for what cannot
// share a transaction with its record (the sandbox's payment, a
// settlement's wallet transfers), which is recorded before it starts
// (recordAttempt) and as done after. A failure to record is logged
// loudly, since the action is done.
func (h *Handler) record(r *http.Request, v *visit, action, object, merchantID string, before, after any) {
	_, rec := h.audited(r, v, action, object, merchantID, before, nil)
	rec.done(r.Context(), after)
}

// recordAttempt audits, before it starts, an action that cannot share a
// transaction with its record. An action that cannot be recorded does not
// start: recordAttempt then answers the request and returns false.
func (h *Handler) recordAttempt(w http.ResponseWriter, r *http.Request, v *visit, action, object, merchantID string, before, asked any) bool {
	_, rec := h.audited(r, v, action, object, merchantID, before, nil)
	if err := rec.record(r.Context(), nil, asked); err != nil {
		h.cfg.Logger.Error("console: the audit log did not record an action; it was not done", "action", action, "object", object, "actor", v.user.Email, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法记录这次操作，所以没有执行，请稍后再试。")
		return false
	}
	return true
}
