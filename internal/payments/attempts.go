package payments

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/mismatches"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/walletcall"
)

// KindAttemptClose closes a wallet order that lost: another attempt paid
// the payment first.
const KindAttemptClose = "attempt.close"

// Attempts lists a payment's wallet orders, oldest first.
func (s *Service) Attempts(ctx context.Context, paymentID string) ([]payment.Attempt, error) {
	p, err := loadPayment(ctx, s.DB.Pool(), paymentID, "", false)
	if err != nil {
		return nil, err
	}
	list, err := s.DB.Pool().AttemptList(ctx, paymentID)
	for i := range list {
		list[i] = fillAttempt(list[i], p)
	}
	return list, err
}

// AttemptRequest asks for a new wallet order on a payment whose buyer (or
// someone paying for them) chose a method on the hosted cashier.
type AttemptRequest struct {
	Method string
	Payer  payment.Payer
	// WalletPayer is the payer's id at the wallet, which in-wallet methods
	// need (wechatpay.jsapi: openid; alipay.jsapi: user id).
	WalletPayer string
	// ReturnURL is where the wallet sends the browser back (H5, wap, page).
	ReturnURL string
	ClientIP  string
	Session   string
}

// StartAttempt opens a wallet order for a payment. It is refused once the
// payment is paid, closed or expired, so a second payer is turned away
// before any wallet charges them.
func (s *Service) StartAttempt(ctx context.Context, paymentID string, req AttemptRequest) (payment.Attempt, error) {
	p, err := loadPayment(ctx, s.DB.Pool(), paymentID, "", false)
	if err != nil {
		return payment.Attempt{}, err
	}
	if err := payment.CanAttempt(p, s.now()); err != nil {
		return payment.Attempt{}, payment.AttemptRefusal(err)
	}
	ch, ok := channel.MethodWallet(req.Method)
	if !ok {
		return payment.Attempt{}, &payment.FieldError{Param: "method", Message: fmt.Sprintf("%q is not a wallet method", req.Method)}
	}
	acct, ok := s.Accounts[ch]
	if !ok {
		return payment.Attempt{}, ErrMethodNotOpen
	}
	if ok, err := s.Contracts.Payable(ctx, p.MerchantID, ch); err != nil {
		return payment.Attempt{}, err
	} else if !ok {
		return payment.Attempt{}, ErrNoContract
	}
	m, err := merchants.Get(ctx, s.DB.Pool(), p.MerchantID)
	if err != nil {
		return payment.Attempt{}, err
	}
	now := s.now()
	a := payment.Attempt{ID: payment.NewID("pa"), PaymentID: p.ID, Method: req.Method, Channel: ch, Status: payment.AttemptPending,
		Payer: req.Payer, Session: req.Session, CreatedAt: now, UpdatedAt: now}
	a.Payer.Wallet = req.WalletPayer
	ip := req.ClientIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	action, err := walletcall.Do(ctx, ch, "prepay", func() (channel.Action, error) {
		return acct.Connector.Prepay(ctx, channel.Prepay{
			OutTradeNo: a.ID, Method: a.Method, Amount: p.Amount, Description: p.Description,
			NotifyURL: acct.NotifyURL(s.BaseURL, ch), ReturnURL: req.ReturnURL, ExpiresAt: p.ExpiresAt,
			Payer: req.WalletPayer, ClientIP: ip, SubMerchant: subMerchant(m, ch),
		})
	})
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrWalletRefused, err)
	}
	a.NextAction = &action
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := loadPayment(ctx, s.DB.In(tx), p.ID, "", true)
		if err != nil {
			return err
		}
		if err := payment.CanAttempt(cur, now); err != nil {
			return payment.AttemptRefusal(err)
		}
		a.PollAt = s.pollAt(a, 0, p.ExpiresAt)
		return s.DB.In(tx).AttemptInsert(ctx, a)
	})
	if err != nil {
		// Paid meanwhile: the order just opened must not take money.
		if errors.Is(err, ErrPaidByOther) {
			if cerr := walletcall.DoErr(ctx, ch, "close", func() error { return acct.Connector.Close(context.WithoutCancel(ctx), a.ID, subMerchant(m, ch)) }); cerr != nil {
				// The attempt was never stored: now only its expiry at
				// the wallet ends the order.
				s.log().Warn("closing a wallet order its payment no longer needs", "attempt", a.ID, "channel", ch, "err", cerr)
			}
		}
		return payment.Attempt{}, err
	}
	return a, nil
}

// CloseAttempt closes a wallet order that lost to another (a job). A wallet
// that says the order is paid makes it a duplicate, refunded.
func (s *Service) CloseAttempt(ctx context.Context, j jobs.Job) error {
	var r ref
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	a, err := loadAttempt(ctx, s.DB.Pool(), r.ID, false)
	if err != nil || a.Status != payment.AttemptPending {
		return nil
	}
	p, err := loadPayment(ctx, s.DB.Pool(), a.PaymentID, "", false)
	if err != nil {
		return err
	}
	_, err = s.closeAttempt(ctx, p, fillAttempt(a, p))
	return err
}

// closeAttempt closes one wallet order. It reports paid when the wallet
// refused because the order is paid, after applying that fact.
func (s *Service) closeAttempt(ctx context.Context, p payment.Payment, a payment.Attempt) (paid bool, err error) {
	m, err := merchants.Get(ctx, s.DB.Pool(), p.MerchantID)
	if err != nil {
		return false, err
	}
	acct, ok := s.Accounts[a.Channel]
	if !ok {
		return false, ErrMethodNotOpen
	}
	conn, sub := acct.Connector, subMerchant(m, a.Channel)
	err = walletcall.DoErr(ctx, a.Channel, "close", func() error { return conn.Close(ctx, a.ID, sub) })
	if err != nil && !errors.Is(err, channel.ErrNotFound) {
		// The wallet refuses to close a paid order: learn that it is paid.
		t, qerr := walletcall.Do(ctx, a.Channel, "query", func() (channel.Trade, error) { return conn.Query(ctx, a.ID, sub) })
		if qerr == nil && (t.State == channel.TradePaid || t.State == channel.TradeRefunded) {
			err := s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.applyTrade(ctx, tx, a.Channel, t) })
			s.Refused.Note(ctx, a.Channel, mismatches.SourceQuery, "query:"+a.ID, err)
			return err == nil, err
		}
		return false, fmt.Errorf("%w: %w", ErrWalletRefused, err)
	}
	return false, s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := loadPayment(ctx, s.DB.In(tx), p.ID, "", true); err != nil {
			return err
		}
		cur, err := loadAttempt(ctx, s.DB.In(tx), a.ID, false)
		if err != nil || cur.Status != payment.AttemptPending {
			return err
		}
		cur = fillAttempt(cur, p)
		cur.Status = payment.AttemptClosed
		cur.NextAction = nil
		cur.UpdatedAt = s.now()
		return s.saveAttempt(ctx, tx, cur)
	})
}

// isNotFound tells a row that is not there (a job about an object since
// removed: nothing to do) from a failure to read it (retry).
func isNotFound(err error) bool {
	var nf *notfound.Error
	return errors.As(err, &nf)
}
