module github.com/hutong-pay/hutong

go 1.26.8

require github.com/wechatpay-apiv3/wechatpay-go v0.2.20 // indirect
