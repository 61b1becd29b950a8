package alipay

import (
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
)

func refundKey(tradeKey, outRequestNo string) string { return tradeKey + "|" + outRequestNo }

// refund is alipay.trade.refund. Refunds are synchronous: the money is
// back with the buyer when the call returns (fund_change "Y"). The same
// out_request_no again answers the same refund with fund_change "N".
func (s *Simulator) refund(c *call) answer {
	amountText, okType := c.bizString("refund_amount")
	if !okType {
		return invalidParameter("refund_amount 应为字符串")
	}
	if amountText == "" {
		return answer{result: alipayapi.Failure(alipayapi.CodeMissingArguments, "isv.missing-refund-amount", "缺少参数 refund_amount")}
	}
	amount, err := alipayapi.ParseYuan(amountText)
	if err != nil {
		return invalidParameter("refund_amount: " + err.Error())
	}
	reason, _ := c.bizString("refund_reason")
	outRequestNo, _ := c.bizString("out_request_no")

	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad := s.findTrade(c)
	if bad != nil {
		return *bad
	}
	if outRequestNo == "" {
		// Without out_request_no the refund is the trade's one full refund.
		outRequestNo = t.OutTradeNo
	}
	if prev, ok := s.refunds[refundKey(t.Key, outRequestNo)]; ok {
		if prev.Amount != amount {
			return businessFailed("ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致: out_request_no "+outRequestNo+" 已用于另一笔退款")
		}
		return success(s.refundFields(t, "N", prev.CreatedAt))
	}
	switch t.Status {
	case StatusWaitBuyerPay:
		return businessFailed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	case StatusTradeClosed:
		return businessFailed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
	case StatusTradeFinished:
		return businessFailed("ACQ.TRADE_HAS_FINISHED", "交易已完结")
	}
	if amount > t.Total-t.Refunded {
		return businessFailed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限: 可退 "+alipayapi.FormatYuan(t.Total-t.Refunded)+" 元")
	}
	r, bad := s.applyRefund(t, outRequestNo, amount, reason)
	if bad != nil {
		return *bad
	}
	return success(s.refundFields(s.trades[t.Key], "Y", r.CreatedAt))
}

// applyRefund stores a refund, gives the buyer the money back, closes the
// trade when fully refunded and notifies. Callers hold s.mu and have
// checked the amount.
func (s *Simulator) applyRefund(t *Trade, outRequestNo string, amount int64, reason string) (*Refund, *answer) {
	now := s.now()
	r := &Refund{Key: refundKey(t.Key, outRequestNo), TradeKey: t.Key, OutRequestNo: outRequestNo, Amount: amount, Reason: reason, CreatedAt: now}
	next := *t
	next.Refunded += amount
	if next.Refunded == next.Total {
		next.Status = StatusTradeClosed
		next.ClosedAt = now
	}
	// The trade first: a crash in between can only leave money reserved for
	// a refund that does not exist, never refund more than was paid.
	if err := s.putTrade(&next); err != nil {
		a := systemError()
		return nil, &a
	}
	if err := s.cfg.Journal.Put(kindRefund, r.Key, r); err != nil {
		a := systemError()
		return nil, &a
	}
	s.refunds[r.Key] = r
	if err := s.cfg.Users.Credit(t.PaidBy, Wallet, amount); err != nil {
		s.cfg.Logger.Error("alipay: credit refund", "trade", t.TradeNo, "err", err)
	}
	cur := s.trades[t.Key]
	s.notifyTrade(cur, map[string]string{
		"out_biz_no": outRequestNo,
		"refund_fee": alipayapi.FormatYuan(cur.Refunded),
		"gmt_refund": chinatime.DateTime(now) + ".000",
	})
	return r, nil
}

type refundFields struct {
	TradeNo      string `json:"trade_no"`
	OutTradeNo   string `json:"out_trade_no"`
	BuyerLogonID string `json:"buyer_logon_id"`
	FundChange   string `json:"fund_change"`
	RefundFee    string `json:"refund_fee"`
	GmtRefundPay string `json:"gmt_refund_pay"`
	BuyerUserID  string `json:"buyer_user_id"`
	BuyerOpenID  string `json:"buyer_open_id"`
}

// refundFields answers a refund made at refundedAt (gmt_refund_pay: a
// repeated request answers with the first one's time).
func (s *Simulator) refundFields(t *Trade, fundChange string, refundedAt time.Time) refundFields {
	return refundFields{
		TradeNo: t.TradeNo, OutTradeNo: t.OutTradeNo, BuyerLogonID: LogonID(t.PaidBy), FundChange: fundChange,
		RefundFee: alipayapi.FormatYuan(t.Refunded), GmtRefundPay: chinatime.DateTime(refundedAt),
		BuyerUserID: BuyerID(t.PaidBy), BuyerOpenID: BuyerOpenID(t.PaidBy, t.AuthAppID),
	}
}

// refundQuery is alipay.trade.fastpay.refund.query. An unknown
// out_request_no answers success with no refund_status, as the gateway does.
func (s *Simulator) refundQuery(c *call) answer {
	outRequestNo, _ := c.bizString("out_request_no")
	if outRequestNo == "" {
		return answer{result: alipayapi.Failure(alipayapi.CodeMissingArguments, "isv.missing-out-request-no", "缺少参数 out_request_no")}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad := s.findTrade(c)
	if bad != nil {
		return *bad
	}
	r, found := s.refunds[refundKey(t.Key, outRequestNo)]
	if !found {
		return success(map[string]string{"trade_no": t.TradeNo, "out_trade_no": t.OutTradeNo, "out_request_no": outRequestNo})
	}
	return success(map[string]string{
		"trade_no": t.TradeNo, "out_trade_no": t.OutTradeNo, "out_request_no": r.OutRequestNo,
		"total_amount": alipayapi.FormatYuan(t.Total), "refund_amount": alipayapi.FormatYuan(r.Amount),
		"refund_status": "REFUND_SUCCESS", "gmt_refund_pay": chinatime.DateTime(r.CreatedAt),
	})
}
