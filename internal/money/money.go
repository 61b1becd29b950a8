// Package money is hutong's money service: the double-entry ledger's
// postings (package ledger makes each entry; this service writes it with
// its cached balances), escrow and its release, settlement (by payout
// batch, or through a wallet's profit sharing), the merchant's statement,
// reconciliation of the wallets' daily bills against the books (package
// recon matches them), and the alerts of money the books and the wallets
// disagree on or a wallet has not settled in time.
//
// A payment's change and the postings it causes commit together: the
// gateway calls Post, RecordPaid and FeeRate inside its own transaction,
// and money's own changes of a payment (its release, its profit sharing)
// load and save it through the Payments it is given, in money's
// transaction, with the event they publish. Every SQL statement is a
// method of store.Executor.
package money

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Publisher stores an event, with its deliveries, in the transaction of
// the change it reports (webhooks.Service).
type Publisher interface {
	Publish(ctx context.Context, tx *sql.Tx, merchantID, typ, objectID string, object any) error
}

// Payments is what money asks of the payments service: a payment read
// under its row lock and saved in money's transaction (saving may take
// more with it, such as the payment's jobs, which are the payments
// service's), and the wallet order a refund went to.
type Payments interface {
	// LockPayment reads a payment (of merchantID, unless "") and locks
	// its row until tx ends; one that does not exist is notfound.Err.
	LockPayment(ctx context.Context, tx *sql.Tx, id, merchantID string) (payment.Payment, error)
	// SavePayment writes a changed payment in tx.
	SavePayment(ctx context.Context, tx *sql.Tx, p payment.Payment) error
	// RefundedOrder is the wallet order a refund of p went to (the
	// payment's, or a duplicate charge's), and its channel.
	RefundedOrder(ctx context.Context, p payment.Payment, r payment.Refund) (order, ch string, err error)
}

// Wallet is what money asks of a wallet's connector: whom a payment's
// bill rows must credit (channel.Connector's Expect). Reconciliation also
// takes the connector's channel.BillDownloader and
// channel.MerchantBillDownloader, settlement its channel.ProfitSharer,
// and the overdue alerts its channel.NotifyWindower, where it has them.
type Wallet interface {
	Expect(sub, seller string) channel.Identity
}

// Service is the money service. DB, Events and Payments are required;
// the rest have defaults.
type Service struct {
	DB     *store.DB
	Now    func() time.Time
	Logger *slog.Logger
	// Events publishes money's events (webhooks.Service).
	Events Publisher
	// Payments reads and saves the payments money releases and shares.
	Payments Payments
	// Wallets are the wallet accounts payments go through, by channel.
	Wallets map[string]Wallet
	// AutoConfirm is how long after payment the escrow is released unless
	// the buyer confirms receipt first; 0 means DefaultAutoConfirm.
	AutoConfirm time.Duration
	// FeeRates are the wallets' fees per channel (default DefaultFeeRate);
	// CommissionByCategory the platform's commission per merchant category
	// (default DefaultCommission), unless a merchant has its own.
	FeeRates             map[string]ledger.Rate
	CommissionByCategory map[string]ledger.Rate
	// ProfitSharing settles service-provider merchants through the
	// wallets that share profits (channel.ProfitSharer; the connector must
	// make their payments with profit sharing too): the commission to the
	// platform's own account, the rest unfrozen to the sub-merchant.
	ProfitSharing bool
}

// Job kinds. The strings are stored with every queued job, so they never
// change.
const (
	// KindEscrowRelease releases a paid payment's escrow at its
	// auto-confirm time.
	KindEscrowRelease = "escrow.release"
	// KindSettleDaily settles every merchant once a day (a job that
	// schedules its next run).
	KindSettleDaily = "settlement.daily"
	// KindReconcileDaily reconciles yesterday's bills of every channel (a
	// job that schedules its next run at 10:30 Beijing time, after the
	// wallets publish their bills at 10:00).
	KindReconcileDaily = "reconcile.daily"
	// KindOverdue looks for overdue refunds and payments, hourly.
	KindOverdue = "alerts.overdue"
)

// ReleaseBackoff is how long a release that could not run (a refund in
// flight) waits before it is tried again.
func ReleaseBackoff(attempt int) time.Duration {
	return min(time.Duration(attempt)*5*time.Second, 10*time.Minute)
}

// Errors of the money rules.
var (
	ErrNegativeBalance = errors.New("the entry would make a balance negative")
	ErrRefundInFlight  = errors.New("a refund of this payment is still at the wallet; release after it settles")
	ErrPayableShort    = errors.New("the merchant's payable balance is less than the refund, and its policy does not allow it to go negative")
	// ErrReturnInProgress is a release asked while a return_and_refund
	// waits for the goods: the refund will take its money from escrow, so
	// the escrow stays until the return is received.
	ErrReturnInProgress = errors.New("a return_and_refund refund awaits the returned goods; release after it completes")
	// ErrWalletRefused is a wallet's refusal of a call money made.
	ErrWalletRefused = errors.New("the wallet refused")
)

// blockedError is a refusal that names the objects involved; it is its
// sentinel to errors.Is.
type blockedError struct {
	msg string
	err error
}

func (e *blockedError) Error() string { return e.msg }
func (e *blockedError) Unwrap() error { return e.err }

func (s *Service) now() time.Time { return clock.Func(s.Now).Now() }

func (s *Service) log() *slog.Logger { return clock.Logger(s.Logger) }

// queue is the job queue money's recurring jobs are scheduled on.
func queue(db *store.DB, now func() time.Time) *jobs.Queue { return &jobs.Queue{DB: db, Now: now} }
