package wechatpay

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// prepayBody is the union of the four prepay bodies in both modes.
type prepayBody struct {
	AppID         string          `json:"appid,omitempty"`
	MchID         string          `json:"mchid,omitempty"`
	SpAppID       string          `json:"sp_appid,omitempty"`
	SpMchID       string          `json:"sp_mchid,omitempty"`
	SubAppID      string          `json:"sub_appid,omitempty"`
	SubMchID      string          `json:"sub_mchid,omitempty"`
	Description   string          `json:"description"`
	OutTradeNo    string          `json:"out_trade_no"`
	TimeExpire    string          `json:"time_expire,omitempty"`
	Attach        string          `json:"attach,omitempty"`
	NotifyURL     string          `json:"notify_url"`
	GoodsTag      string          `json:"goods_tag,omitempty"`
	SupportFapiao bool            `json:"support_fapiao,omitempty"`
	Amount        *amountBody     `json:"amount"`
	Payer         *payerBody      `json:"payer,omitempty"`
	Detail        json.RawMessage `json:"detail,omitempty"`
	SceneInfo     *sceneBody      `json:"scene_info,omitempty"`
	SettleInfo    json.RawMessage `json:"settle_info,omitempty"`
}

type amountBody struct {
	Total    *int64 `json:"total"`
	Currency string `json:"currency,omitempty"`
}

type payerBody struct {
	OpenID    string `json:"openid,omitempty"`
	SpOpenID  string `json:"sp_openid,omitempty"`
	SubOpenID string `json:"sub_openid,omitempty"`
}

type sceneBody struct {
	PayerClientIP string          `json:"payer_client_ip,omitempty"`
	DeviceID      string          `json:"device_id,omitempty"`
	StoreInfo     json.RawMessage `json:"store_info,omitempty"`
	H5Info        *struct {
		Type string `json:"type"`
	} `json:"h5_info,omitempty"`
}

func fingerprint(parts ...any) string {
	b, _ := json.Marshal(parts)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *Simulator) prepay(tradeType string, partner bool) handlerFunc {
	return func(c *call) reply {
		var b prepayBody
		if rep, ok := decodeBody(c.body, &b); !ok {
			return rep
		}
		o, rep, ok := s.validatePrepay(c, tradeType, partner, &b)
		if !ok {
			return rep
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if old, exists := s.orders[o.Key]; exists {
			s.expireIfDue(old)
			switch {
			case old.State == StateSuccess || old.State == StateRefund:
				return fail(http.StatusBadRequest, wechatpayv3.CodeOrderPaid, "该订单已支付")
			case old.State == StateClosed:
				return fail(http.StatusBadRequest, wechatpayv3.CodeOrderClosed, "订单已关闭")
			case old.Fingerprint != o.Fingerprint:
				return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "201 商户订单号重复")
			}
			return ok200Prepay(old)
		}
		now := s.now()
		o.PrepayID = "wx" + now.In(chinatime.Location).Format("20060102150405") + randomHex(20)
		switch tradeType {
		case TradeNative:
			o.CodeURL = "weixin://wxpay/bizpayurl?pr=" + wechatpayv3.RandomString(10)
		case TradeH5:
			o.H5URL = s.cfg.BaseURL + "/phone/wechatpay/h5?prepay_id=" + o.PrepayID + "&package=" + sandboxkeys.Digits(10)
		}
		o.State = StateNotPay
		o.CreatedAt = now
		if err := s.putOrder(o); err != nil {
			return fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误")
		}
		return ok200Prepay(o)
	}
}

func ok200Prepay(o *Order) reply {
	switch o.TradeType {
	case TradeNative:
		return answer(map[string]string{"code_url": o.CodeURL})
	case TradeH5:
		return answer(map[string]string{"h5_url": o.H5URL})
	}
	return answer(map[string]string{"prepay_id": o.PrepayID})
}

// validatePrepay checks a prepay body against the platform's rules and
// builds the order it asks for.
func (s *Simulator) validatePrepay(c *call, tradeType string, partner bool, b *prepayBody) (*Order, reply, bool) {
	o := &Order{Partner: partner, TradeType: tradeType}
	if partner {
		for _, f := range []struct{ path, v string }{{"/sp_appid", b.SpAppID}, {"/sp_mchid", b.SpMchID}, {"/sub_mchid", b.SubMchID}} {
			if f.v == "" {
				return nil, missing("body", f.path), false
			}
		}
		o.MchID, o.AppID, o.SubMchID, o.SubAppID = b.SpMchID, b.SpAppID, b.SubMchID, b.SubAppID
	} else {
		for _, f := range []struct{ path, v string }{{"/appid", b.AppID}, {"/mchid", b.MchID}} {
			if f.v == "" {
				return nil, missing("body", f.path), false
			}
		}
		o.MchID, o.AppID = b.MchID, b.AppID
	}
	if o.MchID != c.mchid {
		return nil, fail(http.StatusBadRequest, wechatpayv3.CodeParamError, "http header中的mchid与post payload中的mchid不匹配"), false
	}
	if o.AppID != s.creds.AppID {
		return nil, fail(http.StatusBadRequest, wechatpayv3.CodeAppIDMchIDNotMatch, "appid和mch_id不匹配，请检查后再试"), false
	}
	if partner {
		if rep, ok := s.checkSubMerchant(o.MchID, o.SubMchID); !ok {
			return nil, rep, false
		}
		s.mu.Lock()
		subAppID := s.subs[o.SubMchID].SubAppID
		s.mu.Unlock()
		if o.SubAppID != "" && o.SubAppID != subAppID {
			return nil, fail(http.StatusBadRequest, wechatpayv3.CodeAppIDMchIDNotMatch, "sub_appid和sub_mchid不匹配，请检查后再试"), false
		}
	}
	if rep, ok := checkLen("/description", b.Description, 1, 127); !ok {
		return nil, rep, false
	}
	if b.OutTradeNo == "" {
		return nil, missing("body", "/out_trade_no"), false
	}
	if !outTradeNoPattern.MatchString(b.OutTradeNo) {
		return nil, paramError("body", "/out_trade_no", "格式规则校验失败，应为 6 到 32 位字母、数字或 _-|*", b.OutTradeNo), false
	}
	if rep, ok := checkURL("/notify_url", b.NotifyURL, true); !ok {
		return nil, rep, false
	}
	if rep, ok := checkLen("/attach", b.Attach, 0, 128); !ok {
		return nil, rep, false
	}
	if b.Amount == nil {
		return nil, missing("body", "/amount"), false
	}
	if b.Amount.Total == nil {
		return nil, missing("body", "/amount/total"), false
	}
	if *b.Amount.Total <= 0 {
		return nil, paramError("body", "/amount/total", "取值范围规则校验失败，应大于 0", *b.Amount.Total), false
	}
	if b.Amount.Currency != "" && b.Amount.Currency != "CNY" {
		return nil, paramError("body", "/amount/currency", "枚举规则校验失败，境内支付只支持 CNY", b.Amount.Currency), false
	}
	if b.TimeExpire != "" {
		t, err := time.Parse(time.RFC3339, b.TimeExpire)
		if err != nil {
			return nil, paramError("body", "/time_expire", "格式规则校验失败，应为 rfc3339 格式，如 2018-06-08T10:34:56+08:00", b.TimeExpire), false
		}
		if !t.After(s.now()) {
			return nil, paramError("body", "/time_expire", "取值规则校验失败，交易结束时间应晚于当前时间", b.TimeExpire), false
		}
		o.TimeExpire = t.UTC()
	}
	if tradeType == TradeJSAPI {
		if rep, ok := s.checkPayer(o, b.Payer); !ok {
			return nil, rep, false
		}
	}
	if tradeType == TradeH5 {
		if b.SceneInfo == nil {
			return nil, missing("body", "/scene_info"), false
		}
		if b.SceneInfo.PayerClientIP == "" {
			return nil, missing("body", "/scene_info/payer_client_ip"), false
		}
		if b.SceneInfo.H5Info == nil || b.SceneInfo.H5Info.Type == "" {
			return nil, missing("body", "/scene_info/h5_info/type"), false
		}
	}
	o.Key = orderKey(o.MchID, o.SubMchID, b.OutTradeNo)
	o.OutTradeNo = b.OutTradeNo
	o.Desc = b.Description
	o.Attach = b.Attach
	o.NotifyURL = b.NotifyURL
	o.GoodsTag = b.GoodsTag
	o.Total = *b.Amount.Total
	o.Currency = "CNY"
	if b.SceneInfo != nil {
		o.SceneInfo, _ = json.Marshal(b.SceneInfo)
	}
	sharing, rep, ok := parseSettleInfo(b.SettleInfo)
	if !ok {
		return nil, rep, false
	}
	o.ProfitSharing = sharing
	o.Fingerprint = fingerprint(tradeType, b)
	return o, reply{}, true
}

func (s *Simulator) checkSubMerchant(spMchID, subMchID string) (reply, bool) {
	s.mu.Lock()
	sm, ok := s.subs[subMchID]
	if !ok { // an application approved by now, not yet read
		s.advanceApplyments()
		sm, ok = s.subs[subMchID]
	}
	s.mu.Unlock()
	if !ok || sm.SpMchID != spMchID {
		return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest, "服务商与特约商户不存在受理关系: sub_mchid "+subMchID), false
	}
	return reply{}, true
}

// checkPayer requires a JSAPI payer whose openid belongs to a sandbox user
// under the appid it is given for.
func (s *Simulator) checkPayer(o *Order, p *payerBody) (reply, bool) {
	mismatch := fail(http.StatusInternalServerError, "OPENID_MISMATCH", "OpenID和AppID不匹配")
	if !o.Partner {
		if p == nil || p.OpenID == "" {
			return missing("body", "/payer/openid"), false
		}
		if _, ok := s.cfg.Users.ByOpenID(o.AppID, p.OpenID); !ok {
			return mismatch, false
		}
		o.OpenID = p.OpenID
		return reply{}, true
	}
	if p == nil || (p.SpOpenID == "" && p.SubOpenID == "") {
		return missing("body", "/payer/sp_openid"), false
	}
	if p.SpOpenID != "" {
		if _, ok := s.cfg.Users.ByOpenID(o.AppID, p.SpOpenID); !ok {
			return mismatch, false
		}
		o.OpenID = p.SpOpenID
	}
	if p.SubOpenID != "" {
		if o.SubAppID == "" {
			return missing("body", "/sub_appid"), false
		}
		if _, ok := s.cfg.Users.ByOpenID(o.SubAppID, p.SubOpenID); !ok {
			return mismatch, false
		}
		o.SubOpenID = p.SubOpenID
	}
	return reply{}, true
}

// merchantParams reads and checks the merchant identity of a query or
// close: mchid, or sp_mchid and sub_mchid, from the query or the body.
func (s *Simulator) merchantParams(c *call, partner bool, location string, get func(string) string) (mchid, sub string, rep reply, ok bool) {
	if partner {
		mchid, sub = get("sp_mchid"), get("sub_mchid")
		if mchid == "" {
			return "", "", missing(location, "/sp_mchid"), false
		}
		if sub == "" {
			return "", "", missing(location, "/sub_mchid"), false
		}
	} else {
		mchid = get("mchid")
		if mchid == "" {
			return "", "", missing(location, "/mchid"), false
		}
	}
	if mchid != c.mchid {
		return "", "", fail(http.StatusBadRequest, wechatpayv3.CodeParamError, "http header中的mchid与请求参数中的mchid不匹配"), false
	}
	if partner {
		if rep, ok := s.checkSubMerchant(mchid, sub); !ok {
			return "", "", rep, false
		}
	}
	return mchid, sub, reply{}, true
}

var orderNotExist = fail(http.StatusNotFound, wechatpayv3.CodeOrderNotExist, "订单不存在")

func (s *Simulator) queryByOutTradeNo(partner bool) handlerFunc {
	return func(c *call) reply {
		mchid, sub, rep, ok := s.merchantParams(c, partner, "query", c.r.URL.Query().Get)
		if !ok {
			return rep
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		o, found := s.orders[orderKey(mchid, sub, c.r.PathValue("out_trade_no"))]
		if !found {
			return orderNotExist
		}
		s.expireIfDue(o)
		return answer(s.transactionJSON(o))
	}
}

func (s *Simulator) queryByID(partner bool) handlerFunc {
	return func(c *call) reply {
		mchid, sub, rep, ok := s.merchantParams(c, partner, "query", c.r.URL.Query().Get)
		if !ok {
			return rep
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		o, found := s.byTxn[c.r.PathValue("transaction_id")]
		if !found || o.MchID != mchid || o.SubMchID != sub || o.Partner != partner {
			return orderNotExist
		}
		return answer(s.transactionJSON(o))
	}
}

func (s *Simulator) closeOrder(partner bool) handlerFunc {
	return func(c *call) reply {
		var b map[string]any
		if rep, ok := decodeBody(c.body, &b); !ok {
			return rep
		}
		get := func(k string) string { v, _ := b[k].(string); return v }
		mchid, sub, rep, ok := s.merchantParams(c, partner, "body", get)
		if !ok {
			return rep
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		o, found := s.orders[orderKey(mchid, sub, c.r.PathValue("out_trade_no"))]
		if !found {
			return noContent() // the platform answers 204 for an unknown order too
		}
		s.expireIfDue(o)
		switch o.State {
		case StateSuccess, StateRefund:
			return fail(http.StatusBadRequest, wechatpayv3.CodeOrderPaid, "该订单已支付")
		case StateClosed:
			return noContent()
		}
		next := *o
		next.State = StateClosed
		next.ClosedAt = s.now()
		if err := s.putOrder(&next); err != nil {
			return fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误")
		}
		return noContent()
	}
}

// transactionJSON is an order as the query API and the payment notification
// present it.
type transactionJSON struct {
	AppID          string          `json:"appid,omitempty"`
	MchID          string          `json:"mchid,omitempty"`
	SpAppID        string          `json:"sp_appid,omitempty"`
	SpMchID        string          `json:"sp_mchid,omitempty"`
	SubAppID       string          `json:"sub_appid,omitempty"`
	SubMchID       string          `json:"sub_mchid,omitempty"`
	OutTradeNo     string          `json:"out_trade_no"`
	TransactionID  string          `json:"transaction_id,omitempty"`
	TradeType      string          `json:"trade_type,omitempty"`
	TradeState     string          `json:"trade_state"`
	TradeStateDesc string          `json:"trade_state_desc"`
	BankType       string          `json:"bank_type,omitempty"`
	Attach         string          `json:"attach"`
	SuccessTime    string          `json:"success_time,omitempty"`
	Payer          *payerBody      `json:"payer,omitempty"`
	Amount         amountJSON      `json:"amount"`
	SceneInfo      json.RawMessage `json:"scene_info,omitempty"`
}

type amountJSON struct {
	Total         int64  `json:"total"`
	PayerTotal    *int64 `json:"payer_total,omitempty"`
	Currency      string `json:"currency"`
	PayerCurrency string `json:"payer_currency"`
}

var tradeStateDesc = map[string]string{
	StateNotPay:  "订单未支付",
	StateSuccess: "支付成功",
	StateRefund:  "订单发生过退款",
	StateClosed:  "订单已关闭",
}

func (s *Simulator) transactionJSON(o *Order) transactionJSON {
	t := transactionJSON{
		OutTradeNo:     o.OutTradeNo,
		TradeState:     o.State,
		TradeStateDesc: tradeStateDesc[o.State],
		Attach:         o.Attach,
		Amount:         amountJSON{Total: o.Total, Currency: o.Currency, PayerCurrency: o.Currency},
	}
	if o.Partner {
		t.SpAppID, t.SpMchID, t.SubAppID, t.SubMchID = o.AppID, o.MchID, o.SubAppID, o.SubMchID
	} else {
		t.AppID, t.MchID = o.AppID, o.MchID
	}
	if o.TransactionID != "" {
		t.TransactionID = o.TransactionID
		t.TradeType = o.TradeType
		t.BankType = "OTHERS"
		t.SuccessTime = chinatime.RFC3339(o.SuccessTime)
		paid := o.Total
		t.Amount.PayerTotal = &paid
		if o.Partner {
			t.Payer = &payerBody{SpOpenID: users.OpenID(o.PaidBy, o.AppID)}
			if o.SubAppID != "" {
				t.Payer.SubOpenID = users.OpenID(o.PaidBy, o.SubAppID)
			}
		} else {
			t.Payer = &payerBody{OpenID: users.OpenID(o.PaidBy, o.AppID)}
		}
	}
	if len(o.SceneInfo) > 0 && o.TransactionID != "" {
		t.SceneInfo = o.SceneInfo
	}
	return t
}
