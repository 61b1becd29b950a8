package phone

import "errors"

// ErrUnknownCode is returned by Wallet.Lookup and Wallet.Pay for a code no
// order has.
var ErrUnknownCode = errors.New("no order has this code")

// ErrBadCall is returned by Wallet.Lookup and Wallet.Pay for a bridge call
// (a /phone/{wallet}/jsapi link) whose parameters the wallet refuses: a bad
// signature, a missing parameter, a return_url that is not http(s). The
// error's text says which, in Chinese and English.
var ErrBadCall = errors.New("bad payment call")
