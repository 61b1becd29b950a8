package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/webhook"
)

// EventInsert stores an event about the object objectID.
func (e Executor) EventInsert(ctx context.Context, ev webhook.Event, objectID string) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	_, err = e.q.ExecContext(ctx, `INSERT INTO events (id, merchant_id, type, object_id, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		ev.ID, ev.MerchantID, ev.Type, objectID, string(body), Micros(ev.Created))
	return err
}

// EventExists reports whether a merchant has an event.
func (e Executor) EventExists(ctx context.Context, merchantID, id string) (bool, error) {
	var n int
	err := e.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE id = $1 AND merchant_id = $2`, id, merchantID).Scan(&n)
	return n > 0, err
}

// EventListParams pages a merchant's events ("" for the platform's),
// newest first: those older than the event After, of Type if given.
type EventListParams struct {
	MerchantID string
	Type       string
	After      string
	Limit      int
}

// EventList lists a page of a merchant's events.
func (e Executor) EventList(ctx context.Context, p EventListParams) ([]webhook.Event, error) {
	query := `SELECT data FROM events WHERE merchant_id = $1`
	args := []any{p.MerchantID}
	if p.Type != "" {
		args = append(args, p.Type)
		query += fmt.Sprintf(` AND type = $%d`, len(args))
	}
	query, args, err := Keyset{Table: "events", Time: "created_at", ID: "id", Desc: true, IDDesc: true, Object: "event",
		Scope: "merchant_id = $2", ScopeArgs: []any{p.MerchantID}}.Page(ctx, e.q, p.After, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	args = append(args, p.Limit)
	query += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	return QueryJSON[webhook.Event](ctx, e.q, query, args...)
}

// EndpointInsert stores a merchant's new webhook endpoint.
func (e Executor) EndpointInsert(ctx context.Context, merchantID string, ep webhook.Endpoint) error {
	_, err := e.q.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, secret, created_at) VALUES ($1, $2, $3, $4, $5)`,
		ep.ID, merchantID, ep.URL, ep.Secret, Micros(ep.Created))
	return err
}

// EndpointList lists a merchant's endpoints in use, oldest first, without
// their secrets.
func (e Executor) EndpointList(ctx context.Context, merchantID string) ([]webhook.Endpoint, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (ep webhook.Endpoint, err error) {
		var at int64
		err = rows.Scan(&ep.ID, &ep.URL, &at)
		ep.Created = Time(at)
		return ep, err
	}, `SELECT id, url, created_at FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL ORDER BY created_at`, merchantID)
	if out == nil && err == nil {
		out = []webhook.Endpoint{}
	}
	return out, err
}

// EndpointIDs lists the ids of a merchant's endpoints in use.
func (e Executor) EndpointIDs(ctx context.Context, merchantID string) ([]string, error) {
	return QueryStrings(ctx, e.q, `SELECT id FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL`, merchantID)
}

// EndpointDelete stops a merchant's endpoint from being used; ErrNoRows
// when it has no such endpoint in use.
func (e Executor) EndpointDelete(ctx context.Context, merchantID, id string, at time.Time) error {
	return affected(e.q.ExecContext(ctx, `UPDATE webhook_endpoints SET deleted_at = $3 WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL`,
		id, merchantID, Micros(at)))
}

// Delivery is what one delivery of an event to an endpoint sends: the
// event as stored, where, signed with what; Deleted if the endpoint has
// since been deleted.
type Delivery struct {
	Body, URL, Secret string
	Deleted           bool
}

// DeliveryGet reads an event and the endpoint of its merchant it is to be
// delivered to.
func (e Executor) DeliveryGet(ctx context.Context, eventID, endpointID string) (Delivery, error) {
	var d Delivery
	var deleted sql.NullInt64
	err := e.q.QueryRowContext(ctx, `SELECT e.data, w.url, w.secret, w.deleted_at FROM events e JOIN webhook_endpoints w ON w.merchant_id = e.merchant_id
		WHERE e.id = $1 AND w.id = $2`, eventID, endpointID).Scan(&d.Body, &d.URL, &d.Secret, &deleted)
	d.Deleted = deleted.Valid
	return d, err
}

// WebhookAttempt is one delivery attempt's outcome.
type WebhookAttempt struct {
	EventID, EndpointID string
	Attempt             int
	At                  time.Time
	StatusCode          int    // 0: no answer
	Error               string // "" when delivered
	Duration            time.Duration
}

// WebhookAttemptRecord records an attempt, once: a job run again after a
// lost lease records the same attempt number only the first time.
func (e Executor) WebhookAttemptRecord(ctx context.Context, a WebhookAttempt) error {
	_, err := e.q.ExecContext(ctx, `INSERT INTO webhook_attempts (event_id, endpoint_id, attempt, at, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT DO NOTHING`, a.EventID, a.EndpointID, a.Attempt, Micros(a.At), a.StatusCode, a.Error, a.Duration.Milliseconds())
	return err
}
