package gateway

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Where a refused wallet message came from.
const (
	sourceNotification = "notification"
	sourceQuery        = "query"         // an order query's answer
	sourceRefundAnswer = "refund_answer" // the answer to a refund request
)

// Mismatch is a wallet message refused because something it named was not
// what hutong sent: kept so that a merchant (and an operator) sees that a
// payment had a message that was signed by the wallet and still not ours.
type Mismatch struct {
	Channel   string    `json:"channel"`
	MessageID string    `json:"message_id"` // a notification's id, or "query:<order>", "refund:<refund id>"
	Source    string    `json:"source"`     // notification, query, refund_answer
	PaymentID string    `json:"payment_id"`
	Field     string    `json:"field"` // app, merchant, sub_merchant, order_number, amount, currency, refund_number, refund_amount, order_amount, channel
	Expected  string    `json:"expected"`
	Got       string    `json:"got"`
	Times     int64     `json:"times"` // arrivals of the same message (the wallet retries)
	FirstAt   time.Time `json:"first_at"`
	LastAt    time.Time `json:"last_at"`
}

// noteMismatch records a wallet message refused with a
// payment.MismatchError (err of any other kind is not this function's),
// in its own transaction: the refusal rolled back everything else.
func (s *Service) noteMismatch(ctx context.Context, ch, source, messageID string, err error) {
	var me *payment.MismatchError
	if !errors.As(err, &me) {
		return
	}
	metrics.CountMismatch(ch, source, me.Field)
	s.log().Warn("wallet message refused: it names what hutong did not send", "channel", ch, "source", source, "message", messageID,
		"payment", me.Payment, "field", me.Field, "expected", me.Want, "got", me.Got)
	ctx = context.WithoutCancel(ctx)
	at := store.Micros(s.now())
	rerr := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var merchantID string
		if err := tx.QueryRowContext(ctx, `SELECT merchant_id FROM payments WHERE id = $1`, me.Payment).Scan(&merchantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO wallet_mismatches (channel, message_id, source, merchant_id, payment_id, field, expected, got, times, first_at, last_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)
			ON CONFLICT (channel, message_id) DO UPDATE SET field = excluded.field, expected = excluded.expected, got = excluded.got,
				times = wallet_mismatches.times + 1, last_at = excluded.last_at`,
			ch, messageID, source, merchantID, me.Payment, me.Field, me.Want, me.Got, at)
		return err
	})
	if rerr != nil {
		s.log().Error("could not record a refused wallet message", "channel", ch, "message", messageID, "error", rerr.Error())
	}
}

// Mismatches lists the refused wallet messages that named a merchant's
// payment, oldest first.
func (s *Service) Mismatches(ctx context.Context, merchantID, paymentID string) ([]Mismatch, error) {
	if _, err := s.GetPayment(ctx, merchantID, paymentID); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT channel, message_id, source, payment_id, field, expected, got, times, first_at, last_at
		FROM wallet_mismatches WHERE merchant_id = $1 AND payment_id = $2 ORDER BY first_at, message_id`, merchantID, paymentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Mismatch{}
	for rows.Next() {
		var m Mismatch
		var first, last int64
		if err := rows.Scan(&m.Channel, &m.MessageID, &m.Source, &m.PaymentID, &m.Field, &m.Expected, &m.Got, &m.Times, &first, &last); err != nil {
			return nil, err
		}
		m.FirstAt, m.LastAt = store.Time(first), store.Time(last)
		out = append(out, m)
	}
	return out, rows.Err()
}
