package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/hutong-pay/hutong/internal/audit"
)

// TestRecord: without a Recorder nothing is recorded; with one, what the
// change made reaches it, and its refusal comes back (wrapped) to roll the
// change back.
func TestRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if err := audit.Record(ctx, nil, "x"); err != nil {
		t.Fatalf("without a recorder: %v", err)
	}
	var got any
	recorded := audit.WithRecorder(ctx, func(_ context.Context, _ *sql.Tx, made any) error { got = made; return nil })
	if err := audit.Record(recorded, nil, "the refund"); err != nil || got != "the refund" {
		t.Fatalf("with a recorder: %v, recorded %v", err, got)
	}
	full := errors.New("disk full")
	failing := audit.WithRecorder(ctx, func(context.Context, *sql.Tx, any) error { return full })
	if err := audit.Record(failing, nil, "x"); !errors.Is(err, full) {
		t.Fatalf("a failing recorder: %v, want its error", err)
	}
}
