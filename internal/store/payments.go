package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/payment"
)

// A payment, a wallet order (attempt) or a refund is stored as columns and
// data. The columns hold everything a query filters, joins, groups or sums
// on, so that reports are plain SQL over indexes; data holds, as JSON,
// only what is carried along and never queried. The columns are the
// truth: a reader builds the object from them, then adds what data
// carries. Rows written before data lost its copies of the columns
// (migration 13) read the same way, their copies ignored.
//
// Every time comes back to the microsecond in UTC, as the columns keep
// it, and a time that has not happened (zero) stays zero.

// paymentColumns are a payments row's columns, in the order paymentRow
// gives their values and paymentScan reads them.
var paymentColumns = []string{"id", "merchant_id", "merchant_order_id", "created_at", "status", "method", "amount", "refunded", "updated_at", "data",
	"channel", "paid_method", "buyer_id", "region_code", "platform", "payer_wallet", "share_code", "paid_at", "released_at", "rollout_cohort", "rollout_tier", "expires_at", "wallet_trade_no"}

// paymentIdentity is how many of paymentColumns, first, never change.
const paymentIdentity = 4

// paymentSelect lists paymentColumns for a query that names payments p.
var paymentSelect = "p." + strings.Join(paymentColumns, ", p.")

// paymentData is what a payments row's data carries: the fields of
// payment.Payment no column holds, under the same keys, so that the data
// of a row written before it (the whole payment) decodes into it too.
type paymentData struct {
	Currency    string    `json:"currency"`
	Description string    `json:"description"`
	Buyer       buyerData `json:"buyer,omitzero"`
	ReturnURL   string    `json:"return_url,omitempty"`
	// ExpiresAt is read from rows written before expires_at was a column
	// (migration 15 moves it); it is never written.
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	NextAction  *channel.Action   `json:"next_action,omitempty"`
	Items       []payment.Item    `json:"items,omitempty"`
	CheckoutURL string            `json:"checkout_url,omitempty"`
	// WalletTradeNo, like ExpiresAt, is read from rows written before it
	// was a column (migration 17) and never written.
	WalletTradeNo    string     `json:"wallet_trade_no,omitempty"`
	PaidAttempt      string     `json:"paid_attempt,omitempty"`
	Payer            *payerData `json:"payer,omitempty"`
	Fee              int64      `json:"fee,omitempty"`
	FeeReturned      int64      `json:"fee_returned,omitempty"`
	Commission       int64      `json:"commission,omitempty"`
	AutoConfirmAt    time.Time  `json:"auto_confirm_at,omitzero"`
	ProfitShareOrder string     `json:"profit_share_order,omitempty"`
	LatePaid         bool       `json:"late_paid,omitempty"`
}

// buyerData is what data carries of the buyer: the id, region and
// platform are columns.
type buyerData struct {
	Name string `json:"name,omitempty"`
}

// payerData is what data carries of who paid: the payer's wallet id is a
// column. Its presence says there is a payer, even one with no wallet id.
type payerData struct {
	IsBuyer  bool   `json:"is_buyer"`
	PayForMe string `json:"pay_for_me,omitempty"`
}

// paymentRow is p as its row stores it, in paymentColumns' order.
func paymentRow(p payment.Payment) ([]any, error) {
	d := paymentData{
		Currency: p.Currency, Description: p.Description, Buyer: buyerData{Name: p.Buyer.Name}, ReturnURL: p.ReturnURL,
		Metadata: p.Metadata, NextAction: p.NextAction, Items: p.Items, CheckoutURL: p.CheckoutURL,
		PaidAttempt: p.PaidAttempt, Fee: p.Fee, FeeReturned: p.FeeReturned, Commission: p.Commission,
		AutoConfirmAt: storedTime(p.AutoConfirmAt), ProfitShareOrder: p.ProfitShareOrder, LatePaid: p.LatePaid,
	}
	var payerWallet string
	if p.Payer != nil {
		d.Payer = &payerData{IsBuyer: p.Payer.IsBuyer, PayForMe: p.Payer.PayForMe}
		payerWallet = p.Payer.Wallet
	}
	data, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("payment %s: %w", p.ID, err)
	}
	// A payment never changed since its creation was last changed then.
	updated := p.UpdatedAt
	if updated.IsZero() {
		updated = p.CreatedAt
	}
	return []any{p.ID, p.MerchantID, p.MerchantOrderID, Micros(p.CreatedAt), p.Status, p.Method, p.Amount, p.Refunded, Micros(updated), string(data),
		p.Channel, p.PaidMethod, p.Buyer.ID, p.Buyer.RegionCode, p.Buyer.Platform, payerWallet, p.ShareCode, MicrosOrZero(p.PaidAt), MicrosOrZero(p.ReleasedAt),
		p.Rollout.Cohort, p.Rollout.Tier, MicrosOrZero(p.ExpiresAt), p.WalletTradeNo}, nil
}

// paymentScan reads a payments row selected as paymentSelect: Scan into
// dest(), then payment() builds the payment.
type paymentScan struct {
	p                                    payment.Payment
	data, payerWallet                    string
	created, updated, paidAt, releasedAt int64
	expiresAt                            int64
}

func (s *paymentScan) dest() []any {
	p := &s.p
	return []any{&p.ID, &p.MerchantID, &p.MerchantOrderID, &s.created, &p.Status, &p.Method, &p.Amount, &p.Refunded, &s.updated, &s.data,
		&p.Channel, &p.PaidMethod, &p.Buyer.ID, &p.Buyer.RegionCode, &p.Buyer.Platform, &s.payerWallet, &p.ShareCode, &s.paidAt, &s.releasedAt,
		&p.Rollout.Cohort, &p.Rollout.Tier, &s.expiresAt, &p.WalletTradeNo}
}

// payment is the row's payment: its columns, and what its data carries.
func (s *paymentScan) payment() (payment.Payment, error) {
	p := s.p
	var d paymentData
	if err := json.Unmarshal([]byte(s.data), &d); err != nil {
		return p, fmt.Errorf("stored payment %s does not decode: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt, p.PaidAt, p.ReleasedAt = Time(s.created), Time(s.updated), timeOrZero(s.paidAt), timeOrZero(s.releasedAt)
	p.Currency, p.Description, p.Buyer.Name, p.ReturnURL = d.Currency, d.Description, d.Buyer.Name, d.ReturnURL
	p.ExpiresAt, p.Metadata, p.NextAction, p.Items, p.CheckoutURL = timeOrZero(s.expiresAt), d.Metadata, d.NextAction, d.Items, d.CheckoutURL
	if s.expiresAt == 0 {
		p.ExpiresAt = storedTime(d.ExpiresAt)
	}
	p.PaidAttempt, p.Fee, p.FeeReturned, p.Commission = d.PaidAttempt, d.Fee, d.FeeReturned, d.Commission
	if p.WalletTradeNo == "" {
		p.WalletTradeNo = d.WalletTradeNo
	}
	p.AutoConfirmAt, p.ProfitShareOrder, p.LatePaid = storedTime(d.AutoConfirmAt), d.ProfitShareOrder, d.LatePaid
	if d.Payer != nil || s.payerWallet != "" {
		p.Payer = &payment.Payer{Wallet: s.payerWallet}
		if d.Payer != nil {
			p.Payer.IsBuyer, p.Payer.PayForMe = d.Payer.IsBuyer, d.Payer.PayForMe
		}
	}
	return p, nil
}

// scanPayment reads one payments row of a query selecting paymentSelect.
func scanPayment(rows *sql.Rows) (payment.Payment, error) {
	var s paymentScan
	if err := rows.Scan(s.dest()...); err != nil {
		return payment.Payment{}, err
	}
	return s.payment()
}

// storedTime is t as the store keeps it: to the microsecond, in UTC; the
// zero time stays zero.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return Time(t.UnixMicro())
}

// timeOrZero reads a time stored by MicrosOrZero.
func timeOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return Time(us)
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
	query := `SELECT ` + paymentSelect + ` FROM payments p WHERE p.id = $1 AND ($2 = '' OR p.merchant_id = $2)` + e.forUpdate(p.Lock)
	var s paymentScan
	if err := e.q.QueryRowContext(ctx, query, p.ID, p.MerchantID).Scan(s.dest()...); err != nil {
		return payment.Payment{}, err
	}
	return s.payment()
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
	query := `SELECT ` + paymentSelect + ` FROM payments p WHERE p.merchant_id = $1`
	args := []any{p.MerchantID}
	if p.Status != "" {
		args = append(args, p.Status)
		query += fmt.Sprintf(` AND p.status = $%d`, len(args))
	}
	query, args, err := Keyset{Table: "payments", Time: "created_at", ID: "id", Desc: true, IDDesc: true, Object: "payment",
		Scope: "merchant_id = $2", ScopeArgs: []any{p.MerchantID}}.Page(ctx, e.q, p.After, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	args = append(args, p.Limit)
	query += fmt.Sprintf(` ORDER BY p.created_at DESC, p.id DESC LIMIT $%d`, len(args))
	return QueryAll(ctx, e.q, scanPayment, query, args...)
}

// attemptData is what a payment_attempts row's data carries: the fields
// of payment.Attempt no column holds. Payer is nil only in the data of an
// order stored before orders carried their own ('{}'): such an order is
// the payment's own, made by its buyer.
type attemptData struct {
	Payer         *payment.Payer  `json:"payer,omitempty"`
	NextAction    *channel.Action `json:"next_action,omitempty"`
	WalletTradeNo string          `json:"wallet_trade_no,omitempty"` // read from rows before migration 17
	Session       string          `json:"session,omitempty"`
}

// attemptSelect lists a payment_attempts row's columns for a query that
// names the table a, in the order attemptScan reads them.
const attemptSelect = `a.id, a.payment_id, a.status, a.channel, a.method, a.created_at, a.updated_at, a.data, a.poll_at, a.poll_step, a.wallet_trade_no`

// attemptScan reads a payment_attempts row selected as attemptSelect.
type attemptScan struct {
	a                        payment.Attempt
	data                     string
	created, updated, pollAt int64
}

func (s *attemptScan) dest() []any {
	return []any{&s.a.ID, &s.a.PaymentID, &s.a.Status, &s.a.Channel, &s.a.Method, &s.created, &s.updated, &s.data, &s.pollAt, &s.a.PollStep, &s.a.WalletTradeNo}
}

// attempt is the row's wallet order: its columns, and what its data
// carries.
func (s *attemptScan) attempt() (payment.Attempt, error) {
	a := s.a
	var d attemptData
	if err := json.Unmarshal([]byte(s.data), &d); err != nil {
		return a, fmt.Errorf("stored wallet order %s does not decode: %w", a.ID, err)
	}
	a.CreatedAt, a.UpdatedAt, a.PollAt = Time(s.created), Time(s.updated), timeOrZero(s.pollAt)
	a.NextAction, a.Session = d.NextAction, d.Session
	if a.WalletTradeNo == "" {
		a.WalletTradeNo = d.WalletTradeNo
	}
	a.Payer = payment.Payer{IsBuyer: true}
	if d.Payer != nil {
		a.Payer = *d.Payer
	}
	return a, nil
}

func scanAttempt(rows *sql.Rows) (payment.Attempt, error) {
	var s attemptScan
	if err := rows.Scan(s.dest()...); err != nil {
		return payment.Attempt{}, err
	}
	return s.attempt()
}

// attemptRow is a's data and its last change, as its row stores them. A
// wallet order never changed since its creation was last changed then.
func attemptRow(a payment.Attempt) (data string, updated int64, err error) {
	b, err := json.Marshal(attemptData{Payer: &a.Payer, NextAction: a.NextAction, Session: a.Session})
	if err != nil {
		return "", 0, fmt.Errorf("wallet order %s: %w", a.ID, err)
	}
	if a.UpdatedAt.IsZero() {
		return string(b), Micros(a.CreatedAt), nil
	}
	return string(b), Micros(a.UpdatedAt), nil
}

// AttemptInsert stores a new wallet order.
func (e Executor) AttemptInsert(ctx context.Context, a payment.Attempt) error {
	data, updated, err := attemptRow(a)
	if err != nil {
		return err
	}
	_, err = e.q.ExecContext(ctx, `INSERT INTO payment_attempts (id, payment_id, status, created_at, data, channel, method, updated_at, poll_at, poll_step, wallet_trade_no)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		a.ID, a.PaymentID, a.Status, Micros(a.CreatedAt), data, a.Channel, a.Method, updated, MicrosOrZero(a.PollAt), a.PollStep, a.WalletTradeNo)
	return err
}

// AttemptSave writes a stored wallet order whole, but for its identity
// (id, payment, creation) and its next status query, which only
// AttemptPollSet moves: a save of an order read before a poll moved it
// must not put the old time back.
func (e Executor) AttemptSave(ctx context.Context, a payment.Attempt) error {
	data, updated, err := attemptRow(a)
	if err != nil {
		return err
	}
	return affected(e.q.ExecContext(ctx, `UPDATE payment_attempts SET status = $2, data = $3, channel = $4, method = $5, updated_at = $6, wallet_trade_no = $7 WHERE id = $1`,
		a.ID, a.Status, data, a.Channel, a.Method, updated, a.WalletTradeNo))
}

// AttemptGet reads a wallet order.
func (e Executor) AttemptGet(ctx context.Context, id string, lock bool) (payment.Attempt, error) {
	var s attemptScan
	if err := e.q.QueryRowContext(ctx, `SELECT `+attemptSelect+` FROM payment_attempts a WHERE a.id = $1`+e.forUpdate(lock), id).Scan(s.dest()...); err != nil {
		return payment.Attempt{}, err
	}
	return s.attempt()
}

// AttemptList lists a payment's wallet orders, oldest first.
func (e Executor) AttemptList(ctx context.Context, paymentID string) ([]payment.Attempt, error) {
	return QueryAll(ctx, e.q, scanAttempt, `SELECT `+attemptSelect+` FROM payment_attempts a WHERE a.payment_id = $1 ORDER BY a.created_at, a.id`, paymentID)
}

// AttemptIDsPendingBesides lists a payment's pending wallet orders but one.
func (e Executor) AttemptIDsPendingBesides(ctx context.Context, paymentID, except string) ([]string, error) {
	return QueryStrings(ctx, e.q, `SELECT id FROM payment_attempts WHERE payment_id = $1 AND status = $2 AND id <> $3`, paymentID, payment.AttemptPending, except)
}

// refundData is what a refunds row's data carries: the fields of
// payment.Refund no column holds.
type refundData struct {
	Reason       string `json:"reason,omitempty"`
	Attempt      string `json:"attempt,omitempty"`
	AfterRelease bool   `json:"after_release,omitempty"`
	FeeBack      int64  `json:"fee_back,omitempty"`
	CancelReason string `json:"cancel_reason,omitempty"`
}

// refundSelect lists a refunds row's columns for a query that names the
// table r, in the order refundScan reads them.
const refundSelect = `r.id, r.payment_id, r.amount, r.kind, r.status, r.created_at, r.updated_at, r.succeeded_at, r.data`

// refundScan reads a refunds row selected as refundSelect.
type refundScan struct {
	r                           payment.Refund
	data                        string
	created, updated, succeeded int64
}

func (s *refundScan) dest() []any {
	return []any{&s.r.ID, &s.r.PaymentID, &s.r.Amount, &s.r.Kind, &s.r.Status, &s.created, &s.updated, &s.succeeded, &s.data}
}

// refund is the row's refund: its columns, and what its data carries.
func (s *refundScan) refund() (payment.Refund, error) {
	r := s.r
	var d refundData
	if err := json.Unmarshal([]byte(s.data), &d); err != nil {
		return r, fmt.Errorf("stored refund %s does not decode: %w", r.ID, err)
	}
	r.CreatedAt, r.UpdatedAt, r.SucceededAt = Time(s.created), Time(s.updated), timeOrZero(s.succeeded)
	r.Reason, r.Attempt, r.AfterRelease, r.FeeBack, r.CancelReason = d.Reason, d.Attempt, d.AfterRelease, d.FeeBack, d.CancelReason
	return r, nil
}

func scanRefund(rows *sql.Rows) (payment.Refund, error) {
	var s refundScan
	if err := rows.Scan(s.dest()...); err != nil {
		return payment.Refund{}, err
	}
	return s.refund()
}

// RefundSaveParams is a refund to write, of a merchant's payment; Insert
// for a new one.
type RefundSaveParams struct {
	Refund     payment.Refund
	MerchantID string
	Insert     bool
}

// RefundSave writes a refund's row whole, but for its identity (id,
// payment, merchant, amount, creation) once stored.
func (e Executor) RefundSave(ctx context.Context, p RefundSaveParams) error {
	r := p.Refund
	data, err := json.Marshal(refundData{Reason: r.Reason, Attempt: r.Attempt, AfterRelease: r.AfterRelease, FeeBack: r.FeeBack, CancelReason: r.CancelReason})
	if err != nil {
		return fmt.Errorf("refund %s: %w", r.ID, err)
	}
	// A refund never changed since its creation was last changed then.
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
	var s refundScan
	var mid string
	err := e.q.QueryRowContext(ctx, `SELECT `+refundSelect+`, r.merchant_id FROM refunds r WHERE r.id = $1 AND ($2 = '' OR r.merchant_id = $2)`+e.forUpdate(p.Lock),
		p.ID, p.MerchantID).Scan(append(s.dest(), &mid)...)
	if err != nil {
		return payment.Refund{}, "", err
	}
	r, err := s.refund()
	return r, mid, err
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
	query := `SELECT ` + refundSelect + ` FROM refunds r WHERE r.merchant_id = $1 AND r.payment_id = $2`
	args := []any{p.MerchantID, p.PaymentID}
	query, args, err := Keyset{Table: "refunds", Time: "created_at", ID: "id", Object: "refund",
		Scope: "merchant_id = $2 AND payment_id = $3", ScopeArgs: []any{p.MerchantID, p.PaymentID}}.Page(ctx, e.q, p.After, query, " AND ", args)
	if err != nil {
		return nil, err
	}
	args = append(args, p.Limit)
	query += fmt.Sprintf(` ORDER BY r.created_at, r.id LIMIT $%d`, len(args))
	return QueryAll(ctx, e.q, scanRefund, query, args...)
}

// RefundsOf lists every refund of a payment, duplicate-charge returns
// included, in no order.
func (e Executor) RefundsOf(ctx context.Context, paymentID string) ([]payment.Refund, error) {
	return QueryAll(ctx, e.q, scanRefund, `SELECT `+refundSelect+` FROM refunds r WHERE r.payment_id = $1`, paymentID)
}
