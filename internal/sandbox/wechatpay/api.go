package wechatpay

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// MaxBodyBytes bounds a request body, as the platform does.
const MaxBodyBytes = 1 << 20

// clockSkew is how far a request's timestamp may be from the platform's.
const clockSkew = 5 * time.Minute

// call is one authenticated API request.
type call struct {
	r     *http.Request
	body  []byte
	mchid string // from the verified Authorization header
}

// reply is a handler's answer: a status and a body to marshal (nil for an
// empty body).
type reply struct {
	status int
	body   any
}

func answer(v any) reply     { return reply{http.StatusOK, v} }
func noContent() reply       { return reply{status: http.StatusNoContent} }
func (r reply) failed() bool { return r.status >= 400 }

func fail(status int, code, message string) reply {
	return reply{status, &wechatpayv3.Error{Code: code, Message: message}}
}

type handlerFunc func(c *call) reply

func (s *Simulator) routes() {
	m := http.NewServeMux()
	for _, p := range []struct {
		pattern string
		h       handlerFunc
	}{
		{"POST /v3/pay/transactions/native", s.prepay(TradeNative, false)},
		{"POST /v3/pay/transactions/jsapi", s.prepay(TradeJSAPI, false)},
		{"POST /v3/pay/transactions/app", s.prepay(TradeApp, false)},
		{"POST /v3/pay/transactions/h5", s.prepay(TradeH5, false)},
		{"GET /v3/pay/transactions/out-trade-no/{out_trade_no}", s.queryByOutTradeNo(false)},
		{"GET /v3/pay/transactions/id/{transaction_id}", s.queryByID(false)},
		{"POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close", s.closeOrder(false)},

		{"POST /v3/pay/partner/transactions/native", s.prepay(TradeNative, true)},
		{"POST /v3/pay/partner/transactions/jsapi", s.prepay(TradeJSAPI, true)},
		{"POST /v3/pay/partner/transactions/app", s.prepay(TradeApp, true)},
		{"POST /v3/pay/partner/transactions/h5", s.prepay(TradeH5, true)},
		{"GET /v3/pay/partner/transactions/out-trade-no/{out_trade_no}", s.queryByOutTradeNo(true)},
		{"GET /v3/pay/partner/transactions/id/{transaction_id}", s.queryByID(true)},
		{"POST /v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close", s.closeOrder(true)},

		{"POST /v3/refund/domestic/refunds", s.createRefund},
		{"GET /v3/refund/domestic/refunds/{out_refund_no}", s.queryRefund},

		{"POST /v3/applyment4sub/applyment/{$}", s.submitApplyment},
		{"GET /v3/applyment4sub/applyment/business_code/{business_code}", s.queryApplymentByCode},
		{"GET /v3/applyment4sub/applyment/applyment_id/{applyment_id}", s.queryApplymentByID},

		{"POST /v3/profitsharing/receivers/add", s.addReceiver},
		{"POST /v3/profitsharing/receivers/delete", s.deleteReceiver},
		{"GET /v3/profitsharing/merchant-configs/{sub_mchid}", s.merchantConfig},
		{"POST /v3/profitsharing/orders", s.createSharing},
		{"POST /v3/profitsharing/orders/unfreeze", s.unfreezeSharing},
		{"GET /v3/profitsharing/orders/{out_order_no}", s.querySharing},
		{"GET /v3/profitsharing/transactions/{transaction_id}/amounts", s.sharingAmounts},

		{"GET /v3/certificates", s.certificates},
		{"GET /v3/bill/tradebill", s.tradeBill},
		{"GET /v3/billdownload/file", s.downloadBill},
	} {
		m.Handle(p.pattern, s.api(p.h))
	}
	m.Handle("/v3/", s.api(func(c *call) reply {
		return fail(http.StatusNotFound, "NOT_FOUND", "请求的资源不存在: "+c.r.Method+" "+c.r.URL.Path)
	}))
	s.mux = m
}

// Handler serves the API v3 under /v3/.
func (s *Simulator) Handler() http.Handler { return s.mux }

// api wraps a handler with what every API v3 call goes through: the body
// limit, request authentication, injected faults, and a signed answer.
// A refused request changes nothing: the handler does not run.
func (s *Simulator) api(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				s.write(w, r, fail(http.StatusRequestEntityTooLarge, wechatpayv3.CodeParamError, "请求体超过 1 MiB 的上限"))
				return
			}
			s.write(w, r, fail(http.StatusBadRequest, wechatpayv3.CodeParamError, "读取请求体失败"))
			return
		}
		mchid, refused := s.authenticate(r, body)
		if refused.failed() {
			s.write(w, r, refused)
			return
		}
		switch s.cfg.Faults.Get(Wallet).InjectAPI(r.Context()) {
		case faults.Canceled:
			return
		case faults.Fail:
			s.write(w, r, fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误（沙箱注入的故障 api_error_rate）"))
			return
		}
		s.write(w, r, h(&call{r: r, body: body, mchid: mchid}))
	})
}

// authenticate verifies the Authorization header as the platform does. Every
// refusal is 401 SIGN_ERROR, told apart by its message.
func (s *Simulator) authenticate(r *http.Request, body []byte) (string, reply) {
	a, err := wechatpayv3.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return "", signError("Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》: "+err.Error(), "authorization")
	}
	if a.MchID != s.creds.MchID {
		return "", fail(http.StatusBadRequest, wechatpayv3.CodeMchNotExists, "商户号不存在: "+a.MchID)
	}
	if a.SerialNo != s.creds.MerchantSerialNo {
		return "", signError("商户证书序列号有误。请使用签名私钥匹配的证书序列号", "serial_no")
	}
	skew := s.now().Sub(time.Unix(a.Timestamp, 0))
	if skew > clockSkew || skew < -clockSkew {
		return "", signError("Http头Authorization中的timestamp与发起请求的时间不得超过5分钟", "timestamp")
	}
	msg := wechatpayv3.RequestMessage(r.Method, r.RequestURI, a.Timestamp, a.NonceStr, body)
	if err := wechatpayv3.Verify(s.keys.merchantPub, msg, a.Signature); err != nil {
		return "", signError("签名错误，请检查后再试", "signature")
	}
	return a.MchID, reply{}
}

func signError(message, field string) reply {
	return reply{http.StatusUnauthorized, &signErrorBody{
		Code:    wechatpayv3.CodeSignError,
		Message: message,
		Detail:  signErrorDetail{Field: field, Location: "authorization", Detail: map[string]string{"issue": "sign not match"}},
	}}
}

type signErrorBody struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  signErrorDetail `json:"detail"`
}

type signErrorDetail struct {
	Detail   map[string]string `json:"detail"`
	Field    string            `json:"field"`
	Location string            `json:"location"`
}

// write marshals and signs an answer. The signing key follows the request's
// Wechatpay-Serial header (the SDKs send the serial they trust), else the
// sandbox's signing mode. A bill file is the one answer sent unsigned.
func (s *Simulator) write(w http.ResponseWriter, r *http.Request, rep reply) {
	var body []byte
	sign := true
	if rep.body != nil {
		if raw, ok := rep.body.(rawBody); ok {
			body = raw.data
			w.Header().Set("Content-Type", raw.contentType)
			sign = !raw.unsigned
		} else {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(rep.body); err != nil {
				rep = fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误")
				buf.Reset()
				_ = enc.Encode(rep.body) // a fail() body is a map of strings
			}
			body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
	}
	if sign {
		s.signHeaders(w.Header(), r.Header.Get(wechatpayv3.HeaderSerial), body)
	}
	w.Header().Set(wechatpayv3.HeaderRequestID, requestID())
	w.WriteHeader(rep.status)
	w.Write(body)
}

// rawBody is an answer that is not JSON (a bill file).
type rawBody struct {
	contentType string
	data        []byte
	// unsigned leaves out the Wechatpay-Signature, -Serial, -Nonce and
	// -Timestamp headers: the platform does not sign a bill file's download
	// (its request is signed, its answer is not; the file is checked with
	// the hash_value the signed bill application gave).
	unsigned bool
}

func (s *Simulator) signHeaders(h http.Header, trusted string, body []byte) {
	mode := s.Signing()
	switch trusted {
	case s.keys.pubKeyID:
		mode = SigningPublicKey
	case s.keys.platformSerial:
		mode = SigningCertificate
	}
	key, serial := s.keys.pubKeyKey, s.keys.pubKeyID
	if mode == SigningCertificate {
		key, serial = s.keys.platformKey, s.keys.platformSerial
	}
	ts := s.now().Unix()
	nonce := wechatpayv3.RandomString(32)
	sig, err := wechatpayv3.Sign(key, wechatpayv3.ResponseMessage(ts, nonce, body))
	if err != nil {
		s.cfg.Logger.Error("wechatpay: sign answer", "err", err)
	}
	h.Set(wechatpayv3.HeaderTimestamp, itoa(ts))
	h.Set(wechatpayv3.HeaderNonce, nonce)
	h.Set(wechatpayv3.HeaderSignature, sig)
	h.Set(wechatpayv3.HeaderSerial, serial)
}

func requestID() string {
	return strings.ToUpper(wechatpayv3.RandomString(8)) + "-" + wechatpayv3.RandomString(20)
}
