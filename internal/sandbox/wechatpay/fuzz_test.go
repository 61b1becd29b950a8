package wechatpay

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/sandbox/journal"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// fuzzSimulator is one simulator shared by every input of a fuzz target
// (its keys take a while to generate), in the target's temporary folder.
func fuzzSimulator(f *testing.F) *Simulator {
	j, err := journal.Open(filepath.Join(f.TempDir(), "j"), journal.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { j.Close() })
	u, err := users.Open(j)
	if err != nil {
		f.Fatal(err)
	}
	fs, err := faults.Open(j, Wallet)
	if err != nil {
		f.Fatal(err)
	}
	n, err := notify.New(notify.Config{Journal: j})
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{Journal: j, Users: u, Notifier: n, Faults: fs, BaseURL: "http://sandbox.test"})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// fuzzRequest sends body, correctly signed, and checks what any input must
// get: a well-formed answer, and no change at all unless it succeeded.
func fuzzRequest(t *testing.T, s *Simulator, method, path, body string) {
	s.mu.Lock()
	orders, refunds := len(s.orders), len(s.refunds)
	s.mu.Unlock()

	c := s.creds
	key, err := sandboxkeys.ParsePrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	a := wechatpayv3.Authorization{MchID: c.MchID, NonceStr: "fuzz", Timestamp: time.Now().Unix(), SerialNo: c.MerchantSerialNo}
	a.Signature, err = wechatpayv3.Sign(key, wechatpayv3.RequestMessage(method, path, a.Timestamp, a.NonceStr, []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", a.String())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)

	if rec.Header().Get(wechatpayv3.HeaderSignature) == "" {
		t.Fatalf("answer %d is unsigned", rec.Code)
	}
	switch rec.Code {
	case http.StatusOK, http.StatusNoContent:
		return
	case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusForbidden:
	case http.StatusInternalServerError:
		if !strings.Contains(rec.Body.String(), "OPENID_MISMATCH") {
			t.Fatalf("500 for %q: %s", body, rec.Body)
		}
	default:
		t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
	}
	var e wechatpayv3.Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("error answer %q is not {code, message}", rec.Body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.orders) != orders || len(s.refunds) != refunds {
		t.Fatalf("a refused request (%d %s) changed state", rec.Code, e.Code)
	}
}

func FuzzPrepayBody(f *testing.F) {
	f.Add(`{"appid":"wxd678efh567hg6787","mchid":"1900000001","description":"x","out_trade_no":"ABCDEF01","notify_url":"https://m.example/n","amount":{"total":1}}`)
	f.Add(`{"appid":"wxd678efh567hg6787","mchid":"1900000001","description":"x","out_trade_no":"ABCDEF01","notify_url":"https://m.example/n","amount":{"total":-1}}`)
	f.Add(`{"amount":{"total":"1"}}`)
	f.Add(`{"time_expire":"2030-01-01T00:00:00+08:00"}`)
	f.Add(`[]`)
	f.Add(``)
	s := fuzzSimulator(f)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v3/pay/transactions/native", "/v3/pay/transactions/jsapi", "/v3/pay/partner/transactions/h5"} {
			fuzzRequest(t, s, http.MethodPost, path, body)
		}
	})
}

func FuzzRefundBody(f *testing.F) {
	f.Add(`{"out_trade_no":"ABCDEF01","out_refund_no":"R1","amount":{"refund":1,"total":1,"currency":"CNY"}}`)
	f.Add(`{"transaction_id":"4200","out_refund_no":"R1","amount":{"refund":0,"total":1,"currency":"USD"}}`)
	f.Add(`{"out_refund_no":"","amount":null}`)
	s := fuzzSimulator(f)
	f.Fuzz(func(t *testing.T, body string) {
		fuzzRequest(t, s, http.MethodPost, "/v3/refund/domestic/refunds", body)
	})
}

func FuzzCloseBody(f *testing.F) {
	f.Add(`{"mchid":"1900000001"}`)
	f.Add(`{"sp_mchid":"1900000001","sub_mchid":1}`)
	s := fuzzSimulator(f)
	f.Fuzz(func(t *testing.T, body string) {
		fuzzRequest(t, s, http.MethodPost, "/v3/pay/transactions/out-trade-no/ABCDEF01/close", body)
	})
}
