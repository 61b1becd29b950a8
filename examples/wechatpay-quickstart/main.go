// Command wechatpay-quickstart takes one WeChat Pay Native (QR code) payment
// through a hutong sandbox with the official wechatpay-go SDK, unchanged:
// the only sandbox-specific line is the *http.Client.
//
//	go run ./cmd/hutong sandbox &
//	go run ./examples/wechatpay-quickstart
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/hutong-pay/hutong/sandboxhttp"
)

// credentials is the "wechatpay" object of the sandbox's credentials.json.
type credentials struct {
	MchID               string `json:"mchid"`
	AppID               string `json:"appid"`
	MerchantSerialNo    string `json:"merchant_serial_no"`
	MerchantPrivateKey  string `json:"merchant_private_key"`
	APIv3Key            string `json:"apiv3_key"`
	PlatformPublicKeyID string `json:"platform_public_key_id"`
	PlatformPublicKey   string `json:"platform_public_key"`
}

func main() {
	sandboxURL := flag.String("sandbox", "http://127.0.0.1:8090", "the sandbox's base URL")
	credsPath := flag.String("credentials", "hutong-data/sandbox/credentials.json", "the sandbox's credentials.json")
	flag.Parse()
	if err := run(context.Background(), *sandboxURL, *credsPath, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sandboxURL, credsPath string, out io.Writer) error {
	raw, err := os.ReadFile(credsPath)
	if err != nil {
		return err
	}
	var file struct {
		WeChatPay credentials `json:"wechatpay"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		return fmt.Errorf("%s: %w", credsPath, err)
	}
	c := file.WeChatPay
	privateKey, err := utils.LoadPrivateKey(c.MerchantPrivateKey)
	if err != nil {
		return err
	}
	platformKey, err := utils.LoadPublicKey(c.PlatformPublicKey)
	if err != nil {
		return err
	}

	// The one sandbox-specific step: requests for api.mch.weixin.qq.com go
	// to the sandbox. Everything below is the SDK as documented.
	hc, err := sandboxhttp.Client(sandboxURL)
	if err != nil {
		return err
	}
	client, err := core.NewClient(ctx,
		option.WithHTTPClient(hc),
		option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, privateKey, c.PlatformPublicKeyID, platformKey),
	)
	if err != nil {
		return err
	}
	svc := native.NativeApiService{Client: client}
	outTradeNo := fmt.Sprintf("QS%d", time.Now().UnixNano())
	prepay, _, err := svc.Prepay(ctx, native.PrepayRequest{
		Appid:       core.String(c.AppID),
		Mchid:       core.String(c.MchID),
		Description: core.String("hutong quick start · 一杯豆浆"),
		OutTradeNo:  core.String(outTradeNo),
		NotifyUrl:   core.String("https://merchant.example/notify/wechatpay"),
		Amount:      &native.Amount{Total: core.Int64(350), Currency: core.String("CNY")},
	})
	if err != nil {
		return fmt.Errorf("prepay: %w", err)
	}
	fmt.Fprintf(out, "order %s: show this QR code to the buyer: %s\n", outTradeNo, *prepay.CodeUrl)

	// A real buyer scans the code with WeChat; in the sandbox a test (or
	// the phone page) does it through the helper API.
	if err := sandboxPay(ctx, sandboxURL, *prepay.CodeUrl); err != nil {
		return err
	}

	tx, _, err := svc.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String(outTradeNo),
		Mchid:      core.String(c.MchID),
	})
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	fmt.Fprintf(out, "order %s: trade_state %s, transaction_id %s, %d fen\n", outTradeNo, *tx.TradeState, *tx.TransactionId, *tx.Amount.Total)
	if *tx.TradeState != "SUCCESS" {
		return fmt.Errorf("trade_state is %s", *tx.TradeState)
	}
	return nil
}

func sandboxPay(ctx context.Context, sandboxURL, code string) error {
	body, _ := json.Marshal(map[string]string{"wallet": "wechatpay", "code": code})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sandboxURL+"/sandbox/v1/pay", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("sandbox pay: %s: %s", resp.Status, b)
	}
	return nil
}
