package alipay_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// v3Client signs OpenAPI v3 requests the way Alipay's SDKs do, so that a
// test can also sign them wrongly on purpose.
type v3Client struct {
	t         testing.TB
	base      string
	appID     string
	key       *rsa.PrivateKey
	alipayPub *rsa.PublicKey
}

func newV3Client(t testing.TB, e *sandboxtest.Env) *v3Client {
	t.Helper()
	c := e.Sandbox().Credentials().Alipay
	key, err := sandboxkeys.ParsePrivateKey(c.AppPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sandboxkeys.ParsePublicKey(c.AlipayPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &v3Client{t: t, base: e.URL, appID: c.AppID, key: key, alipayPub: pub}
}

// v3Req is one request; the zero value of each field means "as an SDK
// would send it".
type v3Req struct {
	method, uri string
	body        string
	token       string
	contentType string
	timestamp   int64
	nonce       string
	appID       string
	key         *rsa.PrivateKey
	// sentBody replaces the body after signing (a tampered request).
	sentBody *string
	// authorization replaces the whole header ("-" sends none).
	authorization string
}

type v3Resp struct {
	status int
	body   []byte
	// signed is whether the answer carried a signature; a signature that
	// does not verify fails the test.
	signed bool
	code   string // of an error
}

func (c *v3Client) do(q v3Req) v3Resp {
	c.t.Helper()
	if q.timestamp == 0 {
		q.timestamp = time.Now().UnixMilli()
	}
	if q.nonce == "" {
		q.nonce = strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatInt(seq.Add(1), 10)
	}
	if q.appID == "" {
		q.appID = c.appID
	}
	if q.key == nil {
		q.key = c.key
	}
	auth := "app_id=" + q.appID + ",nonce=" + q.nonce + ",timestamp=" + strconv.FormatInt(q.timestamp, 10)
	sig, err := alipayapi.Sign(q.key, alipayapi.V3SignContent(auth, q.method, q.uri, []byte(q.body), q.token))
	if err != nil {
		c.t.Fatal(err)
	}
	sent := q.body
	if q.sentBody != nil {
		sent = *q.sentBody
	}
	req, err := http.NewRequest(q.method, c.base+q.uri, strings.NewReader(sent))
	if err != nil {
		c.t.Fatal(err)
	}
	switch q.authorization {
	case "":
		req.Header.Set("Authorization", alipayapi.V3Scheme+" "+auth+",sign="+sig)
	case "-":
	default:
		req.Header.Set("Authorization", q.authorization)
	}
	if q.token != "" {
		req.Header.Set("alipay-app-auth-token", q.token)
	}
	if q.method != http.MethodGet {
		ct := q.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	out := v3Resp{status: resp.StatusCode, body: body}
	if s := resp.Header.Get("alipay-signature"); s != "" {
		content := alipayapi.V3ResponseSignContent(resp.Header.Get("alipay-timestamp"), resp.Header.Get("alipay-nonce"), body)
		if err := alipayapi.Verify(c.alipayPub, content, s); err != nil {
			c.t.Fatalf("%s %s: the answer's signature does not verify: %v\n%s", q.method, q.uri, err, body)
		}
		out.signed = true
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if err := json.Unmarshal(body, &e); err != nil || e.Code == "" || e.Message == "" {
			c.t.Fatalf("%s %s: error %d is not {code, message}: %s", q.method, q.uri, resp.StatusCode, body)
		}
		out.code = e.Code
	}
	return out
}

// post sends a signed JSON POST and wants a signed 200.
func (c *v3Client) post(uri string, body any, into any) {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := c.do(v3Req{method: http.MethodPost, uri: uri, body: string(b)})
	if r.status != http.StatusOK || !r.signed {
		c.t.Fatalf("POST %s: %d signed=%v %s", uri, r.status, r.signed, r.body)
	}
	if into != nil {
		if err := json.Unmarshal(r.body, into); err != nil {
			c.t.Fatalf("POST %s: %s: %v", uri, r.body, err)
		}
	}
}

// TestV3SharesTradesWithGateway makes a trade over v3 and follows it over
// both protocols: one trade, one state, one notification form.
func TestV3SharesTradesWithGateway(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	v3 := newV3Client(t, e)
	classic := newClient(t, e)
	m := newMerchant(t, e)
	no := outTradeNo("V")

	var pre struct {
		OutTradeNo string `json:"out_trade_no"`
		QRCode     string `json:"qr_code"`
	}
	v3.post("/v3/alipay/trade/precreate", map[string]any{
		"out_trade_no": no, "total_amount": "0.01", "subject": "豆浆", "notify_url": m.URL(),
	}, &pre)
	if pre.OutTradeNo != no || !strings.HasPrefix(pre.QRCode, "https://qr.alipay.com/bax") {
		t.Fatalf("precreate: %+v", pre)
	}
	// The same request again, over gateway.do, is the same trade.
	p := alipaysdk.TradePreCreate{}
	p.OutTradeNo, p.Subject, p.TotalAmount, p.NotifyURL = no, "豆浆", "0.01", m.URL()
	if again, err := classic.TradePreCreate(p); err != nil || again.QRCode != pre.QRCode {
		t.Fatalf("classic precreate of the v3 trade: %v %+v", err, again)
	}
	paid := pay(t, e, pre.QRCode, "")
	if paid.Amount != 1 {
		t.Fatalf("0.01 yuan is %d fen", paid.Amount)
	}
	n := m.waitFor(1)[0]
	if n.OutTradeNo != no || n.TotalAmount != "0.01" || n.TradeStatus != alipaysdk.TradeStatusSuccess {
		t.Fatalf("notification: %+v", n)
	}

	var q struct {
		TradeStatus string `json:"trade_status"`
		TotalAmount string `json:"total_amount"`
		TradeNo     string `json:"trade_no"`
	}
	v3.post("/v3/alipay/trade/query", map[string]string{"out_trade_no": no}, &q)
	if q.TradeStatus != "TRADE_SUCCESS" || q.TotalAmount != "0.01" || q.TradeNo != paid.TradeNo {
		t.Fatalf("v3 query: %+v", q)
	}
	var ref struct {
		FundChange string `json:"fund_change"`
		RefundFee  string `json:"refund_fee"`
	}
	v3.post("/v3/alipay/trade/refund", map[string]string{"trade_no": paid.TradeNo, "refund_amount": "0.01", "out_request_no": "R1"}, &ref)
	if ref.FundChange != "Y" || ref.RefundFee != "0.01" {
		t.Fatalf("v3 refund: %+v", ref)
	}
	// Repeated over gateway.do: the same refund, no money moves.
	if r, err := classic.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no, RefundAmount: "0.01", OutRequestNo: "R1"}); err != nil || r.FundChange != "N" {
		t.Fatalf("classic refund again: %v %+v", err, r)
	}
	var rq struct {
		RefundStatus string `json:"refund_status"`
		RefundAmount string `json:"refund_amount"`
	}
	v3.post("/v3/alipay/trade/fastpay/refund/query", map[string]string{"out_trade_no": no, "out_request_no": "R1"}, &rq)
	if rq.RefundStatus != "REFUND_SUCCESS" || rq.RefundAmount != "0.01" {
		t.Fatalf("v3 refund query: %+v", rq)
	}
	if cq, err := classic.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: no}); err != nil || cq.TradeStatus != alipaysdk.TradeStatusClosed {
		t.Fatalf("classic query after the full refund: %v %+v", err, cq)
	}
	// A business refusal is a signed 400 with the classic sub_code.
	body := `{"out_trade_no":"` + no + `"}`
	if r := v3.do(v3Req{method: "POST", uri: "/v3/alipay/trade/close", body: body}); r.status != 400 || r.code != "ACQ.TRADE_HAS_CLOSE" || !r.signed {
		t.Fatalf("close a refunded trade: %d %s", r.status, r.body)
	}
	if r := v3.do(v3Req{method: "POST", uri: "/v3/alipay/trade/query", body: `{"out_trade_no":"NOPE"}`}); r.status != 400 || r.code != "ACQ.TRADE_NOT_EXIST" || !r.signed {
		t.Fatalf("unknown trade: %d %s", r.status, r.body)
	}

	// The bill URL is a GET with a query string, which is signed too.
	r := v3.do(v3Req{method: "GET", uri: "/v3/alipay/data/dataservice/bill/downloadurl/query?bill_type=trade&bill_date=" + chinatime.Date(time.Now())})
	if r.status != 200 || !r.signed || !bytes.Contains(r.body, []byte(`"bill_download_url":"`+e.URL+"/sandbox/alipay/bill?")) {
		t.Fatalf("bill url: %d %s", r.status, r.body)
	}
}

func TestV3CreateCancelAndAuthToken(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	v3 := newV3Client(t, e)
	var users struct {
		Users []struct {
			ID            string `json:"id"`
			AlipayBuyerID string `json:"alipay_buyer_id"`
		} `json:"data"`
	}
	e.Helper("GET", "/sandbox/v1/users", nil, &users)
	if len(users.Users) == 0 || users.Users[0].AlipayBuyerID == "" {
		t.Fatalf("users: %+v", users)
	}
	no := outTradeNo("C")
	var cr struct {
		TradeNo string `json:"trade_no"`
	}
	v3.post("/v3/alipay/trade/create", map[string]any{"out_trade_no": no, "total_amount": 0.5, "subject": "x", "buyer_id": users.Users[0].AlipayBuyerID}, &cr)
	if paid := pay(t, e, cr.TradeNo, ""); paid.Amount != 50 {
		t.Fatalf("a JSON number 0.5 is %d fen", paid.Amount)
	}
	var cancel struct {
		Action    string `json:"action"`
		RetryFlag string `json:"retry_flag"`
	}
	v3.post("/v3/alipay/trade/cancel", map[string]string{"out_trade_no": no}, &cancel)
	if cancel.Action != "refund" || cancel.RetryFlag != "N" {
		t.Fatalf("cancel of a paid trade: %+v", cancel)
	}

	// A request for a merchant carries its token in a header, signed on the
	// last line.
	seller := e.Sandbox().Alipay().Merchants()[1]
	var code struct {
		AppAuthCode string `json:"app_auth_code"`
	}
	e.Helper("POST", "/sandbox/v1/alipay/app_auth_codes", map[string]string{"merchant": seller.PID}, &code)
	tok, err := newClient(t, e).OpenAuthTokenApp(alipaysdk.OpenAuthTokenApp{GrantType: "authorization_code", Code: code.AppAuthCode})
	if err != nil || !tok.IsSuccess() {
		t.Fatalf("token: %v %+v", err, tok)
	}
	token := tok.Tokens[0].AppAuthToken
	mno := outTradeNo("M")
	body := `{"out_trade_no":"` + mno + `","total_amount":"1.00","subject":"代收"}`
	r := v3.do(v3Req{method: "POST", uri: "/v3/alipay/trade/precreate", body: body, token: token})
	if r.status != 200 {
		t.Fatalf("precreate for a merchant: %d %s", r.status, r.body)
	}
	var pre struct {
		QRCode string `json:"qr_code"`
	}
	if err := json.Unmarshal(r.body, &pre); err != nil {
		t.Fatal(err)
	}
	if got := pay(t, e, pre.QRCode, ""); got.SellerID != seller.PID {
		t.Fatalf("seller %s, want %s", got.SellerID, seller.PID)
	}
	if r := v3.do(v3Req{method: "POST", uri: "/v3/alipay/trade/query", body: `{"out_trade_no":"` + mno + `"}`}); r.code != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("the app's own merchant saw another's trade: %d %s", r.status, r.body)
	}
	if r := v3.do(v3Req{method: "POST", uri: "/v3/alipay/trade/query", body: `{"out_trade_no":"` + mno + `"}`, token: "202409BBnope"}); r.status != 401 || r.code != "invalid-app-auth-token" || !r.signed {
		t.Fatalf("unknown token: %d %s", r.status, r.body)
	}
}

func TestV3Refusals(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	v3 := newV3Client(t, e)
	before := e.Sandbox().Alipay().TradeCount()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	body := func() string {
		return `{"out_trade_no":"` + outTradeNo("R") + `","total_amount":"1.00","subject":"x"}`
	}
	tampered := strings.Replace(body(), `"1.00"`, `"0.01"`, 1)
	const pre = "/v3/alipay/trade/precreate"
	for _, tc := range []struct {
		name   string
		req    v3Req
		status int
		code   string
		signed bool
	}{
		{"no Authorization", v3Req{authorization: "-"}, 401, "missing-signature", false},
		{"another scheme", v3Req{authorization: "ALIPAY-SM2 app_id=2021004100000001,nonce=n,timestamp=1,sign=AA"}, 401, "invalid-signature-type", false},
		{"no nonce", v3Req{authorization: alipayapi.V3Scheme + " app_id=" + v3.appID + ",timestamp=1,sign=AA"}, 401, "invalid-nonce", true},
		{"certificate mode", v3Req{authorization: alipayapi.V3Scheme + " app_id=" + v3.appID + ",app_cert_sn=x,nonce=n,timestamp=1,sign=AA"}, 401, "invalid-signature-type", true},
		{"unknown app", v3Req{appID: "2021000000000000"}, 401, "invalid-app-id", false},
		{"wrong key", v3Req{key: other}, 401, "invalid-signature", true},
		{"body changed after signing", v3Req{sentBody: &tampered}, 401, "invalid-signature", true},
		{"16 minutes old", v3Req{timestamp: time.Now().Add(-16 * time.Minute).UnixMilli()}, 401, "invalid-timestamp", true},
		{"in seconds, not milliseconds", v3Req{timestamp: time.Now().Unix()}, 401, "invalid-timestamp", true},
		{"unknown method", v3Req{uri: "/v3/alipay/trade/nope"}, 400, "invalid-method", true},
		{"GET where POST is served", v3Req{method: "GET", uri: "/v3/alipay/trade/query", body: ""}, 400, "invalid-method", true},
		{"a form body", v3Req{contentType: "application/x-www-form-urlencoded"}, 415, "invalid-content-type", true},
		{"a key twice", v3Req{body: `{"out_trade_no":"D1","total_amount":"1.00","total_amount":"0.01","subject":"x"}`}, 400, "invalid-parameter", true},
		{"not an object", v3Req{body: `["x"]`}, 400, "invalid-parameter", true},
		{"null", v3Req{body: `null`}, 400, "invalid-parameter", true},
		{"trailing data", v3Req{body: `{"out_trade_no":"D2","total_amount":"1.00","subject":"x"}{}`}, 400, "invalid-parameter", true},
		{"fractions of a fen", v3Req{body: `{"out_trade_no":"D3","total_amount":"0.001","subject":"x"}`}, 400, "ACQ.INVALID_PARAMETER", true},
		{"an amount in exponent form", v3Req{body: `{"out_trade_no":"D4","total_amount":1e2,"subject":"x"}`}, 400, "ACQ.INVALID_PARAMETER", true},
		{"notify_url not a string", v3Req{body: `{"out_trade_no":"D5","total_amount":"1.00","subject":"x","notify_url":["x"]}`}, 400, "invalid-parameter", true},
		{"notify_url not a URL", v3Req{body: `{"out_trade_no":"D7","total_amount":"1.00","subject":"x","notify_url":"ftp://x"}`}, 400, "invalid-notify-url", true},
		{"no subject", v3Req{body: `{"out_trade_no":"D6","total_amount":"1.00"}`}, 400, "missing-subject", true},
	} {
		q := tc.req
		if q.method == "" {
			q.method = http.MethodPost
		}
		if q.uri == "" {
			q.uri = pre
		}
		if q.body == "" && q.method == http.MethodPost {
			q.body = body()
		}
		r := v3.do(q)
		if r.status != tc.status || r.code != tc.code || r.signed != tc.signed {
			t.Errorf("%s: %d %s signed=%v, want %d %s signed=%v", tc.name, r.status, r.body, r.signed, tc.status, tc.code, tc.signed)
		}
	}

	// A nonce is good for one request.
	q := v3Req{method: "POST", uri: "/v3/alipay/trade/query", body: `{"out_trade_no":"NOPE"}`, nonce: "once-" + outTradeNo("N")}
	if r := v3.do(q); r.code != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("first use of a nonce: %d %s", r.status, r.body)
	}
	if r := v3.do(q); r.status != 401 || r.code != "invalid-nonce" || !r.signed {
		t.Fatalf("the same request again: %d %s", r.status, r.body)
	}
	if after := e.Sandbox().Alipay().TradeCount(); after != before {
		t.Fatalf("refused requests created %d trades", after-before)
	}
}

// TestV3BesideWeChatPay: /v3/ is shared; each wallet answers its own
// requests, and an unsigned request goes by its path.
func TestV3BesideWeChatPay(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	post := func(path, auth string) (int, string) {
		req, err := http.NewRequest("POST", e.URL+path, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if st, b := post("/v3/pay/transactions/native", ""); st != 401 || !strings.Contains(b, "SIGN_ERROR") {
		t.Fatalf("WeChat Pay path, no signature: %d %s", st, b)
	}
	if st, b := post("/v3/pay/transactions/native", `WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="n",signature="AA",timestamp="1",serial_no="1"`); st != 401 || !strings.Contains(b, "SIGN_ERROR") {
		t.Fatalf("WeChat Pay scheme: %d %s", st, b)
	}
	if st, b := post("/v3/alipay/trade/query", ""); st != 401 || !strings.Contains(b, `"missing-signature"`) {
		t.Fatalf("Alipay path, no signature: %d %s", st, b)
	}
	if st, b := post("/v3/pay/transactions/native", alipayapi.V3Scheme+" app_id=1,nonce=n,timestamp=1,sign=AA"); st != 401 || !strings.Contains(b, `"invalid-app-id"`) {
		t.Fatalf("Alipay scheme on a WeChat path: %d %s", st, b)
	}
	routes := alipay.V3Routes()
	slices.Sort(routes)
	if len(routes) != 8 {
		t.Fatalf("routes: %v", routes)
	}
}
