package wechatpay

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/payment"
)

// FuzzNotificationMatch feeds payment notification resources naming any
// mix of identities, order numbers, amounts and currencies through the
// connector's reading and the gateway's comparison: a resource is
// accepted only if every identity it names, in whichever field, is the
// expected one, and its order, amount and currency are the payment's.
func FuzzNotificationMatch(f *testing.F) {
	f.Add("wx8888888888888888", "1900000001", "", "", "", "", int64(0), "CNY", false)
	f.Add("", "", "wx8888888888888888", "1900000001", "1900000109", "", int64(0), "CNY", true)
	f.Add("wx8888888888888888", "1900000001", "wx8888888888888888", "1900000001", "1900000109", "", int64(0), "CNY", true)
	f.Add("wx8888888888888888", "1900000002", "", "", "", "pay_other", int64(1), "USD", false)
	f.Add("", "", "wx8888888888888888", "1900000001", "", "", int64(0), "CNY", true)
	f.Fuzz(func(t *testing.T, appid, mchid, spAppid, spMchid, subMchid, order string, delta int64, currency string, partner bool) {
		now := time.Date(2024, 9, 5, 12, 0, 0, 0, time.UTC)
		p := payment.New("m1", payment.Request{MerchantOrderID: "o1", Amount: 1000, Currency: "CNY", Description: "d", Method: channel.WeChatNative}, now)
		c := &Connector{cfg: Config{AppID: "wx8888888888888888", MchID: "1900000001"}}
		sub := ""
		if partner {
			sub = "1900000109"
		}
		want := c.Expect(sub, "")
		if order == "" {
			order = p.ID
		}
		res := map[string]any{"out_trade_no": order, "trade_state": "SUCCESS", "amount": map[string]any{"total": p.Amount + delta, "currency": currency}}
		for k, v := range map[string]string{"appid": appid, "mchid": mchid, "sp_appid": spAppid, "sp_mchid": spMchid, "sub_mchid": subMchid} {
			if v != "" {
				res[k] = v
			}
		}
		plain, _ := json.Marshal(res)
		n, err := readResource("EV-1", "TRANSACTION.SUCCESS", "transaction", plain)
		if err != nil {
			return
		}
		if err := payment.MatchTrade(p, payment.SoleAttempt(p), want, *n.Trade); err != nil {
			return
		}
		for _, app := range []string{appid, spAppid} {
			if app != "" && app != want.App {
				t.Fatalf("accepted appid %q/%q, want %q", appid, spAppid, want.App)
			}
		}
		for _, m := range []string{mchid, spMchid} {
			if m != "" && m != want.Merchant {
				t.Fatalf("accepted mchid %q/%q, want %q", mchid, spMchid, want.Merchant)
			}
		}
		if subMchid != want.SubMerchant || order != p.ID || delta != 0 || currency != p.Currency {
			t.Fatalf("accepted %s", plain)
		}
	})
}
