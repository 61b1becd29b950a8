package gateway

import (
	"context"
	"sync/atomic"
	"time"
)

// walletTimer adds up the time a request spends waiting for wallets, so
// the gateway's own time (the rest) can be measured per request.
type walletTimer struct{ ns atomic.Int64 }

type walletTimerKey struct{}

// WithWalletTimer returns a context that accumulates wallet time, and a
// func that reads it.
func WithWalletTimer(ctx context.Context) (context.Context, func() time.Duration) {
	t := &walletTimer{}
	return context.WithValue(ctx, walletTimerKey{}, t), func() time.Duration { return time.Duration(t.ns.Load()) }
}

// atWallet runs a wallet call, counting its time against ctx's timer.
func atWallet[T any](ctx context.Context, call func() (T, error)) (T, error) {
	start := time.Now()
	v, err := call()
	if t, ok := ctx.Value(walletTimerKey{}).(*walletTimer); ok {
		t.ns.Add(int64(time.Since(start)))
	}
	return v, err
}
