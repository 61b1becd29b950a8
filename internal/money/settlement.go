package money

import (
	"context"
	"database/sql"
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
	"github.com/hutong-pay/hutong/internal/walletcall"
)

// EventSettlementPaid is published for each batch paid out.
const EventSettlementPaid = "settlement.paid"

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
	ids, err := s.DB.Pool().MerchantIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("settle %s: %w", day, err)
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
			in := s.DB.In(tx)
			raw, err := in.LedgerBalanceGet(ctx, store.LedgerBalanceGetParams{Account: ledger.Payable(m), Lock: true})
			if errors.Is(err, store.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			amount := raw * ledger.Normal(ledger.Payable(m))
			if s.ProfitSharing {
				// Released payments still to be shared leave through the
				// wallet, not through this batch.
				pending, err := pendingShares(ctx, in, s.Wallets, m)
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
			stored, err := in.SettlementInsert(ctx, store.SettlementInsertParams{ID: b.ID, MerchantID: m, Day: day, Amount: amount, CreatedAt: now})
			if err != nil {
				return err
			}
			if !stored {
				b = Batch{}
				return nil // settled that day already
			}
			if err := s.Post(ctx, tx, ledger.PaidOut(m, amount, b.ID, now)); err != nil {
				return err
			}
			return s.Events.Publish(ctx, tx, m, EventSettlementPaid, b.ID, b)
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
	day := chinatime.Date(s.now().Add(-24 * time.Hour))
	if _, err := s.Settle(ctx, day); err != nil {
		return err
	}
	return queue(s.DB, s.Now).ScheduleDaily(ctx, KindSettleDaily, 2, 0)
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
	pool := s.DB.Pool()
	opening, err := pool.LedgerAccountSum(ctx, store.LedgerAccountSumParams{Account: acct, Before: from})
	if err != nil {
		return st, err
	}
	st.Opening = opening * normal
	lines, err := pool.LedgerAccountLines(ctx, store.LedgerAccountLinesParams{Account: acct, From: from, To: to})
	if err != nil {
		return st, err
	}
	bal := st.Opening
	for _, l := range lines {
		m := Movement{EntryID: l.EntryID, At: l.At, Kind: l.Kind, PaymentID: l.PaymentID, RefundID: l.RefundID, Memo: l.Memo, Amount: l.Amount * normal}
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
	return st, nil
}

// shareProfits settles each released payment of a service-provider
// merchant on a wallet that shares profits (WeChat Pay): the platform's
// commission to its own account, the rest unfrozen to the sub-merchant.
// The wallet call comes first and is idempotent by its out_order_no, so a
// crash before the books are written repeats it harmlessly; each share is
// one batch.
func (s *Service) shareProfits(ctx context.Context) ([]Batch, error) {
	var out []Batch
	for _, ch := range slices.Sorted(maps.Keys(s.Wallets)) {
		ps, ok := s.Wallets[ch].(channel.ProfitSharer)
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
	cands, err := s.DB.Pool().PaymentProfitShareCandidates(ctx, ch)
	if err != nil {
		return nil, err
	}
	var out []Batch
	for _, c := range cands {
		p := c.Payment
		if p.Channel != ch || p.ReleasedAt.IsZero() || p.ProfitShareOrder != "" || p.WalletTradeNo == "" {
			continue
		}
		res, err := walletcall.Do(ctx, p.Channel, "share_profit", func() (channel.ProfitShareResult, error) {
			return ps.ShareProfit(ctx, channel.ProfitShare{SubMerchant: c.SubMerchant, TransactionID: p.WalletTradeNo, OutOrderNo: "ps_" + strings.TrimPrefix(p.ID, "pay_"),
				PlatformAmount: p.Commission, Description: "平台佣金 commission"})
		})
		if err != nil {
			return out, fmt.Errorf("%w: profit sharing of %s: %w", ErrWalletRefused, p.ID, err)
		}
		var b Batch
		err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
			cur, err := s.Payments.LockPayment(ctx, tx, p.ID, "")
			if err != nil || cur.ProfitShareOrder != "" {
				return err
			}
			cur.ProfitShareOrder = res.OrderID
			if err := s.Payments.SavePayment(ctx, tx, cur); err != nil {
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
			if err := s.Post(ctx, tx, e); err != nil {
				return err
			}
			return s.Events.Publish(ctx, tx, cur.MerchantID, EventSettlementPaid, b.ID, b)
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
func pendingShares(ctx context.Context, in store.Executor, wallets map[string]Wallet, merchantID string) (int64, error) {
	subs, err := in.MerchantSubChannels(ctx, merchantID)
	if err != nil {
		return 0, err
	}
	shared := map[string]bool{}
	for _, ch := range subs {
		if _, ok := wallets[ch].(channel.ProfitSharer); ok {
			shared[ch] = true
		}
	}
	if len(shared) == 0 {
		return 0, nil
	}
	ps, err := in.PaymentsSucceeded(ctx, merchantID)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, p := range ps {
		if shared[p.Channel] && !p.ReleasedAt.IsZero() && p.ProfitShareOrder == "" {
			sum += (p.Amount - p.Refunded) - p.Commission - (p.Fee - p.FeeReturned)
		}
	}
	return sum, nil
}
