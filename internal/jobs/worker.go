package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
)

// Handler does one job. Returning nil completes it; an error retries it
// after Backoff. A job may run again after a crash, so handlers must be
// idempotent.
type Handler func(ctx context.Context, j Job) error

// Worker runs jobs of the kinds it has handlers for.
type Worker struct {
	Queue    *Queue
	ID       string // unique per process: host, pid, random
	Handlers map[string]Handler
	// Poll is how often the worker looks for due jobs; Lease how long a
	// claim lasts; Concurrency how many jobs run at once.
	Poll        time.Duration
	Lease       time.Duration
	Concurrency int
	Backoff     func(attempt int) time.Duration
	// Backoffs overrides Backoff for some kinds (webhooks keep their own
	// three-day schedule).
	Backoffs map[string]func(attempt int) time.Duration
	Logger   *slog.Logger
	// Wake, when it receives, makes the worker look for jobs now rather
	// than at its next poll: the process that enqueued a job due now says
	// so, and other processes still find it by polling.
	Wake <-chan struct{}
	// Tick, when set, runs at each poll before the worker claims: it
	// queues as jobs what has become due elsewhere (the payments service's
	// due status queries and expiries). An error is logged; the next poll
	// runs it again.
	Tick func(ctx context.Context) error
}

// Run works until ctx ends, then waits for jobs in flight.
func (w *Worker) Run(ctx context.Context) {
	poll, lease, conc := w.Poll, w.Lease, w.Concurrency
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	if lease <= 0 {
		lease = time.Minute
	}
	if conc <= 0 {
		conc = 4
	}
	backoff := w.Backoff
	if backoff == nil {
		backoff = Backoff
	}
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sem := make(chan struct{}, conc)
	// freed says a running job ended. A claim that filled every free slot
	// may have left due jobs behind, so the worker claims again as soon as
	// a slot frees rather than at its next poll, which would cap it at
	// Concurrency jobs per Poll; a claim that came back short found the
	// queue drained, and the worker waits for a poll or a wake-up instead
	// of claiming (a write) after every job.
	freed := make(chan struct{}, 1)
	more := true
	var wg sync.WaitGroup
	defer wg.Wait()
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		if free := conc - len(sem); free > 0 && more {
			claimed, err := w.Queue.Claim(ctx, w.ID, free, lease)
			if err != nil && ctx.Err() == nil {
				log.Error("jobs: claim", "err", err)
			}
			more = err == nil && len(claimed) == free
			for _, j := range claimed {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						<-sem
						select {
						case freed <- struct{}{}:
						default:
						}
					}()
					w.do(ctx, j, backoff, log)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			more = true
			if w.Tick != nil {
				if err := w.Tick(ctx); err != nil && ctx.Err() == nil {
					log.Error("jobs: tick", "err", err)
				}
			}
		case <-w.Wake:
			more = true
		case <-freed:
		}
	}
}

// running is a job a handler is doing, found in its context by
// CompleteWith.
type running struct {
	queue     *Queue
	job       Job
	completed bool
}

type runningKey struct{}

// CompleteWith runs fn in a transaction on db that also marks done the job
// whose handler ctx belongs to, so that the job's effect and its
// completion commit together: one commit where there would be two, and no
// window in which the effect is made and the job could run again. If the
// transaction commits and the handler then returns nil, the worker has
// nothing left to do for the job; if it does not commit, neither happened.
func CompleteWith(ctx context.Context, db *store.DB, fn func(tx *sql.Tx) error) error {
	r, ok := ctx.Value(runningKey{}).(*running)
	if !ok {
		return errors.New("jobs: CompleteWith outside a job's handler")
	}
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return r.queue.Complete(ctx, tx, r.job)
	})
	if err == nil {
		r.completed = true
	}
	return err
}

func (w *Worker) do(ctx context.Context, j Job, backoff func(int) time.Duration, log *slog.Logger) {
	h, ok := w.Handlers[j.Kind]
	run := &running{queue: w.Queue, job: j}
	var err error
	if !ok {
		err = fmt.Errorf("no handler for job kind %q", j.Kind)
	} else {
		err = safeRun(context.WithValue(ctx, runningKey{}, run), h, j)
	}
	if err == nil && run.completed {
		return
	}
	// Finishing uses a context that outlives shutdown, so a job that ran
	// is recorded as run.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil {
		if ferr := w.Queue.Complete(fctx, nil, j); ferr != nil {
			log.Warn("jobs: complete", "id", j.ID, "kind", j.Kind, "err", ferr)
		}
		return
	}
	log.Info("jobs: failed", "id", j.ID, "kind", j.Kind, "attempt", j.Attempt, "err", err)
	if b, ok := w.Backoffs[j.Kind]; ok {
		backoff = b
	}
	if ferr := w.Queue.Retry(fctx, j, err, w.Queue.now().Add(backoff(j.Attempt))); ferr != nil {
		log.Warn("jobs: retry", "id", j.ID, "kind", j.Kind, "err", ferr)
	}
}

// safeRun turns a handler's panic into an error, so one bad job does not
// stop the worker.
func safeRun(ctx context.Context, h Handler, j Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, j)
}
