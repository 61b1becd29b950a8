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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/idempotency"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/notfound"
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
	// ContractsRequired names the channels that take a merchant's payments
	// only under an active contract (the new wallet being opened).
	ContractsRequired map[string]bool
	// AutoConfirm is how long after payment the escrow is released unless
	// the buyer confirms receipt first; 0 means DefaultAutoConfirm.
	AutoConfirm time.Duration
	// FeeRates are the wallets' fees per channel (default DefaultFeeRate);
	// CommissionByCategory the platform's commission per merchant category
	// (default DefaultCommission), unless a merchant has its own.
	FeeRates             map[string]ledger.Rate
	CommissionByCategory map[string]ledger.Rate
	// ProfitSharing settles WeChat Pay service-provider merchants through
	// the wallet's profit sharing (the connector must make their payments
	// with profit sharing too): the commission to the platform's own
	// account, the rest unfrozen to the sub-merchant.
	ProfitSharing bool
	// OnboardingPoll is how often a submitted contract's review is asked
	// about; 0 means 30 s.
	OnboardingPoll time.Duration

	// Merchants keeps the merchants and API keys; nil means one built on
	// first use from the gateway's DB and Now (MerchantService).
	Merchants *merchants.Service
	// Rollouts keeps the rollout rules, decides which methods a checkout
	// shows, and records exposures and feedback; nil means one built on
	// first use over the gateway (RolloutService).
	Rollouts *rollouts.Service

	webhooksOnce  sync.Once
	merchantsOnce sync.Once
	rolloutsOnce  sync.Once

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

// RolloutService is the rollout service: Rollouts, or, when that is nil,
// one built on first use from the gateway's own fields. It decides the
// methods of the wallets the gateway has accounts at (read at each
// decision: a wallet added later counts), asks the gateway whether a
// merchant's contract lets a wallet take its payments, and reads the
// payment a buyer's feedback names.
func (s *Service) RolloutService() *rollouts.Service {
	s.rolloutsOnce.Do(func() {
		if s.Rollouts == nil {
			s.Rollouts = &rollouts.Service{DB: s.DB, Now: s.now, Logger: s.Logger, Contracts: s, Payments: s,
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

// forUpdate locks a row on PostgreSQL; SQLite's immediate transactions
// already serialize writers.
func (s *Service) forUpdate() string {
	if s.DB.Dialect == store.Postgres {
		return " FOR UPDATE"
	}
	return ""
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
		var one int
		err := s.DB.QueryRowContext(ctx, `SELECT 1 FROM share_codes WHERE id = $1 AND merchant_id = $2`, req.ShareCode, m.ID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
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
	if !s.Payable(ctx, m.ID, p.Channel) {
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
		if err := insertPayment(ctx, tx, p); err != nil {
			return err
		}
		if sole != nil {
			if err := insertAttempt(ctx, tx, *sole); err != nil {
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
	var id string
	if err := s.DB.QueryRowContext(ctx, `SELECT id FROM payments WHERE merchant_id = $1 AND merchant_order_id = $2`, merchantID, orderID).Scan(&id); err != nil {
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
// q, which may be a transaction that locks the row.
func (s *Service) loadPayment(ctx context.Context, q queryer, id, merchantID string, lock bool) (payment.Payment, error) {
	query := `SELECT data, refunded FROM payments WHERE id = $1`
	args := []any{id}
	if merchantID != "" {
		query += ` AND merchant_id = $2`
		args = append(args, merchantID)
	}
	if lock {
		query += s.forUpdate()
	}
	var data string
	var refunded int64
	err := q.QueryRowContext(ctx, query, args...).Scan(&data, &refunded)
	if errors.Is(err, sql.ErrNoRows) {
		return payment.Payment{}, notFound("payment", id, merchantID)
	}
	if err != nil {
		return payment.Payment{}, err
	}
	var p payment.Payment
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		return p, fmt.Errorf("payment %s: %w", id, err)
	}
	p.Refunded = refunded
	return p, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// paymentColumns are a payments row's columns: the object as JSON in data
// (what is carried), and beside it everything a query filters, joins or
// sums on, so that reports are plain SQL over indexed columns. paymentRow
// gives their values in this order.
var paymentColumns = []string{"id", "merchant_id", "merchant_order_id", "created_at", "status", "method", "amount", "refunded", "updated_at", "data",
	"channel", "paid_method", "buyer_id", "region_code", "platform", "payer_wallet", "share_code", "paid_at", "released_at"}

// paymentIdentity is how many of paymentColumns, first, never change.
const paymentIdentity = 4

// paymentRow is p as its row stores it, in paymentColumns' order.
func paymentRow(p payment.Payment) ([]any, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("payment %s: %w", p.ID, err)
	}
	var payer string
	if p.Payer != nil {
		payer = p.Payer.Wallet
	}
	updated := p.UpdatedAt
	if updated.IsZero() {
		updated = p.CreatedAt
	}
	return []any{p.ID, p.MerchantID, p.MerchantOrderID, store.Micros(p.CreatedAt), p.Status, p.Method, p.Amount, p.Refunded, store.Micros(updated), string(data),
		p.Channel, p.PaidMethod, p.Buyer.ID, p.Buyer.RegionCode, p.Buyer.Platform, payer, p.ShareCode, store.MicrosOrZero(p.PaidAt), store.MicrosOrZero(p.ReleasedAt)}, nil
}

var (
	insertPaymentSQL = func() string {
		ph := make([]string, len(paymentColumns))
		for i := range ph {
			ph[i] = fmt.Sprintf("$%d", i+1)
		}
		return "INSERT INTO payments (" + strings.Join(paymentColumns, ", ") + ") VALUES (" + strings.Join(ph, ", ") + ")"
	}()
	// The identity of a payment (its first four columns: id, merchant,
	// order number, creation) never changes; everything else is written
	// whole. PostgreSQL wants every parameter used, so savePayment passes
	// the row's values from the fifth, then the id.
	updatePaymentSQL = func() string {
		var set []string
		for i, c := range paymentColumns[paymentIdentity:] {
			set = append(set, fmt.Sprintf("%s = $%d", c, i+1))
		}
		return "UPDATE payments SET " + strings.Join(set, ", ") + fmt.Sprintf(" WHERE id = $%d", len(paymentColumns)-paymentIdentity+1)
	}()
)

func insertPayment(ctx context.Context, tx *sql.Tx, p payment.Payment) error {
	row, err := paymentRow(p)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, insertPaymentSQL, row...)
	return err
}

func (s *Service) savePayment(ctx context.Context, tx *sql.Tx, p payment.Payment) error {
	row, err := paymentRow(p)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, updatePaymentSQL, append(row[paymentIdentity:], row[0])...); err != nil {
		return err
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
	query := `SELECT data, refunded FROM payments WHERE merchant_id = $1`
	args := []any{merchantID}
	if status != "" {
		args = append(args, status)
		query += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	query, args, err := store.Keyset{Table: "payments", Time: "created_at", ID: "id", Desc: true, IDDesc: true, Object: "payment",
		Scope: "merchant_id = $2", ScopeArgs: []any{merchantID}}.Page(ctx, s.DB, after, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	args = append(args, limit)
	query += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []payment.Payment
	for rows.Next() {
		var data string
		var refunded int64
		if err := rows.Scan(&data, &refunded); err != nil {
			return nil, err
		}
		var p payment.Payment
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			return nil, fmt.Errorf("a stored payment does not decode: %w", err)
		}
		p.Refunded = refunded
		out = append(out, p)
	}
	return out, rows.Err()
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
			KindContractPoll:     s.PollContract,
			KindCampaignRemind:   s.RemindCampaign,
			KindEscrowRelease:    s.ReleaseEscrow,
			KindSettleDaily:      s.SettleDaily,
			KindReconcileDaily:   s.ReconcileDaily,
			KindPrune:            s.Prune,
			KindOverdue:          s.CheckOverdue,
		},
		Backoffs: map[string]func(int) time.Duration{
			webhooks.KindDeliver: webhooks.Backoff,
			KindRefundExecute:    refundBackoff,
			KindContractPoll:     func(int) time.Duration { return s.onboardingPoll() },
			KindEscrowRelease:    func(attempt int) time.Duration { return min(time.Duration(attempt)*5*time.Second, 10*time.Minute) },
		},
		Poll:        100 * time.Millisecond,
		Lease:       s.JobLease,
		Wake:        s.wakeChan(),
		Concurrency: 8,
		Logger:      s.Logger,
	}
}
