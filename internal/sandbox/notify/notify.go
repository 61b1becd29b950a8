// Package notify delivers a sandbox wallet's asynchronous notifications to
// merchants' notify URLs the way the real wallets do: at least once, retried
// on the wallet's published schedule until acknowledged, and durable across a
// sandbox restart.
//
// A wallet hands the Dispatcher a Notification (body fixed once, because a
// retry repeats the same event) and a Wallet that signs each attempt afresh
// (a signature's timestamp must be recent when the merchant checks it) and
// judges the merchant's answer. Faults (drops, duplicates, delay, reordering)
// are applied here so every wallet gets them alike.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/journal"
)

// Wallet is what a simulated wallet tells the dispatcher about its
// notifications.
type Wallet interface {
	// Name is the wallet's name ("wechatpay", "alipay").
	Name() string
	// Schedule lists the waits before each retry, at real speed. Its length
	// is the number of retries after the first attempt.
	Schedule() []time.Duration
	// Prepare builds the HTTP request of one attempt (signing it now).
	Prepare(ctx context.Context, n *Notification) (*http.Request, error)
	// Acknowledged reports whether the merchant's answer ends the delivery.
	Acknowledged(status int, body []byte) bool
}

// Status of a notification.
const (
	StatusPending   = "pending"   // an attempt is due at NextAttemptAt
	StatusDelivered = "delivered" // the merchant acknowledged it
	StatusFailed    = "failed"    // the schedule ran out
)

// Notification is one event to deliver and its history.
type Notification struct {
	ID            string          `json:"id"`
	Wallet        string          `json:"wallet"`
	EventType     string          `json:"event_type"`
	URL           string          `json:"url"`
	ContentType   string          `json:"content_type"`
	Body          string          `json:"body"`
	Plaintext     json.RawMessage `json:"plaintext,omitempty"` // what the body carries, decrypted, for people reading the list
	Status        string          `json:"status"`
	CreatedAt     time.Time       `json:"created_at"`
	NextAttemptAt time.Time       `json:"next_attempt_at,omitzero"`
	Attempts      []Attempt       `json:"attempts"`
	// retries is how far along the schedule the next attempt is; a
	// redelivery restarts it.
	Retries int `json:"retries"`
	// Seq orders notifications by creation, for stable listings.
	Seq int64 `json:"seq"`
}

// Attempt is one try at delivering a notification.
type Attempt struct {
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	StatusCode int       `json:"status_code,omitempty"`
	Answer     string    `json:"answer,omitempty"` // the merchant's body, truncated
	Error      string    `json:"error,omitempty"`
	Dropped    bool      `json:"dropped,omitempty"` // a fault dropped it before it was sent
	Duplicate  bool      `json:"duplicate,omitempty"`
	Acked      bool      `json:"acknowledged"`
}

// Faults perturb delivery, per wallet.
type Faults struct {
	DropRate      float64       // probability an attempt is lost (the wallet retries later)
	DuplicateRate float64       // probability an acknowledged notification is sent once more
	Delay         time.Duration // added before the first attempt
	ReorderRate   float64       // probability a notification is held back so later ones overtake it
}

// FaultSource returns the current faults for a wallet.
type FaultSource func(wallet string) Faults

const journalKind = "notification"

// Dispatcher owns the notifications of all wallets.
type Dispatcher struct {
	j         *journal.Journal
	client    *http.Client
	timeScale float64
	faults    FaultSource
	now       func() time.Time
	log       *slog.Logger

	mu       sync.Mutex
	wallets  map[string]Wallet
	items    map[string]*Notification
	inflight map[string]bool
	seq      int64
	wake     chan struct{}
	wg       sync.WaitGroup
}

// Config of a Dispatcher.
type Config struct {
	Journal   *journal.Journal
	Client    *http.Client // the merchant-facing client; its Timeout bounds each attempt
	TimeScale float64      // the real schedule is divided by it; ≥ 1 in practice
	Faults    FaultSource
	Now       func() time.Time
	Logger    *slog.Logger
}

// ReorderHold is how long a reordered notification is held back, at real
// speed, before the time scale applies.
const ReorderHold = 2 * time.Minute

// New loads pending notifications from the journal. Call Register for each
// wallet and then Run.
func New(cfg Config) (*Dispatcher, error) {
	d := &Dispatcher{
		j:         cfg.Journal,
		client:    cfg.Client,
		timeScale: cfg.TimeScale,
		faults:    cfg.Faults,
		now:       cfg.Now,
		log:       cfg.Logger,
		wallets:   map[string]Wallet{},
		items:     map[string]*Notification{},
		inflight:  map[string]bool{},
		wake:      make(chan struct{}, 1),
	}
	if d.client == nil {
		d.client = &http.Client{Timeout: 5 * time.Second}
	}
	if d.timeScale <= 0 {
		d.timeScale = 1
	}
	if d.faults == nil {
		d.faults = func(string) Faults { return Faults{} }
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	err := d.j.Each(journalKind, func(_ string, raw json.RawMessage) error {
		var n Notification
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		d.items[n.ID] = &n
		d.seq = max(d.seq, n.Seq)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("notify: load: %w", err)
	}
	return d, nil
}

// Register adds a wallet. Notifications of an unregistered wallet wait.
func (d *Dispatcher) Register(w Wallet) {
	d.mu.Lock()
	d.wallets[w.Name()] = w
	d.mu.Unlock()
	d.poke()
}

func (d *Dispatcher) scaled(t time.Duration) time.Duration {
	return time.Duration(float64(t) / d.timeScale)
}

// Enqueue stores a new notification and schedules its first attempt. It
// returns after the notification is durable.
func (d *Dispatcher) Enqueue(n *Notification) error {
	f := d.faults(n.Wallet)
	now := d.now()
	first := now.Add(d.scaled(f.Delay))
	if f.ReorderRate > 0 && rand.Float64() < f.ReorderRate {
		first = first.Add(d.scaled(ReorderHold))
	}
	d.mu.Lock()
	d.seq++
	n.Seq = d.seq
	n.Status = StatusPending
	n.CreatedAt = now
	n.NextAttemptAt = first
	if n.Attempts == nil {
		n.Attempts = []Attempt{}
	}
	err := d.j.Put(journalKind, n.ID, n)
	if err == nil {
		d.items[n.ID] = n
	}
	d.mu.Unlock()
	d.poke()
	return err
}

// Redeliver sends a notification again from the start of its schedule,
// whatever its status.
func (d *Dispatcher) Redeliver(id string) (Notification, error) {
	d.mu.Lock()
	n, ok := d.items[id]
	if !ok {
		d.mu.Unlock()
		return Notification{}, fmt.Errorf("notification %q does not exist", id)
	}
	n.Status = StatusPending
	n.NextAttemptAt = d.now()
	n.Retries = 0
	err := d.j.Put(journalKind, n.ID, n)
	cp := clone(n)
	d.mu.Unlock()
	d.poke()
	return cp, err
}

// List returns the notifications of a wallet ("" for all), oldest first.
func (d *Dispatcher) List(wallet string) []Notification {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Notification, 0, len(d.items))
	for _, n := range d.items {
		if wallet == "" || n.Wallet == wallet {
			out = append(out, clone(n))
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Seq < out[b].Seq })
	return out
}

// Get returns one notification.
func (d *Dispatcher) Get(id string) (Notification, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.items[id]
	if !ok {
		return Notification{}, false
	}
	return clone(n), true
}

func clone(n *Notification) Notification {
	cp := *n
	cp.Attempts = append([]Attempt{}, n.Attempts...)
	return cp
}

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers due notifications until ctx ends, then waits for attempts in
// flight.
func (d *Dispatcher) Run(ctx context.Context) {
	defer d.wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := d.startDue(ctx)
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(d.now()), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// startDue launches every due attempt and returns when the next one is due.
func (d *Dispatcher) startDue(ctx context.Context) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	var next time.Time
	for _, n := range d.items {
		if n.Status != StatusPending || d.inflight[n.ID] {
			continue
		}
		w, ok := d.wallets[n.Wallet]
		if !ok {
			continue
		}
		if n.NextAttemptAt.After(now) {
			if next.IsZero() || n.NextAttemptAt.Before(next) {
				next = n.NextAttemptAt
			}
			continue
		}
		d.inflight[n.ID] = true
		snapshot := clone(n)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.attempt(ctx, w, &snapshot)
		}()
	}
	return next
}

const maxAnswer = 256

func (d *Dispatcher) send(ctx context.Context, w Wallet, n *Notification) Attempt {
	a := Attempt{At: d.now()}
	req, err := w.Prepare(ctx, n)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	a.DurationMS = time.Since(start).Milliseconds()
	if err != nil {
		a.Error = err.Error()
		return a
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	a.StatusCode = resp.StatusCode
	a.Answer = string(bytes.ToValidUTF8(body[:min(len(body), maxAnswer)], nil))
	a.Acked = w.Acknowledged(resp.StatusCode, body)
	return a
}

func (d *Dispatcher) attempt(ctx context.Context, w Wallet, n *Notification) {
	f := d.faults(n.Wallet)
	var a Attempt
	if f.DropRate > 0 && rand.Float64() < f.DropRate {
		a = Attempt{At: d.now(), Dropped: true, Error: "dropped by the sandbox's notify_drop_rate fault"}
	} else {
		a = d.send(ctx, w, n)
	}
	attempts := []Attempt{a}
	if a.Acked && f.DuplicateRate > 0 && rand.Float64() < f.DuplicateRate {
		dup := d.send(ctx, w, n)
		dup.Duplicate = true
		attempts = append(attempts, dup)
	}
	if ctx.Err() != nil && !a.Acked {
		// The sandbox is stopping: this attempt did not really happen, so
		// leave the notification as it was for the next start.
		d.mu.Lock()
		delete(d.inflight, n.ID)
		d.mu.Unlock()
		return
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, n.ID)
	cur, ok := d.items[n.ID]
	if !ok {
		return
	}
	cur.Attempts = append(cur.Attempts, attempts...)
	schedule := w.Schedule()
	switch {
	case a.Acked:
		cur.Status = StatusDelivered
		cur.NextAttemptAt = time.Time{}
	case cur.Retries >= len(schedule):
		cur.Status = StatusFailed
		cur.NextAttemptAt = time.Time{}
	default:
		cur.NextAttemptAt = d.now().Add(d.scaled(schedule[cur.Retries]))
		cur.Retries++
	}
	if err := d.j.Put(journalKind, cur.ID, cur); err != nil {
		d.log.Error("notify: persist attempt", "id", cur.ID, "err", err)
	}
	if a.Acked {
		d.log.Debug("notification delivered", "id", cur.ID, "wallet", cur.Wallet, "attempts", len(cur.Attempts))
	}
	d.pokeLocked()
}

func (d *Dispatcher) pokeLocked() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
