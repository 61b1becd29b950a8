package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// AuditEntry is one action of a console user (or of the CLI, or of
// hutong itself), as the audit log keeps it.
type AuditEntry struct {
	ID         int64 // increasing: a later entry has a larger id
	At         time.Time
	ActorID    string // user id; "" for the CLI and the system
	ActorEmail string // the user's email then, or "cli:<os user>"
	// Action is "<object kind>.<verb>": "user.add", "session.login",
	// "session.login_failed", "session.logout_everywhere",
	// "payment.refund", "webhook.resend", …
	Action string
	Object string // "payment:pay_123", "user:usr_…"
	// MerchantID is the merchant the object belongs to, "" for the
	// platform's objects: a merchant's portal browses only its own.
	MerchantID string
	// Before and After are JSON snapshots of what changed; either may be
	// empty (nothing before an add, nothing to show of a login).
	Before, After json.RawMessage
	IP            string
}

// Cursor is the entry as AuditQuery.Before names it, for a "older"
// link after the last entry of a page.
func (e AuditEntry) Cursor() string { return strconv.FormatInt(e.ID, 10) }

// Record appends e to the audit log: in tx, so that the entry commits or
// rolls back with the change it describes, or, with tx nil, on its own.
// Left empty, At is now, the actor is ActorFrom(ctx) and IP is
// ClientIPFrom(ctx).
func (s *Service) Record(ctx context.Context, tx *sql.Tx, e AuditEntry) error {
	if e.Action == "" {
		return errors.New("accounts: an audit entry needs an action")
	}
	if e.At.IsZero() {
		e.At = s.Now.Now()
	}
	if e.ActorID == "" && e.ActorEmail == "" {
		if actor, ok := ActorFrom(ctx); ok {
			e.ActorID, e.ActorEmail = actor.ID, actor.Email
		}
	}
	if e.IP == "" {
		e.IP = ClientIPFrom(ctx)
	}
	for name, snap := range map[string]json.RawMessage{"before": e.Before, "after": e.After} {
		if len(snap) > 0 && !json.Valid(snap) {
			return fmt.Errorf("accounts: audit entry %s %s: %s is not JSON", e.Action, e.Object, name)
		}
	}
	ex := s.DB.Pool()
	if tx != nil {
		ex = s.DB.In(tx)
	}
	_, err := ex.AuditInsert(ctx, store.AuditEntry{At: e.At, ActorID: e.ActorID, ActorEmail: e.ActorEmail, Action: e.Action, Object: e.Object,
		MerchantID: e.MerchantID, Before: string(e.Before), After: string(e.After), IP: e.IP})
	if err != nil {
		return fmt.Errorf("accounts: recording %s %s: %w", e.Action, e.Object, err)
	}
	return nil
}

// AuditQuery selects a page of the audit log: every field given must
// match. A merchant's portal must always set MerchantID to its own.
type AuditQuery struct {
	MerchantID string
	ActorID    string
	Action     string
	Object     string
	// Before is a keyset cursor (AuditEntry.Cursor of the last entry
	// shown): the page holds entries older than that one.
	Before string
	// Limit is the page's size: 0 is DefaultAuditLimit, and at most
	// MaxAuditLimit.
	Limit int
}

// Page sizes of AuditLog.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 500
)

// AuditLog lists a page of the audit log, newest first. A Before or Limit
// that is not one is a *payment.FieldError naming it.
func (s *Service) AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	p := store.AuditListParams{MerchantID: q.MerchantID, ActorID: q.ActorID, Action: q.Action, Object: q.Object, Limit: q.Limit}
	if q.Before != "" {
		before, err := strconv.ParseInt(q.Before, 10, 64)
		if err != nil || before < 1 {
			return nil, &payment.FieldError{Param: "before", Message: "not an audit entry's id: " + q.Before}
		}
		p.Before = before
	}
	switch {
	case p.Limit == 0:
		p.Limit = DefaultAuditLimit
	case p.Limit < 0 || p.Limit > MaxAuditLimit:
		return nil, &payment.FieldError{Param: "limit", Message: fmt.Sprintf("from 1 to %d", MaxAuditLimit)}
	}
	rows, err := s.DB.Pool().AuditList(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("accounts: reading the audit log: %w", err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{ID: r.ID, At: r.At, ActorID: r.ActorID, ActorEmail: r.ActorEmail, Action: r.Action, Object: r.Object,
			MerchantID: r.MerchantID, IP: r.IP}
		if r.Before != "" {
			out[i].Before = json.RawMessage(r.Before)
		}
		if r.After != "" {
			out[i].After = json.RawMessage(r.After)
		}
	}
	return out, nil
}

// snapshot is a user as the audit log shows them before or after a
// change.
func snapshot(u User) json.RawMessage { return mustJSON(u) }

// jsonObject is a small fact about an action (how many sessions it
// ended) as an audit snapshot.
func jsonObject(m map[string]any) json.RawMessage { return mustJSON(m) }

// mustJSON encodes values of this package's own types, of strings,
// numbers and times, which always encode: a failure is a bug here.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("accounts: encoding an audit snapshot: %v", err))
	}
	return b
}
