// Package audit carries a console action's audit record from the console,
// which knows who acts, from where and on what, to the service transaction
// that makes the change, so that the change and its record commit together
// or not at all: a crash cannot leave a change without its record, nor a
// failed record leave a change unaudited. Like idempotency, it holds no
// storage of its own: the console decides how a record is written (a
// Recorder, writing to accounts' audit log), and a service calls Record in
// the transaction of each change a person may ask for.
//
// A request that carries no Recorder (the merchant API, a job, the CLI) is
// unaffected: Record does nothing.
package audit

import (
	"context"
	"database/sql"
	"fmt"
)

// A Recorder writes the audit record of the action a request's context
// belongs to, in tx, the transaction of the change. made is what the
// change made, as the service has it (a refund, a contract as it now
// stands, a key's stored row); the Recorder turns it into the snapshot the
// log keeps, and must leave out any secret made carries (a webhook
// endpoint's signing secret). An error rolls the change back.
type Recorder func(ctx context.Context, tx *sql.Tx, made any) error

type recorderKey struct{}

// WithRecorder returns a context whose changes are audited by r.
func WithRecorder(ctx context.Context, r Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// Record writes, in tx, the audit record of the action ctx belongs to, if
// it carries a Recorder: a service calls it inside the transaction of a
// change, once the change is made, with what it made. Without a Recorder
// it does nothing.
func Record(ctx context.Context, tx *sql.Tx, made any) error {
	if r, ok := ctx.Value(recorderKey{}).(Recorder); ok && r != nil {
		if err := r(ctx, tx, made); err != nil {
			return fmt.Errorf("recording the action in the audit log: %w", err)
		}
	}
	return nil
}
