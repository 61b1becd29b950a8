package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
)

// DueParams selects what is due: at or before Now, the earliest first, at
// most Limit.
type DueParams struct {
	Now   time.Time
	Limit int
}

// AttemptDue is a pending wallet order whose status query is due: which
// step of the schedule it is.
type AttemptDue struct {
	ID   string
	Step int
}

// AttemptsDue lists the pending wallet orders whose next status query is
// due (payment_attempts_poll_due: an index of the pending orders with a
// query ahead, so the scan reads only what is due).
func (e Executor) AttemptsDue(ctx context.Context, p DueParams) ([]AttemptDue, error) {
	return QueryAll(ctx, e.q, func(rows *sql.Rows) (a AttemptDue, err error) {
		return a, rows.Scan(&a.ID, &a.Step)
	}, `SELECT id, poll_step FROM payment_attempts WHERE status = $1 AND poll_at > 0 AND poll_at <= $2 ORDER BY poll_at LIMIT $3`,
		payment.AttemptPending, Micros(p.Now), p.Limit)
}

// AttemptPollSetParams schedules a wallet order's next status query: step
// Step at At, or none when At is zero.
type AttemptPollSetParams struct {
	ID   string
	At   time.Time
	Step int
}

// AttemptPollSet schedules a wallet order's next status query.
func (e Executor) AttemptPollSet(ctx context.Context, p AttemptPollSetParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE payment_attempts SET poll_at = $2, poll_step = $3 WHERE id = $1`, p.ID, MicrosOrZero(p.At), p.Step))
}

// PaymentsDue lists the unpaid payments whose expiry is due
// (payments_expiry_due).
func (e Executor) PaymentsDue(ctx context.Context, p DueParams) ([]string, error) {
	return QueryStrings(ctx, e.q, `SELECT id FROM payments WHERE status = $1 AND expires_at > 0 AND expires_at <= $2 ORDER BY expires_at LIMIT $3`,
		payment.StatusRequiresAction, Micros(p.Now), p.Limit)
}
