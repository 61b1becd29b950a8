package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The jobs table is internal/jobs' queue: a job is inserted with the state
// change that implies it, claimed with a lease (locked_by until
// locked_until), and finished once by the worker holding it. These methods
// are its only SQL; the queue's logic (payloads, backoff, leases, the
// worker loop) stays in internal/jobs.

// JobRow is a claimed job as the store returns it. It has the fields of
// jobs.Job, in the same order, so that jobs converts one to the other.
type JobRow struct {
	ID          int64
	Kind        string
	Payload     json.RawMessage
	Attempt     int // 1 on the first try
	MaxAttempts int
	RunAt       time.Time
	LockedBy    string
}

// JobInsertParams is a new job. Payload is JSON; UniqueKey, when not "",
// keeps one pending job per (Kind, UniqueKey).
type JobInsertParams struct {
	Kind        string
	Payload     []byte
	UniqueKey   string
	RunAt       time.Time
	MaxAttempts int
	CreatedAt   time.Time
}

// JobInsert inserts a job and returns its id, or 0 when a job of the same
// kind holding the same unique key is still available or running.
//
// The refusal does not say which job holds the key: finding it would cost
// a second statement, and no caller needs it.
func (e Executor) JobInsert(ctx context.Context, p JobInsertParams) (int64, error) {
	var unique any
	if p.UniqueKey != "" {
		unique = p.UniqueKey
	}
	var id int64
	err := e.q.QueryRowContext(ctx, `INSERT INTO jobs (kind, payload, unique_key, run_at, max_attempts, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id`,
		p.Kind, string(p.Payload), unique, Micros(p.RunAt), p.MaxAttempts, Micros(p.CreatedAt)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

// JobsTx inserts and cancels jobs in a transaction known only as a
// *sql.Tx: jobs.Enqueue and jobs.CancelPending are handed the caller's
// transaction, not the DB it belongs to, and so do not know the backend.
// It offers only the jobs methods whose SQL is the same on both, so that
// no statement that differs runs on a guess.
type JobsTx struct{ e Executor }

// JobsIn is a JobsTx in tx.
func JobsIn(tx *sql.Tx) JobsTx { return JobsTx{Executor{q: tx}} }

// JobInsert is Executor.JobInsert in the transaction.
func (t JobsTx) JobInsert(ctx context.Context, p JobInsertParams) (int64, error) {
	return t.e.JobInsert(ctx, p)
}

// JobsCancelPending is Executor.JobsCancelPending in the transaction.
func (t JobsTx) JobsCancelPending(ctx context.Context, p JobsCancelPendingParams) (int64, error) {
	return t.e.JobsCancelPending(ctx, p)
}

// JobsCancelPendingParams names the jobs of Kind whose unique key begins
// with KeyPrefix.
type JobsCancelPendingParams struct {
	Kind      string
	KeyPrefix string
}

// JobsCancelPending deletes the jobs p names that have not started yet (a
// running one finishes as it would) and returns how many it deleted.
// KeyPrefix must end in an ASCII character, so that the keys it begins are
// one range of the unique index.
func (e Executor) JobsCancelPending(ctx context.Context, p JobsCancelPendingParams) (int64, error) {
	prefix := p.KeyPrefix
	if prefix == "" || prefix[len(prefix)-1] >= 0x7f {
		return 0, fmt.Errorf("cancelling jobs needs a key prefix ending in an ASCII character, not %q", prefix)
	}
	// Keys from prefix up to, not including, prefix with its last byte
	// raised by one: every key that begins with it, through the unique
	// index, whose predicate (state IN ('available', 'running')) the query
	// repeats word for word so that SQLite's planner uses it.
	end := []byte(prefix)
	end[len(end)-1]++
	res, err := e.q.ExecContext(ctx, `DELETE FROM jobs WHERE kind = $1 AND unique_key >= $2 AND unique_key < $3 AND state IN ('available', 'running') AND state = 'available'`,
		p.Kind, prefix, string(end))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// JobsClaimParams leases up to Limit jobs to Worker until LockedUntil:
// those due at Now, and those whose lease ran out before Now.
type JobsClaimParams struct {
	Worker      string
	Limit       int
	Now         time.Time
	LockedUntil time.Time
}

// JobsClaim leases the jobs p asks for, oldest due first, and counts an
// attempt on each. It is one statement: a claim is a write, and on SQLite
// every write waits for the one writer.
//
// On PostgreSQL, claimers in several processes skip the rows another is
// claiming (FOR UPDATE SKIP LOCKED) instead of waiting for it and then
// finding them taken, so two never hold one job and neither waits; on
// SQLite the single writer already serializes claims.
func (e Executor) JobsClaim(ctx context.Context, p JobsClaimParams) ([]JobRow, error) {
	lock := ""
	if e.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	return QueryAll(ctx, e.q, func(rows *sql.Rows) (JobRow, error) {
		j := JobRow{LockedBy: p.Worker}
		var payload string
		var runAt int64
		err := rows.Scan(&j.ID, &j.Kind, &payload, &j.Attempt, &j.MaxAttempts, &runAt)
		j.Payload = json.RawMessage(payload)
		j.RunAt = Time(runAt)
		return j, err
	}, `UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1
		WHERE id IN (SELECT id FROM jobs
			WHERE (state = 'available' AND run_at <= $3) OR (state = 'running' AND locked_until < $3)
			ORDER BY run_at, id LIMIT $4`+lock+`)
		RETURNING id, kind, payload, attempts, max_attempts, run_at`,
		p.Worker, Micros(p.LockedUntil), Micros(p.Now), p.Limit)
}

// JobCompleteParams finishes job ID, which LockedBy claimed.
type JobCompleteParams struct {
	ID         int64
	LockedBy   string
	FinishedAt time.Time
}

// JobComplete marks a running job done; ErrNoRows when LockedBy no longer
// holds it (its lease ran out and another worker claimed it, or it is
// finished), so that a worker that lost its lease cannot finish the run
// of the one that took it over.
func (e Executor) JobComplete(ctx context.Context, p JobCompleteParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE jobs SET state = 'done', finished_at = $3, locked_by = NULL, locked_until = NULL
		WHERE id = $1 AND locked_by = $2 AND state = 'running'`, p.ID, p.LockedBy, Micros(p.FinishedAt)))
}

// JobRetryParams gives job ID, which LockedBy claimed and which failed
// with Error, back to the queue to run at RunAt.
type JobRetryParams struct {
	ID       int64
	LockedBy string
	RunAt    time.Time
	Error    string
}

// JobRetry makes a running job available again at p.RunAt, keeping its
// attempts; ErrNoRows when p.LockedBy no longer holds it.
func (e Executor) JobRetry(ctx context.Context, p JobRetryParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE jobs SET state = 'available', run_at = $3, last_error = $4, locked_by = NULL, locked_until = NULL
		WHERE id = $1 AND locked_by = $2 AND state = 'running'`, p.ID, p.LockedBy, Micros(p.RunAt), p.Error))
}

// JobFailParams gives up job ID, which LockedBy claimed and which failed
// its last attempt with Error.
type JobFailParams struct {
	ID         int64
	LockedBy   string
	FinishedAt time.Time
	Error      string
}

// JobFail marks a running job dead: it stays, with its last error, for
// someone to look at, and is never claimed again. ErrNoRows when
// p.LockedBy no longer holds it.
func (e Executor) JobFail(ctx context.Context, p JobFailParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE jobs SET state = 'dead', finished_at = $3, last_error = $4, locked_by = NULL, locked_until = NULL
		WHERE id = $1 AND locked_by = $2 AND state = 'running'`, p.ID, p.LockedBy, Micros(p.FinishedAt), p.Error))
}

// JobsAvailable counts the jobs of kind waiting to run, due or not; a
// running one does not count.
func (e Executor) JobsAvailable(ctx context.Context, kind string) (int, error) {
	var n int
	err := e.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'available'`, kind).Scan(&n)
	return n, err
}

// JobsPrune deletes the jobs done before cutoff and returns how many. Dead
// jobs stay for someone to look at.
func (e Executor) JobsPrune(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := e.q.ExecContext(ctx, `DELETE FROM jobs WHERE state = 'done' AND finished_at < $1`, Micros(cutoff))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
