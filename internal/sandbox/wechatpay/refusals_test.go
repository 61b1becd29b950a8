package wechatpay_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// orderCount is how many orders the sandbox holds for the merchant: a
// refused request must not change it.
func orderCount(t *testing.T, e *sandboxtest.Env) int {
	return e.Sandbox().WeChatPay().OrderCount()
}

func TestRefusedRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := sandboxtest.Start(t, sandboxtest.WithNow(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
	c := e.Credentials()
	good := publicKeyClient(t, e)
	pub, err := utils.LoadPublicKey(c.PlatformPublicKey)
	if err != nil {
		t.Fatal(err)
	}

	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, err := core.NewClient(ctx, option.WithHTTPClient(e.HTTPClient()),
		option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, otherKey, c.PlatformPublicKeyID, pub))
	if err != nil {
		t.Fatal(err)
	}
	wrongSerial, err := core.NewClient(ctx, option.WithHTTPClient(e.HTTPClient()),
		option.WithWechatPayPublicKeyAuthCipher(c.MchID, "0123456789ABCDEF0123456789ABCDEF01234567", mustPrivateKey(t, c.MerchantPrivateKey), c.PlatformPublicKeyID, pub))
	if err != nil {
		t.Fatal(err)
	}
	tamperHTTP := e.HTTPClient()
	tamperHTTP.Transport = tamper{base: tamperHTTP.Transport}
	tampered, err := core.NewClient(ctx, option.WithHTTPClient(tamperHTTP),
		option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, mustPrivateKey(t, c.MerchantPrivateKey), c.PlatformPublicKeyID, pub))
	if err != nil {
		t.Fatal(err)
	}

	prepay := func(client *core.Client, no string, total int64) error {
		_, _, err := (&native.NativeApiService{Client: client}).Prepay(ctx, native.PrepayRequest{
			Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("x"),
			OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/n"),
			Amount: &native.Amount{Total: core.Int64(total)},
		})
		return err
	}
	before := orderCount(t, e)

	t.Run("wrong key", func(t *testing.T) {
		ae := apiError(t, prepay(wrongKey, outTradeNo("X"), 1), 401, "SIGN_ERROR")
		if !strings.Contains(ae.Message, "签名错误") {
			t.Fatalf("message %q", ae.Message)
		}
	})
	t.Run("unknown serial", func(t *testing.T) {
		ae := apiError(t, prepay(wrongSerial, outTradeNo("X"), 1), 401, "SIGN_ERROR")
		if !strings.Contains(ae.Message, "证书序列号") {
			t.Fatalf("message %q", ae.Message)
		}
	})
	t.Run("tampered body", func(t *testing.T) {
		wantAPIError(t, prepay(tampered, outTradeNo("X"), 1), 401, "SIGN_ERROR")
	})
	t.Run("clock skew", func(t *testing.T) {
		offset.Store(int64(6 * time.Minute))
		defer offset.Store(0)
		ae := apiError(t, prepay(good, outTradeNo("X"), 1), 401, "SIGN_ERROR")
		if !strings.Contains(ae.Message, "timestamp") {
			t.Fatalf("message %q", ae.Message)
		}
	})
	t.Run("mchid mismatch", func(t *testing.T) {
		_, _, err := (&native.NativeApiService{Client: good}).Prepay(ctx, native.PrepayRequest{
			Appid: core.String(c.AppID), Mchid: core.String("1900000002"), Description: core.String("x"),
			OutTradeNo: core.String(outTradeNo("X")), NotifyUrl: core.String("https://merchant.example/n"),
			Amount: &native.Amount{Total: core.Int64(1)},
		})
		wantAPIError(t, err, 400, "PARAM_ERROR")
	})
	t.Run("appid not bound", func(t *testing.T) {
		_, _, err := (&native.NativeApiService{Client: good}).Prepay(ctx, native.PrepayRequest{
			Appid: core.String("wx0000000000000000"), Mchid: core.String(c.MchID), Description: core.String("x"),
			OutTradeNo: core.String(outTradeNo("X")), NotifyUrl: core.String("https://merchant.example/n"),
			Amount: &native.Amount{Total: core.Int64(1)},
		})
		wantAPIError(t, err, 400, "APPID_MCHID_NOT_MATCH")
	})
	t.Run("malformed bodies name the field", func(t *testing.T) {
		for _, tc := range []struct{ body, field string }{
			{`{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","description":"x","out_trade_no":"ABCDEF1","notify_url":"https://m.example/n","amount":{"total":"12"}}`, "/amount/total"},
			{`{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","description":"x","notify_url":"https://m.example/n","amount":{"total":12}}`, "/out_trade_no"},
			{`{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","description":"x","out_trade_no":"ABCDEF1","notify_url":"https://m.example/n","amount":{"total":0}}`, "/amount/total"},
			{`{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","description":"x","out_trade_no":"A B","notify_url":"https://m.example/n","amount":{"total":1}}`, "/out_trade_no"},
			{`{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","description":"x","out_trade_no":"ABCDEF1","notify_url":"ftp://m","amount":{"total":1}}`, "/notify_url"},
			{`{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","description":"x","out_trade_no":"ABCDEF1","notify_url":"https://m.example/n"}`, "/amount"},
			{`{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","description":"x","out_trade_no":"ABCDEF1","notify_url":"https://m.example/n","amount":{"total":1},"time_expire":"tomorrow"}`, "/time_expire"},
		} {
			_, err := good.Request(ctx, http.MethodPost, "https://api.mch.weixin.qq.com/v3/pay/transactions/native", nil, nil, rawJSON(tc.body), "application/json")
			ae := apiError(t, err, 400, "PARAM_ERROR")
			if tc.field != "" && !strings.Contains(ae.Message, tc.field) {
				t.Errorf("%s: message %q does not name %s", tc.body, ae.Message, tc.field)
			}
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		for _, body := range []string{`{"appid": `, `[]`, `{"amount":{"total":1}} trailing`, ``} {
			status, ans := signedRequest(t, e, http.MethodPost, "/v3/pay/transactions/native", body)
			if status != 400 || ans.Code != "PARAM_ERROR" {
				t.Errorf("%q: %d %+v", body, status, ans)
			}
		}
	})
	t.Run("body over 1 MiB", func(t *testing.T) {
		big := `{"appid":"` + c.AppID + `","attach":"` + strings.Repeat("x", 1<<20) + `"}`
		_, err := good.Request(ctx, http.MethodPost, "https://api.mch.weixin.qq.com/v3/pay/transactions/native", nil, nil, rawJSON(big), "application/json")
		wantAPIError(t, err, 413, "PARAM_ERROR")
	})
	t.Run("injected API errors", func(t *testing.T) {
		e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "api_error_rate": 1}, nil)
		defer e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay"}, nil)
		wantAPIError(t, prepay(good, outTradeNo("X"), 1), 500, "SYSTEM_ERROR")
	})
	if after := orderCount(t, e); after != before {
		t.Fatalf("refused requests created %d orders", after-before)
	}

	t.Run("reused out_trade_no with another amount", func(t *testing.T) {
		no := outTradeNo("R")
		if err := prepay(good, no, 100); err != nil {
			t.Fatal(err)
		}
		ae := apiError(t, prepay(good, no, 200), 400, "INVALID_REQUEST")
		if !strings.Contains(ae.Message, "商户订单号重复") {
			t.Fatalf("message %q", ae.Message)
		}
	})
}

// rawJSON is a body the SDK sends as it is.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// tamper changes the body after the SDK has signed it.
type tamper struct{ base http.RoundTripper }

func (t tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	b = bytes.Replace(b, []byte(`"total":1`), []byte(`"total":2`), 1)
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	return t.base.RoundTrip(r)
}

// signedRequest sends a request signed with the merchant's key, built by
// hand so that the body can be anything.
func signedRequest(t *testing.T, e *sandboxtest.Env, method, path, body string) (int, wechatpayv3.Error) {
	t.Helper()
	c := e.Credentials()
	key := mustPrivateKey(t, c.MerchantPrivateKey)
	a := wechatpayv3.Authorization{MchID: c.MchID, NonceStr: wechatpayv3.RandomString(32), Timestamp: time.Now().Unix(), SerialNo: c.MerchantSerialNo}
	sig, err := wechatpayv3.Sign(key, wechatpayv3.RequestMessage(method, path, a.Timestamp, a.NonceStr, []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	a.Signature = sig
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", a.String())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans wechatpayv3.Error
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatalf("%s %s: answer %d is not a JSON error: %v\n%s", method, path, resp.StatusCode, err, raw)
	}
	return resp.StatusCode, ans
}
