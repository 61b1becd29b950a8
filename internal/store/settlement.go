package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
)

// SettlementInsertParams is one merchant's settlement batch of one day.
type SettlementInsertParams struct {
	ID         string
	MerchantID string
	Day        string // Beijing date, 2006-01-02
	Amount     int64
	CreatedAt  time.Time
}

// SettlementInsert stores a settlement batch unless the merchant has one of
// that day already; it reports whether it stored it. The unique key of
// (merchant, day) is what makes a settlement run once per merchant and day.
func (e Executor) SettlementInsert(ctx context.Context, p SettlementInsertParams) (bool, error) {
	res, err := e.q.ExecContext(ctx, `INSERT INTO settlement_batches (id, merchant_id, day, amount, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		p.ID, p.MerchantID, p.Day, p.Amount, Micros(p.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("settlement of %s on %s: %w", p.MerchantID, p.Day, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("settlement of %s on %s: %w", p.MerchantID, p.Day, err)
	}
	return n > 0, nil
}

// MerchantSubChannels lists the channels on which a merchant is a
// sub-merchant (or an authorizing merchant) of the platform's account, in
// order.
func (e Executor) MerchantSubChannels(ctx context.Context, merchantID string) ([]string, error) {
	out, err := QueryStrings(ctx, e.q, `SELECT channel FROM merchant_wallets WHERE merchant_id = $1 AND sub_merchant <> '' ORDER BY channel`, merchantID)
	if err != nil {
		return nil, fmt.Errorf("merchant %s's sub-merchant wallets: %w", merchantID, err)
	}
	return out, nil
}

// MerchantAuthorization is a merchant's own reference at a wallet: its
// sub_mchid, or its app_auth_token.
type MerchantAuthorization struct {
	MerchantID  string
	SubMerchant string
}

// MerchantAuthorizations lists the merchants with a reference of their own
// on a channel, by merchant id.
func (e Executor) MerchantAuthorizations(ctx context.Context, channel string) ([]MerchantAuthorization, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (m MerchantAuthorization, err error) {
		return m, rows.Scan(&m.MerchantID, &m.SubMerchant)
	}, `SELECT merchant_id, sub_merchant FROM merchant_wallets WHERE channel = $1 AND sub_merchant <> '' ORDER BY merchant_id`, channel)
	if err != nil {
		return nil, fmt.Errorf("merchants authorized on %s: %w", channel, err)
	}
	return out, nil
}

// ProfitShareCandidate is a succeeded payment of a sub-merchant, with the
// sub-merchant's reference on the payment's channel.
type ProfitShareCandidate struct {
	Payment     payment.Payment
	SubMerchant string
}

// PaymentProfitShareCandidates lists the succeeded payments of the
// merchants that are sub-merchants on channel, by payment id, each with
// that sub-merchant reference. Which of them are released and unshared
// is read from the payments themselves.
func (e Executor) PaymentProfitShareCandidates(ctx context.Context, channel string) ([]ProfitShareCandidate, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (c ProfitShareCandidate, err error) {
		var data string
		var refunded int64
		if err := rows.Scan(&data, &refunded, &c.SubMerchant); err != nil {
			return c, err
		}
		c.Payment, err = decodePayment(data, refunded)
		return c, err
	}, `SELECT p.data, p.refunded, w.sub_merchant FROM payments p
		JOIN merchant_wallets w ON w.merchant_id = p.merchant_id AND w.channel = $1
		WHERE p.status = 'succeeded' AND w.sub_merchant <> '' ORDER BY p.id`, channel)
	if err != nil {
		return nil, fmt.Errorf("payments to share on %s: %w", channel, err)
	}
	return out, nil
}

// PaymentsSucceeded lists a merchant's succeeded payments, by id.
func (e Executor) PaymentsSucceeded(ctx context.Context, merchantID string) ([]payment.Payment, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (p payment.Payment, err error) {
		var data string
		var refunded int64
		if err := rows.Scan(&data, &refunded); err != nil {
			return p, err
		}
		return decodePayment(data, refunded)
	}, `SELECT data, refunded FROM payments WHERE merchant_id = $1 AND status = 'succeeded' ORDER BY id`, merchantID)
	if err != nil {
		return nil, fmt.Errorf("merchant %s's succeeded payments: %w", merchantID, err)
	}
	return out, nil
}

// decodePayment is a payments row's payment: its JSON, with the refunded
// amount its column keeps (the column is what refunds reserve against).
func decodePayment(data string, refunded int64) (payment.Payment, error) {
	var p payment.Payment
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		return p, fmt.Errorf("a stored payment does not decode: %w", err)
	}
	p.Refunded = refunded
	return p, nil
}

// decodeRefund is a refunds row's refund.
func decodeRefund(data string) (payment.Refund, error) {
	var r payment.Refund
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, fmt.Errorf("a stored refund does not decode: %w", err)
	}
	return r, nil
}

// RefundFirstParams names a payment and a refund status.
type RefundFirstParams struct {
	PaymentID string
	Status    string
}

// RefundFirst is the id of a payment's oldest merchant refund (not a
// duplicate charge's) in a status; ErrNoRows if it has none.
func (e Executor) RefundFirst(ctx context.Context, p RefundFirstParams) (string, error) {
	refunds, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (payment.Refund, error) {
		var data string
		if err := rows.Scan(&data); err != nil {
			return payment.Refund{}, err
		}
		return decodeRefund(data)
	}, `SELECT data FROM refunds WHERE payment_id = $1 AND status = $2 AND kind <> $3 ORDER BY created_at, id`, p.PaymentID, p.Status, payment.RefundDuplicateCharge)
	if err != nil {
		return "", fmt.Errorf("payment %s's %s refunds: %w", p.PaymentID, p.Status, err)
	}
	for _, r := range refunds {
		if r.Kind != payment.RefundDuplicateCharge {
			return r.ID, nil
		}
	}
	return "", ErrNoRows
}
