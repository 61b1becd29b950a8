package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestScheduleRecurring: a daily job is queued once at its Beijing time,
// tomorrow when today's has passed, and an hourly one at the next full
// hour, however often they are scheduled.
func TestScheduleRecurring(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// 03:30 in Beijing: 02:00 has passed, 10:30 has not.
		now := time.Date(2024, 9, 5, 3, 30, 0, 0, chinatime.Location)
		q := &jobs.Queue{DB: db, Now: func() time.Time { return now }}
		for range 3 {
			if err := q.ScheduleDaily(ctx, "test.early", 2, 0); err != nil {
				t.Fatal(err)
			}
			if err := q.ScheduleDaily(ctx, "test.late", 10, 30); err != nil {
				t.Fatal(err)
			}
			if err := q.ScheduleHourly(ctx, "test.hourly"); err != nil {
				t.Fatal(err)
			}
		}
		for kind, want := range map[string]time.Time{
			"test.early":  time.Date(2024, 9, 6, 2, 0, 0, 0, chinatime.Location),
			"test.late":   time.Date(2024, 9, 5, 10, 30, 0, 0, chinatime.Location),
			"test.hourly": time.Date(2024, 9, 5, 4, 0, 0, 0, chinatime.Location),
		} {
			var n int
			var at int64
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(run_at) FROM jobs WHERE kind = $1`, kind).Scan(&n, &at); err != nil {
				t.Fatal(err)
			}
			if n != 1 || !store.Time(at).Equal(want) {
				t.Errorf("%s: %d queued, first at %s; want 1 at %s", kind, n, store.Time(at), want.UTC())
			}
		}
	})
}
