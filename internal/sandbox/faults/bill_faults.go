package faults

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Bill makes a wallet's daily bills disagree with the wallet's own records,
// so that a reconciliation can be shown to find each kind of discrepancy.
// It changes only the bills built while it is set; the orders, refunds and
// balances are untouched. Each changed bill stays self-consistent: its
// totals are those of the rows it lists. Unlike Faults it is not journaled:
// a restarted sandbox serves true bills.
//
// A bill row is named by its key: "OUT_TRADE_NO" for a payment,
// "OUT_TRADE_NO/OUT_REFUND_NO" for a refund (Alipay's out_request_no).
// Neither wallet allows "/" in those numbers.
type Bill struct {
	Wallet string `json:"wallet"`
	// Drop leaves these rows out of the bill.
	Drop []string `json:"drop,omitempty"`
	// Extra adds rows the wallet has no record of.
	Extra []BillRow `json:"extra,omitempty"`
	// AmountDelta adds fen to a row's amount; its fee is the fee on the new
	// amount.
	AmountDelta map[string]int64 `json:"amount_delta,omitempty"`
	// Status writes another status for a row: a payment's 交易状态 or a
	// refund's 退款状态 (such as REVOKED, PROCESSING). WeChat Pay only: the
	// Alipay bill lists completed business and has no status column.
	Status map[string]string `json:"status,omitempty"`
	// FeeDelta adds fen to the size of a row's fee: more charged on a
	// payment, more given back on a refund.
	FeeDelta map[string]int64 `json:"fee_delta,omitempty"`
}

// BillRow is a row Bill.Extra adds.
type BillRow struct {
	Kind       string `json:"kind,omitempty"` // "payment" (the default) or "refund"
	OutTradeNo string `json:"out_trade_no"`
	// TransactionID is WeChat's transaction_id or Alipay's trade_no; one is
	// made up if empty.
	TransactionID string `json:"transaction_id,omitempty"`
	OutRefundNo   string `json:"out_refund_no,omitempty"` // a refund's; Alipay's out_request_no
	RefundID      string `json:"refund_id,omitempty"`     // WeChat's; made up if empty
	Amount        int64  `json:"amount"`                  // fen
	// At places the row in the bills of its day; without it the row is in
	// every bill, at the start of the bill's period.
	At time.Time `json:"at,omitzero"`
}

// Bill row kinds.
const (
	BillPayment = "payment"
	BillRefund  = "refund"
)

// BillKey is the key of a bill row: out_trade_no for a payment,
// out_trade_no/out_refund_no for a refund.
func BillKey(outTradeNo, outRefundNo string) string {
	if outRefundNo == "" {
		return outTradeNo
	}
	return outTradeNo + "/" + outRefundNo
}

// Key is the row's key.
func (r BillRow) Key() string {
	if r.Kind == BillRefund {
		return BillKey(r.OutTradeNo, r.OutRefundNo)
	}
	return r.OutTradeNo
}

// IsZero is whether the bills are left true.
func (b Bill) IsZero() bool {
	return len(b.Drop) == 0 && len(b.Extra) == 0 && len(b.AmountDelta) == 0 && len(b.Status) == 0 && len(b.FeeDelta) == 0
}

// maxBillFaults keeps the helper API's knobs small.
const maxBillFaults = 1000

// Validate checks b for a wallet whose bill has a status column
// (hasStatus) or not.
func (b Bill) Validate(hasStatus bool) error {
	if n := len(b.Drop) + len(b.Extra) + len(b.AmountDelta) + len(b.Status) + len(b.FeeDelta); n > maxBillFaults {
		return fmt.Errorf("at most %d bill faults at once, got %d", maxBillFaults, n)
	}
	key := func(what, k string) error {
		no, refund, isRefund := strings.Cut(k, "/")
		if no == "" || (isRefund && (refund == "" || strings.Contains(refund, "/"))) {
			return fmt.Errorf("%s: %q is not OUT_TRADE_NO or OUT_TRADE_NO/OUT_REFUND_NO", what, k)
		}
		return nil
	}
	for _, k := range b.Drop {
		if err := key("drop", k); err != nil {
			return err
		}
	}
	for k, d := range b.AmountDelta {
		if err := key("amount_delta", k); err != nil {
			return err
		}
		if d == 0 {
			return fmt.Errorf("amount_delta: %q changes nothing", k)
		}
	}
	for k, d := range b.FeeDelta {
		if err := key("fee_delta", k); err != nil {
			return err
		}
		if d == 0 {
			return fmt.Errorf("fee_delta: %q changes nothing", k)
		}
	}
	if len(b.Status) > 0 && !hasStatus {
		return errors.New("status: the Alipay bill has no status column")
	}
	for k, st := range b.Status {
		if err := key("status", k); err != nil {
			return err
		}
		if st == "" || strings.ContainsAny(st, ",`\r\n") {
			return fmt.Errorf("status: %q for %q is not a status", st, k)
		}
	}
	for i, r := range b.Extra {
		switch r.Kind {
		case "", BillPayment:
			if r.OutRefundNo != "" || r.RefundID != "" {
				return fmt.Errorf("extra[%d]: a payment has no refund numbers", i)
			}
		case BillRefund:
			if r.OutRefundNo == "" {
				return fmt.Errorf("extra[%d]: a refund needs out_refund_no", i)
			}
		default:
			return fmt.Errorf("extra[%d]: kind %q is neither payment nor refund", i, r.Kind)
		}
		if err := key(fmt.Sprintf("extra[%d]", i), r.Key()); err != nil {
			return err
		}
		for _, v := range []string{r.OutTradeNo, r.TransactionID, r.OutRefundNo, r.RefundID} {
			if strings.ContainsAny(v, ",`\t\r\n ") || len(v) > 64 {
				return fmt.Errorf("extra[%d]: %q is not an order or refund number", i, v)
			}
		}
		if r.Amount < 1 || r.Amount > 100_000_000_00 {
			return fmt.Errorf("extra[%d]: amount %d fen is out of range", i, r.Amount)
		}
	}
	return nil
}
