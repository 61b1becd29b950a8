package payments

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/payment"
)

// Expire closes an unpaid payment at its wallets when it expires (a job).
func (s *Service) Expire(ctx context.Context, j jobs.Job) error {
	var r ref
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	p, err := loadPayment(ctx, s.DB.Pool(), r.ID, "", false)
	if isNotFound(err) {
		return nil
	}
	if err != nil || p.Status != payment.StatusRequiresAction {
		return err
	}
	_, err = s.cancel(ctx, p)
	if errors.Is(err, ErrAlreadyPaid) {
		return nil
	}
	return err
}

// CancelPayment closes a merchant's unpaid payment, at the wallets too.
func (s *Service) CancelPayment(ctx context.Context, merchantID, id string) (payment.Payment, error) {
	p, err := s.GetPayment(ctx, merchantID, id)
	if err != nil {
		return p, err
	}
	return s.cancel(ctx, p)
}

func (s *Service) cancel(ctx context.Context, p payment.Payment) (payment.Payment, error) {
	if p.Status == payment.StatusCanceled {
		return p, nil
	}
	if p.Status == payment.StatusSucceeded {
		return p, ErrAlreadyPaid
	}
	attempts, err := s.Attempts(ctx, p.ID)
	if err != nil {
		return p, err
	}
	for _, a := range attempts {
		if a.Status != payment.AttemptPending {
			continue
		}
		paid, err := s.closeAttempt(ctx, p, a)
		if err != nil {
			return p, err
		}
		if paid {
			if cur, err := loadPayment(ctx, s.DB.Pool(), p.ID, "", false); err == nil && cur.Status == payment.StatusSucceeded {
				return cur, ErrAlreadyPaid
			}
		}
	}
	var out payment.Payment
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := loadPayment(ctx, s.DB.In(tx), p.ID, "", true)
		if err != nil {
			return err
		}
		c, err := payment.Cancel(cur, s.now())
		if err != nil {
			return err
		}
		out = c.Payment
		if !c.Changed {
			return nil
		}
		if err := s.SavePayment(ctx, tx, c.Payment); err != nil {
			return err
		}
		if err := s.DB.In(tx).PayForMeExpire(ctx, p.ID); err != nil {
			return err
		}
		return s.Events.Publish(ctx, tx, cur.MerchantID, c.Event, cur.ID, c.Payment)
	})
	return out, err
}
