package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// KindSettleDaily settles every merchant once a day (a job that schedules
// its next run).
const KindSettleDaily = "settlement.daily"

// Batch is one merchant's settlement of one day: its payable paid out.
type Batch struct {
	ID         string    `json:"id"`
	MerchantID string    `json:"merchant_id"`
	Day        string    `json:"day"` // Beijing date, 2006-01-02
	Amount     int64     `json:"amount"`
	Created    time.Time `json:"created"`
}

// Settle pays out every merchant's positive payable balance as the batch
// of day (a Beijing date). A merchant already settled that day is skipped,
// so running it again is harmless.
func (s *Service) Settle(ctx context.Context, day string) ([]Batch, error) {
	if _, err := time.Parse("2006-01-02", day); err != nil {
		return nil, &payment.FieldError{Param: "day", Message: "must be a date like 2024-09-05"}
	}
	ids, err := store.QueryStrings(ctx, s.DB, `SELECT id FROM merchants ORDER BY id`)
	if err != nil {
		return nil, err
	}
	out := []Batch{}
	if s.ProfitSharing {
		shared, err := s.shareProfits(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, shared...)
	}
	for _, m := range ids {
		var b Batch
		err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
			var raw int64
			err := tx.QueryRowContext(ctx, `SELECT balance FROM ledger_balances WHERE account = $1`+s.forUpdate(), ledger.Payable(m)).Scan(&raw)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			amount := raw * ledger.Normal(ledger.Payable(m))
			if s.ProfitSharing {
				// Released WeChat Pay payments still to be shared leave
				// through the wallet, not through this batch.
				pending, err := s.pendingShares(ctx, tx, m)
				if err != nil {
					return err
				}
				amount -= pending
			}
			if amount <= 0 {
				return nil
			}
			now := s.now()
			b = Batch{ID: payment.NewID("stl"), MerchantID: m, Day: day, Amount: amount, Created: now}
			res, err := tx.ExecContext(ctx, `INSERT INTO settlement_batches (id, merchant_id, day, amount, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
				b.ID, m, day, amount, store.Micros(now))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				b = Batch{}
				return nil // settled that day already
			}
			if err := s.post(ctx, tx, ledger.PaidOut(m, amount, b.ID, now)); err != nil {
				return err
			}
			return s.events().Publish(ctx, tx, m, "settlement.paid", b.ID, b)
		})
		if err != nil {
			return out, err
		}
		if b.ID != "" {
			out = append(out, b)
		}
	}
	return out, nil
}

// SettleDaily settles yesterday (Beijing time) and schedules tomorrow's
// run at 02:00 Beijing time.
func (s *Service) SettleDaily(ctx context.Context, j jobs.Job) error {
	now := s.now()
	day := chinatime.Date(now.Add(-24 * time.Hour))
	if _, err := s.Settle(ctx, day); err != nil {
		return err
	}
	return s.scheduleDaily(ctx, KindSettleDaily, 2, 0)
}

// Statement is a merchant's payable over a period: the opening balance,
// every movement, and the closing balance, which always equals the opening
// plus the movements.
//
// From and To are the Beijing dates of the period, both included, as a
// merchant asks for them; PeriodStart and PeriodEnd are its bounds
// [start, end) in Beijing time (+08:00), the calendar days' own offset.
// A movement's At is an instant, in UTC like every other time of the API.
type Statement struct {
	MerchantID  string     `json:"merchant_id"`
	From        string     `json:"from"`
	To          string     `json:"to"`
	PeriodStart time.Time  `json:"period_start"`
	PeriodEnd   time.Time  `json:"period_end"`
	Opening     int64      `json:"opening_balance"`
	Movements   []Movement `json:"movements"`
	Credits     int64      `json:"credits"`
	Debits      int64      `json:"debits"`
	Closing     int64      `json:"closing_balance"`
}

// Movement is one entry's effect on the payable.
type Movement struct {
	EntryID   string    `json:"entry_id"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	PaymentID string    `json:"payment_id,omitempty"`
	RefundID  string    `json:"refund_id,omitempty"`
	Memo      string    `json:"memo,omitempty"`
	Amount    int64     `json:"amount"` // + owed more to the merchant, − less
	Balance   int64     `json:"balance"`
}

// MerchantStatement builds a merchant's statement of [from, to).
func (s *Service) MerchantStatement(ctx context.Context, merchantID string, from, to time.Time) (Statement, error) {
	st := Statement{MerchantID: merchantID, From: chinatime.Date(from), To: chinatime.Date(to.Add(-time.Nanosecond)),
		PeriodStart: from.In(chinatime.Location), PeriodEnd: to.In(chinatime.Location), Movements: []Movement{}}
	acct := ledger.Payable(merchantID)
	normal := ledger.Normal(acct)
	if err := s.DB.QueryRowContext(ctx, `SELECT COALESCE(SUM(l.amount), 0) FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
		WHERE l.account = $1 AND e.at < $2`, acct, store.Micros(from)).Scan(&st.Opening); err != nil {
		return st, err
	}
	st.Opening *= normal
	rows, err := s.DB.QueryContext(ctx, `SELECT e.id, e.at, e.kind, e.payment_id, e.refund_id, e.memo, l.amount FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
		WHERE l.account = $1 AND e.at >= $2 AND e.at < $3 ORDER BY e.at, e.id, l.line`, acct, store.Micros(from), store.Micros(to))
	if err != nil {
		return st, err
	}
	defer rows.Close()
	bal := st.Opening
	for rows.Next() {
		var m Movement
		var at int64
		if err := rows.Scan(&m.EntryID, &at, &m.Kind, &m.PaymentID, &m.RefundID, &m.Memo, &m.Amount); err != nil {
			return st, err
		}
		m.At = store.Time(at)
		m.Amount *= normal
		bal += m.Amount
		m.Balance = bal
		if m.Amount > 0 {
			st.Credits += m.Amount
		} else {
			st.Debits -= m.Amount
		}
		st.Movements = append(st.Movements, m)
	}
	st.Closing = bal
	return st, rows.Err()
}

// shareProfits settles each released payment of a service-provider
// merchant on a wallet that shares profits (WeChat Pay): the platform's
// commission to its own account, the rest unfrozen to the sub-merchant.
// The wallet call comes first and is idempotent by its out_order_no, so a
// crash before the books are written repeats it harmlessly; each share is
// one batch.
func (s *Service) shareProfits(ctx context.Context) ([]Batch, error) {
	var out []Batch
	for _, ch := range slices.Sorted(maps.Keys(s.Accounts)) {
		ps, ok := s.Accounts[ch].Connector.(channel.ProfitSharer)
		if !ok {
			continue
		}
		batches, err := s.shareProfitsOn(ctx, ch, ps)
		out = append(out, batches...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// shareProfitsOn settles the released payments on ch.
func (s *Service) shareProfitsOn(ctx context.Context, ch string, ps channel.ProfitSharer) ([]Batch, error) {
	type cand struct{ id, sub string }
	cands, err := store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (c cand, err error) { return c, rows.Scan(&c.id, &c.sub) }, `SELECT p.id, w.sub_merchant FROM payments p
		JOIN merchant_wallets w ON w.merchant_id = p.merchant_id AND w.channel = $1
		WHERE p.status = 'succeeded' AND w.sub_merchant <> '' ORDER BY p.id`, ch)
	if err != nil {
		return nil, err
	}
	var out []Batch
	for _, c := range cands {
		p, err := s.loadPayment(ctx, s.DB, c.id, "", false)
		if err != nil {
			return out, err
		}
		if p.Channel != ch || p.ReleasedAt.IsZero() || p.ProfitShareOrder != "" || p.WalletTradeNo == "" {
			continue
		}
		res, err := atWallet(ctx, p.Channel, "share_profit", func() (channel.ProfitShareResult, error) {
			return ps.ShareProfit(ctx, channel.ProfitShare{SubMerchant: c.sub, TransactionID: p.WalletTradeNo, OutOrderNo: "ps_" + strings.TrimPrefix(p.ID, "pay_"),
				PlatformAmount: p.Commission, Description: "平台佣金 commission"})
		})
		if err != nil {
			return out, fmt.Errorf("%w: profit sharing of %s: %w", ErrWalletRefused, p.ID, err)
		}
		var b Batch
		err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
			cur, err := s.loadPayment(ctx, tx, p.ID, "", true)
			if err != nil || cur.ProfitShareOrder != "" {
				return err
			}
			cur.ProfitShareOrder = res.OrderID
			if err := s.savePayment(ctx, tx, cur); err != nil {
				return err
			}
			// What the merchant was owed for this payment left through the
			// wallet: the released amount less commission and fee.
			amount := (cur.Amount - cur.Refunded) - cur.Commission - (cur.Fee - cur.FeeReturned)
			now := s.now()
			b = Batch{ID: payment.NewID("stl"), MerchantID: cur.MerchantID, Day: chinatime.Date(now), Amount: amount, Created: now}
			if amount <= 0 {
				return nil
			}
			e := ledger.PaidOut(cur.MerchantID, amount, "profit sharing "+res.OrderID+" of "+cur.ID, now)
			e.PaymentID = cur.ID
			if err := s.post(ctx, tx, e); err != nil {
				return err
			}
			return s.events().Publish(ctx, tx, cur.MerchantID, "settlement.paid", b.ID, b)
		})
		if err != nil {
			return out, err
		}
		if b.ID != "" && b.Amount > 0 {
			out = append(out, b)
		}
	}
	return out, nil
}

// pendingShares is what a merchant's payable holds for released payments
// that a wallet's profit sharing will settle and has not yet: those on the
// profit-sharing wallets where the merchant is a sub-merchant.
func (s *Service) pendingShares(ctx context.Context, tx *sql.Tx, merchantID string) (int64, error) {
	subs, err := store.QueryAll(ctx, tx, func(rows *sql.Rows) (ch string, err error) { return ch, rows.Scan(&ch) },
		`SELECT channel FROM merchant_wallets WHERE merchant_id = $1 AND sub_merchant <> ''`, merchantID)
	if err != nil {
		return 0, err
	}
	shared := map[string]bool{}
	for _, ch := range subs {
		if _, ok := s.Accounts[ch].Connector.(channel.ProfitSharer); ok {
			shared[ch] = true
		}
	}
	if len(shared) == 0 {
		return 0, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT data, refunded FROM payments WHERE merchant_id = $1 AND status = 'succeeded'`, merchantID)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var sum int64
	for rows.Next() {
		var data string
		var refunded int64
		if err := rows.Scan(&data, &refunded); err != nil {
			return 0, err
		}
		var p payment.Payment
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			return 0, err
		}
		if shared[p.Channel] && !p.ReleasedAt.IsZero() && p.ProfitShareOrder == "" {
			sum += (p.Amount - refunded) - p.Commission - (p.Fee - p.FeeReturned)
		}
	}
	return sum, rows.Err()
}
