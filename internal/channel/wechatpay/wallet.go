package wechatpay

import "github.com/hutong-pay/hutong/internal/channel"

// Name is WeChat Pay's channel: its payments' channel and the wallet
// segment of its notification path.
const Name = "wechatpay"

func init() {
	channel.Register(channel.Wallet{
		Name:  Name,
		Title: "微信支付",
		Rank:  10,
		Methods: []channel.Method{
			{Name: channel.WeChatNative, Title: "微信扫码支付", Flow: channel.FlowQR},
			{Name: channel.WeChatJSAPI, Title: "微信支付", Flow: channel.FlowInWallet},
			{Name: channel.WeChatH5, Title: "打开微信支付", Flow: channel.FlowMobileWeb},
			{Name: channel.WeChatApp, Title: "微信支付", Flow: channel.FlowApp},
		},
	})
}
