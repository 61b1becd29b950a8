package alipay

import (
	"testing"
	"time"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/payment"
)

// FuzzNotificationMatch feeds notification forms naming any app, seller,
// order, amount and refund through the connector's reading and the
// gateway's comparison: a form is accepted only if its app_id, seller_id,
// out_trade_no and total_amount are the payment's, and a refund's
// out_biz_no is the refund's and its refund_fee covers the refund without
// exceeding the order.
func FuzzNotificationMatch(f *testing.F) {
	f.Add("2021000000000001", "2088621000000001", "", "10.00", "", "", false)
	f.Add("2021000000000001", "2088621000000002", "", "10.00", "re_1", "3.00", true)
	f.Add("2021000000000002", "2088621000000001", "pay_other", "9.99", "re_2", "10.01", true)
	f.Add("", "", "", "10.00", "", "", false)
	f.Fuzz(func(t *testing.T, appID, sellerID, order, total, refundNo, refundFee string, authorized bool) {
		now := time.Date(2024, 9, 5, 12, 0, 0, 0, time.UTC)
		p := payment.New("m1", payment.Request{MerchantOrderID: "o1", Amount: 1000, Currency: "CNY", Description: "d", Method: channel.AlipayQR}, now)
		r := payment.Refund{ID: "re_1", PaymentID: p.ID, Amount: 300, Status: payment.RefundPending}
		c := &Connector{cfg: Config{AppID: "2021000000000001", SellerID: "2088621000000001"}}
		want := c.Expect("", "")
		if authorized {
			want = c.Expect("202409BB00000000000000000000000001", "2088621000000002")
		}
		if order == "" {
			order = p.ID
		}
		n, err := readNotification(&alipaysdk.Notification{NotifyType: "trade_status_sync", NotifyId: "1", AppId: appID, SellerId: sellerID,
			OutTradeNo: order, TotalAmount: total, TradeStatus: alipaysdk.TradeStatusSuccess, OutBizNo: refundNo, RefundFee: refundFee})
		if err != nil {
			return
		}
		if err := payment.MatchTrade(p, payment.SoleAttempt(p), want, *n.Trade); err != nil {
			return
		}
		if appID != want.App || sellerID != want.Merchant || order != p.ID || n.Trade.Amount != p.Amount {
			t.Fatalf("accepted app %q seller %q order %q total %q, want %+v", appID, sellerID, order, total, want)
		}
		if n.Refund == nil {
			return
		}
		if err := payment.MatchRefund(p, r, p.ID, p.Amount, want, *n.Refund); err != nil {
			return
		}
		if refundNo != r.ID || n.Refund.Amount < r.Amount || n.Refund.Amount > p.Amount {
			t.Fatalf("accepted refund %q of %q", refundNo, refundFee)
		}
	})
}
