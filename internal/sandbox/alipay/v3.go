package alipay

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/jsonbody"
)

// OpenAPI v3 is the gateway's JSON face: the same methods at REST paths
// (/v3/alipay/trade/precreate is alipay.trade.precreate), the body being
// what biz_content holds on gateway.do, plus notify_url. This file is only
// the protocol: a v3 request is authenticated, turned into the same call
// a gateway.do request becomes, answered by the same method on the same
// trades, and its answer written the v3 way. See package alipayapi for the
// wire rules.
//
// The page and wap hand-offs (alipay.trade.page.pay, .wap.pay) and the app
// order string have no v3 path: the browser and the wallet app still go to
// gateway.do, as with the real gateway, whose v3 documentation of those
// methods describes the gateway.do form.

// v3Routes maps every v3 request served to its gateway.do method. Queries
// are POSTs with a JSON body, as Alipay defines them; only the bill URL is
// a GET with a query string.
var v3Routes = map[string]string{
	"POST /v3/alipay/trade/precreate":                        "alipay.trade.precreate",
	"POST /v3/alipay/trade/create":                           "alipay.trade.create",
	"POST /v3/alipay/trade/query":                            "alipay.trade.query",
	"POST /v3/alipay/trade/close":                            "alipay.trade.close",
	"POST /v3/alipay/trade/cancel":                           "alipay.trade.cancel",
	"POST /v3/alipay/trade/refund":                           "alipay.trade.refund",
	"POST /v3/alipay/trade/fastpay/refund/query":             "alipay.trade.fastpay.refund.query",
	"GET /v3/alipay/data/dataservice/bill/downloadurl/query": "alipay.data.dataservice.bill.downloadurl.query",
}

// V3Routes lists the v3 requests the sandbox serves, as "METHOD /path".
func V3Routes() []string {
	out := make([]string, 0, len(v3Routes))
	for r := range v3Routes {
		out = append(out, r)
	}
	return out
}

// maxV3Body bounds a v3 request body, as the gateway bounds gateway.do's.
const maxV3Body = alipayapi.MaxParamsBytes

// v3Refusal is a v3 error before or instead of a method's answer.
type v3Refusal struct {
	status        int
	code, message string
}

func refuseV3(status int, code, format string, args ...any) *v3Refusal {
	return &v3Refusal{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// V3Handler serves OpenAPI v3 under /v3/alipay/. The sandbox sends it the
// /v3/ requests whose Authorization scheme is Alipay's.
func (s *Simulator) V3Handler() http.Handler { return http.HandlerFunc(s.v3) }

func (s *Simulator) v3(w http.ResponseWriter, r *http.Request) {
	auth, authErr := alipayapi.ParseV3Authorization(r.Header.Get("Authorization"))
	// Alipay signs with the key it holds for the app; until app_id names
	// this app there is no key to sign with (see writeError).
	signed := s.knowsApp(auth.AppID)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxV3Body))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeV3Refusal(w, signed, refuseV3(http.StatusRequestEntityTooLarge, "invalid-parameter", "请求体超过 %d 字节", maxV3Body))
		}
		// Otherwise the client went away mid-body: no one is left to answer.
		return
	}
	c, refused := s.authenticateV3(r, auth, authErr, body)
	if refused != nil {
		s.writeV3Refusal(w, signed, refused)
		return
	}
	if f, ok := s.injectFault(r); !ok {
		if f != nil {
			s.writeV3Answer(w, *f)
		}
		return
	}
	s.writeV3Answer(w, s.methods()[c.method](c))
}

// authenticateV3 checks a v3 request as the gateway does: the
// Authorization header, the app, the clock, the signature over the exact
// request, the nonce, then the route, the merchant token and the body.
// A refusal changes nothing.
func (s *Simulator) authenticateV3(r *http.Request, a alipayapi.V3Authorization, authErr error, body []byte) (*call, *v3Refusal) {
	if authErr != nil {
		var ae *alipayapi.AuthorizationError
		if !errors.As(authErr, &ae) {
			return nil, refuseV3(http.StatusUnauthorized, "invalid-signature", "%v", authErr)
		}
		code := "invalid-signature"
		switch {
		case ae.Field == "scheme":
			code = "invalid-signature-type"
		case ae.Missing && ae.Field == "" || ae.Field == "sign" && ae.Missing:
			code = "missing-signature"
		case ae.Field == "app_id" && ae.Missing:
			code = "missing-app-id"
		case ae.Field == "app_id":
			code = "invalid-app-id"
		case ae.Field == "timestamp" && ae.Missing:
			code = "missing-timestamp"
		case ae.Field == "timestamp":
			code = "invalid-timestamp"
		case ae.Field == "nonce":
			code = "invalid-nonce"
		}
		return nil, refuseV3(http.StatusUnauthorized, code, "Authorization 头无效: %s", ae.Message)
	}
	if a.AppID != s.creds.AppID {
		return nil, refuseV3(http.StatusUnauthorized, "invalid-app-id", "无效的AppID参数: %s", a.AppID)
	}
	if a.AppCertSN != "" {
		return nil, refuseV3(http.StatusUnauthorized, "invalid-signature-type", "沙箱应用使用公钥模式，Authorization 不应带 app_cert_sn")
	}
	now := s.now()
	at := time.UnixMilli(a.Timestamp)
	if d := now.Sub(at); d > timestampSkew || d < -timestampSkew {
		return nil, refuseV3(http.StatusUnauthorized, "invalid-timestamp", "非法的时间戳参数: timestamp %d 与支付宝服务器时间 %d 相差超过 15 分钟（Unix 毫秒）", a.Timestamp, now.UnixMilli())
	}
	token := r.Header.Get("alipay-app-auth-token")
	content := alipayapi.V3SignContent(a.AuthString, r.Method, requestURI(r), body, token)
	if alipayapi.Verify(s.appPub, content, a.Sign) != nil {
		return nil, refuseV3(http.StatusUnauthorized, "invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为【%s】", content)
	}
	if !s.nonces.use(a.AppID, a.Nonce, at.Add(timestampSkew), now) {
		return nil, refuseV3(http.StatusUnauthorized, "invalid-nonce", "nonce %s 已被使用过: 每个请求须用新的 nonce", a.Nonce)
	}
	method, ok := v3Routes[r.Method+" "+r.URL.Path]
	if !ok {
		return nil, refuseV3(http.StatusBadRequest, "invalid-method", "不存在的方法名: %s %s", r.Method, r.URL.Path)
	}
	c := &call{r: r, method: method}
	s.mu.Lock()
	c.seller = s.merchants[sandboxPID]
	if token != "" {
		t, ok := s.tokens[token]
		switch {
		case !ok || t.Revoked:
			s.mu.Unlock()
			return nil, refuseV3(http.StatusUnauthorized, "invalid-app-auth-token", "无效的应用授权令牌")
		case now.After(t.ExpiresAt):
			s.mu.Unlock()
			return nil, refuseV3(http.StatusUnauthorized, "app-auth-token-time-out", "应用授权令牌已过期")
		}
		c.seller = s.merchants[t.PID]
	}
	s.mu.Unlock()
	var err error
	if r.Method == http.MethodGet {
		if len(body) > 0 {
			return nil, refuseV3(http.StatusBadRequest, "invalid-parameter", "GET 请求不应有请求体")
		}
		c.biz, err = parseV3Query(r.URL.RawQuery)
	} else {
		if cerr := jsonbody.CheckContentType(r.Header, len(body) == 0); cerr != nil {
			return nil, refuseV3(http.StatusUnsupportedMediaType, "invalid-content-type", "Content-Type 应为 application/json: %v", cerr)
		}
		c.biz, err = parseV3Body(body)
	}
	if err != nil {
		return nil, refuseV3(http.StatusBadRequest, "invalid-parameter", "%v", err)
	}
	var typeOK bool
	if c.notifyURL, typeOK = c.bizString("notify_url"); !typeOK {
		return nil, refuseV3(http.StatusBadRequest, "invalid-parameter", "notify_url 应为字符串")
	}
	if c.returnURL, typeOK = c.bizString("return_url"); !typeOK {
		return nil, refuseV3(http.StatusBadRequest, "invalid-parameter", "return_url 应为字符串")
	}
	return c, nil
}

// requestURI is the path and query exactly as the client sent them: what
// it signed.
func requestURI(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI[0] == '/' {
		return r.RequestURI
	}
	u := r.URL.EscapedPath()
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		u += "?" + r.URL.RawQuery
	}
	return u
}

// parseV3Body reads a v3 request body: one JSON object, in UTF-8, no key
// twice, nothing after it (the rules of package jsonbody). Its fields are
// what biz_content carries on gateway.do, read by the same methods.
func parseV3Body(body []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := jsonbody.Decode(body, &m); err != nil {
		return nil, fmt.Errorf("请求体: %w", err)
	}
	if m == nil {
		return nil, errors.New("请求体应为 JSON 对象，收到 null")
	}
	return m, nil
}

// parseV3Query reads a v3 GET's query string as the fields of its request,
// each a string, with gateway.do's strictness (no parameter twice, valid
// encoding and UTF-8).
func parseV3Query(rawQuery string) (map[string]json.RawMessage, error) {
	p, err := alipayapi.ParseParams(rawQuery, nil)
	if err != nil {
		return nil, fmt.Errorf("查询参数: %w", err)
	}
	m := make(map[string]json.RawMessage, len(p))
	for k, vs := range p {
		b, err := json.Marshal(vs[0])
		if err != nil {
			return nil, fmt.Errorf("查询参数 %s: %w", k, err)
		}
		m[k] = b
	}
	return m, nil
}

// v3Status is the HTTP status of a v3 error for a classic result code.
func v3Status(code string) int {
	switch code {
	case alipayapi.CodeServiceUnavailable:
		return http.StatusInternalServerError
	case alipayapi.CodeInsufficientAuth:
		return http.StatusUnauthorized
	case alipayapi.CodeInsufficientPerm:
		return http.StatusForbidden
	default: // 40001, 40002, 40004: the request or the business refused
		return http.StatusBadRequest
	}
}

// writeV3Answer writes a method's answer: its fields on success (without
// code and msg), else the v3 error its result maps to. Both are signed.
func (s *Simulator) writeV3Answer(w http.ResponseWriter, a answer) {
	if a.result.Code != alipayapi.CodeSuccess {
		msg := a.result.SubMsg
		if msg == "" {
			msg = a.result.Msg
		}
		code := alipayapi.V3ErrorCode(a.result.SubCode)
		if code == "" {
			code = a.result.Code
		}
		s.writeV3Refusal(w, true, &v3Refusal{status: v3Status(a.result.Code), code: code, message: msg})
		return
	}
	body := []byte("{}")
	if a.fields != nil {
		b, err := marshal(a.fields)
		if err != nil {
			s.cfg.Logger.Error("alipay: v3 answer", "err", err)
			s.writeV3Refusal(w, true, refuseV3(http.StatusInternalServerError, "unknow-error", "系统繁忙"))
			return
		}
		body = b
	}
	s.writeV3(w, true, http.StatusOK, body)
}

func (s *Simulator) writeV3Refusal(w http.ResponseWriter, signed bool, r *v3Refusal) {
	body, err := marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{r.code, r.message})
	if err != nil {
		// Two strings always marshal; keep the status if they somehow do not.
		body = []byte(`{"code":"unknow-error","message":"系统繁忙"}`)
	}
	s.writeV3(w, signed, r.status, body)
}

// writeV3 writes a v3 answer, signed in the alipay-timestamp,
// alipay-nonce and alipay-signature headers over the exact body when the
// app is known (errors too: the real gateway signs what it can, see
// writeError; the SDKs check the signature of successes only).
func (s *Simulator) writeV3(w http.ResponseWriter, signed bool, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("alipay-trace-id", randomHex(16))
	if signed {
		ts := strconv.FormatInt(s.now().UnixMilli(), 10)
		nonce := randomHex(16)
		sig, err := alipayapi.Sign(s.alipayKey, alipayapi.V3ResponseSignContent(ts, nonce, body))
		if err != nil {
			s.cfg.Logger.Error("alipay: sign v3 answer", "err", err)
		} else {
			h.Set("alipay-timestamp", ts)
			h.Set("alipay-nonce", nonce)
			h.Set("alipay-signature", sig)
		}
	}
	w.WriteHeader(status)
	w.Write(body)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// nonceBook remembers the nonces of accepted v3 requests for as long as
// their timestamps stay acceptable, so that a captured request cannot be
// sent again; past that, its timestamp refuses it. It lives in memory: a
// restarted sandbox forgets the nonces of the last 15 minutes.
type nonceBook struct {
	mu    sync.Mutex
	until map[string]time.Time
	sweep time.Time
}

// use records nonce for app until expiry and reports whether it was new.
func (b *nonceBook) use(app, nonce string, expiry, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until == nil {
		b.until = map[string]time.Time{}
	}
	if now.After(b.sweep) {
		for k, t := range b.until {
			if now.After(t) {
				delete(b.until, k)
			}
		}
		b.sweep = now.Add(time.Minute)
	}
	key := app + "\x00" + nonce
	if t, ok := b.until[key]; ok && !now.After(t) {
		return false
	}
	b.until[key] = expiry
	return true
}
