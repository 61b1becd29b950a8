// Package jobs is hutong's durable background work (notification retries,
// order expiry, status polling, webhook delivery, settlement) on the store.
//
// A job is inserted with Enqueue in the same transaction as the state
// change that implies it, so a crash can neither lose nor invent one. A
// worker claims due jobs with a lease; several gateway processes on one
// PostgreSQL never hold the same job at once (FOR UPDATE SKIP LOCKED), and
// on SQLite the single writer serializes claims. A job whose worker died is
// claimed again when its lease runs out, so handlers must be idempotent —
// the same rule the wallets' own notifications follow.
//
// The queue's SQL lives in the store (internal/store/jobs.go), like all of
// hutong's, and runs on both backends through its typed methods; this
// package keeps what a queue decides: payloads, attempts and backoff,
// leases, the worker loop and its waking.
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
)

// DefaultMaxAttempts is how often a job is tried before it is dead.
const DefaultMaxAttempts = 25

// New describes a job to enqueue.
type New struct {
	Kind    string
	Payload any       // marshalled to JSON
	RunAt   time.Time // zero: now
	// MaxAttempts bounds the tries; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// UniqueKey, when set, keeps one pending job per (Kind, UniqueKey):
	// enqueueing another while one is available or running does nothing.
	UniqueKey string
}

// Job is a claimed job. Its fields are store.JobRow's, in the same order,
// so that a claim converts the store's rows without copying field by field
// and a field added to one and not the other does not compile.
type Job struct {
	ID          int64
	Kind        string
	Payload     json.RawMessage
	Attempt     int // 1 on the first try
	MaxAttempts int
	RunAt       time.Time
	LockedBy    string
}

// Enqueue inserts a job in tx. It returns the job's id, or 0 when a
// pending job with the same unique key already exists.
func Enqueue(ctx context.Context, tx *sql.Tx, j New, now time.Time) (int64, error) {
	if j.Kind == "" {
		return 0, errors.New("jobs: a job needs a kind")
	}
	payload, err := json.Marshal(j.Payload)
	if err != nil {
		return 0, fmt.Errorf("jobs: payload of %s: %w", j.Kind, err)
	}
	if j.RunAt.IsZero() {
		j.RunAt = now
	}
	if j.MaxAttempts <= 0 {
		j.MaxAttempts = DefaultMaxAttempts
	}
	id, err := store.JobsIn(tx).JobInsert(ctx, store.JobInsertParams{Kind: j.Kind, Payload: payload, UniqueKey: j.UniqueKey,
		RunAt: j.RunAt, MaxAttempts: j.MaxAttempts, CreatedAt: now})
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue %s: %w", j.Kind, err)
	}
	return id, nil
}

// CancelPending deletes, in the caller's transaction, the jobs of kind not
// yet started whose unique key begins with keyPrefix: work the transaction's
// state change made pointless (the remaining status polls of a wallet order
// that was just paid), which would otherwise cost a claim and a completion
// each to find nothing to do. A job already running finishes as it would.
func CancelPending(ctx context.Context, tx *sql.Tx, kind, keyPrefix string) error {
	if _, err := store.JobsIn(tx).JobsCancelPending(ctx, store.JobsCancelPendingParams{Kind: kind, KeyPrefix: keyPrefix}); err != nil {
		return fmt.Errorf("jobs: cancel %s %s…: %w", kind, keyPrefix, err)
	}
	return nil
}

// ErrLeaseLost is returned when a worker finishes a job whose lease it no
// longer holds (it ran out and another worker claimed the job).
var ErrLeaseLost = errors.New("jobs: the lease on this job was lost")

// Queue claims and finishes jobs.
type Queue struct {
	DB  *store.DB
	Now func() time.Time
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now().UTC()
	}
	return time.Now().UTC()
}

// Claim leases up to limit due jobs to worker for lease.
func (q *Queue) Claim(ctx context.Context, worker string, limit int, lease time.Duration) ([]Job, error) {
	now := q.now()
	rows, err := q.DB.Pool().JobsClaim(ctx, store.JobsClaimParams{Worker: worker, Limit: limit, Now: now, LockedUntil: now.Add(lease)})
	if err != nil {
		return nil, fmt.Errorf("jobs: claim: %w", err)
	}
	var out []Job
	for _, r := range rows {
		out = append(out, Job(r))
	}
	return out, nil
}

// Complete marks a job done. The caller may pass a transaction that also
// holds the job's effects (nil for none), so both commit together.
func (q *Queue) Complete(ctx context.Context, tx *sql.Tx, j Job) error {
	e := q.DB.Pool()
	if tx != nil {
		e = q.DB.In(tx)
	}
	return finished(j, e.JobComplete(ctx, store.JobCompleteParams{ID: j.ID, LockedBy: j.LockedBy, FinishedAt: q.now()}))
}

// Retry gives a failed job back to the queue to run at, or marks it dead
// once it has had MaxAttempts tries.
func (q *Queue) Retry(ctx context.Context, j Job, cause error, at time.Time) error {
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	if j.Attempt >= j.MaxAttempts {
		return finished(j, q.DB.Pool().JobFail(ctx, store.JobFailParams{ID: j.ID, LockedBy: j.LockedBy, FinishedAt: q.now(), Error: msg}))
	}
	return finished(j, q.DB.Pool().JobRetry(ctx, store.JobRetryParams{ID: j.ID, LockedBy: j.LockedBy, RunAt: at, Error: msg}))
}

// finished says what finishing j came to: the store finds nothing to
// finish when j's worker no longer holds it.
func finished(j Job, err error) error {
	if errors.Is(err, store.ErrNoRows) {
		return ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("jobs: finish %d: %w", j.ID, err)
	}
	return nil
}

// Backoff is the default wait before a retry: exponential from 1 s,
// capped at an hour, with ±20 % jitter so that failures do not retry in
// lockstep.
func Backoff(attempt int) time.Duration {
	d := time.Hour
	if attempt < 12 {
		d = min(time.Duration(1<<attempt)*time.Second, time.Hour)
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// Prune deletes jobs finished successfully before cutoff; dead jobs stay
// for someone to look at. It returns how many it deleted.
func (q *Queue) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	return q.DB.Pool().JobsPrune(ctx, cutoff)
}
