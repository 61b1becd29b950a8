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

	"github.com/hutong-pay/hutong/internal/audit"
	"github.com/hutong-pay/hutong/internal/clock"
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

func (s *Service) now() time.Time { return clock.Func(s.Now).Now() }

func (s *Service) log() *slog.Logger { return clock.Logger(s.Logger) }

// Event is what merchants receive: one change of one object.
type Event = webhook.Event

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
	if err := s.DB.In(tx).EventInsert(ctx, ev, objectID); err != nil {
		return fmt.Errorf("storing event %s of %s: %w", typ, objectID, err)
	}
	return s.enqueueDeliveries(ctx, tx, merchantID, ev.ID, now)
}

// Endpoint is a merchant's webhook endpoint.
type Endpoint = webhook.Endpoint

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
		if err := s.DB.In(tx).EndpointInsert(ctx, merchantID, e); err != nil {
			return fmt.Errorf("storing webhook endpoint: %w", err)
		}
		// An operator's endpoint commits with its audit record, which
		// must leave out the secret (audit.Recorder).
		if err := audit.Record(ctx, tx, e); err != nil {
			return err
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
	out, err := s.DB.Pool().EndpointList(ctx, merchantID)
	if err != nil {
		return nil, fmt.Errorf("listing webhook endpoints: %w", err)
	}
	return out, nil
}

// DeleteEndpoint stops deliveries to an endpoint; those queued find it
// deleted and end.
func (s *Service) DeleteEndpoint(ctx context.Context, merchantID, id string) error {
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.In(tx).EndpointDelete(ctx, merchantID, id, s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, id) // an operator's deletion commits with its audit record
	})
	if errors.Is(err, store.ErrNoRows) {
		return notfound.ByID("webhook endpoint", id, merchantID)
	}
	if err != nil {
		return fmt.Errorf("deleting webhook endpoint %s: %w", id, err)
	}
	return nil
}

// ListEvents pages a merchant's events (merchantID "" for the platform's),
// newest first: those older than the event after (an id of the merchant's,
// "" for the newest), of type typ if not "", at most limit.
func (s *Service) ListEvents(ctx context.Context, merchantID, typ, after string, limit int) ([]Event, error) {
	events, err := s.DB.Pool().EventList(ctx, store.EventListParams{MerchantID: merchantID, Type: typ, After: after, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	return events, nil
}

// ResendEvent queues a delivery of an event to every current endpoint.
func (s *Service) ResendEvent(ctx context.Context, merchantID, eventID string) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		exists, err := s.DB.In(tx).EventExists(ctx, merchantID, eventID)
		if err != nil {
			return fmt.Errorf("reading event %s: %w", eventID, err)
		}
		if !exists {
			return notfound.ByID("event", eventID, merchantID)
		}
		if err := s.enqueueDeliveries(ctx, tx, merchantID, eventID, s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, eventID) // an operator's resend commits with its audit record
	})
}

// enqueueDeliveries queues an event's delivery to each of the merchant's
// endpoints, reading them through tx (a transaction reads only through
// itself, never a second pool connection).
func (s *Service) enqueueDeliveries(ctx context.Context, tx *sql.Tx, merchantID, eventID string, now time.Time) error {
	endpoints, err := s.DB.In(tx).EndpointIDs(ctx, merchantID)
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
	dl, err := s.DB.Pool().DeliveryGet(ctx, d.Event, d.Endpoint)
	if errors.Is(err, store.ErrNoRows) || dl.Deleted {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading event %s for endpoint %s: %w", d.Event, d.Endpoint, err)
	}
	body := dl.Body
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader([]byte(body)))
	if err != nil {
		return fmt.Errorf("webhook endpoint %s: %w", d.Endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hutong-webhooks/1")
	if err := webhook.SetHeaders(req.Header, dl.Secret, d.Event, s.now(), []byte(body)); err != nil {
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
	attempt := store.WebhookAttempt{EventID: d.Event, EndpointID: d.Endpoint, Attempt: j.Attempt, At: s.now(), StatusCode: status, Error: msg, Duration: time.Since(start)}
	var recErr error
	if msg == "" {
		// Delivered: the attempt's record and the job's completion commit
		// together.
		recErr = jobs.CompleteWith(ctx, s.DB, func(tx *sql.Tx) error { return s.DB.In(tx).WebhookAttemptRecord(ctx, attempt) })
	} else {
		recErr = s.DB.Pool().WebhookAttemptRecord(ctx, attempt)
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
