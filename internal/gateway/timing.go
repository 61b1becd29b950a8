package gateway

import (
	"context"
	"time"

	"github.com/hutong-pay/hutong/internal/walletcall"
)

// WithWalletTimer returns a context that accumulates wallet time, and a
// func that reads it (walletcall.WithTimer).
func WithWalletTimer(ctx context.Context) (context.Context, func() time.Duration) {
	return walletcall.WithTimer(ctx)
}

// atWallet runs a call to wallet (a channel) named call: every connector
// call the gateway makes goes through here (walletcall.Do), timed and
// recorded.
func atWallet[T any](ctx context.Context, wallet, call string, fn func() (T, error)) (T, error) {
	return walletcall.Do(ctx, wallet, call, fn)
}

// atWalletErr is atWallet for a call that answers only an error.
func atWalletErr(ctx context.Context, wallet, call string, fn func() error) error {
	return walletcall.DoErr(ctx, wallet, call, fn)
}
