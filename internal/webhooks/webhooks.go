// Package webhooks is hutong's events and their delivery to merchants'
// endpoints: Publish stores an event (one change of one object) together
// with a delivery job per endpoint of its merchant, in the transaction of
// the change, so that a committed change always has its event and a
// rolled-back one never does; Deliver (the job's handler) posts the event,
// signed per Standard Webhooks (package webhook), until an endpoint
// answers 2xx or webhook.Schedule runs out. Merchants manage their
// endpoints and read and resend their events through the API.
//
// Deliveries reach only public addresses unless AllowPrivate: a merchant
// must not make hutong call into the network it runs in (netguard).
package webhooks

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/idempotency"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/netguard"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/webhook"
)

// KindDeliver is the job kind of one event's delivery to one endpoint. The
// string is stored with every queued job, so it never changes.
const KindDeliver = "webhook.deliver"

// Service publishes events and delivers them. Its zero value but DB is
// ready to use: real time, no log, public addresses only.
type Service struct {
	DB  *store.DB
	Now func() time.Time
	// Logger hears of attempts that could not be recorded; nil discards.
	Logger *slog.Logger
	// HTTPClient, when set, delivers instead of hutong's own client; its
	// transport is then trusted with the address policy.
	HTTPClient *http.Client
	// AllowPrivate lets endpoints point at loopback and private addresses
	// (local development).
	AllowPrivate bool
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Event is what merchants receive: one change of one object.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	MerchantID string          `json:"merchant_id"`
	Created    time.Time       `json:"created"`
	Data       json.RawMessage `json:"data"`
}

// delivery is a KindDeliver job's payload.
type delivery struct {
	Event    string `json:"event"`
	Endpoint string `json:"endpoint"`
}

// Publish stores an event of type typ about the object objectID (object,
// as merchants see it) and a delivery job per endpoint of the merchant,
// in tx: the caller's transaction, so the event commits with the change it
// reports or not at all. merchantID "" is the platform's own events.
func (s *Service) Publish(ctx context.Context, tx *sql.Tx, merchantID, typ, objectID string, object any) error {
	now := s.now()
	data, err := json.Marshal(object)
	if err != nil {
		return fmt.Errorf("event %s: %w", typ, err)
	}
	ev := Event{ID: payment.NewID("evt"), Type: typ, MerchantID: merchantID, Created: now, Data: data}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("event %s: %w", typ, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, merchant_id, type, object_id, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		ev.ID, merchantID, typ, objectID, string(body), store.Micros(now)); err != nil {
		return fmt.Errorf("storing event %s of %s: %w", typ, objectID, err)
	}
	return enqueueDeliveries(ctx, tx, merchantID, ev.ID, now)
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
// address (netguard), unless AllowPrivate: a merchant must not make
// hutong call into the network it runs in. The endpoint commits with the
// answer to the request's Idempotency-Key, if any (idempotency).
func (s *Service) CreateEndpoint(ctx context.Context, merchantID, rawURL string) (Endpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(rawURL) > 1024 {
		return Endpoint{}, &payment.FieldError{Param: "url", Message: "must be an absolute http(s) URL of at most 1024 bytes"}
	}
	if err := s.checkURL(ctx, rawURL, u); err != nil {
		return Endpoint{}, err
	}
	e := Endpoint{ID: payment.NewID("we"), URL: rawURL, Secret: webhook.NewSecret(), Created: s.now()}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, secret, created_at) VALUES ($1, $2, $3, $4, $5)`,
			e.ID, merchantID, e.URL, e.Secret, store.Micros(e.Created)); err != nil {
			return fmt.Errorf("storing webhook endpoint: %w", err)
		}
		// A retry under the same Idempotency-Key gets this endpoint (and
		// its secret), not a second one delivering every event again.
		return idempotency.CommitAnswer(ctx, tx, http.StatusCreated, e)
	})
	return e, err
}

// checkURL applies the webhook address policy at registration; a refusal
// is a FieldError naming the address and how to allow it.
func (s *Service) checkURL(ctx context.Context, rawURL string, u *url.URL) error {
	if u.User != nil {
		return &payment.FieldError{Param: "url", Message: "must not carry a user name or password; deliveries are authenticated by the endpoint's signing secret"}
	}
	if s.AllowPrivate {
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
	publicClient = sync.OnceValue(func() *http.Client { return netguard.NewClient(10*time.Second, false) })
	anyClient    = sync.OnceValue(func() *http.Client { return netguard.NewClient(10*time.Second, true) })
)

// client is the client a delivery uses: one that connects only to public
// addresses (checked on the address actually dialled, so a name rebound
// to 127.0.0.1 after registration is refused), unless AllowPrivate;
// HTTPClient instead when set (its transport is then trusted with the
// address policy). Redirects are never followed: a 3xx is a failed
// delivery, retried on the schedule.
func (s *Service) client() *http.Client {
	switch {
	case s.HTTPClient != nil:
		c := *s.HTTPClient
		c.CheckRedirect = netguard.NoRedirects
		return &c
	case s.AllowPrivate:
		return anyClient()
	}
	return publicClient()
}

// ListEndpoints lists a merchant's endpoints, without secrets.
func (s *Service) ListEndpoints(ctx context.Context, merchantID string) ([]Endpoint, error) {
	out, err := store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (e Endpoint, err error) {
		var at int64
		err = rows.Scan(&e.ID, &e.URL, &at)
		e.Created = store.Time(at)
		return e, err
	}, `SELECT id, url, created_at FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL ORDER BY created_at`, merchantID)
	if err != nil {
		return nil, fmt.Errorf("listing webhook endpoints: %w", err)
	}
	if out == nil {
		out = []Endpoint{} // answered as [], not null
	}
	return out, nil
}

// DeleteEndpoint stops deliveries to an endpoint; those queued find it
// deleted and end.
func (s *Service) DeleteEndpoint(ctx context.Context, merchantID, id string) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE webhook_endpoints SET deleted_at = $3 WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL`, id, merchantID, store.Micros(s.now()))
	if err != nil {
		return fmt.Errorf("deleting webhook endpoint %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("deleting webhook endpoint %s: %w", id, err)
	}
	if n == 0 {
		return notfound.ByID("webhook endpoint", id, merchantID)
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
	events, err := store.QueryJSON[Event](ctx, s.DB, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	return events, nil
}

// ResendEvent queues a delivery of an event to every current endpoint.
func (s *Service) ResendEvent(ctx context.Context, merchantID, eventID string) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE id = $1 AND merchant_id = $2`, eventID, merchantID).Scan(&n); err != nil {
			return fmt.Errorf("reading event %s: %w", eventID, err)
		}
		if n == 0 {
			return notfound.ByID("event", eventID, merchantID)
		}
		return enqueueDeliveries(ctx, tx, merchantID, eventID, s.now())
	})
}

// enqueueDeliveries queues an event's delivery to each of the merchant's
// endpoints, reading them through tx (a transaction reads only through
// itself, never a second pool connection).
func enqueueDeliveries(ctx context.Context, tx *sql.Tx, merchantID, eventID string, now time.Time) error {
	endpoints, err := store.QueryStrings(ctx, tx, `SELECT id FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL`, merchantID)
	if err != nil {
		return fmt.Errorf("reading the endpoints of event %s: %w", eventID, err)
	}
	for _, ep := range endpoints {
		if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindDeliver, Payload: delivery{eventID, ep}, MaxAttempts: len(webhook.Schedule) + 1}, now); err != nil {
			return fmt.Errorf("queueing event %s for endpoint %s: %w", eventID, ep, err)
		}
	}
	return nil
}

// Deliver posts one event to one endpoint (the KindDeliver job's
// handler), signed per Standard Webhooks; any 2xx is delivered, anything
// else is retried on webhook.Schedule (Backoff). Every attempt is
// recorded; a delivered one commits its record with the job's completion
// (jobs.CompleteWith), so a crash cannot leave it delivered but pending.
// An event or endpoint since deleted ends the job.
func (s *Service) Deliver(ctx context.Context, j jobs.Job) error {
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
		return fmt.Errorf("reading event %s for endpoint %s: %w", d.Event, d.Endpoint, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return fmt.Errorf("webhook endpoint %s: %w", d.Endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hutong-webhooks/1")
	if err := webhook.SetHeaders(req.Header, secret, d.Event, s.now(), []byte(body)); err != nil {
		return fmt.Errorf("signing event %s: %w", d.Event, err)
	}
	start := time.Now()
	resp, err := s.client().Do(req)
	status, msg := 0, ""
	if err != nil {
		msg = err.Error()
	} else {
		// The answer's body is read only so the connection can be reused;
		// a failure to read it changes nothing about the delivery.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close() // a body read or not, the answer is in
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

// Backoff is the wait before a delivery's retry number attempt:
// webhook.Schedule, then three hours.
func Backoff(attempt int) time.Duration {
	if attempt-1 < len(webhook.Schedule) && attempt >= 1 {
		return webhook.Schedule[attempt-1]
	}
	return 3 * time.Hour
}
