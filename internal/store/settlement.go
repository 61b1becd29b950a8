package store

import (
	"context"
	"database/sql"
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
		var s paymentScan
		if err := rows.Scan(append(s.dest(), &c.SubMerchant)...); err != nil {
			return c, err
		}
		c.Payment, err = s.payment()
		return c, err
	}, `SELECT `+paymentSelect+`, w.sub_merchant FROM payments p
		JOIN merchant_wallets w ON w.merchant_id = p.merchant_id AND w.channel = $1
		WHERE p.status = 'succeeded' AND w.sub_merchant <> '' ORDER BY p.id`, channel)
	if err != nil {
		return nil, fmt.Errorf("payments to share on %s: %w", channel, err)
	}
	return out, nil
}

// PaymentsSucceeded lists a merchant's succeeded payments, by id.
func (e Executor) PaymentsSucceeded(ctx context.Context, merchantID string) ([]payment.Payment, error) {
	out, err := QueryAll(ctx, e.q, scanPayment, `SELECT `+paymentSelect+` FROM payments p WHERE p.merchant_id = $1 AND p.status = 'succeeded' ORDER BY p.id`, merchantID)
	if err != nil {
		return nil, fmt.Errorf("merchant %s's succeeded payments: %w", merchantID, err)
	}
	return out, nil
}

// RefundFirstParams names a payment and a refund status.
type RefundFirstParams struct {
	PaymentID string
	Status    string
}

// RefundFirst is the id of a payment's oldest merchant refund (not a
// duplicate charge's) in a status; ErrNoRows if it has none.
func (e Executor) RefundFirst(ctx context.Context, p RefundFirstParams) (string, error) {
	var id string
	err := e.q.QueryRowContext(ctx, `SELECT id FROM refunds WHERE payment_id = $1 AND status = $2 AND kind <> $3 ORDER BY created_at, id LIMIT 1`,
		p.PaymentID, p.Status, payment.RefundDuplicateCharge).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("payment %s's first %s refund: %w", p.PaymentID, p.Status, err)
	}
	return id, nil
}
