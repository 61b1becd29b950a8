package alipay_test

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	alipaysdk "github.com/smartwalle/alipay/v3"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

func TestRefusedRequests(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	before := e.Sandbox().Alipay().TradeCount()
	// Refusals of a request naming the sandbox app are signed, as are
	// failures inside the method (20000, 40004): the SDK verifies them and
	// returns them as answers. Those naming another app come unsigned.
	req := func(client *alipaysdk.Client) alipaysdk.Error {
		p := alipaysdk.TradePreCreate{}
		p.OutTradeNo, p.Subject, p.TotalAmount = outTradeNo("X"), "x", "1.00"
		res, err := client.TradePreCreate(p)
		var ae *alipaysdk.Error
		if errors.As(err, &ae) {
			return *ae
		}
		if err != nil {
			t.Fatalf("the SDK failed: %v", err)
		}
		return res.Error
	}

	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	wrong := newClientWithKey(t, e, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	if r := req(wrong); r.Code != "40002" || r.SubCode != "isv.invalid-signature" {
		t.Fatalf("wrong key: %+v", r)
	}
	// The SDK's default location is the machine's; this one runs in UTC,
	// eight hours from the Beijing time the gateway expects.
	utc := newClient(t, e, alipaysdk.WithTimeLocation(time.FixedZone("UTC-5", -5*3600)))
	if r := req(utc); r.Code != "40002" || r.SubCode != "isv.invalid-timestamp" {
		t.Fatalf("timestamp in the wrong zone: %+v", r)
	}
	e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "alipay", "api_error_rate": 1}, nil)
	if r := req(newClient(t, e)); r.Code != "20000" || r.SubCode != "isp.unknow-error" {
		t.Fatalf("injected fault: %+v", r)
	}
	e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "alipay"}, nil)

	// Requests built by hand: missing or wrong common parameters.
	c := e.Sandbox().Credentials().Alipay
	for _, tc := range []struct {
		drop, set, value, wantSub string
	}{
		{drop: "sign", wantSub: "isv.missing-signature"},
		{set: "app_id", value: "2021000000000000", wantSub: "isv.invalid-app-id"},
		{set: "sign_type", value: "RSA", wantSub: "isv.invalid-signature-type"},
		{set: "timestamp", value: "yesterday", wantSub: "isv.invalid-timestamp"},
		{set: "method", value: "alipay.trade.nope", wantSub: "isv.invalid-method"},
		{set: "biz_content", value: `{"out_trade_no":`, wantSub: "isv.invalid-signature"},
	} {
		v := url.Values{
			"app_id": {c.AppID}, "method": {"alipay.trade.precreate"}, "charset": {"utf-8"}, "sign_type": {"RSA2"},
			"timestamp": {chinatime.DateTime(time.Now())}, "version": {"1.0"}, "sign": {"AAAA"},
			"biz_content": {`{"out_trade_no":"H1","total_amount":"1.00","subject":"x"}`},
		}
		if tc.drop != "" {
			v.Del(tc.drop)
		} else {
			v.Set(tc.set, tc.value)
		}
		resp, err := http.PostForm(e.URL+"/gateway.do", v)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !strings.Contains(string(body), `"sub_code":"`+tc.wantSub+`"`) {
			t.Errorf("%+v: %s", tc, body)
		}
		// Signed exactly when the gateway knows the app.
		if signed := strings.Contains(string(body), `,"sign":"`); signed != (v.Get("app_id") == c.AppID) {
			t.Errorf("%+v: signed %v: %s", tc, signed, body)
		} else if signed {
			verifySigned(t, c.AlipayPublicKey, body)
		}
	}
	for _, body := range []string{"a=1&a=2", "%zz=1", "method=alipay.trade.query&sign=%"} {
		resp, err := http.Post(e.URL+"/gateway.do", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !strings.Contains(string(b), `"code":"40002"`) || strings.Contains(string(b), `"sign"`) {
			t.Errorf("%q: %s (parameters that cannot be read name no app: unsigned)", body, b)
		}
	}
	if after := e.Sandbox().Alipay().TradeCount(); after != before {
		t.Fatalf("refused requests created %d trades", after-before)
	}
}

func TestTamperedNotificationIsRejectedBySDK(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	var captured url.Values
	done := make(chan struct{}, 1)
	srv := sandboxHTTP(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("the merchant reads the notification: %v", err)
		}
		captured = r.PostForm
		if _, err := w.Write([]byte("success")); err != nil {
			t.Errorf("the merchant answers the notification: %v", err)
		}
		done <- struct{}{}
	})
	defer srv.Close()
	_, qr := precreate(t, client, srv.URL, "9.99")
	pay(t, e, qr, "")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
	if _, err := client.DecodeNotification(captured); err != nil {
		t.Fatalf("the genuine notification: %v", err)
	}
	tampered := url.Values{}
	for k, v := range captured {
		tampered[k] = v
	}
	tampered.Set("total_amount", "0.01")
	if _, err := client.DecodeNotification(tampered); err == nil {
		t.Fatal("the SDK accepted a tampered notification")
	}
}

func TestBillDownload(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	no1, qr1 := precreate(t, client, "", "100.00")
	_, qr2 := precreate(t, client, "", "0.50")
	pay(t, e, qr1, "")
	pay(t, e, qr2, "")
	if r, err := client.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no1, RefundAmount: "25.00", OutRequestNo: "RB1", RefundReason: "仅退款"}); err != nil || !r.IsSuccess() {
		t.Fatalf("refund: %v %+v", err, r)
	}
	res, err := client.BillDownloadURLQuery(alipaysdk.BillDownloadURLQuery{BillType: "trade", BillDate: chinatime.Date(time.Now())})
	if err != nil || !res.IsSuccess() {
		t.Fatalf("bill url: %v %+v", err, res)
	}
	resp, err := http.Get(res.BillDownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		text, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
		if err != nil {
			t.Fatalf("%s is not GBK: %v", f.Name, err)
		}
		name, err := simplifiedchinese.GBK.NewDecoder().String(f.Name)
		if err != nil || !f.NonUTF8 {
			t.Fatalf("entry name %q is not GBK: %v", f.Name, err)
		}
		files[name] = string(text)
	}
	var detail string
	for name, text := range files {
		if strings.HasSuffix(name, "_业务明细.csv") {
			detail = text
		}
	}
	if len(files) != 2 || detail == "" {
		t.Fatalf("zip holds %v", keys(files))
	}
	lines := strings.Split(strings.TrimSpace(detail), "\n")
	if lines[0] != "#支付宝业务明细查询" || !strings.HasPrefix(lines[4], "支付宝交易号,商户订单号,业务类型") {
		t.Fatalf("bill head:\n%s", detail)
	}
	var trades, refunds int
	for _, l := range lines[5:] {
		if strings.HasPrefix(l, "#") {
			break
		}
		f := strings.Split(l, ",")
		if len(f) != 25 {
			t.Fatalf("row has %d fields: %q", len(f), l)
		}
		switch strings.TrimSuffix(f[2], "\t") {
		case "交易":
			trades++
		case "退款":
			refunds++
			if f[11] != "-25.00" || strings.TrimSpace(f[21]) != "RB1" || f[22] != "0.15" {
				t.Fatalf("refund row %q", l)
			}
		}
	}
	if trades != 2 || refunds != 1 || !strings.Contains(detail, "#交易合计：2笔") {
		t.Fatalf("bill rows: %d trades, %d refunds\n%s", trades, refunds, detail)
	}
	// The link is signed: a changed token is refused.
	resp, err = http.Get(res.BillDownloadURL + "x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged bill link: %d", resp.StatusCode)
	}
}

func TestAppAuthToken(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	merchants := e.Sandbox().Alipay().Merchants()
	seller := merchants[1]
	var code struct {
		AppAuthCode string `json:"app_auth_code"`
	}
	if st := e.Helper("POST", "/sandbox/v1/alipay/app_auth_codes", map[string]string{"merchant": seller.PID}, &code); st != 200 {
		t.Fatalf("auth code: %d", st)
	}
	tok, err := client.OpenAuthTokenApp(alipaysdk.OpenAuthTokenApp{GrantType: "authorization_code", Code: code.AppAuthCode})
	if err != nil || !tok.IsSuccess() || len(tok.Tokens) != 1 || tok.Tokens[0].UserId != seller.PID {
		t.Fatalf("token: %v %+v", err, tok)
	}
	token := tok.Tokens[0].AppAuthToken
	// A code is used once.
	again, err := client.OpenAuthTokenApp(alipaysdk.OpenAuthTokenApp{GrantType: "authorization_code", Code: code.AppAuthCode})
	if err != nil {
		t.Fatal(err)
	}
	if again.IsSuccess() {
		t.Fatal("an auth code was used twice")
	}

	// Trades made with the token belong to the authorizing merchant.
	p := alipaysdk.TradePreCreate{}
	no := outTradeNo("M")
	p.OutTradeNo, p.Subject, p.TotalAmount, p.AppAuthToken = no, "代商家收款", "6.66", token
	res, err := client.TradePreCreate(p)
	if err != nil || !res.IsSuccess() {
		t.Fatalf("precreate with token: %v %+v", err, res)
	}
	paid := pay(t, e, res.QRCode, "")
	if paid.SellerID != seller.PID {
		t.Fatalf("seller %s, want %s", paid.SellerID, seller.PID)
	}
	if q, err := client.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: no, AppAuthToken: token}); err != nil || q.TradeStatus != alipaysdk.TradeStatusSuccess {
		t.Fatalf("query with token: %v %+v", err, q)
	}
	if q, err := client.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: no}); err != nil || q.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("the app's own merchant saw another's trade: %v %+v", err, q)
	}
	// Refreshing replaces the token; the old one stops working.
	ref, err := client.OpenAuthTokenApp(alipaysdk.OpenAuthTokenApp{GrantType: "refresh_token", RefreshToken: tok.Tokens[0].AppRefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	if !ref.IsSuccess() || ref.Tokens[0].AppAuthToken == token {
		t.Fatalf("refresh: %+v", ref)
	}
	// The app is known, so the refusal is signed and the SDK hands it back
	// as a verified answer.
	old, err := client.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: no, AppAuthToken: token})
	if err != nil || old.Code != "20001" || old.SubCode != "aop.invalid-app-auth-token" {
		t.Fatalf("old token: %v %+v", err, old)
	}
	_ = alipay.Wallet
}

func TestRestartKeepsTrades(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := newClient(t, e)
	no, qr := precreate(t, client, "", "4.00")
	pay(t, e, qr, "")
	creds := e.Sandbox().Credentials().Alipay
	e.Restart()
	if e.Sandbox().Credentials().Alipay != creds {
		t.Fatal("keys changed across a restart")
	}
	if q := queryTrade(t, client, no); q.TradeStatus != alipaysdk.TradeStatusSuccess {
		t.Fatalf("after restart: %+v", q)
	}
}

// verifySigned checks a gateway answer's sign over its one response
// object, as the SDKs cut it out of the text.
func verifySigned(t *testing.T, alipayPublicKey string, body []byte) {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var sign string
	if err := json.Unmarshal(raw["sign"], &sign); err != nil {
		t.Fatalf("%s: sign: %v", body, err)
	}
	text := string(body)
	obj := text[strings.Index(text, `":`)+2 : strings.LastIndex(text, `,"sign":`)]
	pub, err := sandboxkeys.ParsePublicKey(alipayPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := alipayapi.Verify(pub, []byte(obj), sign); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
