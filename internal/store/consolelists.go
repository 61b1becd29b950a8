package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/payment"
)

// MerchantListParams pages merchants by id, those a filter selects: an
// empty field selects any, RegionCode is a prefix (a province, a city).
// After is the last id of the previous page ("" for the first).
type MerchantListParams struct {
	Category   string
	RegionCode string
	Size       string
	After      string
	Limit      int
}

// MerchantContract is one of a merchant's contracts as a list shows it.
type MerchantContract struct {
	ID    string
	State string
}

// MerchantRow is a merchant with its profile and its contract on each
// channel it has one for.
type MerchantRow struct {
	Merchant  merchant.Merchant
	Contracts map[string]MerchantContract // by channel
	CreatedAt time.Time
}

// MerchantList lists the merchants p selects, by id, each with its
// contracts' states; none is an empty slice.
func (e Executor) MerchantList(ctx context.Context, p MerchantListParams) ([]MerchantRow, error) {
	// The page is chosen among merchants first, then joined to their
	// contracts, so that a merchant's contracts never split across pages.
	rows, err := e.q.QueryContext(ctx, `SELECT m.id, m.name, m.category, m.region_code, m.size, m.created_at, c.id, c.channel, c.state
		FROM merchants m LEFT JOIN contracts c ON c.merchant_id = m.id
		WHERE m.id IN (SELECT id FROM merchants WHERE ($1 = '' OR category = $1) AND ($2 = '' OR region_code LIKE $2 || '%') AND ($3 = '' OR size = $3)
			AND id > $4 ORDER BY id LIMIT $5)
		ORDER BY m.id, c.channel`, p.Category, p.RegionCode, p.Size, p.After, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing merchants: %w", err)
	}
	defer rows.Close()
	out := []MerchantRow{}
	for rows.Next() {
		var m merchant.Merchant
		var created int64
		var cid, ch, state sql.NullString
		if err := rows.Scan(&m.ID, &m.Name, &m.Category, &m.RegionCode, &m.Size, &created, &cid, &ch, &state); err != nil {
			return nil, fmt.Errorf("listing merchants: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Merchant.ID != m.ID {
			out = append(out, MerchantRow{Merchant: m, Contracts: map[string]MerchantContract{}, CreatedAt: Time(created)})
		}
		if cid.Valid {
			out[len(out)-1].Contracts[ch.String] = MerchantContract{ID: cid.String, State: state.String}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing merchants: %w", err)
	}
	return out, nil
}

// PaymentsInEscrowParams pages the payments held in escrow (paid, not yet
// released), of one merchant unless MerchantID is "", the earliest paid
// first, at most Limit.
type PaymentsInEscrowParams struct {
	MerchantID string
	Limit      int
}

// PaymentsInEscrow lists the payments held in escrow, the earliest paid
// (so the first due for release) first; none is an empty slice.
func (e Executor) PaymentsInEscrow(ctx context.Context, p PaymentsInEscrowParams) ([]payment.Payment, error) {
	out, err := QueryAll(ctx, e.q, scanPayment, `SELECT `+paymentSelect+` FROM payments p
		WHERE p.status = $1 AND p.released_at = 0 AND ($2 = '' OR p.merchant_id = $2) ORDER BY p.paid_at, p.id LIMIT $3`,
		payment.StatusSucceeded, p.MerchantID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("payments in escrow: %w", err)
	}
	if out == nil {
		out = []payment.Payment{}
	}
	return out, nil
}

// SettlementListParams pages settlement batches, newest first: of one
// merchant unless MerchantID is "", at most Limit.
type SettlementListParams struct {
	MerchantID string
	Limit      int
}

// SettlementBatch is a stored settlement batch.
type SettlementBatch struct {
	ID         string
	MerchantID string
	Day        string
	Amount     int64
	CreatedAt  time.Time
}

// SettlementList lists settlement batches, the latest day first; none is
// an empty slice.
func (e Executor) SettlementList(ctx context.Context, p SettlementListParams) ([]SettlementBatch, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (b SettlementBatch, err error) {
		var created int64
		err = rows.Scan(&b.ID, &b.MerchantID, &b.Day, &b.Amount, &created)
		b.CreatedAt = Time(created)
		return b, err
	}, `SELECT id, merchant_id, day, amount, created_at FROM settlement_batches WHERE ($1 = '' OR merchant_id = $1)
		ORDER BY day DESC, created_at DESC, id LIMIT $2`, p.MerchantID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("settlement batches: %w", err)
	}
	if out == nil {
		out = []SettlementBatch{}
	}
	return out, nil
}
