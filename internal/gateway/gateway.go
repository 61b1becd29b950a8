// Package gateway assembles hutong from its services: payments, refunds,
// share codes, pay-for-me, merchants, onboarding, rollouts, money and
// webhooks, each a package of its own that reaches the others only
// through small interfaces. A Service holds the wallet accounts and the
// database they share, builds each service it was not given on first
// use, and runs every service's jobs in one Worker. `hutong serve`, the
// demo and the test harness (gatewaytest) start from here.
package gateway

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/mismatches"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/payforme"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/payments"
	"github.com/hutong-pay/hutong/internal/refunds"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/sharecodes"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

// Account is the wallet account payments of a channel go through.
type Account = channel.Account

// Service is the gateway: the services, and what they share.
type Service struct {
	DB       *store.DB
	Accounts map[string]Account // by channel: "wechatpay", "alipay"
	// BaseURL is where wallets reach this gateway's /notify/ endpoints.
	BaseURL string
	Now     func() time.Time
	Logger  *slog.Logger
	// Webhooks publishes the gateway's events and delivers them; when nil,
	// the gateway builds one from its own DB, Now and Logger, delivering
	// to public addresses only (WebhookService).
	Webhooks *webhooks.Service
	// PollSchedule is when a pending wallet order is queried, after it
	// opens (payments.Service.PollSchedule).
	PollSchedule []time.Duration
	// JobLease is how long a claimed job is held; 0 means a minute.
	JobLease time.Duration

	// Merchants keeps the merchants and API keys; nil means one built on
	// first use from the gateway's DB and Now (MerchantService).
	Merchants *merchants.Service
	// Onboarding keeps agreements, contracts and campaigns, and says which
	// merchants a channel takes payments from; nil means one built on
	// first use from the gateway's own fields, no channel requiring
	// contracts (OnboardingService).
	Onboarding *onboarding.Service
	// Money keeps the ledger, escrow, settlement and reconciliation; nil
	// means one built on first use (MoneyService).
	Money *money.Service

	// Rollouts keeps the rollout rules, decides which methods a checkout
	// shows, and records exposures and feedback; nil means one built on
	// first use over the gateway (RolloutService).
	Rollouts *rollouts.Service

	// Payments, Refunds, ShareCodes and PayForMe are the payment
	// services; each nil one is built on first use from the gateway's own
	// fields (PaymentService, RefundService, ShareCodeService,
	// PayForMeService).
	Payments   *payments.Service
	Refunds    *refunds.Service
	ShareCodes *sharecodes.Service
	PayForMe   *payforme.Service

	paymentsOnce   sync.Once
	refundsOnce    sync.Once
	shareCodesOnce sync.Once
	payForMeOnce   sync.Once
	mismatchesOnce sync.Once
	mismatchRec    *mismatches.Recorder

	webhooksOnce   sync.Once
	merchantsOnce  sync.Once
	moneyOnce      sync.Once
	onboardingOnce sync.Once
	rolloutsOnce   sync.Once

	wakeOnce sync.Once
	wake     chan struct{}
}

// WebhookService is the events and webhooks service the gateway publishes
// through and whose deliveries its Worker runs: Webhooks, or, when that is
// nil, one built on first use from the gateway's own fields.
func (s *Service) WebhookService() *webhooks.Service {
	s.webhooksOnce.Do(func() {
		if s.Webhooks == nil {
			// Now reads the gateway's clock at each call, so an event is
			// stamped with the time of the change it reports even when
			// the clock is swapped later (tests move it forward).
			s.Webhooks = &webhooks.Service{DB: s.DB, Now: s.now, Logger: s.Logger}
		}
	})
	return s.Webhooks
}

// MerchantService is the merchants and keys service: Merchants, or, when
// that is nil, one built on first use from the gateway's own fields.
func (s *Service) MerchantService() *merchants.Service {
	s.merchantsOnce.Do(func() {
		if s.Merchants == nil {
			s.Merchants = &merchants.Service{DB: s.DB, Now: s.now}
		}
	})
	return s.Merchants
}

// OnboardingService is the agreements, contracts and campaigns service
// whose Payable payments ask and whose jobs the Worker runs: Onboarding,
// or, when that is nil, one built on first use from the gateway's own
// fields. Either way, its Wake is set, when nil, to wake the gateway's
// worker.
func (s *Service) OnboardingService() *onboarding.Service {
	s.onboardingOnce.Do(func() {
		if s.Onboarding == nil {
			s.Onboarding = &onboarding.Service{DB: s.DB, Now: s.now, Wallets: OnboardingWallets(s.Accounts), BaseURL: s.BaseURL, Events: s.WebhookService()}
		}
		if s.Onboarding.Wake == nil {
			s.Onboarding.Wake = s.kick
		}
	})
	return s.Onboarding
}

// OnboardingWallets are the channels of accounts, each with its
// connector's onboarding (nil where it has none): what
// onboarding.Service.Wallets wants.
func OnboardingWallets(accounts map[string]Account) map[string]channel.Onboarder {
	out := make(map[string]channel.Onboarder, len(accounts))
	for ch, a := range accounts {
		ob, _ := a.Connector.(channel.Onboarder)
		out[ch] = ob
	}
	return out
}

// RolloutService is the rollout service: Rollouts, or, when that is nil,
// one built on first use from the gateway's own fields. It decides the
// methods of the wallets the gateway has accounts at (read at each
// decision: a wallet added later counts), asks the gateway whether a
// merchant's contract lets a wallet take its payments, and reads the
// payment a buyer's feedback names.
func (s *Service) RolloutService() *rollouts.Service {
	s.rolloutsOnce.Do(func() {
		if s.Rollouts == nil {
			s.Rollouts = &rollouts.Service{DB: s.DB, Now: s.now, Logger: s.Logger, Contracts: s.OnboardingService(), Payments: paymentsLater{s},
				HasAccount: func(ch string) bool { _, ok := s.Accounts[ch]; return ok }}
		}
	})
	return s.Rollouts
}

func (s *Service) wakeChan() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// kick tells this process's worker that a job is due now.
func (s *Service) kick() {
	select {
	case s.wakeChan() <- struct{}{}:
	default:
	}
}

func (s *Service) now() time.Time { return clock.Func(s.Now).Now() }

func (s *Service) log() *slog.Logger { return clock.Logger(s.Logger) }

// Errors the API maps to answers, and the payment services' job kinds,
// under the names callers of the gateway have always used.
var (
	ErrNotFound          = notfound.Err
	ErrDuplicateOrder    = payments.ErrDuplicateOrder
	ErrMethodNotOpen     = payments.ErrMethodNotOpen
	ErrNoContract        = payments.ErrNoContract
	ErrAlreadyPaid       = payments.ErrAlreadyPaid
	ErrPaidByOther       = payments.ErrPaidByOther
	ErrWalletRefused     = payments.ErrWalletRefused
	ErrRefundTooLarge    = payment.ErrRefundExceeds
	ErrNotAwaitingReturn = refunds.ErrNotAwaitingReturn
	ErrPayForMeClosed    = payforme.ErrClosed
	ErrShareUnknown      = sharecodes.ErrUnknown
	ErrShareExpired      = sharecodes.ErrExpired
	ErrShareRevoked      = sharecodes.ErrRevoked
	ErrShareUsedUp       = sharecodes.ErrUsedUp
)

// NotFoundError is a request field naming an object the caller does not
// have; it is ErrNotFound to errors.Is (notfound.Error).
type NotFoundError = notfound.Error

// Job kinds of the payment services.
const (
	KindPoll          = payments.KindPoll
	KindExpire        = payments.KindExpire
	KindAttemptClose  = payments.KindAttemptClose
	KindRefundExecute = refunds.KindExecute
)

// PaymentService is the payments service: Payments, or, when that is nil,
// one built on first use from the gateway's own fields, publishing
// through WebhookService, booking through MoneyService, asking
// OnboardingService which wallets take a merchant's payments, and
// settling refunds through RefundService.
func (s *Service) PaymentService() *payments.Service {
	s.paymentsOnce.Do(func() {
		if s.Payments == nil {
			s.Payments = &payments.Service{DB: s.DB, Accounts: s.Accounts, BaseURL: s.BaseURL, Now: s.now, Logger: s.Logger,
				PollSchedule: s.PollSchedule, Contracts: s.OnboardingService(), Books: s.MoneyService(), Events: s.WebhookService(),
				Refunds: s.RefundService(), Refused: s.mismatches(), Wake: s.kick}
		}
	})
	return s.Payments
}

// RefundService is the refunds service: Refunds, or, when that is nil,
// one built on first use from the gateway's own fields, over the same
// wallet accounts as PaymentService.
func (s *Service) RefundService() *refunds.Service {
	s.refundsOnce.Do(func() {
		if s.Refunds == nil {
			s.Refunds = &refunds.Service{DB: s.DB, Accounts: s.Accounts, BaseURL: s.BaseURL, Now: s.now, Logger: s.Logger,
				Payments: paymentsLater{s}, Books: s.MoneyService(), Events: s.WebhookService(), Refused: s.mismatches(), Wake: s.kick}
		}
	})
	return s.Refunds
}

// ShareCodeService is the share codes service: ShareCodes, or, when that
// is nil, one built on first use from the gateway's own fields.
func (s *Service) ShareCodeService() *sharecodes.Service {
	s.shareCodesOnce.Do(func() {
		if s.ShareCodes == nil {
			s.ShareCodes = &sharecodes.Service{DB: s.DB, BaseURL: s.BaseURL, Now: s.now, Payments: paymentsLater{s}, PayForMe: payForMeLater{s}}
		}
	})
	return s.ShareCodes
}

// PayForMeService is the pay-for-me service: PayForMe, or, when that is
// nil, one built on first use from the gateway's own fields.
func (s *Service) PayForMeService() *payforme.Service {
	s.payForMeOnce.Do(func() {
		if s.PayForMe == nil {
			s.PayForMe = &payforme.Service{DB: s.DB, BaseURL: s.BaseURL, Now: s.now, Payments: paymentsLater{s}, ShareCodes: s.ShareCodeService()}
		}
	})
	return s.PayForMe
}

// mismatches records the wallet messages the payment services refuse.
func (s *Service) mismatches() *mismatches.Recorder {
	s.mismatchesOnce.Do(func() { s.mismatchRec = &mismatches.Recorder{DB: s.DB, Now: s.now, Logger: s.Logger} })
	return s.mismatchRec
}

// paymentsLater is the payments service as the services built beside it
// see it, found at each call: PaymentService is built after them, since it
// needs them.
type paymentsLater struct{ s *Service }

func (p paymentsLater) GetPayment(ctx context.Context, merchantID, id string) (payment.Payment, error) {
	return p.s.PaymentService().GetPayment(ctx, merchantID, id)
}

func (p paymentsLater) LockPayment(ctx context.Context, tx *sql.Tx, id, merchantID string) (payment.Payment, error) {
	return p.s.PaymentService().LockPayment(ctx, tx, id, merchantID)
}

func (p paymentsLater) SavePayment(ctx context.Context, tx *sql.Tx, pay payment.Payment) error {
	return p.s.PaymentService().SavePayment(ctx, tx, pay)
}

// RefundedOrder is the wallet order a refund of pay goes to, and its
// channel (refunds.Service.RefundedOrder).
func (p paymentsLater) RefundedOrder(ctx context.Context, pay payment.Payment, r payment.Refund) (string, string, error) {
	return p.s.RefundService().RefundedOrder(ctx, p.s.DB.Pool(), pay, r)
}

// payForMeLater is the pay-for-me service as share codes see it, found at
// each call (each needs the other).
type payForMeLater struct{ s *Service }

func (p payForMeLater) OfMerchant(ctx context.Context, merchantID, id string) (payment.PayForMe, error) {
	return p.s.PayForMeService().OfMerchant(ctx, merchantID, id)
}

// Worker runs the gateway's jobs.
func (s *Service) Worker(id string) *jobs.Worker {
	return &jobs.Worker{
		Queue: &jobs.Queue{DB: s.DB, Now: s.Now},
		ID:    id,
		Handlers: map[string]jobs.Handler{
			KindPoll:             s.PaymentService().Poll,
			KindExpire:           s.PaymentService().Expire,
			KindRefundExecute:    s.RefundService().Execute,
			webhooks.KindDeliver: s.WebhookService().Deliver,
			KindAttemptClose:     s.PaymentService().CloseAttempt,
			KindEscrowRelease:    s.MoneyService().ReleaseEscrow,
			KindSettleDaily:      s.MoneyService().SettleDaily,
			KindReconcileDaily:   s.MoneyService().ReconcileDaily,
			KindPrune:            s.Prune,
			KindOverdue:          s.MoneyService().CheckOverdue,
			KindAnalyticsRefresh: s.analyticsJob,

			onboarding.KindContractPoll:   s.OnboardingService().PollContract,
			onboarding.KindCampaignRemind: s.OnboardingService().RemindCampaign,
		},
		Backoffs: map[string]func(int) time.Duration{
			webhooks.KindDeliver: webhooks.Backoff,
			KindRefundExecute:    refunds.Backoff,
			KindEscrowRelease:    money.ReleaseBackoff,

			onboarding.KindContractPoll: s.OnboardingService().PollBackoff,
		},
		Poll:        100 * time.Millisecond,
		Lease:       s.JobLease,
		Wake:        s.wakeChan(),
		Tick:        s.PaymentService().EnqueueDue,
		Concurrency: 8,
		Logger:      s.Logger,
	}
}
