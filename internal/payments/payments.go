// Package payments is hutong's payment service: it opens payments and
// their wallet orders at the wallets, applies the wallets' verified word
// exactly once, and cancels and expires what was not paid. Every state
// change commits in one transaction with the ledger postings, events and
// jobs it implies, so a crash at any instant neither loses nor doubles
// anything. Refunds, share codes and pay-for-me requests are services of
// their own beside it (packages refunds, sharecodes, payforme); the
// payments service reaches them, and money, onboarding and webhooks,
// through the small interfaces below.
package payments

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/audit"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/idempotency"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/walletcall"
)

// Service keeps payments and their wallet orders.
type Service struct {
	DB *store.DB
	// Accounts are the wallet accounts by channel ("wechatpay", "alipay",
	// or any registered wallet). The map is shared with the refunds
	// service, so an account swapped in it is seen by both.
	Accounts map[string]channel.Account
	// BaseURL is where wallets reach this gateway's /notify/ endpoints and
	// buyers its pages.
	BaseURL string
	Now     clock.Func
	Logger  *slog.Logger
	// PollSchedule is when a pending wallet order is queried, after it
	// opens; nil means DefaultPollSchedule. Expiry closes it anyway.
	PollSchedule []time.Duration

	Contracts Payability
	Books     Bookkeeper
	Events    Publisher
	Refunds   Refunds
	Refused   Refused
	// Wake tells this process's job worker that a job is due now (a
	// payment's webhooks); nil leaves it to the worker's next poll.
	Wake func()

	returnKeyMu sync.Mutex
	returnKey   ed25519.PrivateKey
}

// Payability is all payments ask of onboarding: whether a channel takes a
// merchant's payments now (an error when that cannot be read: a payment
// is then refused as failed, not as lacking a contract).
type Payability interface {
	Payable(ctx context.Context, merchantID, ch string) (bool, error)
}

// Bookkeeper is all payments ask of the money service: to book a
// payment's money in the payment's own transaction, so that a state
// change and its postings commit together or not at all.
type Bookkeeper interface {
	Post(ctx context.Context, tx *sql.Tx, e ledger.Entry) error
	RecordPaid(ctx context.Context, tx *sql.Tx, p *payment.Payment, now time.Time) error
}

// Publisher stores an event, with its deliveries, in the transaction of
// the change it reports.
type Publisher interface {
	Publish(ctx context.Context, tx *sql.Tx, merchantID, typ, objectID string, object any) error
}

// Refunds is what a wallet's word about money going back needs of the
// refunds service, in the transaction applying it: a refund settled, and
// a duplicate charge's refund started.
type Refunds interface {
	Settle(ctx context.Context, tx *sql.Tx, ch string, res channel.Refund) error
	StartDuplicate(ctx context.Context, tx *sql.Tx, p payment.Payment, a payment.Attempt, now time.Time) error
}

// Refused records a wallet message refused for naming what hutong did not
// send (mismatches.Recorder).
type Refused interface {
	Note(ctx context.Context, ch, source, messageID string, err error)
}

// DefaultPollSchedule: a lost notification never loses a payment.
var DefaultPollSchedule = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

func (s *Service) now() time.Time { return s.Now.Now() }

func (s *Service) log() *slog.Logger { return clock.Logger(s.Logger) }

func (s *Service) kick() {
	if s.Wake != nil {
		s.Wake()
	}
}

// Errors the API maps to answers.
var (
	ErrNotFound       = notfound.Err
	ErrDuplicateOrder = errors.New("merchant_order_id is already used by another payment")
	ErrMethodNotOpen  = errors.New("no wallet account is configured for this method")
	ErrNoContract     = errors.New("the merchant has no active contract for this method's wallet, signed under the current agreement")
	ErrAlreadyPaid    = payment.ErrAlreadyPaid
	ErrPaidByOther    = payment.ErrPaidByOther
	ErrWalletRefused  = errors.New("the wallet refused")
)

// notFound is the not-found error of an object looked up by its id from
// the path, among merchantID's objects ("" for any merchant's).
func notFound(object, id, merchantID string) error {
	return notfound.ByID(object, id, merchantID)
}

func subMerchant(m merchant.Merchant, ch string) string {
	return m.Wallets[ch].SubMerchant
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
			return payment.Payment{}, &notfound.Error{Param: "share_code", Object: "share code", ID: req.ShareCode, Scoped: true}
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
	if ok, err := s.Contracts.Payable(ctx, m.ID, p.Channel); err != nil {
		return p, err
	} else if !ok {
		return p, ErrNoContract
	}
	// The wallet first: if hutong crashes before storing the payment, the
	// wallet holds an order no buyer ever saw, which expires unpaid.
	action, err := walletcall.Do(ctx, p.Channel, "prepay", func() (channel.Action, error) {
		return acct.Connector.Prepay(ctx, channel.Prepay{
			OutTradeNo: p.ID, Method: p.Method, Amount: p.Amount, Description: p.Description,
			NotifyURL: acct.NotifyURL(s.BaseURL, p.Channel), ReturnURL: p.ReturnURL, ExpiresAt: p.ExpiresAt,
			Payer: req.Buyer.ID, ClientIP: "127.0.0.1", SubMerchant: subMerchant(m, p.Channel),
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
// the Idempotency-Key's answer, in one transaction.
func (s *Service) storePayment(ctx context.Context, p payment.Payment, sole *payment.Attempt, now time.Time) (payment.Payment, error) {
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.In(tx).PaymentInsert(ctx, p); err != nil {
			return err
		}
		if sole != nil {
			// Its status queries and the payment's expiry are due times on
			// the rows, queued as jobs only when due (EnqueueDue).
			sole.PollAt = s.pollAt(*sole, 0, p.ExpiresAt)
			if err := s.DB.In(tx).AttemptInsert(ctx, *sole); err != nil {
				return err
			}
		}
		// A payment an operator makes (the portal's test payment) commits
		// with its audit record.
		if err := audit.Record(ctx, tx, p); err != nil {
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
	return loadPayment(ctx, s.DB.Pool(), id, merchantID, false)
}

// samePaymentRequest reports whether two payments were asked for with the
// same terms.
func samePaymentRequest(a, b payment.Payment) bool {
	return a.Amount == b.Amount && a.Currency == b.Currency && a.Method == b.Method && a.Description == b.Description &&
		a.Buyer == b.Buyer && a.ReturnURL == b.ReturnURL && a.ShareCode == b.ShareCode && slices.Equal(a.Items, b.Items) && maps.Equal(a.Metadata, b.Metadata)
}

// ref names the object a job works on.
type ref struct {
	ID string `json:"id"`
}

// Job kinds.
const (
	KindPoll   = "payment.poll"
	KindExpire = "payment.expire"
)

// GetPayment reads a merchant's payment; another merchant's is ErrNotFound.
func (s *Service) GetPayment(ctx context.Context, merchantID, id string) (payment.Payment, error) {
	return loadPayment(ctx, s.DB.Pool(), id, merchantID, false)
}

// ListPayments lists a merchant's payments, newest first, after the cursor
// (a payment id) if given.
func (s *Service) ListPayments(ctx context.Context, merchantID, status, after string, limit int) ([]payment.Payment, error) {
	return s.DB.Pool().PaymentList(ctx, store.PaymentListParams{MerchantID: merchantID, Status: status, After: after, Limit: limit})
}

// Mismatches lists the refused wallet messages that named a merchant's
// payment, oldest first; another merchant's payment is ErrNotFound.
func (s *Service) Mismatches(ctx context.Context, merchantID, paymentID string) ([]payment.Mismatch, error) {
	if _, err := s.GetPayment(ctx, merchantID, paymentID); err != nil {
		return nil, err
	}
	return s.DB.Pool().Mismatches(ctx, merchantID, paymentID)
}
