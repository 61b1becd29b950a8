package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// KindAttemptClose closes a wallet order that lost: another attempt paid
// the payment first.
const KindAttemptClose = "attempt.close"

// insertAttempt stores a new wallet order: the object as JSON in data, and
// as columns what reports count it by (status, channel, method, times).
func insertAttempt(ctx context.Context, tx *sql.Tx, a payment.Attempt) error {
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("wallet order %s: %w", a.ID, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO payment_attempts (id, payment_id, status, created_at, data, channel, method, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.ID, a.PaymentID, a.Status, store.Micros(a.CreatedAt), string(data), a.Channel, a.Method, store.Micros(attemptUpdated(a)))
	return err
}

// attemptUpdated is when a wallet order last changed, its creation if
// never since.
func attemptUpdated(a payment.Attempt) time.Time {
	if a.UpdatedAt.IsZero() {
		return a.CreatedAt
	}
	return a.UpdatedAt
}

// saveAttempt writes a wallet order; one that is no longer pending takes
// its remaining status polls with it, as a poll of a settled order does
// nothing.
func saveAttempt(ctx context.Context, tx *sql.Tx, a payment.Attempt) error {
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("wallet order %s: %w", a.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE payment_attempts SET status = $2, data = $3, channel = $4, method = $5, updated_at = $6 WHERE id = $1`,
		a.ID, a.Status, string(data), a.Channel, a.Method, store.Micros(attemptUpdated(a))); err != nil {
		return err
	}
	if a.Status == payment.AttemptPending {
		return nil
	}
	return jobs.CancelPending(ctx, tx, KindPoll, a.ID+"/")
}

// loadAttempt reads a wallet order. Orders made before attempts were kept
// separately carry only their id; their payment fills in the rest.
func (s *Service) loadAttempt(ctx context.Context, q queryer, id string, lock bool) (payment.Attempt, error) {
	var a payment.Attempt
	var data, paymentID, status string
	err := q.QueryRowContext(ctx, `SELECT data, payment_id, status FROM payment_attempts WHERE id = $1`+s.lockClause(lock), id).Scan(&data, &paymentID, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("wallet order", id, "")
	}
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(data), &a); err != nil {
		return a, fmt.Errorf("attempt %s: %w", id, err)
	}
	a.ID, a.PaymentID, a.Status = id, paymentID, status
	return a, nil
}

func (s *Service) lockClause(lock bool) string {
	if lock {
		return s.forUpdate()
	}
	return ""
}

// fillAttempt completes an attempt stored before attempts had their own
// data.
func fillAttempt(a payment.Attempt, p payment.Payment) payment.Attempt {
	return payment.FillAttempt(a, p)
}

// Attempts lists a payment's wallet orders, oldest first.
func (s *Service) Attempts(ctx context.Context, paymentID string) ([]payment.Attempt, error) {
	p, err := s.loadPayment(ctx, s.DB, paymentID, "", false)
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, status, data FROM payment_attempts WHERE payment_id = $1 ORDER BY created_at, id`, paymentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []payment.Attempt
	for rows.Next() {
		var a payment.Attempt
		var id, status, data string
		if err := rows.Scan(&id, &status, &data); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(data), &a); err != nil {
			return nil, fmt.Errorf("wallet order %s does not decode: %w", id, err)
		}
		a.ID, a.PaymentID, a.Status = id, paymentID, status
		out = append(out, fillAttempt(a, p))
	}
	return out, rows.Err()
}

// AttemptRequest asks for a new wallet order on a payment whose buyer (or
// someone paying for them) chose a method on the hosted cashier.
type AttemptRequest struct {
	Method string
	Payer  payment.Payer
	// WalletPayer is the payer's id at the wallet, which in-wallet methods
	// need (wechatpay.jsapi: openid; alipay.jsapi: user id).
	WalletPayer string
	// ReturnURL is where the wallet sends the browser back (H5, wap, page).
	ReturnURL string
	ClientIP  string
	Session   string
}

// ErrPaidByOther is an attempt refused because the payment is paid.
var ErrPaidByOther = errors.New("the payment is already paid")

// StartAttempt opens a wallet order for a payment. It is refused once the
// payment is paid, closed or expired, so a second payer is turned away
// before any wallet charges them.
func (s *Service) StartAttempt(ctx context.Context, paymentID string, req AttemptRequest) (payment.Attempt, error) {
	p, err := s.loadPayment(ctx, s.DB, paymentID, "", false)
	if err != nil {
		return payment.Attempt{}, err
	}
	if err := payment.CanAttempt(p, s.now()); err != nil {
		return payment.Attempt{}, attemptRefusal(err)
	}
	ch, ok := channel.MethodWallet(req.Method)
	if !ok {
		return payment.Attempt{}, &payment.FieldError{Param: "method", Message: fmt.Sprintf("%q is not a wallet method", req.Method)}
	}
	acct, ok := s.Accounts[ch]
	if !ok {
		return payment.Attempt{}, ErrMethodNotOpen
	}
	if !s.Payable(ctx, p.MerchantID, ch) {
		return payment.Attempt{}, ErrNoContract
	}
	m, err := merchants.Get(ctx, s.DB.Pool(), p.MerchantID)
	if err != nil {
		return payment.Attempt{}, err
	}
	now := s.now()
	a := payment.Attempt{ID: payment.NewID("pa"), PaymentID: p.ID, Method: req.Method, Channel: ch, Status: payment.AttemptPending,
		Payer: req.Payer, Session: req.Session, CreatedAt: now, UpdatedAt: now}
	a.Payer.Wallet = req.WalletPayer
	ip := req.ClientIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	action, err := atWallet(ctx, ch, "prepay", func() (channel.Action, error) {
		return acct.Connector.Prepay(ctx, channel.Prepay{
			OutTradeNo: a.ID, Method: a.Method, Amount: p.Amount, Description: p.Description,
			NotifyURL: s.BaseURL + "/notify/" + ch + "/" + acct.Name, ReturnURL: req.ReturnURL, ExpiresAt: p.ExpiresAt,
			Payer: req.WalletPayer, ClientIP: ip, SubMerchant: s.subMerchant(m, ch),
		})
	})
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrWalletRefused, err)
	}
	a.NextAction = &action
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.loadPayment(ctx, tx, p.ID, "", true)
		if err != nil {
			return err
		}
		if err := payment.CanAttempt(cur, now); err != nil {
			return attemptRefusal(err)
		}
		if err := insertAttempt(ctx, tx, a); err != nil {
			return err
		}
		return s.enqueuePolls(ctx, tx, a.ID, p.ExpiresAt, now)
	})
	if err != nil {
		// Paid meanwhile: the order just opened must not take money.
		if errors.Is(err, ErrPaidByOther) {
			if cerr := atWalletErr(ctx, ch, "close", func() error { return acct.Connector.Close(context.WithoutCancel(ctx), a.ID, s.subMerchant(m, ch)) }); cerr != nil {
				// The attempt was never stored: now only its expiry at
				// the wallet ends the order.
				s.log().Warn("closing a wallet order its payment no longer needs", "attempt", a.ID, "channel", ch, "err", cerr)
			}
		}
		return payment.Attempt{}, err
	}
	return a, nil
}

func attemptRefusal(err error) error {
	if errors.Is(err, payment.ErrAlreadyPaid) {
		return ErrPaidByOther
	}
	return err
}

// enqueuePolls schedules the queries that find a wallet order paid even if
// its notification is lost. Only the first is stored now; each query that
// finds the order still pending schedules the next (pollNext), so a
// payment paid at once leaves one job row behind, not one per step.
func (s *Service) enqueuePolls(ctx context.Context, tx *sql.Tx, attemptID string, expiresAt, now time.Time) error {
	return s.enqueuePoll(ctx, tx, pollRef{ID: attemptID, Step: 0, From: now.UnixMicro(), Chained: true}, expiresAt, now)
}

// pollRef is a poll job's payload: the attempt, which step of the schedule
// (counted from From, the attempt's start, in Unix microseconds) this is,
// and whether it schedules its successor. Polls stored before chaining
// carry only the id: their successors are stored already.
type pollRef struct {
	ID      string `json:"id"`
	Step    int    `json:"step,omitempty"`
	From    int64  `json:"from,omitempty"`
	Chained bool   `json:"chained,omitempty"`
}

// enqueuePoll stores poll step r.Step if the schedule has it and it falls
// before the payment expires (expiry closes the order anyway). The unique
// key makes a step stored once even when the poll before it runs twice
// (killed after scheduling, before finishing).
func (s *Service) enqueuePoll(ctx context.Context, tx *sql.Tx, r pollRef, expiresAt, now time.Time) error {
	schedule := s.PollSchedule
	if schedule == nil {
		schedule = DefaultPollSchedule
	}
	if r.Step >= len(schedule) {
		return nil
	}
	at := time.UnixMicro(r.From).UTC().Add(schedule[r.Step])
	if !at.Before(expiresAt) {
		return nil
	}
	_, err := jobs.Enqueue(ctx, tx, jobs.New{Kind: KindPoll, Payload: r, RunAt: at, MaxAttempts: 5,
		UniqueKey: fmt.Sprintf("%s/%d", r.ID, r.Step)}, now)
	return err
}

// countSharePaid credits a paid payment to the share code its buyer came
// through, only if the code is the payment's merchant's (a payment stored
// before share codes were checked at creation may name another's).
func (s *Service) countSharePaid(ctx context.Context, tx *sql.Tx, p payment.Payment) error {
	if p.ShareCode == "" || p.Status != payment.StatusSucceeded {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE share_codes SET paid_orders = paid_orders + 1, paid_amount = paid_amount + $2 WHERE id = $1 AND merchant_id = $3`,
		p.ShareCode, p.Amount, p.MerchantID)
	return err
}
