package gatewaytest

import (
	"sync/atomic"
	"time"
)

// Clock is the machine's time moved by an offset a test sets: give its Now
// to a service to make its deadlines pass without waiting.
type Clock struct{ off atomic.Int64 }

// Now is the machine's time plus the offset.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.off.Add(int64(d)) }
