package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sharecode"
)

const shareColumns = `id, token, merchant_id, target, target_id, url, title, source, expires_at, max_uses, resolves, paid_orders, paid_amount, revoked_at, created_at`

func scanShareCode(row interface{ Scan(...any) error }) (sharecode.Code, error) {
	var sc sharecode.Code
	var expires, maxUses, revoked sql.NullInt64
	var created int64
	if err := row.Scan(&sc.ID, &sc.Token, &sc.MerchantID, &sc.Target, &sc.TargetID, &sc.URL, &sc.Title, &sc.Source, &expires, &maxUses,
		&sc.Resolves, &sc.PaidOrders, &sc.PaidAmount, &revoked, &created); err != nil {
		return sc, err
	}
	if expires.Valid {
		t := Time(expires.Int64)
		sc.ExpiresAt = &t
	}
	if maxUses.Valid {
		sc.MaxUses = &maxUses.Int64
	}
	sc.Revoked = revoked.Valid
	sc.Created = Time(created)
	return sc.Decorated(), nil
}

// ShareCodeInsert stores a new share code; a token already in use is a
// unique violation (IsUniqueViolation), and the caller draws another.
func (e Executor) ShareCodeInsert(ctx context.Context, sc sharecode.Code) error {
	var expires, maxUses any
	if sc.ExpiresAt != nil {
		expires = Micros(*sc.ExpiresAt)
	}
	if sc.MaxUses != nil {
		maxUses = *sc.MaxUses
	}
	_, err := e.q.ExecContext(ctx, `INSERT INTO share_codes (id, token, merchant_id, target, target_id, url, title, source, expires_at, max_uses, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		sc.ID, sc.Token, sc.MerchantID, sc.Target, sc.TargetID, sc.URL, sc.Title, sc.Source, expires, maxUses, Micros(sc.Created))
	return err
}

// ShareCodeGet reads a share code by id, among one merchant's unless
// merchantID is "".
func (e Executor) ShareCodeGet(ctx context.Context, merchantID, id string) (sharecode.Code, error) {
	return scanShareCode(e.q.QueryRowContext(ctx, `SELECT `+shareColumns+` FROM share_codes WHERE id = $1 AND ($2 = '' OR merchant_id = $2)`, id, merchantID))
}

// ShareCodeByToken reads the share code of a token, among one merchant's
// unless merchantID is "".
func (e Executor) ShareCodeByToken(ctx context.Context, merchantID, token string) (sharecode.Code, error) {
	return scanShareCode(e.q.QueryRowContext(ctx, `SELECT `+shareColumns+` FROM share_codes WHERE token = $1 AND ($2 = '' OR merchant_id = $2)`, token, merchantID))
}

// ShareCodeByTarget reads a merchant's share code for one object (a
// pay-for-me request's own code).
func (e Executor) ShareCodeByTarget(ctx context.Context, merchantID, target, targetID string) (sharecode.Code, error) {
	return scanShareCode(e.q.QueryRowContext(ctx, `SELECT `+shareColumns+` FROM share_codes WHERE target = $1 AND target_id = $2 AND merchant_id = $3`,
		target, targetID, merchantID))
}

// ShareCodeRevokeParams names the share codes to revoke: one by ID, or
// every code of a Target and TargetID, of the merchant.
type ShareCodeRevokeParams struct {
	MerchantID       string
	ID               string
	Target, TargetID string
	At               time.Time
}

// ShareCodeRevoke stops share codes from resolving; revoked ones stay as
// they were.
func (e Executor) ShareCodeRevoke(ctx context.Context, p ShareCodeRevokeParams) error {
	if p.ID != "" {
		_, err := e.q.ExecContext(ctx, `UPDATE share_codes SET revoked_at = $3 WHERE id = $1 AND merchant_id = $2 AND revoked_at IS NULL`, p.ID, p.MerchantID, Micros(p.At))
		return err
	}
	_, err := e.q.ExecContext(ctx, `UPDATE share_codes SET revoked_at = $4 WHERE target = $1 AND target_id = $2 AND merchant_id = $3 AND revoked_at IS NULL`,
		p.Target, p.TargetID, p.MerchantID, Micros(p.At))
	return err
}

// ShareCodeCountResolve counts a resolve of a share code at at, unless it
// has been resolved as often as it allows: false then. The code keeps
// the time (resolved_at), by which the analytics rollup finds the codes
// whose counts changed.
func (e Executor) ShareCodeCountResolve(ctx context.Context, id string, at time.Time) (bool, error) {
	return one(e.q.ExecContext(ctx, `UPDATE share_codes SET resolves = resolves + 1, resolved_at = $2 WHERE id = $1 AND (max_uses IS NULL OR resolves < max_uses)`, id, Micros(at)))
}

// ShareCodeCountPaid credits a paid payment to the share code its buyer
// came through, only if the code is the payment's merchant's.
func (e Executor) ShareCodeCountPaid(ctx context.Context, p payment.Payment) error {
	_, err := e.q.ExecContext(ctx, `UPDATE share_codes SET paid_orders = paid_orders + 1, paid_amount = paid_amount + $2 WHERE id = $1 AND merchant_id = $3`,
		p.ShareCode, p.Amount, p.MerchantID)
	return err
}

// ShareCodeStats counts a merchant's share codes' resolves and paid
// orders, by source, or by code when byCode.
func (e Executor) ShareCodeStats(ctx context.Context, merchantID string, byCode bool) ([]sharecode.Stat, error) {
	key := "source"
	if byCode {
		key = "id"
	}
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (st sharecode.Stat, err error) {
		return st, rows.Scan(&st.Key, &st.Codes, &st.Resolves, &st.PaidOrders, &st.PaidAmount)
	}, `SELECT `+key+`, COUNT(*), SUM(resolves), SUM(paid_orders), SUM(paid_amount) FROM share_codes WHERE merchant_id = $1 GROUP BY `+key+` ORDER BY `+key, merchantID)
	if out == nil && err == nil {
		out = []sharecode.Stat{}
	}
	return out, err
}
