package alipay

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/sandbox/phone"
)

// timestampSkew is how far a request's timestamp may be from the gateway's
// clock. The gateway reads timestamp as Beijing time.
const timestampSkew = 15 * time.Minute

// call is one authenticated request, whichever protocol brought it: the
// methods (precreate, query, refund…) read it and nothing else, so that a
// trade made over gateway.do and one made over OpenAPI v3 are the same
// trade, in the same state, answered by the same code.
type call struct {
	r *http.Request
	// params are gateway.do's common parameters; empty for v3, whose
	// requests carry none (alipay.system.oauth.token reads its grant here
	// and is served on gateway.do only).
	params url.Values
	// method is the classic method name (alipay.trade.precreate), also for
	// a v3 request: a trade records it, and an identical request repeated
	// over the other protocol finds the same trade.
	method string
	// biz is biz_content on gateway.do, the JSON body (or a GET's query) on
	// v3.
	biz map[string]json.RawMessage
	// notifyURL and returnURL are common parameters on gateway.do, body
	// fields on v3.
	notifyURL, returnURL string
	seller               *Merchant // the app's own merchant, or the one app_auth_token acts for
}

// answer is a method's result: the response object (without code and msg,
// which Result carries).
type answer struct {
	result alipayapi.Result
	fields any // a struct or map marshalled after code and msg; nil for none
	// redirect, when set, sends the browser there instead (page/wap pay).
	redirect string
	// bare leaves code and msg out of a success, as alipay.system.oauth.token
	// answers.
	bare bool
}

// methodUserToken answers its failures, its own and the gateway's, in an
// object named error_response rather than after the method.
const methodUserToken = "alipay.system.oauth.token"

func success(fields any) answer { return answer{result: alipayapi.Success, fields: fields} }

func businessFailed(subCode, subMsg string) answer {
	return answer{result: alipayapi.Failure(alipayapi.CodeBusinessFailed, subCode, subMsg)}
}

func invalidParameter(msg string) answer {
	return businessFailed("ACQ.INVALID_PARAMETER", "参数无效: "+msg)
}

type methodFunc func(c *call) answer

func (s *Simulator) methods() map[string]methodFunc {
	return map[string]methodFunc{
		"alipay.trade.precreate":                         s.precreate,
		"alipay.trade.create":                            s.create,
		"alipay.trade.page.pay":                          s.pagePay,
		"alipay.trade.wap.pay":                           s.pagePay,
		"alipay.trade.query":                             s.query,
		"alipay.trade.close":                             s.close,
		"alipay.trade.cancel":                            s.cancel,
		"alipay.trade.refund":                            s.refund,
		"alipay.trade.fastpay.refund.query":              s.refundQuery,
		"alipay.data.dataservice.bill.downloadurl.query": s.billURL,
		"alipay.open.auth.token.app":                     s.authToken,
		"alipay.open.auth.token.app.query":               s.authTokenQuery,
		methodUserToken:                                  s.userToken,
	}
}

// Handler serves /gateway.do (GET and POST form) and the bill downloads.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/gateway.do", s.gateway)
	mux.HandleFunc("GET /sandbox/alipay/bill", s.downloadBill)
	mux.HandleFunc("/oauth2/appToAppAuth.htm", s.authorizePage)
	mux.Handle("/oauth2/publicAppAuthorize.htm", phone.Consent(s.cfg.Users, s.Phone(), userAuthorizer{s}))
	return mux
}

func (s *Simulator) gateway(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, alipayapi.MaxParamsBytes))
		if err != nil {
			s.writeError(w, nil, alipayapi.Failure(alipayapi.CodeInvalidArguments, "isv.invalid-parameter", "请求体超过 1 MiB"))
			return
		}
		if ct == "application/x-www-form-urlencoded" || ct == "" {
			body = b
		} else if ct != "multipart/form-data" {
			s.writeError(w, nil, alipayapi.Failure(alipayapi.CodeInvalidArguments, "isv.invalid-content-type", "Content-Type 应为 application/x-www-form-urlencoded"))
			return
		}
	} else if r.Method != http.MethodGet {
		http.Error(w, "the gateway takes GET and POST", http.StatusMethodNotAllowed)
		return
	}
	params, err := alipayapi.ParseParams(r.URL.RawQuery, body)
	if err != nil {
		s.writeError(w, nil, alipayapi.Failure(alipayapi.CodeInvalidArguments, "isv.invalid-parameter", err.Error()))
		return
	}
	method := params.Get("method")
	c, refused := s.authenticate(r, params)
	if refused != nil {
		s.writeError(w, params, *refused)
		return
	}
	if f, ok := s.injectFault(r); !ok {
		if f != nil {
			s.writeAnswer(w, method, *f)
		}
		return
	}
	a := s.methods()[method](c)
	if a.redirect != "" {
		http.Redirect(w, r, a.redirect, http.StatusFound)
		return
	}
	s.writeAnswer(w, method, a)
}

// injectFault applies the api_error_rate and api_latency_ms faults to a
// request both protocols have authenticated. It reports whether the
// method should run; when it should not, the answer is the injected
// failure, or nil if the client has gone.
func (s *Simulator) injectFault(r *http.Request) (*answer, bool) {
	switch s.cfg.Faults.Get(Wallet).InjectAPI(r.Context()) {
	case faults.Canceled:
		return nil, false
	case faults.Fail:
		a := answer{result: alipayapi.Failure(alipayapi.CodeServiceUnavailable, "isp.unknow-error", "系统繁忙（沙箱注入的故障 api_error_rate）")}
		return &a, false
	}
	return nil, true
}

// authenticate checks a request as the gateway does, in the gateway's
// order. A refusal is returned as the Result to answer with.
func (s *Simulator) authenticate(r *http.Request, p url.Values) (*call, *alipayapi.Result) {
	refuse := func(code, sub, msg string) (*call, *alipayapi.Result) {
		res := alipayapi.Failure(code, sub, msg)
		return nil, &res
	}
	method := p.Get("method")
	switch {
	case method == "":
		return refuse(alipayapi.CodeMissingArguments, "isv.missing-method", "缺少方法名参数")
	case s.methods()[method] == nil:
		return refuse(alipayapi.CodeInvalidArguments, "isv.invalid-method", "不存在的方法名: "+method)
	case p.Get("app_id") == "":
		return refuse(alipayapi.CodeMissingArguments, "isv.missing-app-id", "缺少AppID参数")
	case p.Get("app_id") != s.creds.AppID:
		return refuse(alipayapi.CodeInvalidArguments, "isv.invalid-app-id", "无效的AppID参数")
	case p.Get("sign") == "":
		return refuse(alipayapi.CodeMissingArguments, "isv.missing-signature", "缺少签名参数")
	case p.Get("sign_type") == "":
		return refuse(alipayapi.CodeMissingArguments, "isv.missing-signature-type", "缺少签名类型参数")
	case p.Get("sign_type") != "RSA2":
		return refuse(alipayapi.CodeInvalidArguments, "isv.invalid-signature-type", "无效的签名类型参数: 沙箱只支持 RSA2")
	case p.Get("timestamp") == "":
		return refuse(alipayapi.CodeMissingArguments, "isv.missing-timestamp", "缺少时间戳参数")
	}
	if cs := p.Get("charset"); cs != "" && cs != "utf-8" && cs != "UTF-8" {
		return refuse(alipayapi.CodeInvalidArguments, "isv.invalid-charset", "字符集错误: 沙箱只支持 utf-8")
	}
	if f := p.Get("format"); f != "" && f != "JSON" && f != "json" {
		return refuse(alipayapi.CodeInvalidArguments, "isv.invalid-format", "无效的数据格式参数: "+f)
	}
	ts, err := chinatime.ParseDateTime(p.Get("timestamp"))
	if err != nil {
		return refuse(alipayapi.CodeInvalidArguments, "isv.invalid-timestamp", "非法的时间戳参数: 格式应为 yyyy-MM-dd HH:mm:ss（北京时间）")
	}
	if d := s.now().Sub(ts); d > timestampSkew || d < -timestampSkew {
		return refuse(alipayapi.CodeInvalidArguments, "isv.invalid-timestamp", "非法的时间戳参数: 与支付宝服务器时间相差超过 15 分钟，请使用北京时间")
	}
	content := alipayapi.RequestSignContent(p)
	if alipayapi.Verify(s.appPub, []byte(content), p.Get("sign")) != nil {
		return refuse(alipayapi.CodeInvalidArguments, "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为【"+content+"】")
	}
	c := &call{r: r, params: p, method: method, biz: map[string]json.RawMessage{}, notifyURL: p.Get("notify_url"), returnURL: p.Get("return_url")}
	if bc := p.Get("biz_content"); bc != "" {
		if err := json.Unmarshal([]byte(bc), &c.biz); err != nil {
			return refuse(alipayapi.CodeInvalidArguments, "isv.invalid-biz-content", "biz_content 不是合法的 JSON 对象")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.seller = s.merchants[sandboxPID]
	if tok := p.Get("app_auth_token"); tok != "" {
		t, ok := s.tokens[tok]
		if !ok || t.Revoked {
			return refuse(alipayapi.CodeInsufficientAuth, "aop.invalid-app-auth-token", "无效的应用授权令牌")
		}
		if s.now().After(t.ExpiresAt) {
			return refuse(alipayapi.CodeInsufficientAuth, "aop.app-auth-token-time-out", "应用授权令牌已过期")
		}
		c.seller = s.merchants[t.PID]
	}
	return c, nil
}

// writeAnswer signs and writes {"<method>_response": {...}, "sign": "..."}.
// The signature covers exactly the bytes of the response object.
func (s *Simulator) writeAnswer(w http.ResponseWriter, method string, a answer) {
	key := alipayapi.ResponseKey(method)
	if method == methodUserToken && a.result.Code != alipayapi.CodeSuccess {
		key = "error_response"
	}
	s.writeObject(w, key, s.responseObject(a), true)
}

// writeError answers a request the gateway refused before its method ran;
// params are the request's parameters, nil when they could not be read.
// A missing or unknown method has nothing to name the object after: it is
// error_response.
//
// Such a refusal is signed whenever params name this app, and only then.
// Alipay signs every answer with its own private key, the one whose
// public half the app was given (in public-key mode each app has its own
// "支付宝公钥"): once app_id names an app, the gateway holds the key the
// caller will verify with, whether or not the caller's own signature,
// timestamp or token is any good, so the real gateway signs those
// refusals too. Alipay's Node.js SDK quotes one such answer, a 40002
// isv.invalid-signature carrying its sign (alipay-sdk 4.14.0,
// dist/commonjs/alipay.js, the comment in #formatExecHttpResponse), and
// its test-suite records a live 40003 isv.decryption-error-unknown with
// one; merchants have posted 40002 isv.invalid-timestamp answers with a
// sign. An app_id the gateway does not know (or parameters it cannot
// read) names no key: those answers come unsigned, as merchants report
// for isv.invalid-app-id, and an SDK checking signatures reports them as
// a missing signature.
func (s *Simulator) writeError(w http.ResponseWriter, params url.Values, res alipayapi.Result) {
	method := params.Get("method")
	key := "error_response"
	if method != "" && s.methods()[method] != nil && method != methodUserToken {
		key = alipayapi.ResponseKey(method)
	}
	s.writeObject(w, key, s.responseObject(answer{result: res}), s.knowsApp(params.Get("app_id")))
}

// knowsApp reports whether appID is an app the gateway signs answers
// for: the sandbox has one.
func (s *Simulator) knowsApp(appID string) bool { return appID != "" && appID == s.creds.AppID }

// writeObject writes {"<key>": obj} and, when signed, the sign over obj's
// exact bytes.
func (s *Simulator) writeObject(w http.ResponseWriter, key string, obj []byte, signed bool) {
	var out bytes.Buffer
	out.WriteString(`{"`)
	out.WriteString(key)
	out.WriteString(`":`)
	out.Write(obj)
	if signed {
		sig, err := alipayapi.Sign(s.alipayKey, obj)
		if err != nil {
			// An RSA signature fails only on a broken key; the answer goes
			// out unsigned, which every SDK refuses, rather than not at all.
			s.cfg.Logger.Error("alipay: sign answer", "err", err)
		} else {
			out.WriteString(`,"sign":"`)
			out.WriteString(sig)
			out.WriteString(`"`)
		}
	}
	out.WriteString(`}`)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Write(out.Bytes())
}

// responseObject marshals code, msg, sub_code, sub_msg, then the method's
// fields, as one JSON object.
func (s *Simulator) responseObject(a answer) []byte {
	head, _ := marshal(a.result)
	if a.fields == nil {
		return head
	}
	rest, err := marshal(a.fields)
	if err != nil || len(rest) <= 2 {
		return head
	}
	if a.bare && a.result.Code == alipayapi.CodeSuccess {
		return rest
	}
	return append(append(head[:len(head)-1], ','), rest[1:]...)
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// bizString reads a string field of biz_content; a non-string is "".
func (c *call) bizString(name string) (string, bool) {
	raw, ok := c.biz[name]
	if !ok {
		return "", true
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		// Amounts may come as JSON numbers; their text is kept exactly.
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String(), true
		}
		return "", false
	}
	return v, true
}
