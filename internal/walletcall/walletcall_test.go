package walletcall

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
)

// TestTimer: the calls made under a timer's context add up in it, whether
// they fail or not; calls outside any timer are still made.
func TestTimer(t *testing.T) {
	t.Parallel()
	ctx, waited := WithTimer(context.Background())
	if waited() != 0 {
		t.Fatalf("a new timer reads %v", waited())
	}
	v, err := Do(ctx, "testpay", "query", func() (int, error) { time.Sleep(5 * time.Millisecond); return 7, nil })
	if v != 7 || err != nil {
		t.Fatalf("Do = %d, %v", v, err)
	}
	if err := DoErr(ctx, "testpay", "close", func() error { time.Sleep(5 * time.Millisecond); return channel.ErrNotFound }); !errors.Is(err, channel.ErrNotFound) {
		t.Fatalf("DoErr = %v, want the call's own error", err)
	}
	if w := waited(); w < 10*time.Millisecond {
		t.Errorf("two calls of 5 ms each: the timer reads %v", w)
	}
	if _, err := Do(context.Background(), "testpay", "query", func() (int, error) { return 0, nil }); err != nil {
		t.Errorf("a call outside any timer: %v", err)
	}
}
