package payment

// The methods these tests name are the wallets hutong ships.
import _ "github.com/hutong-pay/hutong/internal/channel/wallets"
