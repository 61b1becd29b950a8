package jobs

import (
	"context"
	"database/sql"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
)

// recurring is the payload of a job that schedules its own next run.
type recurring struct {
	ID string `json:"id"`
}

// ScheduleDaily queues the next run of a daily job of kind at hh:mm
// Beijing time, unless one is waiting; the day is its unique key, so
// gateways starting together queue one.
func (q *Queue) ScheduleDaily(ctx context.Context, kind string, hh, mm int) error {
	now := q.now()
	bj := now.In(chinatime.Location)
	next := time.Date(bj.Year(), bj.Month(), bj.Day(), hh, mm, 0, 0, chinatime.Location)
	if !next.After(now) {
		next = next.Add(24 * time.Hour)
	}
	return q.scheduleAt(ctx, kind, next.UTC(), next.Format(time.DateOnly))
}

// ScheduleHourly queues a job of kind at the next full hour, unless one
// is waiting.
func (q *Queue) ScheduleHourly(ctx context.Context, kind string) error {
	next := q.now().Truncate(time.Hour).Add(time.Hour)
	return q.scheduleAt(ctx, kind, next, next.Format(time.RFC3339))
}

// ScheduleEvery queues a job of kind at the next multiple of every (since
// the Unix epoch), unless one is waiting: a job that runs every minute
// calls it again when it runs.
func (q *Queue) ScheduleEvery(ctx context.Context, kind string, every time.Duration) error {
	next := q.now().Truncate(every).Add(every)
	return q.scheduleAt(ctx, kind, next, next.Format(time.RFC3339Nano))
}

// scheduleAt queues a recurring job's next run, unless one is waiting.
func (q *Queue) scheduleAt(ctx context.Context, kind string, at time.Time, unique string) error {
	return q.DB.Tx(ctx, func(tx *sql.Tx) error {
		// A run already waiting is enough (the one running now, which
		// schedules its successor, is not waiting); the time as unique key
		// keeps gateways starting together from queueing two.
		if n, err := q.DB.In(tx).JobsAvailable(ctx, kind); err != nil || n > 0 {
			return err
		}
		_, err := Enqueue(ctx, tx, New{Kind: kind, Payload: recurring{"recurring"}, RunAt: at, MaxAttempts: 100, UniqueKey: unique}, q.now())
		return err
	})
}
