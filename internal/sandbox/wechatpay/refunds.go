package wechatpay

import (
	"net/http"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

type refundBody struct {
	SubMchID      string        `json:"sub_mchid,omitempty"`
	TransactionID string        `json:"transaction_id,omitempty"`
	OutTradeNo    string        `json:"out_trade_no,omitempty"`
	OutRefundNo   string        `json:"out_refund_no"`
	Reason        string        `json:"reason,omitempty"`
	NotifyURL     string        `json:"notify_url,omitempty"`
	FundsAccount  string        `json:"funds_account,omitempty"`
	Amount        *refundAmount `json:"amount"`
	GoodsDetail   []any         `json:"goods_detail,omitempty"`
}

type refundAmount struct {
	Refund   *int64 `json:"refund"`
	Total    *int64 `json:"total"`
	Currency string `json:"currency"`
	From     []any  `json:"from,omitempty"`
}

var refundNotExist = fail(http.StatusNotFound, wechatpayv3.CodeResourceNotExists, "退款单不存在")

func (s *Simulator) createRefund(c *call) reply {
	var b refundBody
	if rep, ok := decodeBody(c.body, &b); !ok {
		return rep
	}
	if b.OutRefundNo == "" {
		return missing("body", "/out_refund_no")
	}
	if !outRefundNoPattern.MatchString(b.OutRefundNo) {
		return paramError("body", "/out_refund_no", "格式规则校验失败，应为 1 到 64 位字母、数字或 _-|*@", b.OutRefundNo)
	}
	if b.TransactionID == "" && b.OutTradeNo == "" {
		return missing("body", "/transaction_id")
	}
	if rep, ok := checkLen("/reason", b.Reason, 0, 80); !ok {
		return rep
	}
	if rep, ok := checkURL("/notify_url", b.NotifyURL, false); !ok {
		return rep
	}
	if b.Amount == nil {
		return missing("body", "/amount")
	}
	if b.Amount.Refund == nil {
		return missing("body", "/amount/refund")
	}
	if b.Amount.Total == nil {
		return missing("body", "/amount/total")
	}
	if *b.Amount.Refund <= 0 {
		return paramError("body", "/amount/refund", "取值范围规则校验失败，应大于 0", *b.Amount.Refund)
	}
	if b.Amount.Currency == "" {
		return missing("body", "/amount/currency")
	}
	if b.Amount.Currency != "CNY" {
		return paramError("body", "/amount/currency", "枚举规则校验失败，境内退款只支持 CNY", b.Amount.Currency)
	}
	if b.SubMchID != "" {
		if rep, ok := s.checkSubMerchant(c.mchid, b.SubMchID); !ok {
			return rep
		}
	}
	fp := fingerprint(b)

	s.mu.Lock()
	defer s.mu.Unlock()
	key := refundKey(c.mchid, b.SubMchID, b.OutRefundNo)
	if old, exists := s.refunds[key]; exists {
		if old.Fingerprint != fp {
			return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "请求内容和上次请求不一致，请检查后再试: out_refund_no "+b.OutRefundNo+" 已用于另一笔退款")
		}
		return answer(s.refundJSON(old))
	}
	var o *Order
	if b.TransactionID != "" {
		o = s.byTxn[b.TransactionID]
		if o != nil && (o.MchID != c.mchid || o.SubMchID != b.SubMchID) {
			o = nil
		}
	} else {
		o = s.orders[orderKey(c.mchid, b.SubMchID, b.OutTradeNo)]
	}
	if o == nil {
		return fail(http.StatusNotFound, wechatpayv3.CodeResourceNotExists, "订单不存在")
	}
	s.expireIfDue(o)
	if o.State != StateSuccess && o.State != StateRefund {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "订单未支付，不能发起退款: trade_state "+o.State)
	}
	if *b.Amount.Total != o.Total {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "订单金额与原订单金额不一致: amount.total 应为 "+itoa(o.Total))
	}
	if *b.Amount.Refund > o.Total-o.Refunded {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "申请退款金额超过订单可退金额: 可退 "+itoa(o.Total-o.Refunded)+" 分")
	}
	if rep, ok := sharedRefundLimit(o, *b.Amount.Refund); !ok {
		return rep
	}
	now := s.now()
	r := &Refund{
		Key:           key,
		MchID:         c.mchid,
		SubMchID:      b.SubMchID,
		OutRefundNo:   b.OutRefundNo,
		RefundID:      "5030" + sandboxkeys.Digits(6) + now.In(chinatime.Location).Format("20060102") + sandboxkeys.Digits(11),
		OrderKey:      o.Key,
		TransactionID: o.TransactionID,
		OutTradeNo:    o.OutTradeNo,
		Reason:        b.Reason,
		NotifyURL:     b.NotifyURL,
		Amount:        *b.Amount.Refund,
		Total:         o.Total,
		Currency:      "CNY",
		FundsAccount:  "AVAILABLE",
		Status:        RefundProcessing,
		CreatedAt:     now,
		SettleAt:      now.Add(s.scaled(RefundDelay)),
		Fingerprint:   fp,
	}
	next := *o
	next.Refunded += r.Amount
	// The order first, so a crash in between can only leave money reserved
	// for a refund that does not exist (refusing too much), never a refund
	// that was not reserved (refunding too much).
	if err := s.putOrder(&next); err != nil {
		return fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误")
	}
	if err := s.putRefund(r); err != nil {
		return fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误")
	}
	s.scheduleRefund(r)
	return answer(s.refundJSON(r))
}

func (s *Simulator) queryRefund(c *call) reply {
	sub := c.r.URL.Query().Get("sub_mchid")
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refunds[refundKey(c.mchid, sub, c.r.PathValue("out_refund_no"))]
	if !ok {
		return refundNotExist
	}
	return answer(s.refundJSON(r))
}

// scheduleRefund settles a PROCESSING refund when it is due. Callers hold
// s.mu.
func (s *Simulator) scheduleRefund(r *Refund) {
	if s.closed {
		return
	}
	key := r.Key
	wait := max(r.SettleAt.Sub(s.now()), 0)
	s.timers[key] = time.AfterFunc(wait, func() { s.settleRefund(key) })
}

// settleRefund completes a refund: the money goes back to the payer, the
// order's state becomes REFUND, and the merchant is notified.
func (s *Simulator) settleRefund(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.timers, key)
	r, ok := s.refunds[key]
	if s.closed || !ok || r.Status != RefundProcessing {
		return
	}
	o := s.orders[r.OrderKey]
	next := *r
	next.Status = RefundSuccess
	next.SuccessTime = s.now()
	if err := s.putRefund(&next); err != nil {
		s.cfg.Logger.Error("wechatpay: settle refund", "key", key, "err", err)
		return
	}
	if err := s.cfg.Users.Credit(o.PaidBy, Wallet, r.Amount); err != nil {
		s.cfg.Logger.Error("wechatpay: credit refund", "key", key, "err", err)
	}
	if o.State != StateRefund {
		on := *o
		on.State = StateRefund
		if err := s.putOrder(&on); err != nil {
			s.cfg.Logger.Error("wechatpay: mark order refunded", "key", o.Key, "err", err)
		}
	}
	if r.NotifyURL != "" {
		s.enqueueNotification(r.NotifyURL, "REFUND.SUCCESS", "退款成功", "refund", s.refundNotifyJSON(r, o))
	}
}

// refundJSON is a refund as the create and query APIs present it.
type refundJSON struct {
	RefundID            string           `json:"refund_id"`
	OutRefundNo         string           `json:"out_refund_no"`
	TransactionID       string           `json:"transaction_id"`
	OutTradeNo          string           `json:"out_trade_no"`
	Channel             string           `json:"channel"`
	UserReceivedAccount string           `json:"user_received_account"`
	SuccessTime         string           `json:"success_time,omitempty"`
	CreateTime          string           `json:"create_time"`
	Status              string           `json:"status"`
	FundsAccount        string           `json:"funds_account,omitempty"`
	Amount              refundAmountJSON `json:"amount"`
	PromotionDetail     []any            `json:"promotion_detail"`
}

type refundAmountJSON struct {
	Total            int64  `json:"total"`
	Refund           int64  `json:"refund"`
	From             []any  `json:"from"`
	PayerTotal       int64  `json:"payer_total"`
	PayerRefund      int64  `json:"payer_refund"`
	SettlementRefund int64  `json:"settlement_refund"`
	SettlementTotal  int64  `json:"settlement_total"`
	DiscountRefund   int64  `json:"discount_refund"`
	Currency         string `json:"currency"`
	RefundFee        int64  `json:"refund_fee"`
}

func (s *Simulator) refundJSON(r *Refund) refundJSON {
	j := refundJSON{
		RefundID:            r.RefundID,
		OutRefundNo:         r.OutRefundNo,
		TransactionID:       r.TransactionID,
		OutTradeNo:          r.OutTradeNo,
		Channel:             "ORIGINAL",
		UserReceivedAccount: "支付用户零钱",
		CreateTime:          chinatime.RFC3339(r.CreatedAt),
		Status:              r.Status,
		FundsAccount:        r.FundsAccount,
		Amount: refundAmountJSON{
			Total: r.Total, Refund: r.Amount, From: []any{}, PayerTotal: r.Total, PayerRefund: r.Amount,
			SettlementRefund: r.Amount, SettlementTotal: r.Total, Currency: r.Currency,
		},
		PromotionDetail: []any{},
	}
	if !r.SuccessTime.IsZero() {
		j.SuccessTime = chinatime.RFC3339(r.SuccessTime)
	}
	return j
}

type refundNotifyJSON struct {
	MchID               string `json:"mchid,omitempty"`
	SpMchID             string `json:"sp_mchid,omitempty"`
	SubMchID            string `json:"sub_mchid,omitempty"`
	OutTradeNo          string `json:"out_trade_no"`
	TransactionID       string `json:"transaction_id"`
	OutRefundNo         string `json:"out_refund_no"`
	RefundID            string `json:"refund_id"`
	RefundStatus        string `json:"refund_status"`
	SuccessTime         string `json:"success_time,omitempty"`
	UserReceivedAccount string `json:"user_received_account"`
	Amount              struct {
		Total       int64 `json:"total"`
		Refund      int64 `json:"refund"`
		PayerTotal  int64 `json:"payer_total"`
		PayerRefund int64 `json:"payer_refund"`
	} `json:"amount"`
}

func (s *Simulator) refundNotifyJSON(r *Refund, o *Order) refundNotifyJSON {
	n := refundNotifyJSON{
		OutTradeNo: r.OutTradeNo, TransactionID: r.TransactionID, OutRefundNo: r.OutRefundNo,
		RefundID: r.RefundID, RefundStatus: r.Status, UserReceivedAccount: "支付用户零钱",
	}
	if o.Partner {
		n.SpMchID, n.SubMchID = r.MchID, r.SubMchID
	} else {
		n.MchID = r.MchID
	}
	if !r.SuccessTime.IsZero() {
		n.SuccessTime = chinatime.RFC3339(r.SuccessTime)
	}
	n.Amount.Total, n.Amount.Refund, n.Amount.PayerTotal, n.Amount.PayerRefund = r.Total, r.Amount, r.Total, r.Amount
	return n
}
