package wechatpay

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/faults"
)

// SetBillFaults makes the trade bills built from now on disagree with the
// simulator's records (see faults.Bill); the zero Bill makes them true
// again. A bill already applied for keeps its file.
func (s *Simulator) SetBillFaults(f faults.Bill) error {
	if err := f.Validate(true); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Wallet = Wallet
	s.billFault = f
	return nil
}

// BillFaults is the current setting.
func (s *Simulator) BillFaults() faults.Bill {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.billFault
	f.Wallet = Wallet
	return f
}

// applyBillFaults changes a bill's rows as the faults say. Rows it changes
// are copies: the orders and refunds themselves stay as they are. Callers
// hold s.mu.
func (s *Simulator) applyBillFaults(rows []billRow, mchid, sub, typ string, start, end time.Time) []billRow {
	f := s.billFault
	if f.IsZero() {
		return rows
	}
	drop := map[string]bool{}
	for _, k := range f.Drop {
		drop[k] = true
	}
	out := rows[:0]
	for _, row := range rows {
		key := row.order.OutTradeNo
		if row.refund != nil {
			key = faults.BillKey(row.order.OutTradeNo, row.refund.OutRefundNo)
		}
		if drop[key] {
			continue
		}
		if d, ok := f.AmountDelta[key]; ok {
			if row.refund == nil {
				o := *row.order
				o.Total += d
				row.order = &o
			} else {
				r := *row.refund
				r.Amount += d
				row.refund = &r
			}
		}
		if st, ok := f.Status[key]; ok {
			if row.refund == nil {
				row.state = st
			} else {
				r := *row.refund
				r.Status = st
				row.refund = &r
			}
		}
		row.feeDelta += f.FeeDelta[key]
		out = append(out, row)
	}
	for _, x := range f.Extra {
		if (x.Kind == faults.BillRefund && typ == "SUCCESS") || (x.Kind != faults.BillRefund && typ == "REFUND") {
			continue
		}
		at := x.At
		if at.IsZero() {
			at = start
		} else if at.Before(start) || !at.Before(end) {
			continue
		}
		o := &Order{
			MchID: mchid, AppID: sandboxAppID, SubMchID: sub, OutTradeNo: x.OutTradeNo, TradeType: "NATIVE",
			Desc: "沙箱账单额外行", Total: x.Amount, Currency: "CNY", State: "SUCCESS",
			TransactionID: x.TransactionID, SuccessTime: at, CreatedAt: at,
		}
		if o.TransactionID == "" {
			o.TransactionID = madeUpNumber("4200", x.OutTradeNo, 28)
		}
		row := billRow{at: at, order: o}
		if x.Kind == faults.BillRefund {
			r := &Refund{
				MchID: mchid, SubMchID: sub, OutRefundNo: x.OutRefundNo, RefundID: x.RefundID,
				TransactionID: o.TransactionID, OutTradeNo: o.OutTradeNo, Amount: x.Amount, Total: x.Amount,
				Currency: "CNY", Status: RefundSuccess, CreatedAt: at, SuccessTime: at,
			}
			if r.RefundID == "" {
				r.RefundID = madeUpNumber("5030", x.Key(), 29)
			}
			row.refund = r
		}
		out = append(out, row)
	}
	return out
}

// madeUpNumber is a stable wallet number for an extra row: prefix and
// digits from a hash of the key.
func madeUpNumber(prefix, key string, n int) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	s := fmt.Sprintf("%s%020d", prefix, h.Sum64())
	for len(s) < n {
		s += "0"
	}
	return s[:n]
}
