package alipay

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/faults"
)

// SetBillFaults makes the bills built from now on disagree with the
// simulator's records (see faults.Bill; no status faults: the Alipay bill
// has no status column); the zero Bill makes them true again.
func (s *Simulator) SetBillFaults(f faults.Bill) error {
	if err := f.Validate(false); err != nil {
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

// applyBillFaults changes a bill's rows as the faults say, on copies of
// the trades and refunds. Callers hold s.mu.
func (s *Simulator) applyBillFaults(rows []billRow, start, end time.Time) []billRow {
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
		key := row.trade.OutTradeNo
		if row.ref != nil {
			key = faults.BillKey(row.trade.OutTradeNo, row.ref.OutRequestNo)
		}
		if drop[key] {
			continue
		}
		if d, ok := f.AmountDelta[key]; ok {
			if row.ref == nil {
				t := *row.trade
				t.Total += d
				row = paymentBillRow(&t)
			} else {
				r := *row.ref
				r.Amount += d
				row = refundBillRow(row.trade, &r, Fee(r.Amount)) // "its fee is the fee on the new amount"
			}
		}
		if d, ok := f.FeeDelta[key]; ok {
			if row.refund {
				row.fee -= d
			} else {
				row.fee += d
			}
			fields := append([]string(nil), row.fields...)
			fields[billFeeColumn] = alipayapi.FormatYuan(-row.fee)
			row.fields = fields
		}
		out = append(out, row)
	}
	for _, x := range f.Extra {
		at := x.At
		if at.IsZero() {
			at = start
		} else if at.Before(start) || !at.Before(end) {
			continue
		}
		t := &Trade{
			OutTradeNo: x.OutTradeNo, TradeNo: x.TransactionID, Subject: "沙箱账单额外行", Total: x.Amount,
			Status: StatusTradeSuccess, CreatedAt: at, PaidAt: at,
		}
		if t.TradeNo == "" {
			h := fnv.New64a()
			h.Write([]byte(x.OutTradeNo))
			t.TradeNo = at.In(chinatime.Location).Format("20060102") + "22001" + fmt.Sprintf("%015d", h.Sum64()%1e15)
		}
		if x.Kind == faults.BillRefund {
			out = append(out, refundBillRow(t, &Refund{OutRequestNo: x.OutRefundNo, Amount: x.Amount, CreatedAt: at}, Fee(x.Amount)))
		} else {
			out = append(out, paymentBillRow(t))
		}
	}
	return out
}
