// Package mismatches records the wallet messages hutong refused because
// something they named (app, merchant, seller, order, amount, currency)
// was not what it sent: a signature proves who sent a message, not that
// it is about our payment. Each refusal is counted, logged and kept, so a
// merchant and its operators can see what was refused and why.
package mismatches

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"

	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Where a refused wallet message came from.
const (
	SourceNotification = "notification"
	SourceQuery        = "query"         // an order query's answer
	SourceRefundAnswer = "refund_answer" // the answer to a refund request
)

// Recorder keeps refused wallet messages.
type Recorder struct {
	DB     *store.DB
	Now    clock.Func
	Logger *slog.Logger
}

// Note records a wallet message refused with a payment.MismatchError (err
// of any other kind, or nil, is not its business), in its own
// transaction: the refusal rolled back everything else.
func (r *Recorder) Note(ctx context.Context, ch, source, messageID string, err error) {
	var me *payment.MismatchError
	if !errors.As(err, &me) {
		return
	}
	log := clock.Logger(r.Logger)
	metrics.CountMismatch(ch, source, me.Field)
	log.Warn("wallet message refused: it names what hutong did not send", "channel", ch, "source", source, "message", messageID,
		"payment", me.Payment, "field", me.Field, "expected", me.Want, "got", me.Got)
	ctx = context.WithoutCancel(ctx)
	at := r.Now.Now()
	rerr := r.DB.Tx(ctx, func(tx *sql.Tx) error {
		merchantID, err := r.DB.In(tx).PaymentMerchant(ctx, me.Payment)
		if err != nil {
			return err
		}
		return r.DB.In(tx).MismatchNote(ctx, store.MismatchNoteParams{MerchantID: merchantID, At: at, Mismatch: payment.Mismatch{
			Channel: ch, MessageID: messageID, Source: source, PaymentID: me.Payment, Field: me.Field, Expected: me.Want, Got: me.Got}})
	})
	if rerr != nil {
		log.Error("could not record a refused wallet message", "channel", ch, "message", messageID, "error", rerr.Error())
	}
}

// List is the refused wallet messages that named a merchant's payment,
// oldest first. The caller checks that the payment is the merchant's.
func (r *Recorder) List(ctx context.Context, merchantID, paymentID string) ([]payment.Mismatch, error) {
	return r.DB.Pool().Mismatches(ctx, merchantID, paymentID)
}
