package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
)

// PayForMeInsert stores a new pay-for-me request (without its share code,
// which share_codes keeps).
func (e Executor) PayForMeInsert(ctx context.Context, r payment.PayForMe) error {
	r.ShareCode = nil
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("pay-for-me %s: %w", r.ID, err)
	}
	_, err = e.q.ExecContext(ctx, `INSERT INTO pay_for_me (id, payment_id, merchant_id, status, expires_at, created_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.PaymentID, r.MerchantID, r.Status, Micros(r.ExpiresAt), Micros(r.Created), string(data))
	return err
}

// PayForMeGet reads a pay-for-me request, among one merchant's unless
// merchantID is "", with its status as stored (open, paid, revoked,
// closed: whether an open one has expired is the caller's question).
func (e Executor) PayForMeGet(ctx context.Context, merchantID, id string) (payment.PayForMe, error) {
	var data, status, mid string
	var r payment.PayForMe
	if err := e.q.QueryRowContext(ctx, `SELECT data, status, merchant_id FROM pay_for_me WHERE id = $1 AND ($2 = '' OR merchant_id = $2)`, id, merchantID).
		Scan(&data, &status, &mid); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, fmt.Errorf("stored pay-for-me %s: %w", id, err)
	}
	r.Status, r.MerchantID = status, mid
	return r, nil
}

// PayForMeRevoke closes a merchant's open pay-for-me request.
func (e Executor) PayForMeRevoke(ctx context.Context, merchantID, id string) error {
	_, err := e.q.ExecContext(ctx, `UPDATE pay_for_me SET status = 'revoked' WHERE id = $1 AND merchant_id = $2 AND status = 'open'`, id, merchantID)
	return err
}

// PayForMePaid ends a paid payment's open pay-for-me requests: the one
// that paid (paidBy, "" if none did) is paid, any other closed.
func (e Executor) PayForMePaid(ctx context.Context, paymentID, paidBy string) error {
	_, err := e.q.ExecContext(ctx, `UPDATE pay_for_me SET status = CASE WHEN id = $2 THEN 'paid' ELSE 'closed' END WHERE payment_id = $1 AND status = 'open'`,
		paymentID, paidBy)
	return err
}

// GatewayKeyEnsure stores value under name unless a value is there, and
// returns the one stored: of several gateway processes making a key at
// once, every one keeps the first.
func (e Executor) GatewayKeyEnsure(ctx context.Context, name, value string, at time.Time) (string, error) {
	if _, err := e.q.ExecContext(ctx, `INSERT INTO gateway_keys (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, name, value, Micros(at)); err != nil {
		return "", err
	}
	var v string
	err := e.q.QueryRowContext(ctx, `SELECT value FROM gateway_keys WHERE name = $1`, name).Scan(&v)
	return v, err
}

// MismatchNoteParams is a refused wallet message to record.
type MismatchNoteParams struct {
	Mismatch   payment.Mismatch // Times, FirstAt are the store's
	MerchantID string
	At         time.Time
}

// MismatchNote records a refused wallet message, or counts one more
// arrival of it (the wallet retries).
func (e Executor) MismatchNote(ctx context.Context, p MismatchNoteParams) error {
	m := p.Mismatch
	_, err := e.q.ExecContext(ctx, `INSERT INTO wallet_mismatches (channel, message_id, source, merchant_id, payment_id, field, expected, got, times, first_at, last_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)
		ON CONFLICT (channel, message_id) DO UPDATE SET field = excluded.field, expected = excluded.expected, got = excluded.got,
			times = wallet_mismatches.times + 1, last_at = excluded.last_at`,
		m.Channel, m.MessageID, m.Source, p.MerchantID, m.PaymentID, m.Field, m.Expected, m.Got, Micros(p.At))
	return err
}

// Mismatches lists the refused wallet messages that named a merchant's
// payment, oldest first.
func (e Executor) Mismatches(ctx context.Context, merchantID, paymentID string) ([]payment.Mismatch, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (payment.Mismatch, error) {
		var m payment.Mismatch
		var first, last int64
		err := rows.Scan(&m.Channel, &m.MessageID, &m.Source, &m.PaymentID, &m.Field, &m.Expected, &m.Got, &m.Times, &first, &last)
		m.FirstAt, m.LastAt = Time(first), Time(last)
		return m, err
	}, `SELECT channel, message_id, source, payment_id, field, expected, got, times, first_at, last_at
		FROM wallet_mismatches WHERE merchant_id = $1 AND payment_id = $2 ORDER BY first_at, message_id`, merchantID, paymentID)
	if out == nil && err == nil {
		out = []payment.Mismatch{}
	}
	return out, err
}

// PayForMeExpire ends a canceled or expired payment's open pay-for-me
// requests.
func (e Executor) PayForMeExpire(ctx context.Context, paymentID string) error {
	_, err := e.q.ExecContext(ctx, `UPDATE pay_for_me SET status = 'expired' WHERE payment_id = $1 AND status = 'open'`, paymentID)
	return err
}

// WalletEventParams is a wallet's notification, by its own id.
type WalletEventParams struct {
	Channel, EventID, ObjectID string
	ReceivedAt                 time.Time
}

// WalletEventFirst records a wallet notification's id, reporting false when
// it was recorded before: the wallet's retry, or a duplicate, already
// applied.
func (e Executor) WalletEventFirst(ctx context.Context, p WalletEventParams) (bool, error) {
	var id string
	err := e.q.QueryRowContext(ctx, `INSERT INTO wallet_events (channel, event_id, object_id, received_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING RETURNING event_id`, p.Channel, p.EventID, p.ObjectID, Micros(p.ReceivedAt)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
