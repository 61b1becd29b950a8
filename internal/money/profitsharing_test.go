package money_test

import (
	"context"
	"testing"

	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestSettlementByProfitSharing: a service-provider merchant's WeChat Pay
// payment, released, is settled through the wallet's profit sharing: the
// commission to the platform, the rest unfrozen to the sub-merchant; the
// books show it paid out once, and a second settlement does nothing.
func TestSettlementByProfitSharing(t *testing.T) {
	e := gatewaytest.Start(t, storetest.SQLite(t), gatewaytest.Options{ProfitSharing: true})
	ctx := context.Background()
	subs := e.Sandbox.Sandbox().WeChatPay().SubMerchants()
	if len(subs) == 0 {
		t.Fatal("the sandbox has no sub-merchant")
	}
	m, err := e.Svc.MerchantService().Create(ctx, merchant.Merchant{Name: "特约商户", Wallets: map[string]merchant.Wallet{"wechatpay": {SubMerchant: subs[0].SubMchID}}})
	if err != nil {
		t.Fatal(err)
	}
	e.Merchants = append(e.Merchants, m)
	p := e.Paid(len(e.Merchants)-1, "shared", 10000)
	if _, err := e.Svc.MoneyService().ConfirmReceipt(ctx, m.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	batches, err := e.Svc.MoneyService().Settle(ctx, "2024-09-05")
	if err != nil || len(batches) != 1 || batches[0].Amount != 10000-500-60 {
		t.Fatalf("settle: %+v %v", batches, err)
	}
	got, _ := e.Svc.PaymentService().GetPayment(ctx, m.ID, p.ID)
	if got.ProfitShareOrder == "" {
		t.Fatal("no profit-sharing order recorded")
	}
	list, _ := e.Svc.MoneyService().Balances(ctx, m.ID)
	for _, b := range list {
		if b.Account == ledger.Payable(m.ID) && b.Balance != 0 || b.Account == ledger.Payouts(m.ID) && b.Balance != 9440 {
			t.Fatalf("balances %+v", list)
		}
	}
	if again, err := e.Svc.MoneyService().Settle(ctx, "2024-09-06"); err != nil || len(again) != 0 {
		t.Fatalf("settled again: %+v %v", again, err)
	}
}
