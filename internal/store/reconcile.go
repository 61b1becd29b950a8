package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
)

// ReconRunInsertParams is a reconciliation run: its facts as columns, and
// the whole run as JSON (Data) as the API shows it.
type ReconRunInsertParams struct {
	ID        string
	Channel   string
	Day       string
	Status    string
	CreatedAt time.Time
	Data      json.RawMessage
}

// ReconRunInsert stores a reconciliation run.
func (e Executor) ReconRunInsert(ctx context.Context, p ReconRunInsertParams) error {
	if _, err := e.q.ExecContext(ctx, `INSERT INTO recon_runs (id, channel, day, status, created_at, data) VALUES ($1, $2, $3, $4, $5, $6)`,
		p.ID, p.Channel, p.Day, p.Status, Micros(p.CreatedAt), string(p.Data)); err != nil {
		return fmt.Errorf("reconciliation run %s: %w", p.ID, err)
	}
	return nil
}

// ReconItemInsertParams is one discrepancy of a run, numbered in the run
// (Seq), with the object it concerns and its JSON.
type ReconItemInsertParams struct {
	RunID    string
	Seq      int
	Kind     string
	ObjectID string
	Data     json.RawMessage
}

// ReconItemInsert stores a discrepancy of a run.
func (e Executor) ReconItemInsert(ctx context.Context, p ReconItemInsertParams) error {
	if _, err := e.q.ExecContext(ctx, `INSERT INTO recon_items (run_id, seq, kind, object_id, data) VALUES ($1, $2, $3, $4, $5)`,
		p.RunID, p.Seq, p.Kind, p.ObjectID, string(p.Data)); err != nil {
		return fmt.Errorf("reconciliation run %s, item %d: %w", p.RunID, p.Seq, err)
	}
	return nil
}

// ReconRunGet reads a run's JSON; ErrNoRows if there is none.
func (e Executor) ReconRunGet(ctx context.Context, id string) (json.RawMessage, error) {
	var data string
	if err := e.q.QueryRowContext(ctx, `SELECT data FROM recon_runs WHERE id = $1`, id).Scan(&data); err != nil {
		return nil, fmt.Errorf("reconciliation run %s: %w", id, err)
	}
	return json.RawMessage(data), nil
}

// ReconRunsParams pages runs, newest first: those after the run After (""
// for the newest), at most Limit.
type ReconRunsParams struct {
	After string
	Limit int
}

// ReconRuns lists runs' JSON, newest first. An After that names no run is a
// *notfound.Error.
func (e Executor) ReconRuns(ctx context.Context, p ReconRunsParams) ([]json.RawMessage, error) {
	query, args, err := Keyset{Table: "recon_runs", Time: "created_at", ID: "id", Desc: true, IDDesc: true, Object: "reconciliation"}.
		Page(ctx, e.q, p.After, `SELECT data FROM recon_runs`, " WHERE ", nil)
	if err != nil {
		return nil, err
	}
	args = append(args, p.Limit)
	query += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	out, err := queryRaw(ctx, e.q, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reconciliation runs: %w", err)
	}
	return out, nil
}

// ReconItems lists a run's discrepancies' JSON, in the run's order.
func (e Executor) ReconItems(ctx context.Context, runID string) ([]json.RawMessage, error) {
	out, err := queryRaw(ctx, e.q, `SELECT data FROM recon_items WHERE run_id = $1 ORDER BY seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("reconciliation run %s's items: %w", runID, err)
	}
	return out, nil
}

// queryRaw runs a query of one JSON column; no row is an empty slice.
func queryRaw(ctx context.Context, q Querier, query string, args ...any) ([]json.RawMessage, error) {
	out, err := QueryAll(ctx, q, func(rows *sql.Rows) (json.RawMessage, error) {
		var data string
		err := rows.Scan(&data)
		return json.RawMessage(data), err
	}, query, args...)
	if out == nil && err == nil {
		out = []json.RawMessage{}
	}
	return out, err
}

// BookOrdersParams selects the paid wallet orders of a channel opened in
// [OpenedFrom, To).
type BookOrdersParams struct {
	Channel        string
	OpenedFrom, To time.Time
}

// BookOrder is a wallet order that was paid (the payment's, or a
// duplicate), with its payment. The attempt is as its row keeps it: one
// made before attempts had their own data names only its id and status.
type BookOrder struct {
	Payment payment.Payment
	Attempt payment.Attempt
}

// BookOrders lists the succeeded and duplicate wallet orders of a channel
// opened in a window, with their payments: hutong's side of a bill's
// payments. Which of them were paid on a day is the caller's to read from
// the payment and the order.
func (e Executor) BookOrders(ctx context.Context, p BookOrdersParams) ([]BookOrder, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (o BookOrder, err error) {
		var ps paymentScan
		var as attemptScan
		if err := rows.Scan(append(ps.dest(), as.dest()...)...); err != nil {
			return o, err
		}
		if o.Payment, err = ps.payment(); err != nil {
			return o, err
		}
		o.Attempt, err = as.attempt()
		return o, err
	}, `SELECT `+paymentSelect+`, `+attemptSelect+` FROM payment_attempts a JOIN payments p ON p.id = a.payment_id
		WHERE a.status IN ('succeeded', 'duplicate') AND a.created_at >= $1 AND a.created_at < $2 AND a.channel = $3`,
		Micros(p.OpenedFrom), Micros(p.To), p.Channel)
	if err != nil {
		return nil, fmt.Errorf("paid wallet orders of %s: %w", p.Channel, err)
	}
	return out, nil
}

// BookRefundsParams selects succeeded refunds asked in [AskedFrom, To)
// and completed in [SettledFrom, To).
type BookRefundsParams struct {
	AskedFrom, SettledFrom, To time.Time
}

// BookRefund is a succeeded refund with its payment.
type BookRefund struct {
	Refund  payment.Refund
	Payment payment.Payment
}

// BookRefunds lists succeeded refunds asked in a window and completed in
// another, with their payments: hutong's side of a bill's refunds. Refunds
// completed before hutong recorded when (succeeded_at 0) are listed
// whatever their completion.
func (e Executor) BookRefunds(ctx context.Context, p BookRefundsParams) ([]BookRefund, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (b BookRefund, err error) {
		var rs refundScan
		var ps paymentScan
		if err := rows.Scan(append(rs.dest(), ps.dest()...)...); err != nil {
			return b, err
		}
		if b.Refund, err = rs.refund(); err != nil {
			return b, err
		}
		b.Payment, err = ps.payment()
		return b, err
	}, `SELECT `+refundSelect+`, `+paymentSelect+` FROM refunds r JOIN payments p ON p.id = r.payment_id
		WHERE r.status = 'succeeded' AND r.created_at >= $1 AND r.created_at < $2 AND (r.succeeded_at = 0 OR (r.succeeded_at >= $3 AND r.succeeded_at < $2))`,
		Micros(p.AskedFrom), Micros(p.To), Micros(p.SettledFrom))
	if err != nil {
		return nil, fmt.Errorf("succeeded refunds: %w", err)
	}
	return out, nil
}

// OverdueParams selects objects older than an instant, with whether an
// event of a type was raised about each.
type OverdueParams struct {
	Before time.Time
	Event  string
}

// PendingRefund is a refund still pending, with its payment, and whether
// the event was raised about it.
type PendingRefund struct {
	Refund  payment.Refund
	Payment payment.Payment
	Alerted bool
}

// RefundsPending lists the refunds pending since before p.Before.
func (e Executor) RefundsPending(ctx context.Context, p OverdueParams) ([]PendingRefund, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (x PendingRefund, err error) {
		var rs refundScan
		var ps paymentScan
		if err := rows.Scan(append(append(rs.dest(), ps.dest()...), &x.Alerted)...); err != nil {
			return x, err
		}
		if x.Refund, err = rs.refund(); err != nil {
			return x, err
		}
		x.Payment, err = ps.payment()
		return x, err
	}, `SELECT `+refundSelect+`, `+paymentSelect+`, EXISTS (SELECT 1 FROM events e WHERE e.object_id = r.id AND e.type = $2)
		FROM refunds r JOIN payments p ON p.id = r.payment_id
		WHERE r.status = 'pending' AND r.created_at < $1`, Micros(p.Before), p.Event)
	if err != nil {
		return nil, fmt.Errorf("pending refunds: %w", err)
	}
	return out, nil
}

// OpenPayment is a payment still awaiting its buyer, and whether the
// event was raised about it.
type OpenPayment struct {
	Payment payment.Payment
	Alerted bool
}

// PaymentsOpen lists the payments created before p.Before that still await
// their buyer.
func (e Executor) PaymentsOpen(ctx context.Context, p OverdueParams) ([]OpenPayment, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (x OpenPayment, err error) {
		var ps paymentScan
		if err := rows.Scan(append(ps.dest(), &x.Alerted)...); err != nil {
			return x, err
		}
		x.Payment, err = ps.payment()
		return x, err
	}, `SELECT `+paymentSelect+`, EXISTS (SELECT 1 FROM events e WHERE e.object_id = p.id AND e.type = $2)
		FROM payments p WHERE p.status = $3 AND p.created_at < $1`, Micros(p.Before), p.Event, payment.StatusRequiresAction)
	if err != nil {
		return nil, fmt.Errorf("open payments: %w", err)
	}
	return out, nil
}
