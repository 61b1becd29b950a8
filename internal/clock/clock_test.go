package clock_test

import (
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/clock"
)

func TestNowIsUTC(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, shanghai)
	got := clock.Func(func() time.Time { return at }).Now()
	if want := at.Truncate(time.Microsecond); got.Location() != time.UTC || !got.Equal(want) {
		t.Fatalf("got %v, want %v in UTC, to the microsecond", got, want)
	}
	if loc := clock.Func(nil).Now().Location(); loc != time.UTC {
		t.Fatalf("the machine's clock reads in %v", loc)
	}
	if clock.Logger(nil) == nil {
		t.Fatal("a nil logger must become one that discards")
	}
}
