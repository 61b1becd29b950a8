package rollouts

import (
	"context"
	"sync"
	"sync/atomic"

	"time"

	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
)

// exposureLog batches exposures: RecordExposures never blocks a checkout;
// a full buffer drops (and counts) rather than wait.
type exposureLog struct {
	ch      chan store.Exposure
	dropped atomic.Int64
	flushMu sync.Mutex
}

// exposureBuffer is how many exposures wait to be written before more are
// dropped: at a second between writes, a busy gateway's checkouts.
const exposureBuffer = 16384

func (s *Service) exposures() *exposureLog {
	s.exposureOnce.Do(func() {
		s.exposureLog = &exposureLog{ch: make(chan store.Exposure, exposureBuffer)}
	})
	return s.exposureLog
}

// RecordExposures queues a checkout's decisions to be written, for the
// analytics that compare cohorts; paymentID is the payment the checkout
// is for, "" for none.
func (s *Service) RecordExposures(c rollout.Checkout, ds []rollout.Decision, paymentID string) {
	l := s.exposures()
	now := s.now()
	for _, d := range ds {
		select {
		case l.ch <- store.Exposure{At: now, Checkout: c, Decision: d, PaymentID: paymentID}:
		default:
			l.dropped.Add(1)
		}
	}
}

// ExposuresDropped counts exposures lost to a full buffer or to a write
// that failed.
func (s *Service) ExposuresDropped() int64 { return s.exposures().dropped.Load() }

// WriteExposures writes queued exposures every second until ctx ends, then
// once more. A gateway process runs it beside its job worker.
func (s *Service) WriteExposures(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		// FlushExposures logs and counts (ExposuresDropped) a batch it
		// could not write; exposures never hold up a checkout.
		case <-ctx.Done():
			_ = s.FlushExposures(context.WithoutCancel(ctx))
			return
		case <-tick.C:
			_ = s.FlushExposures(ctx)
		}
	}
}

// FlushExposures writes the queued exposures now, in batches of up to
// store.ExposureBatch rows per statement. A batch that cannot be written
// is dropped, counted and logged: the queue must not grow without bound
// while the database is away.
func (s *Service) FlushExposures(ctx context.Context) error {
	l := s.exposures()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for {
		var batch []store.Exposure
	fill:
		for len(batch) < store.ExposureBatch {
			select {
			case e := <-l.ch:
				batch = append(batch, e)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return nil
		}
		if err := s.DB.Pool().ExposureInsert(ctx, batch); err != nil {
			s.log().Error("exposures lost", "rows", len(batch), "error", err)
			l.dropped.Add(int64(len(batch)))
			return err
		}
	}
}
