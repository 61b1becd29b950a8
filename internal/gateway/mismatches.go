package gateway

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Where a refused wallet message came from.
const (
	sourceNotification = "notification"
	sourceQuery        = "query"         // an order query's answer
	sourceRefundAnswer = "refund_answer" // the answer to a refund request
)

// Mismatch is a wallet message refused because something it named was not
// what hutong sent (payment.Mismatch).
type Mismatch = payment.Mismatch

// noteMismatch records a wallet message refused with a
// payment.MismatchError (err of any other kind is not this function's),
// in its own transaction: the refusal rolled back everything else.
func (s *Service) noteMismatch(ctx context.Context, ch, source, messageID string, err error) {
	var me *payment.MismatchError
	if !errors.As(err, &me) {
		return
	}
	metrics.CountMismatch(ch, source, me.Field)
	s.log().Warn("wallet message refused: it names what hutong did not send", "channel", ch, "source", source, "message", messageID,
		"payment", me.Payment, "field", me.Field, "expected", me.Want, "got", me.Got)
	ctx = context.WithoutCancel(ctx)
	at := s.now()
	rerr := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		merchantID, err := s.DB.In(tx).PaymentMerchant(ctx, me.Payment)
		if err != nil {
			return err
		}
		return s.DB.In(tx).MismatchNote(ctx, store.MismatchNoteParams{MerchantID: merchantID, At: at, Mismatch: payment.Mismatch{
			Channel: ch, MessageID: messageID, Source: source, PaymentID: me.Payment, Field: me.Field, Expected: me.Want, Got: me.Got}})
	})
	if rerr != nil {
		s.log().Error("could not record a refused wallet message", "channel", ch, "message", messageID, "error", rerr.Error())
	}
}

// Mismatches lists the refused wallet messages that named a merchant's
// payment, oldest first.
func (s *Service) Mismatches(ctx context.Context, merchantID, paymentID string) ([]Mismatch, error) {
	if _, err := s.GetPayment(ctx, merchantID, paymentID); err != nil {
		return nil, err
	}
	return s.DB.Pool().Mismatches(ctx, merchantID, paymentID)
}
