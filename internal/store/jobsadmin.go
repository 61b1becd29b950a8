package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The operators' view of the job queue: what is waiting or stuck, and
// bringing a dead job back. The queue's own statements are in jobs.go.

// JobCount is how many jobs of a kind are in a state, and when the
// earliest of them was (or is) due.
type JobCount struct {
	Kind, State string
	Count       int64
	EarliestDue time.Time
}

// JobCounts counts the jobs not done, by kind and state: what is queued,
// running and dead. Done jobs are left out (a week of them is kept, and
// counting them would read them all).
func (e Executor) JobCounts(ctx context.Context) ([]JobCount, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (c JobCount, err error) {
		var due int64
		err = rows.Scan(&c.Kind, &c.State, &c.Count, &due)
		c.EarliestDue = Time(due)
		return c, err
	}, `SELECT kind, state, COUNT(*), MIN(run_at) FROM jobs WHERE state IN ('available', 'running', 'dead') GROUP BY kind, state ORDER BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("counting jobs: %w", err)
	}
	return out, nil
}

// DeadJob is a job that used up its attempts, with the error of its last.
type DeadJob struct {
	ID         int64
	Kind       string
	Payload    string
	Attempts   int
	LastError  string
	FinishedAt time.Time
}

// JobsDeadParams pages dead jobs, newest first: of Kind ("" for any),
// older than the job Before (0 for the first page), at most Limit.
type JobsDeadParams struct {
	Kind   string
	Before int64
	Limit  int
}

// JobsDead lists dead jobs, newest first.
func (e Executor) JobsDead(ctx context.Context, p JobsDeadParams) ([]DeadJob, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (j DeadJob, err error) {
		var lastErr sql.NullString
		var finished sql.NullInt64
		err = rows.Scan(&j.ID, &j.Kind, &j.Payload, &j.Attempts, &lastErr, &finished)
		j.LastError, j.FinishedAt = lastErr.String, timeOrZero(finished.Int64)
		return j, err
	}, `SELECT id, kind, payload, attempts, last_error, finished_at FROM jobs
		WHERE state = 'dead' AND ($1 = '' OR kind = $1) AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, p.Kind, p.Before, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing dead jobs: %w", err)
	}
	return out, nil
}

// JobReviveParams brings dead job ID back, due At.
type JobReviveParams struct {
	ID int64
	At time.Time
}

// JobRevive makes a dead job available again with its attempts counted
// from zero, keeping its last error for the record: an operator has fixed
// what killed it. ErrNoRows when there is no such dead job; a unique
// violation (IsUniqueViolation) when a job of its kind and key is already
// pending, which does the same work.
func (e Executor) JobRevive(ctx context.Context, p JobReviveParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE jobs SET state = 'available', run_at = $2, attempts = 0, finished_at = NULL, locked_by = NULL, locked_until = NULL
		WHERE id = $1 AND state = 'dead'`, p.ID, Micros(p.At)))
}
