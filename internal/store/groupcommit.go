package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group commit on SQLite.
//
// Every commit on SQLite is an fsync, and SQLite has one writer at a time,
// so under load the gateway's transactions queue for the writer and each
// pays a whole fsync of its own: the commits, not the work in them, bound
// what it does per second. A group commit runs the transactions that are
// waiting together, each inside a SAVEPOINT of one SQLite transaction, and
// commits them with one fsync. A transaction that fails rolls back to its
// savepoint and the others go on; each caller learns its own outcome only
// after the one COMMIT, so nil still means committed. The first caller to
// find no group running leads one: it runs the group, which holds its own
// transaction and those queued behind it, and hands the lead to the first
// caller still waiting.

// groupMax bounds how many transactions one group commit holds, so that a
// caller at the back of a long queue is not held behind too many others.
const groupMax = 32

type groupRequest struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	err  error
	pan  any           // a panic of fn, raised again in its caller
	done chan struct{} // closed when err (or pan) is final
	lead chan struct{} // closed when this caller is to lead the next group
}

type groupCommitter struct {
	db      *sql.DB
	mu      sync.Mutex
	queue   []*groupRequest
	leading bool
}

// tx runs fn in the next group commit and returns its outcome.
func (g *groupCommitter) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	r := &groupRequest{ctx: ctx, fn: fn, done: make(chan struct{}), lead: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	lead := !g.leading
	if lead {
		g.leading = true
	}
	g.mu.Unlock()
	if !lead {
		// A caller already inside a transaction that starts another would
		// wait for itself: give up after as long as a writer waits for the
		// writer slot.
		t := time.NewTimer(writerWait)
		defer t.Stop()
		select {
		case <-r.done:
		case <-r.lead:
		case <-t.C:
			if g.withdraw(r) {
				return ErrWriterBusy
			}
			// Already in a group (its outcome is on its way), or just
			// handed the lead.
			select {
			case <-r.done:
			case <-r.lead:
			}
		}
	}
	select {
	case <-r.done:
	default:
		g.lead()
	}
	<-r.done
	if r.pan != nil {
		panic(r.pan)
	}
	return r.err
}

// withdraw takes out of the queue a request that no group has taken and
// that has not been handed the lead (the lead is handed under mu).
func (g *groupCommitter) withdraw(r *groupRequest) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-r.lead:
		return false
	default:
	}
	for i, q := range g.queue {
		if q == r {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			return true
		}
	}
	return false
}

// lead runs one group, from the head of the queue, then hands the lead on
// to the next caller waiting, or ends it.
func (g *groupCommitter) lead() {
	g.mu.Lock()
	n := min(len(g.queue), groupMax)
	group := append([]*groupRequest(nil), g.queue[:n]...)
	g.queue = g.queue[n:]
	g.mu.Unlock()

	g.run(group)
	for _, r := range group {
		close(r.done)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.leading = false
		return
	}
	close(g.queue[0].lead)
}

// run runs a group in one transaction and sets each request's outcome.
func (g *groupCommitter) run(group []*groupRequest) {
	fail := func(err error) {
		for _, r := range group {
			if r.err == nil && r.pan == nil {
				r.err = err
			}
		}
	}
	// The transaction outlives any one caller's context; each caller's
	// statements still run under its own.
	tx, err := g.db.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("store: begin: %w", err))
		return
	}
	ran := 0
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if _, err := tx.Exec(`SAVEPOINT grp`); err != nil {
			r.err = fmt.Errorf("store: savepoint: %w", err)
			continue
		}
		r.pan, r.err = call(r.fn, tx)
		if r.err == nil && r.pan == nil {
			if _, err := tx.Exec(`RELEASE grp`); err != nil {
				r.err = fmt.Errorf("store: release savepoint: %w", err)
			} else {
				ran++
				continue
			}
		}
		if _, err := tx.Exec(`ROLLBACK TO grp`); err != nil {
			// The transaction cannot be trusted to hold only the others'
			// work: nothing of this group commits.
			fail(fmt.Errorf("store: rolling back to a savepoint after %w: %w", errOf(r), err))
			_ = tx.Rollback()
			return
		}
		if _, err := tx.Exec(`RELEASE grp`); err != nil {
			fail(fmt.Errorf("store: release savepoint: %w", err))
			_ = tx.Rollback()
			return
		}
	}
	if ran == 0 {
		if err := tx.Rollback(); err != nil {
			fail(fmt.Errorf("store: rollback: %w", err))
		}
		return
	}
	if err := tx.Commit(); err != nil {
		// Nothing of the group is durable; every caller whose work was
		// in it is told so.
		fail(fmt.Errorf("store: commit: %w", err))
	}
}

// call runs fn, turning a panic into a value its caller raises again.
func call(fn func(*sql.Tx) error, tx *sql.Tx) (pan any, err error) {
	defer func() {
		if p := recover(); p != nil {
			pan = p
		}
	}()
	return nil, fn(tx)
}

// errOf is a request's failure as an error, a panic included.
func errOf(r *groupRequest) error {
	if r.pan != nil {
		return fmt.Errorf("a panic: %v", r.pan)
	}
	if r.err != nil {
		return r.err
	}
	return errors.New("an unknown failure")
}
