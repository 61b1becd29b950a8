// Package walletcall times hutong's calls to the wallets: every connector
// call a service makes goes through Do, which records its duration and
// failure per wallet and call (package metrics) and adds its time to the
// request's timer (WithTimer), so that a request's own time, without the
// wallets', can be measured. Services beside the gateway (money's bill
// downloads and profit sharing) share it, so a request's wallet time is
// counted whichever service waits.
package walletcall

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/metrics"
)

// timer adds up the time a request spends waiting for wallets.
type timer struct{ ns atomic.Int64 }

type timerKey struct{}

// WithTimer returns a context that accumulates wallet time, and a func
// that reads it.
func WithTimer(ctx context.Context) (context.Context, func() time.Duration) {
	t := &timer{}
	return context.WithValue(ctx, timerKey{}, t), func() time.Duration { return time.Duration(t.ns.Load()) }
}

// Do runs a call to wallet (a channel) named call, timed against ctx's
// timer and recorded in hutong_wallet_call_duration_seconds and, when it
// fails, hutong_wallet_call_errors_total. channel.ErrNotFound (no such
// order or refund) is the wallet's answer, not a failure.
func Do[T any](ctx context.Context, wallet, call string, fn func() (T, error)) (T, error) {
	start := time.Now()
	v, err := fn()
	took := time.Since(start)
	if t, ok := ctx.Value(timerKey{}).(*timer); ok {
		t.ns.Add(int64(took))
	}
	metrics.ObserveWalletCall(wallet, call, took, err != nil && !errors.Is(err, channel.ErrNotFound))
	return v, err
}

// DoErr is Do for a call that answers only an error.
func DoErr(ctx context.Context, wallet, call string, fn func() error) error {
	_, err := Do(ctx, wallet, call, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}
