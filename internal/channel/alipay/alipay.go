// Package alipay connects hutong to the Alipay OpenAPI (RSA2, public-key
// mode) on smartwalle/alipay, the most used Go SDK: the SDK signs requests
// and verifies answers and notifications with the Alipay public key; this
// package maps hutong's payments onto the trade API, acting for another
// merchant through its app_auth_token.
package alipay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/chinatime"
)

// Config is one Alipay app.
type Config struct {
	AppID string
	// SellerID is the app's own merchant (its 2088… user id, the PID): the
	// seller_id of every trade made without an app_auth_token.
	SellerID        string
	AppPrivateKey   string // PEM, PKCS #1 or #8
	AlipayPublicKey string // PEM
	// Gateway is the /gateway.do URL; "" means Alipay's production gateway.
	Gateway    string
	HTTPClient *http.Client
	// AuthorizeBase is where the browser goes for the buyer's user id
	// (alipay.jsapi on the hosted cashier); "" means Alipay's own host.
	AuthorizeBase string
}

// Connector is a channel.Connector for one Alipay app.
type Connector struct {
	cfg    Config
	client *alipaysdk.Client
}

// New builds a connector; it does not call the wallet.
func New(cfg Config) (*Connector, error) {
	if cfg.AppID == "" {
		return nil, errors.New("alipay: the app_id is required")
	}
	if !isBuyerID(cfg.SellerID) {
		return nil, fmt.Errorf("alipay: seller_id must be the app's merchant id, 16 digits starting 2088, got %q", cfg.SellerID)
	}
	// The gateway reads timestamp as Beijing time; the SDK writes the
	// machine's local time unless told.
	opts := []alipaysdk.OptionFunc{alipaysdk.WithTimeLocation(chinatime.Location), alipaysdk.WithHTTPClient(cfg.HTTPClient)}
	if cfg.Gateway != "" {
		opts = append(opts, alipaysdk.WithProductionGateway(cfg.Gateway))
	}
	client, err := alipaysdk.New(cfg.AppID, cfg.AppPrivateKey, true, opts...)
	if err != nil {
		return nil, fmt.Errorf("alipay: app private key: %w", err)
	}
	if err := client.LoadAliPayPublicKey(cfg.AlipayPublicKey); err != nil {
		return nil, fmt.Errorf("alipay: alipay public key: %w", err)
	}
	return &Connector{cfg: cfg, client: client}, nil
}

// Channel implements channel.Connector.
func (c *Connector) Channel() string { return Name }

// NotifyWindow implements channel.NotifyWindower: the wallet notifies an
// outcome 8 times over about 25 hours.
func (c *Connector) NotifyWindow() time.Duration { return 25 * time.Hour }

// Expect implements channel.Connector: the app's app_id, and the seller the
// money lands with, the app's own merchant or (sub, an app_auth_token) the
// authorizing merchant, seller. A token without a known seller expects
// none, so that every message naming a seller is refused until it is known.
func (c *Connector) Expect(sub, seller string) channel.Identity {
	if sub != "" {
		return channel.Identity{App: c.cfg.AppID, Merchant: seller}
	}
	return channel.Identity{App: c.cfg.AppID, Merchant: c.cfg.SellerID}
}

// check turns the SDK's two ways of failing (an unsigned gateway refusal as
// err, a signed business failure in the answer) into one error.
func check(res alipaysdk.Error, err error) error {
	var ae *alipaysdk.Error
	if errors.As(err, &ae) {
		res, err = *ae, nil
	}
	if err != nil {
		return fmt.Errorf("alipay: %w", err)
	}
	if res.IsSuccess() {
		return nil
	}
	if res.SubCode == "ACQ.TRADE_NOT_EXIST" {
		return channel.ErrNotFound
	}
	return &channel.WalletError{Code: string(res.Code) + " " + res.SubCode, Message: res.SubMsg, Final: finalRefusal(string(res.Code), res.SubCode)}
}

// finalRefusal tells a refusal that settles a request from one whose
// outcome is unknown. 40004 is a business refusal, final unless it names a
// system error or a seller balance to be topped up; 20000 (service
// unavailable, isp.unknow-error) and 20001 are unknown; 40001, 40002 and
// 40006 refuse the request itself (parameters, signature, permissions).
func finalRefusal(code, subCode string) bool {
	switch code {
	case "40004":
		switch subCode {
		case "ACQ.SYSTEM_ERROR", "ACQ.SELLER_BALANCE_NOT_ENOUGH":
			return false
		}
		return true
	case "40001", "40002", "40006":
		return true
	}
	return false
}

func trade(p channel.Prepay, productCode string) alipaysdk.Trade {
	t := alipaysdk.Trade{
		NotifyURL: p.NotifyURL, ReturnURL: p.ReturnURL, AppAuthToken: p.SubMerchant,
		Subject: p.Description, OutTradeNo: p.OutTradeNo, TotalAmount: alipayapi.FormatYuan(p.Amount), ProductCode: productCode,
	}
	if !p.ExpiresAt.IsZero() {
		t.TimeExpire = chinatime.DateTime(p.ExpiresAt)
	}
	return t
}

// Prepay implements channel.Connector.
func (c *Connector) Prepay(ctx context.Context, p channel.Prepay) (channel.Action, error) {
	switch p.Method {
	case channel.AlipayQR:
		res, err := c.client.TradePreCreate(alipaysdk.TradePreCreate{Trade: trade(p, "FACE_TO_FACE_PAYMENT")})
		if err := check(errOf(res), err); err != nil {
			return channel.Action{}, err
		}
		return channel.Action{Type: "qr_code", QRCode: res.QRCode}, nil
	case channel.AlipayJSAPI:
		req := alipaysdk.TradeCreate{Trade: trade(p, "JSAPI_PAY")}
		if isBuyerID(p.Payer) {
			req.BuyerId = p.Payer
		} else {
			req.BuyerOpenId = p.Payer
		}
		if p.Payer == "" {
			return channel.Action{}, errors.New("alipay: an in-wallet payment needs the buyer's id or open id")
		}
		res, err := c.client.TradeCreate(req)
		if err := check(errOf(res), err); err != nil {
			return channel.Action{}, err
		}
		return channel.Action{Type: "wallet_sdk", Params: map[string]string{"tradeNO": res.TradeNo}}, nil
	case channel.AlipayWap:
		req := alipaysdk.TradeWapPay{Trade: trade(p, "QUICK_WAP_WAY"), QuitURL: p.ReturnURL}
		if !p.ExpiresAt.IsZero() {
			req.TimeExpire = p.ExpiresAt.In(chinatime.Location).Format("2006-01-02 15:04")
		}
		u, err := c.client.TradeWapPay(req)
		if err != nil {
			return channel.Action{}, fmt.Errorf("alipay: %w", err)
		}
		return channel.Action{Type: "redirect", URL: u.String()}, nil
	case channel.AlipayPage:
		u, err := c.client.TradePagePay(alipaysdk.TradePagePay{Trade: trade(p, "FAST_INSTANT_TRADE_PAY")})
		if err != nil {
			return channel.Action{}, fmt.Errorf("alipay: %w", err)
		}
		return channel.Action{Type: "redirect", URL: u.String()}, nil
	case channel.AlipayApp:
		s, err := c.client.TradeAppPay(alipaysdk.TradeAppPay{Trade: trade(p, "QUICK_MSECURITY_PAY")})
		if err != nil {
			return channel.Action{}, fmt.Errorf("alipay: %w", err)
		}
		return channel.Action{Type: "wallet_sdk", Params: map[string]string{"orderStr": s}}, nil
	}
	return channel.Action{}, fmt.Errorf("alipay: method %q is not an Alipay method", p.Method)
}

// errOf reads the common result of an answer; a nil answer (the call
// failed before one arrived) has none.
func errOf(r any) alipaysdk.Error {
	switch v := r.(type) {
	case *alipaysdk.TradePreCreateRsp:
		if v != nil {
			return v.Error
		}
	case *alipaysdk.TradeCreateRsp:
		if v != nil {
			return v.Error
		}
	case *alipaysdk.TradeQueryRsp:
		if v != nil {
			return v.Error
		}
	case *alipaysdk.TradeCloseRsp:
		if v != nil {
			return v.Error
		}
	case *alipaysdk.TradeCancelRsp:
		if v != nil {
			return v.Error
		}
	case *alipaysdk.TradeRefundRsp:
		if v != nil {
			return v.Error
		}
	case *alipaysdk.TradeFastPayRefundQueryRsp:
		if v != nil {
			return v.Error
		}
	}
	return alipaysdk.Error{}
}

// isBuyerID tells a 2088… user id from an open id.
func isBuyerID(s string) bool {
	return len(s) == 16 && strings.HasPrefix(s, "2088") && strings.Trim(s, "0123456789") == ""
}

func state(tradeStatus string) string {
	switch tradeStatus {
	case "TRADE_SUCCESS", "TRADE_FINISHED":
		return channel.TradePaid
	case "TRADE_CLOSED":
		return channel.TradeClosed
	}
	return channel.TradePending
}

// Query implements channel.Connector. Alipay does not know a precreated
// trade until a buyer scans it: that is ErrNotFound, and the payment is
// simply still pending.
func (c *Connector) Query(ctx context.Context, outTradeNo, sub string) (channel.Trade, error) {
	res, err := c.client.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: outTradeNo, AppAuthToken: sub})
	if err := check(errOf(res), err); err != nil {
		return channel.Trade{}, err
	}
	t := channel.Trade{OutTradeNo: res.OutTradeNo, TransactionID: res.TradeNo, State: state(string(res.TradeStatus)), Currency: "CNY", Payer: res.BuyerUserId}
	amount, err := alipayapi.ParseYuan(res.TotalAmount)
	if err != nil {
		return channel.Trade{}, fmt.Errorf("alipay: query answer: %w", err)
	}
	t.Amount = amount
	if res.SendPayDate != "" {
		t.PaidAt, _ = chinatime.ParseDateTime(res.SendPayDate)
	}
	return t, nil
}

// Close implements channel.Connector. A trade no buyer has scanned is
// unknown to close, so it is cancelled instead, which reaches it.
func (c *Connector) Close(ctx context.Context, outTradeNo, sub string) error {
	res, err := c.client.TradeClose(alipaysdk.TradeClose{OutTradeNo: outTradeNo, AppAuthToken: sub})
	err = check(errOf(res), err)
	if errors.Is(err, channel.ErrNotFound) {
		cres, cerr := c.client.TradeCancel(alipaysdk.TradeCancel{OutTradeNo: outTradeNo, AppAuthToken: sub})
		if err := check(errOf(cres), cerr); err != nil {
			return err
		}
		if cres.Action == "refund" {
			return &channel.WalletError{Code: "cancel refunded", Message: "the trade had been paid and cancel refunded it", Final: true}
		}
		return nil
	}
	return err
}

// Refund implements channel.Connector. Alipay refunds synchronously.
func (c *Connector) Refund(ctx context.Context, r channel.RefundRequest) (channel.Refund, error) {
	res, err := c.client.TradeRefund(alipaysdk.TradeRefund{
		OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRefundNo, RefundAmount: alipayapi.FormatYuan(r.Amount),
		RefundReason: r.Reason, AppAuthToken: r.SubMerchant,
	})
	if err := check(errOf(res), err); err != nil {
		return channel.Refund{}, err
	}
	// The answer names the order and the order's total refunded so far.
	refunded, err := alipayapi.ParseYuan(res.RefundFee)
	if err != nil {
		return channel.Refund{}, fmt.Errorf("alipay: refund answer: refund_fee: %w", err)
	}
	out := channel.Refund{OutTradeNo: res.OutTradeNo, OutRefundNo: r.OutRefundNo, RefundID: res.TradeNo + "/" + r.OutRefundNo, State: channel.RefundSucceeded,
		Amount: refunded, Cumulative: true}
	if res.FundChange == "Y" {
		// Refunded by this very call (the SDK's answer has no
		// gmt_refund_pay); a repeated request ("N") was refunded earlier,
		// at a time its query or notification tells.
		out.SucceededAt = time.Now().UTC()
	}
	return out, nil
}

// QueryRefund implements channel.Connector.
func (c *Connector) QueryRefund(ctx context.Context, outTradeNo, outRefundNo, sub string) (channel.Refund, error) {
	res, err := c.client.TradeFastPayRefundQuery(alipaysdk.TradeFastPayRefundQuery{OutTradeNo: outTradeNo, OutRequestNo: outRefundNo, AppAuthToken: sub})
	if err := check(errOf(res), err); err != nil {
		return channel.Refund{}, err
	}
	if res.RefundStatus == "" {
		return channel.Refund{}, channel.ErrNotFound
	}
	amount, err := alipayapi.ParseYuan(res.RefundAmount)
	if err != nil {
		return channel.Refund{}, fmt.Errorf("alipay: refund query answer: %w", err)
	}
	total, err := parseOptionalYuan(res.TotalAmount)
	if err != nil {
		return channel.Refund{}, fmt.Errorf("alipay: refund query answer: total_amount: %w", err)
	}
	out := channel.Refund{OutTradeNo: res.OutTradeNo, OutRefundNo: res.OutRequestNo, RefundID: res.TradeNo + "/" + outRefundNo, Amount: amount, Total: total, State: channel.RefundPending}
	if res.RefundStatus == "REFUND_SUCCESS" {
		out.State = channel.RefundSucceeded
		out.SucceededAt = refundTime(res.GMTRefundPay)
	}
	return out, nil
}

// refundTime reads a refund's Beijing time (gmt_refund, gmt_refund_pay),
// which may carry milliseconds; zero when absent or unreadable.
func refundTime(s string) time.Time {
	s, _, _ = strings.Cut(s, ".")
	at, err := chinatime.ParseDateTime(s)
	if err != nil {
		return time.Time{}
	}
	return at
}

// parseOptionalYuan reads an amount an answer may leave out (0 then).
func parseOptionalYuan(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return alipayapi.ParseYuan(s)
}

// maxNotificationBytes bounds a notification form.
const maxNotificationBytes = 64 << 10

// ParseNotification implements channel.Connector: the SDK verifies the
// form's RSA2 signature with the Alipay public key.
func (c *Connector) ParseNotification(r *http.Request) (channel.Notification, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxNotificationBytes)
	n, err := c.client.GetTradeNotification(r)
	if err != nil {
		return channel.Notification{}, fmt.Errorf("alipay: notification refused: %w: %w", channel.ErrUnverified, err)
	}
	return readNotification(n)
}

// readNotification reads a verified notification form. It refuses one
// that lacks an identity Alipay always sends (app_id, seller_id), so that
// the gateway's comparison (payment.MatchTrade, MatchRefund) always has
// them.
func readNotification(n *alipaysdk.Notification) (channel.Notification, error) {
	if n.NotifyType != "trade_status_sync" || n.OutTradeNo == "" {
		return channel.Notification{}, fmt.Errorf("alipay: notification %s of type %q is not a trade", n.NotifyId, n.NotifyType)
	}
	amount, err := alipayapi.ParseYuan(n.TotalAmount)
	if err != nil {
		return channel.Notification{}, fmt.Errorf("alipay: notification %s: total_amount: %w", n.NotifyId, err)
	}
	if n.AppId == "" || n.SellerId == "" {
		return channel.Notification{}, fmt.Errorf("alipay: notification %s names no app_id or seller_id", n.NotifyId)
	}
	t := channel.Trade{
		Identity:   channel.Identity{App: n.AppId, Merchant: n.SellerId},
		OutTradeNo: n.OutTradeNo, TransactionID: n.TradeNo, State: state(string(n.TradeStatus)), Amount: amount,
		Currency: "CNY", Payer: n.BuyerId,
	}
	if n.GmtPayment != "" {
		t.PaidAt, _ = chinatime.ParseDateTime(n.GmtPayment)
	}
	out := channel.Notification{ID: n.NotifyId, Trade: &t}
	if n.OutBizNo != "" && n.RefundFee != "" {
		// A refund's notification carries the total refunded so far.
		refunded, err := alipayapi.ParseYuan(n.RefundFee)
		if err != nil {
			return channel.Notification{}, fmt.Errorf("alipay: notification %s: refund_fee: %w", n.NotifyId, err)
		}
		out.Refund = &channel.Refund{Identity: t.Identity, OutTradeNo: n.OutTradeNo, OutRefundNo: n.OutBizNo, RefundID: n.TradeNo + "/" + n.OutBizNo,
			State: channel.RefundSucceeded, Amount: refunded, Cumulative: true, Total: amount, SucceededAt: refundTime(n.GmtRefund)}
	}
	return out, nil
}

// Acknowledge implements channel.Connector: Alipay stops retrying only on
// the plain text "success".
func (c *Connector) Acknowledge(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err == nil {
		w.Write([]byte("success"))
		return
	}
	w.Write([]byte("fail"))
}
