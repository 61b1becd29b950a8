package phone

import "errors"

// ErrUnknownCode is returned by Wallet.Lookup and Wallet.Pay for a code no
// order has.
var ErrUnknownCode = errors.New("no order has this code")
