package money

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
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/recon"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/walletcall"
)

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
	wallet, ok := s.Wallets[ch]
	if !ok {
		return ReconRun{}, &payment.FieldError{Param: "channel", Message: fmt.Sprintf("%q is not a wallet channel of this gateway", ch)}
	}
	dl, ok := wallet.(channel.BillDownloader)
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
			return walletcall.DoErr(ctx, ch, "download_bill", func() error { return dl.DownloadBill(ctx, day, w) })
		}, progress); err != nil {
			return err
		}
		// Merchants that authorized the account (Alipay app_auth_token)
		// have their trades in bills of their own.
		if mdl, ok := wallet.(channel.MerchantBillDownloader); ok {
			subs, err := s.DB.Pool().MerchantAuthorizations(ctx, ch)
			if err != nil {
				return err
			}
			for _, m := range subs {
				if err := read("the bill of merchant "+m.MerchantID, func(w io.Writer) error {
					return walletcall.DoErr(ctx, ch, "download_merchant_bill", func() error { return mdl.DownloadMerchantBill(ctx, day, m.SubMerchant, w) })
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

// saveRun stores a run and its discrepancies, and alerts on them, in one
// transaction.
func (s *Service) saveRun(ctx context.Context, run ReconRun, items []ReconItem) error {
	data, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("reconciliation run %s: %w", run.ID, err)
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		in := s.DB.In(tx)
		if err := in.ReconRunInsert(ctx, store.ReconRunInsertParams{ID: run.ID, Channel: run.Channel, Day: run.Day, Status: run.Status, CreatedAt: run.Created, Data: data}); err != nil {
			return err
		}
		for i, it := range items {
			d, err := json.Marshal(it)
			if err != nil {
				return fmt.Errorf("reconciliation run %s, item %d: %w", run.ID, i, err)
			}
			if err := in.ReconItemInsert(ctx, store.ReconItemInsertParams{RunID: run.ID, Seq: i, Kind: string(it.Kind), ObjectID: it.Key, Data: d}); err != nil {
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
	billMerchant := billMerchants(s.DB, s.Wallets[ch], ch)
	pool := s.DB.Pool()
	var out []recon.Row
	// Only orders opened in the window that can be paid on the day: a
	// wallet order lives at most a day (payment.MaxExpiresIn), so one paid
	// on the day was opened within the day before it.
	orders, err := pool.BookOrders(ctx, store.BookOrdersParams{Channel: ch, OpenedFrom: start.Add(-payment.MaxExpiresIn - time.Hour), To: end})
	if err != nil {
		return nil, err
	}
	for _, o := range orders {
		p := o.Payment
		a := payment.FillAttempt(o.Attempt, p)
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
			Amount: p.Amount, Fee: s.FeeRate(ch).Of(p.Amount), At: at, Merchant: merchant})
	}
	// Refunds asked within RefundSettleWindow before the day's end.
	// succeeded_at is 0 for refunds completed before it was a column; their
	// time is in their JSON, read below.
	refunds, err := pool.BookRefunds(ctx, store.BookRefundsParams{AskedFrom: start.Add(-RefundSettleWindow), SettledFrom: start, To: end})
	if err != nil {
		return nil, err
	}
	for _, b := range refunds {
		r, p := b.Refund, b.Payment
		order, rch, err := s.Payments.RefundedOrder(ctx, p, r)
		if err != nil {
			return nil, err
		}
		fee := -r.FeeBack
		if r.Attempt != "" {
			fee = -s.FeeRate(ch).Of(r.Amount)
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
	return out, nil
}

// billMerchants reads the wallet merchant a bill row of a merchant's order
// must be credited to (the sub-merchant in partner mode, else the account's
// merchant or seller), once per merchant.
func billMerchants(db *store.DB, wallet Wallet, ch string) func(context.Context, string) (string, error) {
	seen := map[string]string{}
	return func(ctx context.Context, merchantID string) (string, error) {
		if id, ok := seen[merchantID]; ok {
			return id, nil
		}
		m, err := merchants.Get(ctx, db.Pool(), merchantID)
		if err != nil {
			return "", fmt.Errorf("merchant %s: %w", merchantID, err)
		}
		if wallet == nil {
			return "", fmt.Errorf("no wallet account is configured for %s", ch)
		}
		w := m.Wallets[ch]
		want := wallet.Expect(w.SubMerchant, w.Seller)
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
	raw, err := s.DB.Pool().ReconRuns(ctx, store.ReconRunsParams{After: after, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]ReconRun, len(raw))
	for i, data := range raw {
		if err := json.Unmarshal(data, &out[i]); err != nil {
			return nil, fmt.Errorf("stored reconciliation run %d: %w", i+1, err)
		}
	}
	return out, nil
}

// reconRun reads a stored reconciliation run; a missing one is a
// notfound error.
func (s *Service) reconRun(ctx context.Context, id string) (ReconRun, error) {
	data, err := s.DB.Pool().ReconRunGet(ctx, id)
	if errors.Is(err, store.ErrNoRows) {
		return ReconRun{}, notfound.ByID("reconciliation", id, "")
	}
	if err != nil {
		return ReconRun{}, err
	}
	var run ReconRun
	if err := json.Unmarshal(data, &run); err != nil {
		return run, fmt.Errorf("reconciliation run %s: %w", id, err)
	}
	return run, nil
}

// ReconRunItems reads a run and its discrepancies.
func (s *Service) ReconRunItems(ctx context.Context, id string) (ReconRun, []ReconItem, error) {
	run, err := s.reconRun(ctx, id)
	if err != nil {
		return run, nil, err
	}
	raw, err := s.DB.Pool().ReconItems(ctx, id)
	if err != nil {
		return run, nil, err
	}
	items := make([]ReconItem, len(raw))
	for i, d := range raw {
		if err := json.Unmarshal(d, &items[i]); err != nil {
			return run, nil, fmt.Errorf("reconciliation run %s, item %d: %w", id, i, err)
		}
	}
	return run, items, nil
}
