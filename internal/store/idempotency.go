package store

import (
	"context"
	"database/sql"
	"time"
)

// IdempotencyKey is one Idempotency-Key as the API keeps it: the request it
// was first used with (the hash of its method, path, merchant and body),
// and either the answer (Status > 0) or the run that holds it (Owner, until
// LeaseUntil).
type IdempotencyKey struct {
	Scope       string // the API key and merchant the key was used under
	Key         string
	RequestHash string
	Status      int // 0 while a run holds the key
	Response    string
	Owner       string
	CreatedAt   time.Time
	LeaseUntil  time.Time
}

// IdempotencyKeyGet reads a key.
func (e Executor) IdempotencyKeyGet(ctx context.Context, scope, key string) (IdempotencyKey, error) {
	k := IdempotencyKey{Scope: scope, Key: key}
	var created, lease int64
	err := e.q.QueryRowContext(ctx, `SELECT request_hash, status, response, owner, created_at, lease_until FROM idempotency_keys WHERE api_key_id = $1 AND key = $2`,
		scope, key).Scan(&k.RequestHash, &k.Status, &k.Response, &k.Owner, &created, &lease)
	k.CreatedAt, k.LeaseUntil = Time(created), Time(lease)
	return k, err
}

// IdempotencyKeyDeleteBefore forgets a key first used before cutoff: it
// may be used again for another request.
func (e Executor) IdempotencyKeyDeleteBefore(ctx context.Context, scope, key string, cutoff time.Time) error {
	_, err := e.q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND created_at < $3`, scope, key, Micros(cutoff))
	return err
}

// IdempotencyKeyClaim records a new key held by k.Owner until
// k.LeaseUntil, unanswered; false when the key exists already.
func (e Executor) IdempotencyKeyClaim(ctx context.Context, k IdempotencyKey) (bool, error) {
	res, err := e.q.ExecContext(ctx, `INSERT INTO idempotency_keys (api_key_id, key, request_hash, status, response, created_at, owner, lease_until)
		VALUES ($1, $2, $3, 0, '', $4, $5, $6) ON CONFLICT DO NOTHING`, k.Scope, k.Key, k.RequestHash, Micros(k.CreatedAt), k.Owner, Micros(k.LeaseUntil))
	return one(res, err)
}

// IdempotencyKeyTakeOverParams moves an unanswered key from the run that
// held it to another.
type IdempotencyKeyTakeOverParams struct {
	Scope, Key string
	From, To   string // owners
	LeaseUntil time.Time
}

// IdempotencyKeyTakeOver gives an unanswered key to p.To, only if p.From
// still holds it: of two retries, one wins.
func (e Executor) IdempotencyKeyTakeOver(ctx context.Context, p IdempotencyKeyTakeOverParams) (bool, error) {
	res, err := e.q.ExecContext(ctx, `UPDATE idempotency_keys SET owner = $4, lease_until = $5
		WHERE api_key_id = $1 AND key = $2 AND owner = $3 AND status = 0`, p.Scope, p.Key, p.From, p.To, Micros(p.LeaseUntil))
	return one(res, err)
}

// IdempotencyKeyAnswer records the answer of the run that holds a key;
// false when it no longer holds it, or the key is answered already.
func (e Executor) IdempotencyKeyAnswer(ctx context.Context, k IdempotencyKey) (bool, error) {
	res, err := e.q.ExecContext(ctx, `UPDATE idempotency_keys SET status = $4, response = $5 WHERE api_key_id = $1 AND key = $2 AND owner = $3 AND status = 0`,
		k.Scope, k.Key, k.Owner, k.Status, k.Response)
	return one(res, err)
}

// IdempotencyKeyRelease forgets an unanswered key its owner gives up (its
// request failed on the server's side): a retry runs it again.
func (e Executor) IdempotencyKeyRelease(ctx context.Context, scope, key, owner string) error {
	_, err := e.q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND owner = $3 AND status = 0`, scope, key, owner)
	return err
}

// IdempotencyKeyInsertAnswered records a key with its answer in one
// write, for a request that claims its key only as its change commits.
// An expired key (first used before cutoff) is replaced; false when the
// key is in use.
func (e Executor) IdempotencyKeyInsertAnswered(ctx context.Context, k IdempotencyKey, cutoff time.Time) (bool, error) {
	res, err := e.q.ExecContext(ctx, `INSERT INTO idempotency_keys (api_key_id, key, request_hash, status, response, created_at, owner, lease_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0)
		ON CONFLICT (api_key_id, key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, response = excluded.response,
			created_at = excluded.created_at, owner = excluded.owner, lease_until = 0
		WHERE idempotency_keys.created_at < $8`,
		k.Scope, k.Key, k.RequestHash, k.Status, k.Response, Micros(k.CreatedAt), k.Owner, Micros(cutoff))
	return one(res, err)
}

// IdempotencyKeysPrune forgets every key first used before cutoff.
func (e Executor) IdempotencyKeysPrune(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := e.q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, Micros(cutoff))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// one reports whether a write changed exactly one row.
func one(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
