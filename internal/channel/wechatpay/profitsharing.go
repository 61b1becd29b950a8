package wechatpay

import (
	"context"
	"errors"
	"fmt"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/profitsharing"

	"github.com/hutong-pay/hutong/internal/channel"
)

// Profit sharing (分账) in service-provider mode: a partner payment made
// with settle_info.profit_sharing (Config.ProfitSharing) stays frozen at
// WeChat Pay until the platform settles it. ShareProfit adds the platform
// (sp_mchid) as a MERCHANT_ID receiver of the sub-merchant (relation
// SERVICE_PROVIDER; adding is idempotent at the platform, so it is sent
// each time), then asks POST /v3/profitsharing/orders for the platform's
// commission with unfreeze_unsplit = true, so the rest goes to the
// sub-merchant in the same order. A commission of 0 unfreezes everything
// (POST /v3/profitsharing/orders/unfreeze). The same OutOrderNo again is
// the same sharing order: the platform answers it as it stands.

var _ channel.ProfitSharer = (*Connector)(nil)

const (
	receiverMerchant        = "MERCHANT_ID"
	defaultShareDesc        = "平台佣金"
	defaultUnfreezeDesc     = "解冻给特约商户"
	sharingStateFinished    = "FINISHED"
	sharingDetailClosed     = "CLOSED"
	maxSharingDescRunes     = 80
	relationServiceProvider = profitsharing.RECEIVERRELATIONTYPE_SERVICE_PROVIDER
)

// ShareProfit implements channel.ProfitSharer.
func (c *Connector) ShareProfit(ctx context.Context, s channel.ProfitShare) (channel.ProfitShareResult, error) {
	switch {
	case s.SubMerchant == "":
		return channel.ProfitShareResult{}, errors.New("wechatpay: profit sharing needs the sub-merchant (sub_mchid)")
	case s.TransactionID == "":
		return channel.ProfitShareResult{}, errors.New("wechatpay: profit sharing needs the payment's transaction_id")
	case s.OutOrderNo == "":
		return channel.ProfitShareResult{}, errors.New("wechatpay: profit sharing needs an out_order_no")
	case s.PlatformAmount < 0:
		return channel.ProfitShareResult{}, fmt.Errorf("wechatpay: platform amount %d is negative", s.PlatformAmount)
	case len([]rune(s.Description)) > maxSharingDescRunes:
		return channel.ProfitShareResult{}, fmt.Errorf("wechatpay: a profit sharing description is at most %d characters", maxSharingDescRunes)
	}
	orders := profitsharing.OrdersApiService{Client: c.client}
	var (
		resp *profitsharing.OrdersEntity
		err  error
	)
	if s.PlatformAmount == 0 {
		desc := s.Description
		if desc == "" {
			desc = defaultUnfreezeDesc
		}
		resp, _, err = orders.UnfreezeOrder(ctx, profitsharing.UnfreezeOrderRequest{
			SubMchid: core.String(s.SubMerchant), TransactionId: core.String(s.TransactionID),
			OutOrderNo: core.String(s.OutOrderNo), Description: core.String(desc),
		})
	} else {
		if err := c.addPlatformReceiver(ctx, s.SubMerchant); err != nil {
			return channel.ProfitShareResult{}, err
		}
		desc := s.Description
		if desc == "" {
			desc = defaultShareDesc
		}
		resp, _, err = orders.CreateOrder(ctx, profitsharing.CreateOrderRequest{
			SubMchid: core.String(s.SubMerchant), Appid: core.String(c.cfg.AppID),
			TransactionId: core.String(s.TransactionID), OutOrderNo: core.String(s.OutOrderNo),
			Receivers: []profitsharing.CreateOrderReceiver{{
				Type: core.String(receiverMerchant), Account: core.String(c.cfg.MchID),
				Amount: core.Int64(s.PlatformAmount), Description: core.String(desc),
			}},
			UnfreezeUnsplit: core.Bool(true),
		})
	}
	if err != nil {
		return channel.ProfitShareResult{}, walletError(err)
	}
	return c.shareResult(s.SubMerchant, resp), nil
}

// addPlatformReceiver adds the platform's own mchid as a receiver of the
// sub-merchant's payments.
func (c *Connector) addPlatformReceiver(ctx context.Context, sub string) error {
	receivers := profitsharing.ReceiversApiService{Client: c.client}
	_, _, err := receivers.AddReceiver(ctx, profitsharing.AddReceiverRequest{
		SubMchid: core.String(sub), Appid: core.String(c.cfg.AppID),
		Type: profitsharing.RECEIVERTYPE_MERCHANT_ID.Ptr(), Account: core.String(c.cfg.MchID),
		Name:         core.String(c.receiverName()),
		RelationType: relationServiceProvider.Ptr(),
	})
	if err != nil {
		return walletError(err)
	}
	return nil
}

// receiverName is the name a MERCHANT_ID receiver is added under (the SDK
// encrypts it with the platform key). WeChat Pay checks it against the
// merchant's registered full name (商户全称), Config.MerchantName
// (merchant_name in the credentials); without one this sends the mchid,
// which only the sandbox accepts.
func (c *Connector) receiverName() string {
	if c.cfg.MerchantName != "" {
		return c.cfg.MerchantName
	}
	return c.cfg.MchID
}

// shareResult reads a sharing order: the platform's share is what its
// mchid receives (not closed), the unfrozen rest what the sub-merchant
// itself receives.
func (c *Connector) shareResult(sub string, o *profitsharing.OrdersEntity) channel.ProfitShareResult {
	out := channel.ProfitShareResult{OrderID: deref(o.OrderId), State: channel.ProfitShareProcessing}
	if o.State != nil && string(*o.State) == sharingStateFinished {
		out.State = channel.ProfitShareFinished
	}
	for _, r := range o.Receivers {
		if r.Amount == nil || r.Account == nil || (r.Result != nil && string(*r.Result) == sharingDetailClosed) {
			continue
		}
		switch *r.Account {
		case c.cfg.MchID:
			out.PlatformAmount += *r.Amount
		case sub:
			out.Unfrozen += *r.Amount
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
