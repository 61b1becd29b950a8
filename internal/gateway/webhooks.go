package gateway

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/idempotency"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/netguard"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/webhook"
)

// refusalReason sorts why a notification was refused, for metrics.
func refusalReason(err error) string {
	var me *payment.MismatchError
	switch {
	case errors.As(err, &me):
		return "mismatch_" + strings.ReplaceAll(me.Field, " ", "_")
	case errors.Is(err, ErrNotFound):
		return "unknown_order"
	case errors.Is(err, channel.ErrUnverified):
		return "bad_signature"
	}
	return "other"
}

// Endpoint is a merchant's webhook endpoint. The secret is shown once, when
// the endpoint is created.
type Endpoint struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Secret  string    `json:"secret,omitempty"`
	Created time.Time `json:"created"`
}

// CreateEndpoint adds a webhook endpoint. Its URL must name a public
// address (netguard), unless WebhookAllowPrivate: a merchant must not make
// hutong call into the network it runs in.
func (s *Service) CreateEndpoint(ctx context.Context, merchantID, rawURL string) (Endpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(rawURL) > 1024 {
		return Endpoint{}, &payment.FieldError{Param: "url", Message: "must be an absolute http(s) URL of at most 1024 bytes"}
	}
	if err := s.checkWebhookURL(ctx, rawURL, u); err != nil {
		return Endpoint{}, err
	}
	e := Endpoint{ID: payment.NewID("we"), URL: rawURL, Secret: webhook.NewSecret(), Created: s.now()}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, secret, created_at) VALUES ($1, $2, $3, $4, $5)`,
			e.ID, merchantID, e.URL, e.Secret, store.Micros(e.Created)); err != nil {
			return err
		}
		// A retry under the same Idempotency-Key gets this endpoint (and
		// its secret), not a second one delivering every event again.
		return idempotency.CommitAnswer(ctx, tx, http.StatusCreated, e)
	})
	return e, err
}

// checkWebhookURL applies the webhook address policy at registration; a
// refusal is a FieldError naming the address and how to allow it.
func (s *Service) checkWebhookURL(ctx context.Context, rawURL string, u *url.URL) error {
	if u.User != nil {
		return &payment.FieldError{Param: "url", Message: "must not carry a user name or password; deliveries are authenticated by the endpoint's signing secret"}
	}
	if s.WebhookAllowPrivate {
		return nil
	}
	err := netguard.CheckResolved(ctx, rawURL, nil)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, netguard.ErrNotPublic):
		return &payment.FieldError{Param: "url", Message: strings.TrimPrefix(err.Error(), "url ") +
			"; hutong delivers webhooks only to public addresses unless started with --webhook-allow-private"}
	}
	return &payment.FieldError{Param: "url", Message: strings.TrimPrefix(err.Error(), "url ")}
}

// The delivery clients, one per address policy, shared so that their
// connections are reused.
var (
	publicWebhookClient = sync.OnceValue(func() *http.Client { return netguard.NewClient(10*time.Second, false) })
	anyWebhookClient    = sync.OnceValue(func() *http.Client { return netguard.NewClient(10*time.Second, true) })
)

// webhookClient is the client a delivery uses: one that connects only to
// public addresses (checked on the address actually dialled, so a name
// rebound to 127.0.0.1 after registration is refused), unless
// WebhookAllowPrivate; HTTPClient instead when set (its transport is then
// trusted with the address policy). Redirects are never followed: a 3xx is
// a failed delivery, retried on the schedule.
func (s *Service) webhookClient() *http.Client {
	switch {
	case s.HTTPClient != nil:
		c := *s.HTTPClient
		c.CheckRedirect = netguard.NoRedirects
		return &c
	case s.WebhookAllowPrivate:
		return anyWebhookClient()
	}
	return publicWebhookClient()
}

// ListEndpoints lists a merchant's endpoints, without secrets.
func (s *Service) ListEndpoints(ctx context.Context, merchantID string) ([]Endpoint, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, url, created_at FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL ORDER BY created_at`, merchantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		var e Endpoint
		var at int64
		if err := rows.Scan(&e.ID, &e.URL, &at); err != nil {
			return nil, err
		}
		e.Created = store.Time(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteEndpoint stops deliveries to an endpoint.
func (s *Service) DeleteEndpoint(ctx context.Context, merchantID, id string) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE webhook_endpoints SET deleted_at = $3 WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL`, id, merchantID, store.Micros(s.now()))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("webhook endpoint", id, merchantID)
	}
	return nil
}

// ListEvents pages a merchant's events (merchantID "" for the platform's),
// newest first: those older than the event after (an id of the merchant's,
// "" for the newest), of type typ if not "", at most limit.
func (s *Service) ListEvents(ctx context.Context, merchantID, typ, after string, limit int) ([]Event, error) {
	query := `SELECT data FROM events WHERE merchant_id = $1`
	args := []any{merchantID}
	if typ != "" {
		args = append(args, typ)
		query += fmt.Sprintf(` AND type = $%d`, len(args))
	}
	query, args, err := store.Keyset{Table: "events", Time: "created_at", ID: "id", Desc: true, IDDesc: true, Object: "event",
		Scope: "merchant_id = $2", ScopeArgs: []any{merchantID}}.Page(ctx, s.DB, after, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	args = append(args, limit)
	query += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	return store.QueryJSON[Event](ctx, s.DB, query, args...)
}

// ResendEvent queues a delivery of an event to every current endpoint.
func (s *Service) ResendEvent(ctx context.Context, merchantID, eventID string) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE id = $1 AND merchant_id = $2`, eventID, merchantID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("event", eventID, merchantID)
		}
		return enqueueDeliveries(ctx, tx, merchantID, eventID, s.now())
	})
}

// enqueueDeliveries queues an event's delivery to each of the merchant's
// endpoints, reading them through tx.
func enqueueDeliveries(ctx context.Context, tx *sql.Tx, merchantID, eventID string, now time.Time) error {
	endpoints, err := store.QueryStrings(ctx, tx, `SELECT id FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL`, merchantID)
	if err != nil {
		return err
	}
	for _, ep := range endpoints {
		if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindWebhook, Payload: delivery{eventID, ep}, MaxAttempts: len(webhook.Schedule) + 1}, now); err != nil {
			return err
		}
	}
	return nil
}

// DeliverWebhook posts one event to one endpoint (a job), signed per
// Standard Webhooks; any 2xx is delivered, anything else is retried on
// webhook.Schedule. Every attempt is recorded.
func (s *Service) DeliverWebhook(ctx context.Context, j jobs.Job) error {
	var d delivery
	if err := json.Unmarshal(j.Payload, &d); err != nil {
		return fmt.Errorf("webhook job %d: %w", j.ID, err)
	}
	var body, url, secret string
	var deleted sql.NullInt64
	err := s.DB.QueryRowContext(ctx, `SELECT e.data, w.url, w.secret, w.deleted_at FROM events e JOIN webhook_endpoints w ON w.merchant_id = e.merchant_id
		WHERE e.id = $1 AND w.id = $2`, d.Event, d.Endpoint).Scan(&body, &url, &secret, &deleted)
	if errors.Is(err, sql.ErrNoRows) || deleted.Valid {
		return nil
	}
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hutong-webhooks/1")
	if err := webhook.SetHeaders(req.Header, secret, d.Event, s.now(), []byte(body)); err != nil {
		return err
	}
	start := time.Now()
	resp, err := s.webhookClient().Do(req)
	status, msg := 0, ""
	if err != nil {
		msg = err.Error()
	} else {
		// The answer's body is read only so the connection can be reused;
		// a failure to read it changes nothing about the delivery.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		status = resp.StatusCode
		if status < 200 || status > 299 {
			msg = fmt.Sprintf("the endpoint answered %d", status)
		}
	}
	record := func(ctx context.Context, q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}) error {
		_, err := q.ExecContext(ctx, `INSERT INTO webhook_attempts (event_id, endpoint_id, attempt, at, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT DO NOTHING`, d.Event, d.Endpoint, j.Attempt, store.Micros(s.now()), status, msg, time.Since(start).Milliseconds())
		return err
	}
	var recErr error
	if msg == "" {
		// Delivered: the attempt's record and the job's completion commit
		// together.
		recErr = jobs.CompleteWith(ctx, s.DB, func(tx *sql.Tx) error { return record(ctx, tx) })
	} else {
		recErr = record(ctx, s.DB)
	}
	if recErr != nil {
		// The attempt happened whether or not it is recorded; its outcome
		// decides the retry, and a delivery whose record failed is
		// completed by the worker as any other.
		s.log().Warn("recording a webhook attempt", "event", d.Event, "endpoint", d.Endpoint, "err", recErr)
	}
	switch {
	case err != nil:
		metrics.CountWebhookDelivery(metrics.NoAnswer)
	case msg != "":
		metrics.CountWebhookDelivery(metrics.BadStatus)
	default:
		metrics.CountWebhookDelivery(metrics.Delivered)
	}
	if msg != "" {
		return errors.New(msg)
	}
	return nil
}

// WebhookBackoff is the wait before a webhook's retry number attempt.
func WebhookBackoff(attempt int) time.Duration {
	if attempt-1 < len(webhook.Schedule) && attempt >= 1 {
		return webhook.Schedule[attempt-1]
	}
	return 3 * time.Hour
}
