// Package idempotency carries a request's Idempotency-Key answer from the
// API, which owns the key, to the service transaction that makes the
// request's change, so that the two commit together. It holds no storage
// of its own: the API decides how an answer is stored (AnswerCommit), a
// service calls CommitAnswer last in its transaction.
package idempotency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// An AnswerCommit stores the answer to an API request in the transaction
// that makes the request's change. With it, a request's Idempotency-Key
// and its effect commit together: after a crash at any instant the key is
// either unused (the change did not commit; a retry runs it) or answered
// (a retry replays the answer), never "running" with the change made, so
// a retry can never make the change twice. The API layer puts one in the
// context of each request that carries an Idempotency-Key; v is what the
// request answers with status. An error (the key was taken over by a
// retry after the lease ran out) rolls the change back.
type AnswerCommit func(ctx context.Context, tx *sql.Tx, status int, v any) error

// ErrKeyTakenOver is an AnswerCommit's refusal: a retry took the
// Idempotency-Key over while this request ran, and will answer it.
var ErrKeyTakenOver = errors.New("a retry with the same Idempotency-Key took this request over")

type answerCommitKey struct{}

// WithAnswerCommit returns a context whose changes commit their answer
// with c.
func WithAnswerCommit(ctx context.Context, c AnswerCommit) context.Context {
	return context.WithValue(ctx, answerCommitKey{}, c)
}

// CommitAnswer stores, in tx, the answer v of the request that ctx
// belongs to, if it carries an Idempotency-Key; a service calls it last in
// the transaction of a change that a second run would repeat (a refund, a
// payment, a webhook endpoint). Without a key it does nothing.
func CommitAnswer(ctx context.Context, tx *sql.Tx, status int, v any) error {
	if c, ok := ctx.Value(answerCommitKey{}).(AnswerCommit); ok && c != nil {
		if err := c(ctx, tx, status, v); err != nil {
			return fmt.Errorf("recording the Idempotency-Key's answer: %w", err)
		}
	}
	return nil
}
