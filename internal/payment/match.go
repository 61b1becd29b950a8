package payment

import (
	"fmt"

	"github.com/hutong-pay/hutong/internal/channel"
)

// A wallet message is applied only when everything it names is what
// hutong sent: the signature says which wallet wrote it, and only these
// comparisons say it is about this payment, this app and this merchant.
// A message the wallet signed for another app, another seller or another
// order is genuine and still not ours.

// Mismatch fields, as MismatchError.Field and the metrics' reasons name them.
const (
	FieldApp          = "app"
	FieldMerchant     = "merchant"
	FieldSubMerchant  = "sub_merchant"
	FieldOrder        = "order_number"
	FieldAmount       = "amount"
	FieldCurrency     = "currency"
	FieldRefundNumber = "refund_number"
	FieldRefundAmount = "refund_amount"
	FieldOrderAmount  = "order_amount"
	FieldChannel      = "channel"
)

// MatchIdentity compares the identities a message names (got) with the
// ones expected of it (want). An identity the message leaves out is not
// compared: the connectors refuse notifications that lack one the wallet
// always sends, and query answers to hutong's own signed requests name
// fewer. One the message names must equal the expected one, also where
// nothing is expected: a sub_mchid on a payment made directly is refused.
// A message that names its merchant names its sub-merchant too, or has
// none: a message without one is refused for a sub-merchant's payment.
func MatchIdentity(paymentID string, want, got channel.Identity) error {
	for _, f := range []struct {
		name, want, got string
		named           bool
	}{
		{FieldApp, want.App, got.App, got.App != ""},
		{FieldMerchant, want.Merchant, got.Merchant, got.Merchant != ""},
		{FieldSubMerchant, want.SubMerchant, got.SubMerchant, got.SubMerchant != "" || got.Merchant != ""},
	} {
		if f.named && f.got != f.want {
			return &MismatchError{Payment: paymentID, Field: f.name, Want: f.want, Got: f.got}
		}
	}
	return nil
}

// MatchTrade checks a wallet's word on wallet order a of payment p: the
// identities, the order number, the amount and the currency.
func MatchTrade(p Payment, a Attempt, want channel.Identity, t channel.Trade) error {
	if t.OutTradeNo != a.ID {
		return &MismatchError{Payment: p.ID, Field: FieldOrder, Want: a.ID, Got: t.OutTradeNo}
	}
	if err := MatchIdentity(p.ID, want, t.Identity); err != nil {
		return err
	}
	if t.Amount != p.Amount {
		return &MismatchError{Payment: p.ID, Field: FieldAmount, Want: fmt.Sprint(p.Amount), Got: fmt.Sprint(t.Amount)}
	}
	if t.Currency != "" && t.Currency != p.Currency {
		return &MismatchError{Payment: p.ID, Field: FieldCurrency, Want: p.Currency, Got: t.Currency}
	}
	return nil
}

// MatchRefund checks a wallet's word on refund r of payment p, made on
// the wallet order order (whose amount is orderAmount): the identities,
// the refund number, the refunded order, the refund's amount (or, when
// the wallet reports the order's total refunded so far, a total that
// includes this refund and does not exceed the order) and the order's
// amount where named.
func MatchRefund(p Payment, r Refund, order string, orderAmount int64, want channel.Identity, got channel.Refund) error {
	mismatch := func(field string, want, got any) error {
		return &MismatchError{Payment: p.ID, Field: field, Want: fmt.Sprint(want), Got: fmt.Sprint(got)}
	}
	switch {
	case got.OutRefundNo != r.ID:
		return mismatch(FieldRefundNumber, r.ID, got.OutRefundNo)
	case got.OutTradeNo != order:
		return mismatch(FieldOrder, order, got.OutTradeNo)
	}
	if err := MatchIdentity(p.ID, want, got.Identity); err != nil {
		return err
	}
	switch {
	case got.Cumulative && (got.Amount < r.Amount || got.Amount > orderAmount):
		return mismatch(FieldRefundAmount, fmt.Sprintf("%d to %d in all", r.Amount, orderAmount), got.Amount)
	case !got.Cumulative && got.Amount != r.Amount:
		return mismatch(FieldRefundAmount, r.Amount, got.Amount)
	case got.Total != 0 && got.Total != orderAmount:
		return mismatch(FieldOrderAmount, orderAmount, got.Total)
	}
	return nil
}
