package alipay

import "github.com/hutong-pay/hutong/internal/channel"

// Name is Alipay's channel: its payments' channel and the wallet segment
// of its notification path.
const Name = "alipay"

func init() {
	channel.Register(channel.Wallet{
		Name:  Name,
		Title: "支付宝",
		Rank:  20,
		Methods: []channel.Method{
			{Name: channel.AlipayQR, Title: "支付宝扫码支付", Flow: channel.FlowQR},
			{Name: channel.AlipayJSAPI, Title: "支付宝", Flow: channel.FlowInWallet},
			{Name: channel.AlipayWap, Title: "打开支付宝", Flow: channel.FlowMobileWeb},
			{Name: channel.AlipayPage, Title: "支付宝网页支付", Flow: channel.FlowDesktopWeb},
			{Name: channel.AlipayApp, Title: "支付宝", Flow: channel.FlowApp},
		},
	})
}
