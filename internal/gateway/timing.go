package gateway

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/metrics"
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

// atWallet runs a call to wallet (a channel) named call: every connector
// call the gateway makes goes through here, so each is timed against ctx's
// timer and recorded in hutong_wallet_call_duration_seconds and, when it
// fails, hutong_wallet_call_errors_total. channel.ErrNotFound (no such
// order or refund) is the wallet's answer, not a failure.
func atWallet[T any](ctx context.Context, wallet, call string, fn func() (T, error)) (T, error) {
	start := time.Now()
	v, err := fn()
	took := time.Since(start)
	if t, ok := ctx.Value(walletTimerKey{}).(*walletTimer); ok {
		t.ns.Add(int64(took))
	}
	metrics.ObserveWalletCall(wallet, call, took, err != nil && !errors.Is(err, channel.ErrNotFound))
	return v, err
}

// atWalletErr is atWallet for a call that answers only an error.
func atWalletErr(ctx context.Context, wallet, call string, fn func() error) error {
	_, err := atWallet(ctx, wallet, call, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}
