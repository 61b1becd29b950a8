package walletcall_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/walletcall"
)

// TestTimerAddsEveryCall: a request's timer holds the time of each wallet
// call made under it, errors included, and a context without a timer is
// still served.
func TestTimerAddsEveryCall(t *testing.T) {
	ctx, took := walletcall.WithTimer(context.Background())
	wait := func() error { time.Sleep(20 * time.Millisecond); return nil }
	if err := walletcall.DoErr(ctx, "testpay", "query", wait); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	v, err := walletcall.Do(ctx, "testpay", "refund", func() (int, error) { return 7, errors.Join(wait(), refused) })
	if v != 7 || !errors.Is(err, refused) {
		t.Fatalf("Do = %d, %v; want the call's own answer", v, err)
	}
	if got := took(); got < 40*time.Millisecond {
		t.Errorf("the timer holds %s, want at least the two calls' 40ms", got)
	}
	if err := walletcall.DoErr(context.Background(), "testpay", "close", func() error { return nil }); err != nil {
		t.Error(err)
	}
}
