package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/webhook"
)

// PaymentSearchParams finds payments the way support is asked about them:
// by any number a person may hold, by buyer, state, method, merchant and
// time. An empty field matches anything.
type PaymentSearchParams struct {
	// MerchantID limits the search to one merchant's payments; "" searches
	// every merchant's (operators).
	MerchantID string
	// ID is any number naming the payment: hutong's payment, wallet order
	// or refund id, the merchant's order number, or the wallet's own
	// number for the payment or one of its wallet orders.
	ID      string
	BuyerID string
	Status  string
	// Method matches the method the payment was made with or paid by.
	Method string
	// From and To bound the creation time, From included, To not.
	From, To time.Time
	// Before is the last payment of the previous page: the page holds
	// older ones (newest first).
	Before string
	Limit  int
}

// PaymentSearch lists the payments that match, newest first.
func (e Executor) PaymentSearch(ctx context.Context, p PaymentSearchParams) ([]payment.Payment, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if p.MerchantID != "" {
		where = append(where, "p.merchant_id = "+arg(p.MerchantID))
	}
	if p.ID != "" {
		id := arg(p.ID)
		where = append(where, `(p.id = `+id+` OR p.merchant_order_id = `+id+` OR p.wallet_trade_no = `+id+`
			OR p.id IN (SELECT a.payment_id FROM payment_attempts a WHERE a.id = `+id+` OR a.wallet_trade_no = `+id+`)
			OR p.id IN (SELECT r.payment_id FROM refunds r WHERE r.id = `+id+`))`)
	}
	if p.BuyerID != "" {
		where = append(where, "p.buyer_id = "+arg(p.BuyerID))
	}
	if p.Status != "" {
		where = append(where, "p.status = "+arg(p.Status))
	}
	if p.Method != "" {
		m := arg(p.Method)
		where = append(where, "(p.method = "+m+" OR p.paid_method = "+m+")")
	}
	if !p.From.IsZero() {
		where = append(where, "p.created_at >= "+arg(Micros(p.From)))
	}
	if !p.To.IsZero() {
		where = append(where, "p.created_at < "+arg(Micros(p.To)))
	}
	if p.Before != "" {
		b := arg(p.Before)
		where = append(where, `(p.created_at, p.id) < (SELECT b.created_at, b.id FROM payments b WHERE b.id = `+b+`)`)
	}
	query := `SELECT ` + paymentSelect + ` FROM payments p`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY p.created_at DESC, p.id DESC LIMIT ` + arg(p.Limit)
	out, err := QueryAll(ctx, e.q, scanPayment, query, args...)
	if err != nil {
		return nil, fmt.Errorf("searching payments: %w", err)
	}
	return out, nil
}

// WalletMessage is a wallet notification hutong accepted and applied, by
// the wallet's own event id.
type WalletMessage struct {
	Channel, EventID, ObjectID string
	ReceivedAt                 time.Time
}

// WalletMessagesOf lists the accepted wallet notifications about the
// objects (wallet orders and refunds), oldest first. Refused ones are
// Mismatches.
func (e Executor) WalletMessagesOf(ctx context.Context, objectIDs ...string) ([]WalletMessage, error) {
	if len(objectIDs) == 0 {
		return nil, nil
	}
	marks, args := inList(objectIDs)
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (m WalletMessage, err error) {
		var at int64
		err = rows.Scan(&m.Channel, &m.EventID, &m.ObjectID, &at)
		m.ReceivedAt = Time(at)
		return m, err
	}, `SELECT channel, event_id, object_id, received_at FROM wallet_events WHERE object_id IN (`+marks+`) ORDER BY received_at, event_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("wallet messages of %s: %w", strings.Join(objectIDs, ", "), err)
	}
	return out, nil
}

// EventsOf lists a merchant's events about the objects (a payment and its
// refunds), oldest first.
func (e Executor) EventsOf(ctx context.Context, merchantID string, objectIDs ...string) ([]webhook.Event, error) {
	if len(objectIDs) == 0 {
		return nil, nil
	}
	marks, args := inList(objectIDs)
	args = append(args, merchantID)
	out, err := QueryJSON[webhook.Event](ctx, e.q, `SELECT data FROM events WHERE object_id IN (`+marks+`) AND merchant_id = $`+fmt.Sprint(len(args))+`
		ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", strings.Join(objectIDs, ", "), err)
	}
	return out, nil
}

// WebhookAttemptsOf lists every delivery attempt of the events, in the
// order they were made.
func (e Executor) WebhookAttemptsOf(ctx context.Context, eventIDs ...string) ([]WebhookAttempt, error) {
	if len(eventIDs) == 0 {
		return nil, nil
	}
	marks, args := inList(eventIDs)
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (a WebhookAttempt, err error) {
		var at, ms int64
		err = rows.Scan(&a.EventID, &a.EndpointID, &a.Attempt, &at, &a.StatusCode, &a.Error, &ms)
		a.At, a.Duration = Time(at), time.Duration(ms)*time.Millisecond
		return a, err
	}, `SELECT event_id, endpoint_id, attempt, at, status_code, error, duration_ms FROM webhook_attempts WHERE event_id IN (`+marks+`)
		ORDER BY at, event_id, endpoint_id, attempt`, args...)
	if err != nil {
		return nil, fmt.Errorf("webhook attempts: %w", err)
	}
	return out, nil
}

// inList is "$1, $2, …" for values, and the values as arguments.
func inList(values []string) (string, []any) {
	marks := make([]string, len(values))
	args := make([]any, len(values))
	for i, v := range values {
		marks[i], args[i] = fmt.Sprintf("$%d", i+1), v
	}
	return strings.Join(marks, ", "), args
}
