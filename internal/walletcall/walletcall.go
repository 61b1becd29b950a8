// Package walletcall times hutong's calls to the wallets. Every connector
// call any service makes goes through Do (or DoErr), so each is recorded
// in hutong_wallet_call_duration_seconds and, when it fails, in
// hutong_wallet_call_errors_total, and is added to the wallet time of the
// request that waited for it (WithTimer): what the API reports as its own
// time is a request's time less that.
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

// WithTimer returns a context that accumulates the time of the wallet
// calls made under it, and a func that reads that time.
func WithTimer(ctx context.Context) (context.Context, func() time.Duration) {
	t := &timer{}
	return context.WithValue(ctx, timerKey{}, t), func() time.Duration { return time.Duration(t.ns.Load()) }
}

// Do runs fn, a call named call to wallet (a channel), timing it against
// ctx's timer and recording it. channel.ErrNotFound (no such order or
// refund) is the wallet's answer, not a failure.
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
