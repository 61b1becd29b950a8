package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
)

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
	return []any{p.ID, p.MerchantID, p.MerchantOrderID, Micros(p.CreatedAt), p.Status, p.Method, p.Amount, p.Refunded, Micros(updated), string(data),
		p.Channel, p.PaidMethod, p.Buyer.ID, p.Buyer.RegionCode, p.Buyer.Platform, payer, p.ShareCode, MicrosOrZero(p.PaidAt), MicrosOrZero(p.ReleasedAt)}, nil
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
	// whole. PostgreSQL wants every parameter used, so PaymentSave passes
	// the row's values from the fifth, then the id.
	updatePaymentSQL = func() string {
		var set []string
		for i, c := range paymentColumns[paymentIdentity:] {
			set = append(set, fmt.Sprintf("%s = $%d", c, i+1))
		}
		return "UPDATE payments SET " + strings.Join(set, ", ") + fmt.Sprintf(" WHERE id = $%d", len(paymentColumns)-paymentIdentity+1)
	}()
)

// PaymentInsert stores a new payment; a second payment under one
// merchant_order_id is a unique violation (IsUniqueViolation).
func (e Executor) PaymentInsert(ctx context.Context, p payment.Payment) error {
	row, err := paymentRow(p)
	if err != nil {
		return err
	}
	_, err = e.q.ExecContext(ctx, insertPaymentSQL, row...)
	return err
}

// PaymentSave writes a stored payment whole, but for its identity.
func (e Executor) PaymentSave(ctx context.Context, p payment.Payment) error {
	row, err := paymentRow(p)
	if err != nil {
		return err
	}
	return affected(e.q.ExecContext(ctx, updatePaymentSQL, append(row[paymentIdentity:], row[0])...))
}

// PaymentGetParams names a payment: by id, among one merchant's payments
// unless MerchantID is "", locked for the transaction's change if Lock.
type PaymentGetParams struct {
	ID         string
	MerchantID string
	Lock       bool
}

// PaymentGet reads a payment.
func (e Executor) PaymentGet(ctx context.Context, p PaymentGetParams) (payment.Payment, error) {
	query := `SELECT data, refunded FROM payments WHERE id = $1 AND ($2 = '' OR merchant_id = $2)` + e.forUpdate(p.Lock)
	var data string
	var refunded int64
	if err := e.q.QueryRowContext(ctx, query, p.ID, p.MerchantID).Scan(&data, &refunded); err != nil {
		return payment.Payment{}, err
	}
	var out payment.Payment
	if err := json.Unmarshal([]byte(data), &out); err != nil {
		return out, fmt.Errorf("stored payment %s: %w", p.ID, err)
	}
	out.Refunded = refunded
	return out, nil
}

// PaymentIDByOrder finds the payment a merchant made under its own order
// number.
func (e Executor) PaymentIDByOrder(ctx context.Context, merchantID, orderID string) (string, error) {
	var id string
	err := e.q.QueryRowContext(ctx, `SELECT id FROM payments WHERE merchant_id = $1 AND merchant_order_id = $2`, merchantID, orderID).Scan(&id)
	return id, err
}

// PaymentMerchant is the merchant a payment belongs to.
func (e Executor) PaymentMerchant(ctx context.Context, id string) (string, error) {
	var merchantID string
	err := e.q.QueryRowContext(ctx, `SELECT merchant_id FROM payments WHERE id = $1`, id).Scan(&merchantID)
	return merchantID, err
}

// PaymentListParams pages a merchant's payments, newest first: those after
// the payment After ("" for the first), in Status if given, at most Limit.
type PaymentListParams struct {
	MerchantID string
	Status     string
	After      string
	Limit      int
}

// PaymentList lists a page of a merchant's payments. An After that is not
// one of the merchant's payments is a notfound error on starting_after
// (Keyset).
func (e Executor) PaymentList(ctx context.Context, p PaymentListParams) ([]payment.Payment, error) {
	query := `SELECT data, refunded FROM payments WHERE merchant_id = $1`
	args := []any{p.MerchantID}
	if p.Status != "" {
		args = append(args, p.Status)
		query += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	query, args, err := Keyset{Table: "payments", Time: "created_at", ID: "id", Desc: true, IDDesc: true, Object: "payment",
		Scope: "merchant_id = $2", ScopeArgs: []any{p.MerchantID}}.Page(ctx, e.q, p.After, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	args = append(args, p.Limit)
	query += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	return QueryAll(ctx, e.q, func(rows *sql.Rows) (payment.Payment, error) {
		var data string
		var refunded int64
		var out payment.Payment
		if err := rows.Scan(&data, &refunded); err != nil {
			return out, err
		}
		if err := json.Unmarshal([]byte(data), &out); err != nil {
			return out, fmt.Errorf("a stored payment does not decode: %w", err)
		}
		out.Refunded = refunded
		return out, nil
	}, query, args...)
}

// attemptUpdated is when a wallet order last changed, its creation if
// never since.
func attemptUpdated(a payment.Attempt) time.Time {
	if a.UpdatedAt.IsZero() {
		return a.CreatedAt
	}
	return a.UpdatedAt
}

// AttemptInsert stores a new wallet order: the object as JSON in data, and
// as columns what reports count it by (status, channel, method, times).
func (e Executor) AttemptInsert(ctx context.Context, a payment.Attempt) error {
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("wallet order %s: %w", a.ID, err)
	}
	_, err = e.q.ExecContext(ctx, `INSERT INTO payment_attempts (id, payment_id, status, created_at, data, channel, method, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.ID, a.PaymentID, a.Status, Micros(a.CreatedAt), string(data), a.Channel, a.Method, Micros(attemptUpdated(a)))
	return err
}

// AttemptSave writes a stored wallet order whole.
func (e Executor) AttemptSave(ctx context.Context, a payment.Attempt) error {
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("wallet order %s: %w", a.ID, err)
	}
	return affected(e.q.ExecContext(ctx, `UPDATE payment_attempts SET status = $2, data = $3, channel = $4, method = $5, updated_at = $6 WHERE id = $1`,
		a.ID, a.Status, string(data), a.Channel, a.Method, Micros(attemptUpdated(a))))
}

// AttemptGet reads a wallet order. Orders stored before attempts had data
// of their own carry only their id, payment and status: the caller fills
// in the rest from the payment.
func (e Executor) AttemptGet(ctx context.Context, id string, lock bool) (payment.Attempt, error) {
	var a payment.Attempt
	var data, paymentID, status string
	if err := e.q.QueryRowContext(ctx, `SELECT data, payment_id, status FROM payment_attempts WHERE id = $1`+e.forUpdate(lock), id).Scan(&data, &paymentID, &status); err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(data), &a); err != nil {
		return a, fmt.Errorf("stored wallet order %s: %w", id, err)
	}
	a.ID, a.PaymentID, a.Status = id, paymentID, status
	return a, nil
}

// AttemptList lists a payment's wallet orders, oldest first.
func (e Executor) AttemptList(ctx context.Context, paymentID string) ([]payment.Attempt, error) {
	return QueryAll(ctx, e.q, func(rows *sql.Rows) (payment.Attempt, error) {
		var a payment.Attempt
		var id, status, data string
		if err := rows.Scan(&id, &status, &data); err != nil {
			return a, err
		}
		if err := json.Unmarshal([]byte(data), &a); err != nil {
			return a, fmt.Errorf("stored wallet order %s: %w", id, err)
		}
		a.ID, a.PaymentID, a.Status = id, paymentID, status
		return a, nil
	}, `SELECT id, status, data FROM payment_attempts WHERE payment_id = $1 ORDER BY created_at, id`, paymentID)
}

// AttemptIDsPendingBesides lists a payment's pending wallet orders but one.
func (e Executor) AttemptIDsPendingBesides(ctx context.Context, paymentID, except string) ([]string, error) {
	return QueryStrings(ctx, e.q, `SELECT id FROM payment_attempts WHERE payment_id = $1 AND status = $2 AND id <> $3`, paymentID, payment.AttemptPending, except)
}

// RefundSaveParams is a refund to write, of a merchant's payment; Insert
// for a new one.
type RefundSaveParams struct {
	Refund     payment.Refund
	MerchantID string
	Insert     bool
}

// RefundSave writes a refund's row: the object as JSON in data, and as
// columns what reports filter and sum on (status, kind, amount, times).
func (e Executor) RefundSave(ctx context.Context, p RefundSaveParams) error {
	r := p.Refund
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("refund %s: %w", r.ID, err)
	}
	updated := r.UpdatedAt
	if updated.IsZero() {
		updated = r.CreatedAt
	}
	if p.Insert {
		_, err := e.q.ExecContext(ctx, `INSERT INTO refunds (id, payment_id, merchant_id, status, amount, created_at, data, kind, updated_at, succeeded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			r.ID, r.PaymentID, p.MerchantID, r.Status, r.Amount, Micros(r.CreatedAt), string(data), r.Kind, Micros(updated), MicrosOrZero(r.SucceededAt))
		return err
	}
	return affected(e.q.ExecContext(ctx, `UPDATE refunds SET status = $2, data = $3, kind = $4, updated_at = $5, succeeded_at = $6 WHERE id = $1`,
		r.ID, r.Status, string(data), r.Kind, Micros(updated), MicrosOrZero(r.SucceededAt)))
}

// RefundGetParams names a refund: by id, among one merchant's unless
// MerchantID is "", locked if Lock.
type RefundGetParams struct {
	ID         string
	MerchantID string
	Lock       bool
}

// RefundGet reads a refund and the merchant it belongs to.
func (e Executor) RefundGet(ctx context.Context, p RefundGetParams) (payment.Refund, string, error) {
	var data, mid string
	err := e.q.QueryRowContext(ctx, `SELECT data, merchant_id FROM refunds WHERE id = $1 AND ($2 = '' OR merchant_id = $2)`+e.forUpdate(p.Lock), p.ID, p.MerchantID).Scan(&data, &mid)
	if err != nil {
		return payment.Refund{}, "", err
	}
	var r payment.Refund
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, mid, fmt.Errorf("stored refund %s: %w", p.ID, err)
	}
	return r, mid, nil
}

// RefundListParams pages a merchant's payment's refunds, oldest first.
type RefundListParams struct {
	MerchantID string
	PaymentID  string
	After      string
	Limit      int
}

// RefundList lists a page of a payment's refunds.
func (e Executor) RefundList(ctx context.Context, p RefundListParams) ([]payment.Refund, error) {
	query := `SELECT data FROM refunds WHERE merchant_id = $1 AND payment_id = $2`
	args := []any{p.MerchantID, p.PaymentID}
	query, args, err := Keyset{Table: "refunds", Time: "created_at", ID: "id", Object: "refund",
		Scope: "merchant_id = $2 AND payment_id = $3", ScopeArgs: []any{p.MerchantID, p.PaymentID}}.Page(ctx, e.q, p.After, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	args = append(args, p.Limit)
	query += fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d`, len(args))
	return QueryJSON[payment.Refund](ctx, e.q, query, args...)
}

// RefundsOf lists every refund of a payment, duplicate-charge returns
// included, in no order.
func (e Executor) RefundsOf(ctx context.Context, paymentID string) ([]payment.Refund, error) {
	return QueryJSON[payment.Refund](ctx, e.q, `SELECT data FROM refunds WHERE payment_id = $1`, paymentID)
}
