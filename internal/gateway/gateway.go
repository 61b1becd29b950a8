// Package gateway is hutong's payment service: it creates payments at the
// wallets, applies the wallets' verified word exactly once, and refunds.
// Every state change commits in one transaction with the events and jobs
// it implies (store, jobs), so a crash at any instant neither loses nor
// doubles anything. Events are published, and delivered to merchants'
// endpoints, by package webhooks, which the gateway reaches only through
// its Publish (and whose delivery jobs its Worker runs).
package gateway

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/idempotency"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

// Account is the wallet account payments of a channel go through.
type Account struct {
	Name      string // the {account} of /notify/{channel}/{account}
	Connector channel.Connector
}

// Service is the gateway.
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
	// PollSchedule is when a pending payment is queried at its wallet,
	// after creation; expiry closes it anyway.
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

	webhooksOnce   sync.Once
	merchantsOnce  sync.Once
	moneyOnce      sync.Once
	onboardingOnce sync.Once
	rolloutsOnce   sync.Once

	wakeOnce sync.Once
	wake     chan struct{}

	returnKeyMu sync.Mutex
	returnKey   ed25519.PrivateKey
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

// payability is all payments ask of onboarding: whether a channel takes
// a merchant's payments now (an error when that cannot be read: a
// payment is then refused as failed, not as lacking a contract).
type payability interface {
	Payable(ctx context.Context, merchantID, ch string) (bool, error)
}

// contracts is where payments ask.
func (s *Service) contracts() payability { return s.OnboardingService() }

// RolloutService is the rollout service: Rollouts, or, when that is nil,
// one built on first use from the gateway's own fields. It decides the
// methods of the wallets the gateway has accounts at (read at each
// decision: a wallet added later counts), asks the gateway whether a
// merchant's contract lets a wallet take its payments, and reads the
// payment a buyer's feedback names.
func (s *Service) RolloutService() *rollouts.Service {
	s.rolloutsOnce.Do(func() {
		if s.Rollouts == nil {
			s.Rollouts = &rollouts.Service{DB: s.DB, Now: s.now, Logger: s.Logger, Contracts: s.contracts(), Payments: s,
				HasAccount: func(ch string) bool { _, ok := s.Accounts[ch]; return ok }}
		}
	})
	return s.Rollouts
}

// publisher is all the gateway asks of the events service: to store an
// event, with its deliveries, in the transaction of the change it reports.
type publisher interface {
	Publish(ctx context.Context, tx *sql.Tx, merchantID, typ, objectID string, object any) error
}

// events is where the gateway publishes.
func (s *Service) events() publisher { return s.WebhookService() }

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

// DefaultPollSchedule: a lost notification never loses a payment.
var DefaultPollSchedule = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Errors the API maps to answers.
var (
	ErrNotFound       = notfound.Err
	ErrDuplicateOrder = errors.New("merchant_order_id is already used by another payment")
	ErrMethodNotOpen  = errors.New("no wallet account is configured for this method")
	ErrNoContract     = errors.New("the merchant has no active contract for this method's wallet, signed under the current agreement")
	ErrNotRefundable  = errors.New("the payment cannot be refunded")
	ErrAlreadyPaid    = payment.ErrAlreadyPaid
	ErrRefundTooLarge = payment.ErrRefundExceeds
	ErrWalletRefused  = errors.New("the wallet refused")
)

// NotFoundError is a request field naming an object the caller does not
// have; it is ErrNotFound to errors.Is. The type is notfound's, shared by
// every service, and named here too so that callers of the gateway keep
// their spelling.
type NotFoundError = notfound.Error

// notFound is the NotFoundError of an object looked up by its id from the
// path, among merchantID's objects ("" for any merchant's).
func notFound(object, id, merchantID string) error {
	return notfound.ByID(object, id, merchantID)
}

func (s *Service) subMerchant(m merchant.Merchant, ch string) string {
	return m.Wallets[ch].SubMerchant
}

// expect is the identity every wallet message about m's payments on ch
// must name.
func (s *Service) expect(m merchant.Merchant, ch string) (channel.Identity, error) {
	acct, ok := s.Accounts[ch]
	if !ok {
		return channel.Identity{}, ErrMethodNotOpen
	}
	w := m.Wallets[ch]
	return acct.Connector.Expect(w.SubMerchant, w.Seller), nil
}

// CreatePayment opens a payment at its wallet and stores it, with the
// jobs that poll and expire it.
func (s *Service) CreatePayment(ctx context.Context, m merchant.Merchant, req payment.Request) (payment.Payment, error) {
	if err := req.Validate(); err != nil {
		return payment.Payment{}, err
	}
	// The share code a sale is credited to must be the merchant's own:
	// another merchant's is no share code at all.
	if req.ShareCode != "" {
		_, err := s.DB.Pool().ShareCodeGet(ctx, m.ID, req.ShareCode)
		if errors.Is(err, store.ErrNoRows) {
			return payment.Payment{}, &NotFoundError{Param: "share_code", Object: "share code", ID: req.ShareCode, Scoped: true}
		}
		if err != nil {
			return payment.Payment{}, err
		}
	}
	now := s.now()
	p := payment.New(m.ID, req, now)
	p.CheckoutURL = s.BaseURL + "/pay/" + p.ID
	// merchant_order_id names the order: the same request again (a retry
	// whose first answer was lost) gets the payment already made; another
	// request under it is refused.
	if prev, err := s.paymentByOrder(ctx, m.ID, p.MerchantOrderID); err == nil {
		if samePaymentRequest(prev, p) {
			return prev, nil
		}
		return p, ErrDuplicateOrder
	}
	if p.Channel == "" {
		// The buyer chooses on the hosted cashier, which is also the
		// payment's one code for every wallet.
		if len(s.Accounts) == 0 {
			return p, ErrMethodNotOpen
		}
		if p.Method == "aggregate" {
			p.NextAction = &channel.Action{Type: "qr_code", QRCode: p.CheckoutURL}
		} else {
			p.NextAction = &channel.Action{Type: "redirect", URL: p.CheckoutURL}
		}
		return s.storePayment(ctx, p, nil, now)
	}
	acct, ok := s.Accounts[p.Channel]
	if !ok {
		return p, ErrMethodNotOpen
	}
	if ok, err := s.contracts().Payable(ctx, m.ID, p.Channel); err != nil {
		return p, err
	} else if !ok {
		return p, ErrNoContract
	}
	// The wallet first: if hutong crashes before storing the payment, the
	// wallet holds an order no buyer ever saw, which expires unpaid.
	action, err := atWallet(ctx, p.Channel, "prepay", func() (channel.Action, error) {
		return acct.Connector.Prepay(ctx, channel.Prepay{
			OutTradeNo: p.ID, Method: p.Method, Amount: p.Amount, Description: p.Description,
			NotifyURL: s.BaseURL + "/notify/" + p.Channel + "/" + acct.Name, ReturnURL: p.ReturnURL, ExpiresAt: p.ExpiresAt,
			Payer: req.Buyer.ID, ClientIP: "127.0.0.1", SubMerchant: s.subMerchant(m, p.Channel),
		})
	})
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrWalletRefused, err)
	}
	p.NextAction = &action
	sole := payment.SoleAttempt(p)
	sole.NextAction = &action
	return s.storePayment(ctx, p, &sole, now)
}

// storePayment stores a new payment, its wallet order if it has one, and
// the jobs that poll and expire it, in one transaction.
func (s *Service) storePayment(ctx context.Context, p payment.Payment, sole *payment.Attempt, now time.Time) (payment.Payment, error) {
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.In(tx).PaymentInsert(ctx, p); err != nil {
			return err
		}
		if sole != nil {
			if err := s.DB.In(tx).AttemptInsert(ctx, *sole); err != nil {
				return err
			}
			if err := s.enqueuePolls(ctx, tx, sole.ID, p.ExpiresAt, now); err != nil {
				return err
			}
		}
		if _, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindExpire, Payload: ref{p.ID}, RunAt: p.ExpiresAt, UniqueKey: p.ID + "/expire"}, now); err != nil {
			return err
		}
		return idempotency.CommitAnswer(ctx, tx, http.StatusCreated, p)
	})
	if err != nil {
		if store.IsUniqueViolation(err) {
			if prev, perr := s.paymentByOrder(ctx, p.MerchantID, p.MerchantOrderID); perr == nil && samePaymentRequest(prev, p) {
				return prev, nil
			}
			return p, ErrDuplicateOrder
		}
		return p, err
	}
	return p, nil
}

func (s *Service) paymentByOrder(ctx context.Context, merchantID, orderID string) (payment.Payment, error) {
	id, err := s.DB.Pool().PaymentIDByOrder(ctx, merchantID, orderID)
	if err != nil {
		return payment.Payment{}, ErrNotFound
	}
	return s.loadPayment(ctx, s.DB, id, merchantID, false)
}

// samePaymentRequest reports whether two payments were asked for with the
// same terms.
func samePaymentRequest(a, b payment.Payment) bool {
	return a.Amount == b.Amount && a.Currency == b.Currency && a.Method == b.Method && a.Description == b.Description &&
		a.Buyer == b.Buyer && a.ReturnURL == b.ReturnURL && a.ShareCode == b.ShareCode && len(a.Items) == len(b.Items)
}

// ref names the object a job works on.
type ref struct {
	ID string `json:"id"`
}

// Job kinds.
const (
	KindPoll          = "payment.poll"
	KindExpire        = "payment.expire"
	KindRefundExecute = "refund.execute"
)

// loadPayment reads a payment (of merchant, unless merchantID is "") in
// q, the database or a transaction that locks the row.
func (s *Service) loadPayment(ctx context.Context, q queryer, id, merchantID string, lock bool) (payment.Payment, error) {
	p, err := s.executor(q).PaymentGet(ctx, store.PaymentGetParams{ID: id, MerchantID: merchantID, Lock: lock})
	if errors.Is(err, store.ErrNoRows) {
		return payment.Payment{}, notFound("payment", id, merchantID)
	}
	return p, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// executor is the store's Executor on q: a transaction of s.DB, or the
// database itself.
func (s *Service) executor(q queryer) store.Executor {
	if tx, ok := q.(*sql.Tx); ok {
		return s.DB.In(tx)
	}
	return s.DB.Pool()
}

func (s *Service) savePayment(ctx context.Context, tx *sql.Tx, p payment.Payment) error {
	if err := s.DB.In(tx).PaymentSave(ctx, p); err != nil {
		return fmt.Errorf("saving payment %s: %w", p.ID, err)
	}
	// A paid or canceled payment has nothing left to expire: its expiry
	// job goes with the change rather than costing a claim and a
	// completion hours later.
	if p.Status != payment.StatusRequiresAction {
		return jobs.CancelPending(ctx, tx, KindExpire, p.ID+"/")
	}
	return nil
}

// GetPayment reads a merchant's payment; another merchant's is ErrNotFound.
func (s *Service) GetPayment(ctx context.Context, merchantID, id string) (payment.Payment, error) {
	return s.loadPayment(ctx, s.DB, id, merchantID, false)
}

// ListPayments lists a merchant's payments, newest first, after the cursor
// (a payment id) if given.
func (s *Service) ListPayments(ctx context.Context, merchantID, status, after string, limit int) ([]payment.Payment, error) {
	return s.DB.Pool().PaymentList(ctx, store.PaymentListParams{MerchantID: merchantID, Status: status, After: after, Limit: limit})
}

// Worker runs the gateway's jobs.
func (s *Service) Worker(id string) *jobs.Worker {
	return &jobs.Worker{
		Queue: &jobs.Queue{DB: s.DB, Now: s.Now},
		ID:    id,
		Handlers: map[string]jobs.Handler{
			KindPoll:             s.Poll,
			KindExpire:           s.Expire,
			KindRefundExecute:    s.ExecuteRefund,
			webhooks.KindDeliver: s.WebhookService().Deliver,
			KindAttemptClose:     s.CloseAttempt,
			KindEscrowRelease:    s.MoneyService().ReleaseEscrow,
			KindSettleDaily:      s.MoneyService().SettleDaily,
			KindReconcileDaily:   s.MoneyService().ReconcileDaily,
			KindPrune:            s.Prune,
			KindOverdue:          s.MoneyService().CheckOverdue,

			onboarding.KindContractPoll:   s.OnboardingService().PollContract,
			onboarding.KindCampaignRemind: s.OnboardingService().RemindCampaign,
		},
		Backoffs: map[string]func(int) time.Duration{
			webhooks.KindDeliver: webhooks.Backoff,
			KindRefundExecute:    refundBackoff,
			KindEscrowRelease:    money.ReleaseBackoff,

			onboarding.KindContractPoll: s.OnboardingService().PollBackoff,
		},
		Poll:        100 * time.Millisecond,
		Lease:       s.JobLease,
		Wake:        s.wakeChan(),
		Concurrency: 8,
		Logger:      s.Logger,
	}
}
