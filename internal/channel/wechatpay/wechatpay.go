// Package wechatpay connects hutong to WeChat Pay API v3, in direct and
// service-provider mode, on the official SDK (wechatpay-go): the SDK signs
// every request and verifies every answer and notification with the
// platform public key; this package maps hutong's payments onto the API.
package wechatpay

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

const api = "https://api.mch.weixin.qq.com"

// Config is one WeChat Pay merchant account (a service provider when
// payments name a sub-merchant).
type Config struct {
	MchID               string
	AppID               string
	MerchantSerialNo    string
	MerchantPrivateKey  *rsa.PrivateKey
	APIv3Key            string
	PlatformPublicKeyID string
	PlatformPublicKey   *rsa.PublicKey
	// HTTPClient reaches the wallet; the sandbox's sandboxhttp client in
	// tests and demos.
	HTTPClient *http.Client
	// AppSecret is the appid's secret for web authorization (openids for
	// JSAPI payments on the hosted cashier); AuthorizeBase is where the
	// browser goes for it, "" meaning WeChat's own host.
	AppSecret     string
	AuthorizeBase string
	// MerchantName is the account's registered full name (商户全称): the
	// name profit sharing adds the platform's own receiver under.
	MerchantName string
	// ProfitSharing makes partner-mode payments with
	// settle_info.profit_sharing, so they stay frozen until ShareProfit.
	ProfitSharing bool
}

// Connector is a channel.Connector for one WeChat Pay account.
type Connector struct {
	cfg    Config
	client *core.Client
	// fileClient signs requests like client but validates no answer: it
	// only downloads bill files, which the platform does not sign.
	fileClient *core.Client
	notify     *notify.Handler
}

// New builds a connector; it does not call the wallet.
func New(ctx context.Context, cfg Config) (*Connector, error) {
	if len(cfg.APIv3Key) != wechatpayv3.APIv3KeyLen {
		return nil, fmt.Errorf("wechatpay: the APIv3 key must be %d bytes", wechatpayv3.APIv3KeyLen)
	}
	opts := []core.ClientOption{option.WithWechatPayPublicKeyAuthCipher(cfg.MchID, cfg.MerchantSerialNo, cfg.MerchantPrivateKey, cfg.PlatformPublicKeyID, cfg.PlatformPublicKey)}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	client, err := core.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: %w", err)
	}
	block, _ := aes.NewCipher([]byte(cfg.APIv3Key))
	gcm, _ := cipher.NewGCM(block)
	h := notify.NewEmptyHandler().AddRSAWithAESGCM(verifiers.NewSHA256WithRSAPubkeyVerifier(cfg.PlatformPublicKeyID, *cfg.PlatformPublicKey), gcm)
	return &Connector{cfg: cfg, client: client, fileClient: unvalidatedClient(client), notify: h}, nil
}

// Channel implements channel.Connector.
func (c *Connector) Channel() string { return Name }

// NotifyWindow implements channel.NotifyWindower: the wallet notifies an
// outcome 15 times over about 24 hours.
func (c *Connector) NotifyWindow() time.Duration { return 24 * time.Hour }

// Expect implements channel.Connector: the account's appid and mchid, and
// in partner mode (sub, the sub_mchid) its sp_appid and sp_mchid with the
// sub-merchant.
func (c *Connector) Expect(sub, _ string) channel.Identity {
	return channel.Identity{App: c.cfg.AppID, Merchant: c.cfg.MchID, SubMerchant: sub}
}

// walletError reads the platform's refusal.
func walletError(err error) error {
	var ae *core.APIError
	if errors.As(err, &ae) {
		if ae.StatusCode == http.StatusNotFound && (ae.Code == wechatpayv3.CodeOrderNotExist || ae.Code == wechatpayv3.CodeResourceNotExists) {
			return channel.ErrNotFound
		}
		return &channel.WalletError{Status: ae.StatusCode, Code: ae.Code, Message: ae.Message, Final: finalRefusal(ae.StatusCode, ae.Code)}
	}
	return fmt.Errorf("wechatpay: %w", err)
}

// finalRefusal tells a refusal that settles a request (a 4xx naming a
// business or parameter error) from one whose outcome is unknown: a 5xx
// (SYSTEM_ERROR), a rate limit, or a balance to be topped up, after which
// the same request succeeds.
func finalRefusal(status int, code string) bool {
	switch code {
	case "SYSTEM_ERROR", "FREQUENCY_LIMITED", "RATELIMIT_EXCEEDED", "NOT_ENOUGH", "BANKERROR":
		return false
	}
	return status >= 400 && status < 500 && status != http.StatusTooManyRequests
}

var tradeTypes = map[string]string{
	channel.WeChatNative: "native", channel.WeChatJSAPI: "jsapi", channel.WeChatH5: "h5", channel.WeChatApp: "app",
}

// Prepay implements channel.Connector.
func (c *Connector) Prepay(ctx context.Context, p channel.Prepay) (channel.Action, error) {
	kind, ok := tradeTypes[p.Method]
	if !ok {
		return channel.Action{}, fmt.Errorf("wechatpay: method %q is not a WeChat Pay method", p.Method)
	}
	body := map[string]any{
		"description":  p.Description,
		"out_trade_no": p.OutTradeNo,
		"notify_url":   p.NotifyURL,
		"amount":       map[string]any{"total": p.Amount, "currency": "CNY"},
	}
	path := "/v3/pay/transactions/" + kind
	if p.SubMerchant != "" {
		path = "/v3/pay/partner/transactions/" + kind
		body["sp_appid"], body["sp_mchid"], body["sub_mchid"] = c.cfg.AppID, c.cfg.MchID, p.SubMerchant
		if c.cfg.ProfitSharing {
			body["settle_info"] = map[string]bool{"profit_sharing": true}
		}
	} else {
		body["appid"], body["mchid"] = c.cfg.AppID, c.cfg.MchID
	}
	if !p.ExpiresAt.IsZero() {
		body["time_expire"] = chinatime.RFC3339(p.ExpiresAt)
	}
	switch p.Method {
	case channel.WeChatJSAPI:
		if p.Payer == "" {
			return channel.Action{}, errors.New("wechatpay: a JSAPI payment needs the payer's openid")
		}
		if p.SubMerchant != "" {
			body["payer"] = map[string]string{"sp_openid": p.Payer}
		} else {
			body["payer"] = map[string]string{"openid": p.Payer}
		}
	case channel.WeChatH5:
		ip := p.ClientIP
		if ip == "" {
			return channel.Action{}, errors.New("wechatpay: an H5 payment needs the payer's client IP")
		}
		body["scene_info"] = map[string]any{"payer_client_ip": ip, "h5_info": map[string]string{"type": "Wap"}}
	}
	res, err := c.client.Post(ctx, api+path, body)
	if err != nil {
		return channel.Action{}, walletError(err)
	}
	var out struct {
		CodeURL  string `json:"code_url"`
		PrepayID string `json:"prepay_id"`
		H5URL    string `json:"h5_url"`
	}
	if err := json.NewDecoder(res.Response.Body).Decode(&out); err != nil {
		return channel.Action{}, fmt.Errorf("wechatpay: prepay answer: %w", err)
	}
	switch p.Method {
	case channel.WeChatNative:
		return channel.Action{Type: "qr_code", QRCode: out.CodeURL}, nil
	case channel.WeChatH5:
		u := out.H5URL
		if p.ReturnURL != "" {
			u += "&redirect_url=" + url.QueryEscape(p.ReturnURL)
		}
		return channel.Action{Type: "redirect", URL: u}, nil
	case channel.WeChatJSAPI:
		return c.jsapiParams(ctx, out.PrepayID)
	default:
		return c.appParams(ctx, out.PrepayID)
	}
}

// jsapiParams are what WeixinJSBridge.invoke("getBrandWCPayRequest") takes,
// signed with the merchant key over appId, timeStamp, nonceStr, package.
func (c *Connector) jsapiParams(ctx context.Context, prepayID string) (channel.Action, error) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := wechatpayv3.RandomString(32)
	pkg := "prepay_id=" + prepayID
	sig, err := c.client.Sign(ctx, c.cfg.AppID+"\n"+ts+"\n"+nonce+"\n"+pkg+"\n")
	if err != nil {
		return channel.Action{}, err
	}
	return channel.Action{Type: "wallet_sdk", Params: map[string]string{
		"appId": c.cfg.AppID, "timeStamp": ts, "nonceStr": nonce, "package": pkg, "signType": "RSA", "paySign": sig.Signature,
	}}, nil
}

// appParams are what the WeChat app SDK's PayReq takes.
func (c *Connector) appParams(ctx context.Context, prepayID string) (channel.Action, error) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := wechatpayv3.RandomString(32)
	sig, err := c.client.Sign(ctx, c.cfg.AppID+"\n"+ts+"\n"+nonce+"\n"+prepayID+"\n")
	if err != nil {
		return channel.Action{}, err
	}
	return channel.Action{Type: "wallet_sdk", Params: map[string]string{
		"appid": c.cfg.AppID, "partnerid": c.cfg.MchID, "prepayid": prepayID, "package": "Sign=WXPay",
		"noncestr": nonce, "timestamp": ts, "sign": sig.Signature,
	}}, nil
}

// transaction is the query answer and the payment notification's resource.
type transaction struct {
	AppID         string `json:"appid"`
	MchID         string `json:"mchid"`
	SpAppID       string `json:"sp_appid"`
	SpMchID       string `json:"sp_mchid"`
	SubMchID      string `json:"sub_mchid"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	TradeState    string `json:"trade_state"`
	SuccessTime   string `json:"success_time"`
	Payer         struct {
		OpenID   string `json:"openid"`
		SpOpenID string `json:"sp_openid"`
	} `json:"payer"`
	Amount struct {
		Total    int64  `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

func (t transaction) trade() channel.Trade {
	out := channel.Trade{
		Identity:   channel.Identity{App: t.AppID, Merchant: t.MchID},
		OutTradeNo: t.OutTradeNo, TransactionID: t.TransactionID, Amount: t.Amount.Total, Currency: t.Amount.Currency,
		Payer: t.Payer.OpenID,
	}
	if t.SpAppID != "" || t.SpMchID != "" || t.SubMchID != "" {
		// Partner mode names the service provider's app and merchant, and
		// the sub-merchant; an appid or mchid beside them is named too, so
		// that a message naming both ways cannot pick the one that matches.
		out.Identity = channel.Identity{App: t.SpAppID + t.AppID, Merchant: t.SpMchID + t.MchID, SubMerchant: t.SubMchID}
		out.Payer = t.Payer.SpOpenID
	}
	switch t.TradeState {
	case "SUCCESS":
		out.State = channel.TradePaid
	case "REFUND":
		out.State = channel.TradeRefunded
	case "CLOSED", "REVOKED", "PAYERROR":
		out.State = channel.TradeClosed
	default:
		out.State = channel.TradePending
	}
	if at, err := time.Parse(time.RFC3339, t.SuccessTime); err == nil {
		out.PaidAt = at.UTC()
	}
	return out
}

func (c *Connector) orderPath(outTradeNo, sub string) string {
	if sub != "" {
		return "/v3/pay/partner/transactions/out-trade-no/" + url.PathEscape(outTradeNo)
	}
	return "/v3/pay/transactions/out-trade-no/" + url.PathEscape(outTradeNo)
}

// Query implements channel.Connector.
func (c *Connector) Query(ctx context.Context, outTradeNo, sub string) (channel.Trade, error) {
	q := url.Values{"mchid": {c.cfg.MchID}}
	if sub != "" {
		q = url.Values{"sp_mchid": {c.cfg.MchID}, "sub_mchid": {sub}}
	}
	res, err := c.client.Get(ctx, api+c.orderPath(outTradeNo, sub)+"?"+q.Encode())
	if err != nil {
		return channel.Trade{}, walletError(err)
	}
	var t transaction
	if err := json.NewDecoder(res.Response.Body).Decode(&t); err != nil {
		return channel.Trade{}, fmt.Errorf("wechatpay: query answer: %w", err)
	}
	return t.trade(), nil
}

// Close implements channel.Connector.
func (c *Connector) Close(ctx context.Context, outTradeNo, sub string) error {
	body := map[string]string{"mchid": c.cfg.MchID}
	if sub != "" {
		body = map[string]string{"sp_mchid": c.cfg.MchID, "sub_mchid": sub}
	}
	_, err := c.client.Post(ctx, api+c.orderPath(outTradeNo, sub)+"/close", body)
	if err != nil {
		return walletError(err)
	}
	return nil
}

type refundAnswer struct {
	MchID       string `json:"mchid"`
	SpMchID     string `json:"sp_mchid"`
	SubMchID    string `json:"sub_mchid"`
	OutTradeNo  string `json:"out_trade_no"`
	OutRefundNo string `json:"out_refund_no"`
	RefundID    string `json:"refund_id"`
	Status      string `json:"status"`
	// Notifications name the status refund_status.
	RefundStatus string `json:"refund_status"`
	SuccessTime  string `json:"success_time"`
	Amount       struct {
		Total  int64 `json:"total"`
		Refund int64 `json:"refund"`
	} `json:"amount"`
}

func (r refundAnswer) refund() channel.Refund {
	st := r.Status
	if st == "" {
		st = r.RefundStatus
	}
	out := channel.Refund{
		Identity:   channel.Identity{Merchant: r.SpMchID + r.MchID, SubMerchant: r.SubMchID},
		OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, RefundID: r.RefundID,
		Amount: r.Amount.Refund, Total: r.Amount.Total, State: channel.RefundPending,
	}
	switch st {
	case "SUCCESS":
		out.State = channel.RefundSucceeded
		if at, err := time.Parse(time.RFC3339, r.SuccessTime); err == nil {
			out.SucceededAt = at.UTC()
		}
	case "CLOSED", "ABNORMAL":
		out.State = channel.RefundFailed
	}
	return out
}

// Refund implements channel.Connector.
func (c *Connector) Refund(ctx context.Context, r channel.RefundRequest) (channel.Refund, error) {
	body := map[string]any{
		"out_trade_no":  r.OutTradeNo,
		"out_refund_no": r.OutRefundNo,
		"amount":        map[string]any{"refund": r.Amount, "total": r.Total, "currency": "CNY"},
	}
	if r.Reason != "" {
		body["reason"] = r.Reason
	}
	if r.NotifyURL != "" {
		body["notify_url"] = r.NotifyURL
	}
	if r.SubMerchant != "" {
		body["sub_mchid"] = r.SubMerchant
	}
	res, err := c.client.Post(ctx, api+"/v3/refund/domestic/refunds", body)
	if err != nil {
		return channel.Refund{}, walletError(err)
	}
	var out refundAnswer
	if err := json.NewDecoder(res.Response.Body).Decode(&out); err != nil {
		return channel.Refund{}, fmt.Errorf("wechatpay: refund answer: %w", err)
	}
	return out.refund(), nil
}

// QueryRefund implements channel.Connector.
func (c *Connector) QueryRefund(ctx context.Context, _, outRefundNo, sub string) (channel.Refund, error) {
	u := api + "/v3/refund/domestic/refunds/" + url.PathEscape(outRefundNo)
	if sub != "" {
		u += "?sub_mchid=" + url.QueryEscape(sub)
	}
	res, err := c.client.Get(ctx, u)
	if err != nil {
		return channel.Refund{}, walletError(err)
	}
	var out refundAnswer
	if err := json.NewDecoder(res.Response.Body).Decode(&out); err != nil {
		return channel.Refund{}, fmt.Errorf("wechatpay: refund query answer: %w", err)
	}
	return out.refund(), nil
}

// maxNotificationBytes bounds a notification body; real ones are ~1 KiB.
const maxNotificationBytes = 64 << 10

// ParseNotification implements channel.Connector: the SDK verifies the
// platform's signature (and the timestamp window) and decrypts the resource.
func (c *Connector) ParseNotification(r *http.Request) (channel.Notification, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxNotificationBytes)
	var content json.RawMessage
	req, err := c.notify.ParseNotifyRequest(r.Context(), r, &content)
	if err != nil {
		return channel.Notification{}, fmt.Errorf("wechatpay: notification refused: %w: %w", channel.ErrUnverified, err)
	}
	return readResource(req.ID, req.EventType, req.Resource.OriginalType, []byte(req.Resource.Plaintext))
}

// readResource reads a verified, decrypted notification resource. It
// refuses one that lacks an identity WeChat Pay always sends, so that the
// gateway's comparison (payment.MatchTrade, MatchRefund) always has them.
func readResource(id, eventType, originalType string, plain []byte) (channel.Notification, error) {
	n := channel.Notification{ID: id}
	switch {
	case originalType == "transaction" || strings.HasPrefix(eventType, "TRANSACTION."):
		var t transaction
		if err := json.Unmarshal(plain, &t); err != nil || t.OutTradeNo == "" {
			return channel.Notification{}, fmt.Errorf("wechatpay: payment notification %s has no transaction", id)
		}
		tr := t.trade()
		if tr.App == "" || tr.Merchant == "" || tr.Currency == "" {
			return channel.Notification{}, fmt.Errorf("wechatpay: payment notification %s names no appid, mchid or currency", id)
		}
		n.Trade = &tr
	case originalType == "refund" || strings.HasPrefix(eventType, "REFUND."):
		var rf refundAnswer
		if err := json.Unmarshal(plain, &rf); err != nil || rf.OutRefundNo == "" {
			return channel.Notification{}, fmt.Errorf("wechatpay: refund notification %s has no refund", id)
		}
		out := rf.refund()
		if out.Merchant == "" || out.OutTradeNo == "" || out.Total == 0 {
			return channel.Notification{}, fmt.Errorf("wechatpay: refund notification %s names no mchid, out_trade_no or amount.total", id)
		}
		n.Refund = &out
	default:
		return channel.Notification{}, fmt.Errorf("wechatpay: notification %s of unknown type %q", id, eventType)
	}
	return n, nil
}

// Acknowledge implements channel.Connector: 204 accepts; anything else asks
// WeChat Pay to retry.
func (c *Connector) Acknowledge(w http.ResponseWriter, err error) {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	// A map of strings always encodes; a failed write means WeChat Pay hung
	// up, and it retries a notification that was not acknowledged.
	_ = json.NewEncoder(w).Encode(map[string]string{"code": "FAIL", "message": err.Error()})
}
