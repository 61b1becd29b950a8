// Package clock is the time hutong's services stamp their changes with:
// always UTC inside (DESIGN: Beijing time only at the wallets' edges),
// read from a function that tests replace to move time.
package clock

import (
	"log/slog"
	"time"
)

// Func is a service's clock; nil is the machine's.
type Func func() time.Time

// Now is the clock's time, in UTC, to the microsecond: what the store
// keeps, so that an object a service just made equals itself read back.
func (f Func) Now() time.Time {
	if f == nil {
		return time.Now().UTC().Truncate(time.Microsecond)
	}
	return f().UTC().Truncate(time.Microsecond)
}

// Logger is l, or a logger that discards when l is nil: a service whose
// Logger field is unset logs nothing rather than failing.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
