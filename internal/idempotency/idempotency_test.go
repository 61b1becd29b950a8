package idempotency_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/hutong-pay/hutong/internal/idempotency"
)

// TestCommitAnswer: without an Idempotency-Key nothing is committed; with
// one, the answer reaches the API's AnswerCommit, and its refusal comes
// back to roll the change back, still ErrKeyTakenOver to errors.Is.
func TestCommitAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if err := idempotency.CommitAnswer(ctx, nil, 201, "x"); err != nil {
		t.Fatalf("without a key: %v", err)
	}
	var got any
	keyed := idempotency.WithAnswerCommit(ctx, func(_ context.Context, _ *sql.Tx, status int, v any) error {
		got = v
		if status != 201 {
			t.Errorf("status %d, want 201", status)
		}
		return nil
	})
	if err := idempotency.CommitAnswer(keyed, nil, 201, "the answer"); err != nil || got != "the answer" {
		t.Fatalf("with a key: %v, committed %v", err, got)
	}
	taken := idempotency.WithAnswerCommit(ctx, func(context.Context, *sql.Tx, int, any) error { return idempotency.ErrKeyTakenOver })
	if err := idempotency.CommitAnswer(taken, nil, 201, "x"); !errors.Is(err, idempotency.ErrKeyTakenOver) {
		t.Fatalf("a key taken over: %v, want ErrKeyTakenOver", err)
	}
}
