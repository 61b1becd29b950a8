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

// Job is a claimed job.
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
	var unique any
	if j.UniqueKey != "" {
		unique = j.UniqueKey
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO jobs (kind, payload, unique_key, run_at, max_attempts, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id`,
		j.Kind, string(payload), unique, store.Micros(j.RunAt), j.MaxAttempts, store.Micros(now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
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
	if keyPrefix == "" || keyPrefix[len(keyPrefix)-1] >= 0x7f {
		return fmt.Errorf("jobs: cancel needs a key prefix ending in an ASCII character, not %q", keyPrefix)
	}
	// Keys from keyPrefix up to, not including, keyPrefix with its last
	// byte raised by one: every key that begins with it, through the
	// unique index, whose predicate (state IN ('available', 'running'))
	// the query repeats word for word so that SQLite's planner uses it.
	end := []byte(keyPrefix)
	end[len(end)-1]++
	if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE kind = $1 AND unique_key >= $2 AND unique_key < $3 AND state IN ('available', 'running') AND state = 'available'`,
		kind, keyPrefix, string(end)); err != nil {
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
	lock := ""
	if q.DB.Dialect == store.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := q.DB.QueryContext(ctx, `UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1
		WHERE id IN (SELECT id FROM jobs
			WHERE (state = 'available' AND run_at <= $3) OR (state = 'running' AND locked_until < $3)
			ORDER BY run_at, id LIMIT $4`+lock+`)
		RETURNING id, kind, payload, attempts, max_attempts, run_at`,
		worker, store.Micros(now.Add(lease)), store.Micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("jobs: claim: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j := Job{LockedBy: worker}
		var payload string
		var runAt int64
		if err := rows.Scan(&j.ID, &j.Kind, &payload, &j.Attempt, &j.MaxAttempts, &runAt); err != nil {
			return nil, fmt.Errorf("jobs: claim: %w", err)
		}
		j.Payload = json.RawMessage(payload)
		j.RunAt = store.Time(runAt)
		out = append(out, j)
	}
	return out, rows.Err()
}

// Complete marks a job done. The caller may pass a transaction that also
// holds the job's effects (nil for none), so both commit together.
func (q *Queue) Complete(ctx context.Context, tx *sql.Tx, j Job) error {
	return q.finish(ctx, tx, j, `UPDATE jobs SET state = 'done', finished_at = $3, locked_by = NULL, locked_until = NULL
		WHERE id = $1 AND locked_by = $2 AND state = 'running'`, store.Micros(q.now()))
}

// Retry gives a failed job back to the queue to run at, or marks it dead
// once it has had MaxAttempts tries.
func (q *Queue) Retry(ctx context.Context, j Job, cause error, at time.Time) error {
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	if j.Attempt >= j.MaxAttempts {
		return q.finish(ctx, nil, j, `UPDATE jobs SET state = 'dead', finished_at = $3, last_error = $4, locked_by = NULL, locked_until = NULL
			WHERE id = $1 AND locked_by = $2 AND state = 'running'`, store.Micros(q.now()), msg)
	}
	return q.finish(ctx, nil, j, `UPDATE jobs SET state = 'available', run_at = $3, last_error = $4, locked_by = NULL, locked_until = NULL
		WHERE id = $1 AND locked_by = $2 AND state = 'running'`, store.Micros(at), msg)
}

func (q *Queue) finish(ctx context.Context, tx *sql.Tx, j Job, query string, args ...any) error {
	all := append([]any{j.ID, j.LockedBy}, args...)
	var res sql.Result
	var err error
	if tx != nil {
		res, err = tx.ExecContext(ctx, query, all...)
	} else {
		res, err = q.DB.ExecContext(ctx, query, all...)
	}
	if err != nil {
		return fmt.Errorf("jobs: finish %d: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrLeaseLost
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
	res, err := q.DB.ExecContext(ctx, `DELETE FROM jobs WHERE state = 'done' AND finished_at < $1`, store.Micros(cutoff))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
