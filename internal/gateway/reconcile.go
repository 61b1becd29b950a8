package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/recon"
	"github.com/hutong-pay/hutong/internal/store"
)

// KindReconcileDaily reconciles yesterday's bills of every channel (a job
// that schedules its next run at 10:30 Beijing time, after the wallets
// publish their bills at 10:00).
const KindReconcileDaily = "reconcile.daily"

// ReconRun is one reconciliation of a channel's bill of a day.
type ReconRun struct {
	ID      string        `json:"id"`
	Channel string        `json:"channel"`
	Day     string        `json:"day"`
	Status  string        `json:"status"` // done, failed
	Error   string        `json:"error,omitempty"`
	Summary recon.Summary `json:"summary"`
	Created time.Time     `json:"created"`
}

// ReconItem is one discrepancy a run found.
type ReconItem struct {
	Kind   recon.ResultKind `json:"kind"`
	Key    string           `json:"key"`
	Bill   *recon.Row       `json:"bill,omitempty"`
	Ours   *recon.Row       `json:"ours,omitempty"`
	Detail string           `json:"detail"`
}

// Reconcile downloads a channel's bill of day (a Beijing date), reads it as
// a stream, matches it against the books, and stores the run with every
// discrepancy. progress, if not nil, is told how far it got.
func (s *Service) Reconcile(ctx context.Context, ch, day string, progress recon.Progress) (ReconRun, error) {
	start, end, err := chinatime.ParseDate(day)
	if err != nil {
		return ReconRun{}, &payment.FieldError{Param: "day", Message: "must be a date like 2024-09-05"}
	}
	acct, ok := s.Accounts[ch]
	if !ok {
		return ReconRun{}, &payment.FieldError{Param: "channel", Message: fmt.Sprintf("%q is not a wallet channel of this gateway", ch)}
	}
	dl, ok := acct.Connector.(channel.BillDownloader)
	if !ok {
		return ReconRun{}, fmt.Errorf("the %s connector cannot download bills", ch)
	}
	run := ReconRun{ID: payment.NewID("rcn"), Channel: ch, Day: day, Status: "done", Created: s.now()}
	var items []ReconItem
	var files []*os.File // the downloaded bills, read until Reconcile returns
	defer func() {
		for _, f := range files {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	err = func() error {
		var bills []recon.RowSource
		read := func(name string, download func(io.Writer) error, progress recon.Progress) error {
			f, err := os.CreateTemp("", "hutong-bill-*")
			if err != nil {
				return err
			}
			files = append(files, f)
			if err := download(f); err != nil {
				return fmt.Errorf("download %s: %w", name, err)
			}
			bill, err := openBill(dl, f, progress)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			bills = append(bills, bill)
			return nil
		}
		if err := read("bill", func(w io.Writer) error {
			return atWalletErr(ctx, ch, "download_bill", func() error { return dl.DownloadBill(ctx, day, w) })
		}, progress); err != nil {
			return err
		}
		// Merchants that authorized the account (Alipay app_auth_token)
		// have their trades in bills of their own.
		if mdl, ok := acct.Connector.(channel.MerchantBillDownloader); ok {
			subs, err := s.authorizedMerchants(ctx, ch)
			if err != nil {
				return err
			}
			for _, m := range subs {
				if err := read("the bill of merchant "+m.id, func(w io.Writer) error {
					return atWalletErr(ctx, ch, "download_merchant_bill", func() error { return mdl.DownloadMerchantBill(ctx, day, m.sub, w) })
				}, nil); err != nil {
					return err
				}
			}
		}
		ours, err := s.bookRows(ctx, ch, start, end)
		if err != nil {
			return err
		}
		run.Summary, err = recon.Reconcile(ctx, recon.Chain(bills...), recon.Rows(ours), recon.SortOptions{}, func(r recon.Result) error {
			if r.Kind == recon.Matched {
				return nil
			}
			it := ReconItem{Kind: r.Kind}
			if r.Bill.Kind != "" {
				b := r.Bill
				it.Bill, it.Key = &b, b.Key()
			}
			if r.Ours.Kind != "" {
				o := r.Ours
				it.Ours, it.Key = &o, o.Key()
			}
			it.Detail = describe(r)
			items = append(items, it)
			return nil
		})
		return err
	}()
	if err != nil {
		run.Status, run.Error = "failed", err.Error()
	}
	if serr := s.saveRun(ctx, run, items); serr != nil {
		return run, serr
	}
	return run, err
}

// openBill reads a downloaded bill file, from its start to where the
// download left it, in its wallet's format.
func openBill(dl channel.BillDownloader, f *os.File, progress recon.Progress) (recon.RowSource, error) {
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	var opts []recon.Option
	if progress != nil {
		opts = append(opts, recon.WithProgress(progress, size))
	}
	return dl.ReadBill(io.NewSectionReader(f, 0, size), opts...)
}

type authorizedMerchant struct{ id, sub string }

// authorizedMerchants are the merchants whose ch payments are made under
// their own authorization of the platform's account (Alipay's
// app_auth_token), each with that authorization.
func (s *Service) authorizedMerchants(ctx context.Context, ch string) ([]authorizedMerchant, error) {
	return store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (m authorizedMerchant, err error) {
		return m, rows.Scan(&m.id, &m.sub)
	}, `SELECT merchant_id, sub_merchant FROM merchant_wallets WHERE channel = $1 AND sub_merchant <> '' ORDER BY merchant_id`, ch)
}

func describe(r recon.Result) string {
	switch r.Kind {
	case recon.MissingOurs:
		return fmt.Sprintf("the wallet's bill has %s of %d fen; hutong's books do not", r.Bill.Key(), r.Bill.Amount)
	case recon.MissingWallet:
		return fmt.Sprintf("hutong's books have %s of %d fen; the wallet's bill does not", r.Ours.Key(), r.Ours.Amount)
	case recon.AmountDiffers:
		return fmt.Sprintf("amount: bill %d fen, books %d fen", r.Bill.Amount, r.Ours.Amount)
	case recon.StatusDiffers:
		return fmt.Sprintf("status: bill %s, books %s", r.Bill.Status, r.Ours.Status)
	case recon.FeeDiffers:
		return fmt.Sprintf("fee: bill %d fen, books %d fen", r.Bill.Fee, r.Ours.Fee)
	case recon.MerchantDiffers:
		return fmt.Sprintf("merchant: the bill credits %s, the order was made for %s", r.Bill.Merchant, r.Ours.Merchant)
	}
	return string(r.Kind)
}

func (s *Service) saveRun(ctx context.Context, run ReconRun, items []ReconItem) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		data, _ := json.Marshal(run)
		if _, err := tx.ExecContext(ctx, `INSERT INTO recon_runs (id, channel, day, status, created_at, data) VALUES ($1, $2, $3, $4, $5, $6)`,
			run.ID, run.Channel, run.Day, run.Status, store.Micros(run.Created), string(data)); err != nil {
			return err
		}
		for i, it := range items {
			d, _ := json.Marshal(it)
			if _, err := tx.ExecContext(ctx, `INSERT INTO recon_items (run_id, seq, kind, object_id, data) VALUES ($1, $2, $3, $4, $5)`,
				run.ID, i, string(it.Kind), it.Key, string(d)); err != nil {
				return err
			}
		}
		return s.alertDiscrepancies(ctx, tx, run)
	})
}

// RefundSettleWindow bounds how long before its day a refund that settled
// on that day may have been asked, so reconciliation reads recent refunds
// and not the whole table; a refund slower than this is missed.
const RefundSettleWindow = 30 * 24 * time.Hour

// bookRows is hutong's side of a channel's day: every wallet order paid in
// it (the payment's, and duplicates), and every refund completed in it.
func (s *Service) bookRows(ctx context.Context, ch string, start, end time.Time) ([]recon.Row, error) {
	billMerchant := s.billMerchants(ch)
	var out []recon.Row
	// Only orders opened in the window that can be paid on the day: a
	// wallet order lives at most a day (payment.MaxExpiresIn), so one paid
	// on the day was opened within the day before it.
	type paidOrder struct{ payment, id, status, attempt string }
	orders, err := store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (o paidOrder, err error) {
		return o, rows.Scan(&o.payment, &o.id, &o.status, &o.attempt)
	}, `SELECT p.data, a.id, a.status, a.data FROM payment_attempts a JOIN payments p ON p.id = a.payment_id
		WHERE a.status IN ('succeeded', 'duplicate') AND a.created_at >= $1 AND a.created_at < $2 AND a.channel = $3`,
		store.Micros(start.Add(-payment.MaxExpiresIn-time.Hour)), store.Micros(end), ch)
	if err != nil {
		return nil, err
	}
	for _, o := range orders {
		var p payment.Payment
		var a payment.Attempt
		if err := errors.Join(json.Unmarshal([]byte(o.payment), &p), json.Unmarshal([]byte(o.attempt), &a)); err != nil {
			return nil, fmt.Errorf("wallet order %s does not decode: %w", o.id, err)
		}
		a.ID, a.Status = o.id, o.status
		a = fillAttempt(a, p)
		at := p.PaidAt
		if a.Status == payment.AttemptDuplicate {
			at = a.UpdatedAt
		}
		if a.Channel != ch || at.Before(start) || !at.Before(end) {
			continue
		}
		tx := a.WalletTradeNo
		if tx == "" {
			tx = p.WalletTradeNo
		}
		merchant, err := billMerchant(ctx, p.MerchantID)
		if err != nil {
			return nil, err
		}
		out = append(out, recon.Row{Channel: ch, OutTradeNo: a.ID, TransactionID: tx, Kind: recon.KindPayment, Status: recon.StatusSuccess,
			Amount: p.Amount, Fee: s.feeRate(ch).Of(p.Amount), At: at, Merchant: merchant})
	}
	// Refunds asked within RefundSettleWindow before the day's end.
	// succeeded_at is 0 for refunds completed before it was a column; their
	// time is in their JSON, read below.
	rows, err := s.DB.QueryContext(ctx, `SELECT r.data, p.data FROM refunds r JOIN payments p ON p.id = r.payment_id
		WHERE r.status = 'succeeded' AND r.created_at >= $1 AND r.created_at < $2 AND (r.succeeded_at = 0 OR (r.succeeded_at >= $3 AND r.succeeded_at < $4))`,
		store.Micros(start.Add(-RefundSettleWindow)), store.Micros(end), store.Micros(start), store.Micros(end))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var rdata, pdata string
		if err := rows.Scan(&rdata, &pdata); err != nil {
			return nil, err
		}
		var r payment.Refund
		var p payment.Payment
		if err := errors.Join(json.Unmarshal([]byte(rdata), &r), json.Unmarshal([]byte(pdata), &p)); err != nil {
			return nil, fmt.Errorf("a refund row does not decode: %w", err)
		}
		order, rch, err := s.refundedOrder(ctx, s.DB, p, r)
		if err != nil {
			return nil, err
		}
		fee := -r.FeeBack
		if r.Attempt != "" {
			fee = -s.feeRate(ch).Of(r.Amount)
		}
		// Filed under when the wallet completed it, as its bill files it.
		at := r.UpdatedAt
		if !r.SucceededAt.IsZero() {
			at = r.SucceededAt
		}
		if rch != ch || at.Before(start) || !at.Before(end) {
			continue
		}
		merchant, err := billMerchant(ctx, p.MerchantID)
		if err != nil {
			return nil, err
		}
		out = append(out, recon.Row{Channel: ch, OutTradeNo: order, OutRefundNo: r.ID, Kind: recon.KindRefund, Status: recon.StatusSuccess,
			Amount: r.Amount, Fee: fee, At: at, Merchant: merchant})
	}
	return out, rows.Err()
}

// billMerchants reads the wallet merchant a bill row of a merchant's order
// must be credited to (the sub-merchant in partner mode, else the account's
// merchant or seller), once per merchant.
func (s *Service) billMerchants(ch string) func(context.Context, string) (string, error) {
	seen := map[string]string{}
	return func(ctx context.Context, merchantID string) (string, error) {
		if id, ok := seen[merchantID]; ok {
			return id, nil
		}
		m, err := merchants.Get(ctx, s.DB.Pool(), merchantID)
		if err != nil {
			return "", fmt.Errorf("merchant %s: %w", merchantID, err)
		}
		want, err := s.expect(m, ch)
		if err != nil {
			return "", err
		}
		id := want.Merchant
		if want.SubMerchant != "" {
			id = want.SubMerchant
		}
		seen[merchantID] = id
		return id, nil
	}
}

// ReconRuns pages runs, newest first: those older than the run after (""
// for the newest), at most limit.
func (s *Service) ReconRuns(ctx context.Context, after string, limit int) ([]ReconRun, error) {
	query, args, err := store.Keyset{Table: "recon_runs", Time: "created_at", ID: "id", Desc: true, IDDesc: true, Object: "reconciliation"}.
		Page(ctx, s.DB, after, `SELECT data FROM recon_runs`, " WHERE ", nil)
	if err != nil {
		return nil, err
	}
	args = append(args, limit)
	query += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	return store.QueryJSON[ReconRun](ctx, s.DB, query, args...)
}

// ReconRunItems reads a run and its discrepancies.
func (s *Service) ReconRunItems(ctx context.Context, id string) (ReconRun, []ReconItem, error) {
	var data string
	err := s.DB.QueryRowContext(ctx, `SELECT data FROM recon_runs WHERE id = $1`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return ReconRun{}, nil, notFound("reconciliation", id, "")
	}
	if err != nil {
		return ReconRun{}, nil, err
	}
	var run ReconRun
	if err := json.Unmarshal([]byte(data), &run); err != nil {
		return run, nil, fmt.Errorf("reconciliation run %s: %w", id, err)
	}
	items, err := store.QueryJSON[ReconItem](ctx, s.DB, `SELECT data FROM recon_items WHERE run_id = $1 ORDER BY seq`, id)
	return run, items, err
}
