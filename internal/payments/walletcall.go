package payments

import (
	"context"

	"github.com/hutong-pay/hutong/internal/walletcall"
)

// atWallet runs a call to wallet (a channel) named call: every connector
// call the payments service makes goes through here (walletcall.Do), timed and
// recorded.
func atWallet[T any](ctx context.Context, wallet, call string, fn func() (T, error)) (T, error) {
	return walletcall.Do(ctx, wallet, call, fn)
}

// atWalletErr is atWallet for a call that answers only an error.
func atWalletErr(ctx context.Context, wallet, call string, fn func() error) error {
	return walletcall.DoErr(ctx, wallet, call, fn)
}
