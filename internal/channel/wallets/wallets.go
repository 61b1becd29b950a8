// Package wallets registers every wallet hutong ships (channel.Register),
// for code that needs the wallets known without configuring a connector:
// the tests of validation and rollout rules. Import it for its effect.
package wallets

import (
	_ "github.com/hutong-pay/hutong/internal/channel/alipay"    // registers alipay
	_ "github.com/hutong-pay/hutong/internal/channel/wechatpay" // registers wechatpay
)
