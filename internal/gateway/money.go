package gateway

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/payment"
)

// ErrNotAwaitingReturn is a return's receipt or cancel on a refund that
// is not waiting for its goods.
var ErrNotAwaitingReturn = errors.New("the refund is not waiting for a returned item")

// The money service's job kinds, run by the gateway's Worker beside its
// own.
const (
	KindEscrowRelease  = money.KindEscrowRelease
	KindSettleDaily    = money.KindSettleDaily
	KindReconcileDaily = money.KindReconcileDaily
	KindOverdue        = money.KindOverdue
)

// bookkeeper is all the gateway asks of the money service: to book a
// payment's and a refund's money in the gateway's own transaction, so
// that a state change and its postings commit together or not at all.
type bookkeeper interface {
	Post(ctx context.Context, tx *sql.Tx, e ledger.Entry) error
	RecordPaid(ctx context.Context, tx *sql.Tx, p *payment.Payment, now time.Time) error
	QueueRelease(ctx context.Context, tx *sql.Tx, paymentID string, now time.Time) error
	FeeRate(ch string) ledger.Rate
}

// books is where the gateway posts.
func (s *Service) books() bookkeeper { return s.MoneyService() }

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
func (s *Service) MoneyPayments() money.Payments { return moneyPayments{s} }

// MoneyWallets are the gateway's wallet connectors, by channel, for the
// money service.
func (s *Service) MoneyWallets() map[string]money.Wallet {
	out := make(map[string]money.Wallet, len(s.Accounts))
	for ch, a := range s.Accounts {
		out[ch] = a.Connector
	}
	return out
}

type moneyPayments struct{ s *Service }

func (m moneyPayments) LockPayment(ctx context.Context, tx *sql.Tx, id, merchantID string) (payment.Payment, error) {
	return m.s.loadPayment(ctx, tx, id, merchantID, true)
}

func (m moneyPayments) SavePayment(ctx context.Context, tx *sql.Tx, p payment.Payment) error {
	return m.s.savePayment(ctx, tx, p)
}

func (m moneyPayments) RefundedOrder(ctx context.Context, p payment.Payment, r payment.Refund) (string, string, error) {
	return m.s.refundedOrder(ctx, m.s.DB, p, r)
}
