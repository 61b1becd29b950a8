package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// CreateRefund reserves a refund on a merchant's payment and queues its
// execution at the wallet, in one transaction that holds the payment's row:
// concurrent refunds never exceed what was paid.
func (s *Service) CreateRefund(ctx context.Context, merchantID, paymentID string, amount int64, reason string) (payment.Refund, error) {
	var r payment.Refund
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		p, err := s.loadPayment(ctx, tx, paymentID, merchantID, true)
		if err != nil {
			return err
		}
		next, refund, err := payment.ReserveRefund(p, amount, reason, s.now())
		if err != nil {
			return err
		}
		r = refund
		if err := s.savePayment(ctx, tx, next); err != nil {
			return err
		}
		if err := saveRefund(ctx, tx, merchantID, r, true); err != nil {
			return err
		}
		_, err = jobs.Enqueue(ctx, tx, jobs.New{Kind: KindRefundExecute, Payload: ref{r.ID}, MaxAttempts: 20}, s.now())
		return err
	})
	if err == nil {
		s.kick()
	}
	return r, err
}

func saveRefund(ctx context.Context, tx *sql.Tx, merchantID string, r payment.Refund, insert bool) error {
	data, _ := json.Marshal(r)
	if insert {
		_, err := tx.ExecContext(ctx, `INSERT INTO refunds (id, payment_id, merchant_id, status, amount, created_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			r.ID, r.PaymentID, merchantID, r.Status, r.Amount, store.Micros(r.CreatedAt), string(data))
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE refunds SET status = $2, data = $3 WHERE id = $1`, r.ID, r.Status, string(data))
	return err
}

func (s *Service) loadRefund(ctx context.Context, q queryer, id, merchantID string, lock bool) (payment.Refund, string, error) {
	query := `SELECT data, merchant_id FROM refunds WHERE id = $1`
	args := []any{id}
	if merchantID != "" {
		query += ` AND merchant_id = $2`
		args = append(args, merchantID)
	}
	if lock {
		query += s.forUpdate()
	}
	var data, mid string
	err := q.QueryRowContext(ctx, query, args...).Scan(&data, &mid)
	if errors.Is(err, sql.ErrNoRows) {
		return payment.Refund{}, "", ErrNotFound
	}
	if err != nil {
		return payment.Refund{}, "", err
	}
	var r payment.Refund
	err = json.Unmarshal([]byte(data), &r)
	return r, mid, err
}

// GetRefund reads a merchant's refund.
func (s *Service) GetRefund(ctx context.Context, merchantID, id string) (payment.Refund, error) {
	r, _, err := s.loadRefund(ctx, s.DB, id, merchantID, false)
	return r, err
}

// errRefundPending makes the job come back later: the wallet is still
// processing (WeChat Pay refunds take seconds to minutes).
var errRefundPending = errors.New("the wallet is still processing the refund")

// ExecuteRefund asks the wallet to refund (a job). The refund's id is the
// wallet's out_refund_no, so running again asks about the same refund.
func (s *Service) ExecuteRefund(ctx context.Context, j jobs.Job) error {
	var rf ref
	json.Unmarshal(j.Payload, &rf)
	r, merchantID, err := s.loadRefund(ctx, s.DB, rf.ID, "", false)
	if err != nil || r.Status != payment.RefundPending {
		return nil
	}
	p, err := s.loadPayment(ctx, s.DB, r.PaymentID, "", false)
	if err != nil {
		return err
	}
	m, err := s.GetMerchant(ctx, merchantID)
	if err != nil {
		return err
	}
	order, ch := p.WalletOrderNo(), p.Channel
	if r.Attempt != "" {
		a, err := s.loadAttempt(ctx, s.DB, r.Attempt, false)
		if err != nil {
			return err
		}
		order, ch = a.ID, fillAttempt(a, p).Channel
	}
	acct, ok := s.Accounts[ch]
	if !ok {
		return ErrMethodNotOpen
	}
	res, err := acct.Connector.Refund(ctx, channel.RefundRequest{
		OutTradeNo: order, OutRefundNo: r.ID, Amount: r.Amount, Total: p.Amount, Reason: r.Reason,
		NotifyURL: s.BaseURL + "/notify/" + ch + "/" + acct.Name, SubMerchant: s.subMerchant(m, ch),
	})
	var we *channel.WalletError
	if errors.As(err, &we) {
		res = channel.Refund{OutRefundNo: r.ID, State: channel.RefundFailed}
	} else if err != nil {
		return err
	}
	if res.State == channel.RefundPending {
		return errRefundPending
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.settleRefund(ctx, tx, res) })
}

// settleRefund applies a wallet's final word on a refund, once.
func (s *Service) settleRefund(ctx context.Context, tx *sql.Tx, res channel.Refund) error {
	if res.State == channel.RefundPending {
		return nil
	}
	// The row lock makes a second settlement of the same refund (its job
	// and its notification racing, on two gateways) wait and then see the
	// first one's result.
	r, merchantID, err := s.loadRefund(ctx, tx, res.OutRefundNo, "", true)
	if err != nil {
		return err
	}
	if r.Status != payment.RefundPending {
		return nil
	}
	p, err := s.loadPayment(ctx, tx, r.PaymentID, "", true)
	if err != nil {
		return err
	}
	np, nr, event := payment.SettleRefund(p, r, res.State == channel.RefundSucceeded, s.now())
	if err := s.savePayment(ctx, tx, np); err != nil {
		return err
	}
	if err := saveRefund(ctx, tx, merchantID, nr, false); err != nil {
		return err
	}
	return s.publish(ctx, tx, merchantID, event, nr.ID, nr)
}
