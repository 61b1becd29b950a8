package gateway

import (
	"github.com/hutong-pay/hutong/internal/money"
)

// The money service's job kinds, run by the gateway's Worker beside its
// own.
const (
	KindEscrowRelease  = money.KindEscrowRelease
	KindSettleDaily    = money.KindSettleDaily
	KindReconcileDaily = money.KindReconcileDaily
	KindOverdue        = money.KindOverdue
)

// MoneyService is the money service the gateway books through and whose
// jobs its Worker runs: Money, or, when that is nil, one built on first
// use from the gateway's own fields with the default rates.
func (s *Service) MoneyService() *money.Service {
	s.moneyOnce.Do(func() {
		if s.Money == nil {
			s.Money = &money.Service{DB: s.DB, Now: s.now, Logger: s.Logger, Events: s.WebhookService(),
				Payments: s.MoneyPayments(), Wallets: s.MoneyWallets()}
		}
	})
	return s.Money
}

// MoneyPayments is the gateway's payments as the money service reads and
// saves them: a release and a profit share change the payment under its
// row lock, in money's transaction, and saving it takes its expiry job
// with it as any save does.
func (s *Service) MoneyPayments() money.Payments { return paymentsLater{s} }

// MoneyWallets are the gateway's wallet connectors, by channel, for the
// money service.
func (s *Service) MoneyWallets() map[string]money.Wallet {
	out := make(map[string]money.Wallet, len(s.Accounts))
	for ch, a := range s.Accounts {
		out[ch] = a.Connector
	}
	return out
}
