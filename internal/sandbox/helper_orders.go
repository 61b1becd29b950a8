package sandbox

import (
	"fmt"
	"net/http"
	"time"
)

// The orders helper lists what each wallet holds: every order (trade)
// with its state and refunds, in the order they were made. It is the
// wallets' truth that a merchant's books are audited against (hutong
// chaos compares every payment with it).

// walletOrderView is one order of either wallet, in the words both share.
type walletOrderView struct {
	Wallet string `json:"wallet"` // wechatpay or alipay
	// Merchant is the order's merchant at the wallet: the sub-merchant's
	// sub_mchid (or mchid) at WeChat Pay, the seller's PID at Alipay.
	Merchant   string `json:"merchant"`
	OutTradeNo string `json:"out_trade_no"`
	TradeNo    string `json:"trade_no,omitempty"` // transaction_id / trade_no, once paid
	// State is the wallet's own word: trade_state (NOTPAY, SUCCESS,
	// CLOSED, REFUND, …) or trade_status (WAIT_BUYER_PAY,
	// TRADE_SUCCESS, TRADE_CLOSED, TRADE_FINISHED).
	State string `json:"state"`
	// Paid is whether the buyer's money was taken, whatever happened
	// after (a paid order fully refunded is closed at Alipay).
	Paid     bool               `json:"paid"`
	PaidAt   time.Time          `json:"paid_at,omitzero"`
	Total    int64              `json:"total"`
	Refunded int64              `json:"refunded"` // the refunds that succeeded, in fen
	Refunds  []walletRefundView `json:"refunds"`
}

// walletRefundView is one refund of an order.
type walletRefundView struct {
	OutRefundNo string    `json:"out_refund_no"`
	RefundNo    string    `json:"refund_no,omitempty"`
	Amount      int64     `json:"amount"`
	Status      string    `json:"status"` // SUCCESS, PROCESSING, ABNORMAL, CLOSED
	SucceededAt time.Time `json:"succeeded_at,omitzero"`
}

func (sb *Sandbox) handleOrders(w http.ResponseWriter, r *http.Request) {
	wallet, outTradeNo := r.URL.Query().Get("wallet"), r.URL.Query().Get("out_trade_no")
	if wallet != "" && wallet != "wechatpay" && wallet != "alipay" {
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_wallet", fmt.Sprintf("wallet %q is neither wechatpay nor alipay", wallet)})
		return
	}
	out := []walletOrderView{}
	keep := func(o walletOrderView) {
		if outTradeNo == "" || o.OutTradeNo == outTradeNo {
			out = append(out, o)
		}
	}
	if wallet == "" || wallet == "wechatpay" {
		orders, refunds := sb.wechatpay.Snapshot()
		byOrder := map[string][]walletRefundView{}
		refunded := map[string]int64{}
		for _, rf := range refunds {
			byOrder[rf.OrderKey] = append(byOrder[rf.OrderKey], walletRefundView{OutRefundNo: rf.OutRefundNo, RefundNo: rf.RefundID, Amount: rf.Amount, Status: rf.Status, SucceededAt: rf.SuccessTime})
			if rf.Status == "SUCCESS" {
				refunded[rf.OrderKey] += rf.Amount
			}
		}
		for _, o := range orders {
			merchant := o.MchID
			if o.SubMchID != "" {
				merchant = o.SubMchID
			}
			keep(walletOrderView{Wallet: "wechatpay", Merchant: merchant, OutTradeNo: o.OutTradeNo, TradeNo: o.TransactionID, State: o.State,
				Paid: !o.SuccessTime.IsZero(), PaidAt: o.SuccessTime, Total: o.Total, Refunded: refunded[o.Key], Refunds: orEmpty(byOrder[o.Key])})
		}
	}
	if wallet == "" || wallet == "alipay" {
		trades, refunds := sb.alipay.Snapshot()
		byTrade := map[string][]walletRefundView{}
		for _, rf := range refunds {
			byTrade[rf.TradeKey] = append(byTrade[rf.TradeKey], walletRefundView{OutRefundNo: rf.OutRequestNo, Amount: rf.Amount, Status: "SUCCESS", SucceededAt: rf.CreatedAt})
		}
		for _, t := range trades {
			keep(walletOrderView{Wallet: "alipay", Merchant: t.SellerID, OutTradeNo: t.OutTradeNo, TradeNo: t.TradeNo, State: t.Status,
				Paid: !t.PaidAt.IsZero(), PaidAt: t.PaidAt, Total: t.Total, Refunded: t.Refunded, Refunds: orEmpty(byTrade[t.Key])})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// orEmpty is rs, or an empty list rather than null.
func orEmpty(rs []walletRefundView) []walletRefundView {
	if rs == nil {
		return []walletRefundView{}
	}
	return rs
}
