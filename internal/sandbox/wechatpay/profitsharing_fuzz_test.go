package wechatpay

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

const (
	fuzzTxn = "4200000000202601010000000001"
	fuzzSub = "1900000109"
)

func sharingSeed(amount int64, unfreeze bool) string {
	b, _ := json.Marshal(map[string]any{
		"sub_mchid": fuzzSub, "appid": sandboxAppID, "transaction_id": fuzzTxn, "out_order_no": "P20260101001",
		"receivers":        []map[string]any{{"type": "MERCHANT_ID", "account": sandboxMchID, "amount": amount, "description": "平台佣金"}},
		"unfreeze_unsplit": unfreeze,
	})
	return string(b)
}

// FuzzSharingParse fuzzes the POST /v3/profitsharing/orders body parser
// alone: what it accepts satisfies the platform's rules, and parsing is
// deterministic.
func FuzzSharingParse(f *testing.F) {
	f.Add(sharingSeed(100, false))
	f.Add(sharingSeed(0, true))
	f.Add(strings.Replace(sharingSeed(1, true), `"MERCHANT_ID"`, `"PERSONAL_OPENID"`, 1))
	f.Add(`{"sub_mchid":"1","appid":"a","transaction_id":"1","out_order_no":"x","receivers":[{"type":"MERCHANT_ID","account":"1","amount":9223372036854775807,"description":"d"}],"unfreeze_unsplit":false}`)
	f.Add(`{"receivers":[{"amount":"1"}]}`)
	f.Add(`{"unfreeze_unsplit":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		var b sharingBody
		if rep, ok := decodeBody([]byte(body), &b); !ok {
			checkRefusal(t, rep)
			return
		}
		form, rep, ok := parseSharing(&b)
		if !ok {
			checkRefusal(t, rep)
			return
		}
		switch {
		case form.SubMchID != "" && !merchantIDPattern.MatchString(form.SubMchID), !transactionIDPattern.MatchString(form.TransactionID),
			!outOrderNoPattern.MatchString(form.OutOrderNo), form.AppID == "":
			t.Fatalf("accepted ids %+v", form)
		case len(form.Receivers) == 0 || len(form.Receivers) > maxSharingReceivers:
			t.Fatalf("accepted %d receivers", len(form.Receivers))
		case b.UnfreezeUnsplit == nil || form.Unfreeze != *b.UnfreezeUnsplit:
			t.Fatalf("accepted unfreeze_unsplit %v", b.UnfreezeUnsplit)
		}
		var sum int64
		seen := map[string]bool{}
		for _, r := range form.Receivers {
			n := utf8.RuneCountInString(r.Description)
			if !slices.Contains(receiverTypes, r.Type) || r.Account == "" || r.Amount <= 0 || r.Amount > maxShareAmount || n < 1 || n > 80 || seen[r.Type+"|"+r.Account] {
				t.Fatalf("accepted receiver %+v", r)
			}
			seen[r.Type+"|"+r.Account] = true
			sum += r.Amount
		}
		if sum != form.Sum || sum <= 0 {
			t.Fatalf("sum %d, form says %d", sum, form.Sum)
		}
		var b2 sharingBody
		decodeBody([]byte(body), &b2)
		again, _, _ := parseSharing(&b2)
		if again == nil || again.Fingerprint != form.Fingerprint {
			t.Fatalf("parsing twice differs: %+v / %+v", form, again)
		}
	})
}

// FuzzSharingBody posts any body, correctly signed, to the sharing and
// unfreeze APIs of a simulator holding a paid profit-sharing order and the
// platform as its receiver: every answer is signed and well-formed, a
// refused request changes nothing, and the money never adds up to more
// than was paid.
func FuzzSharingBody(f *testing.F) {
	s := fuzzSimulator(f)
	s.mu.Lock()
	err := s.putOrder(&Order{
		Key: orderKey(sandboxMchID, fuzzSub, "PSFUZZ01"), Partner: true, MchID: sandboxMchID, AppID: sandboxAppID, SubMchID: fuzzSub,
		OutTradeNo: "PSFUZZ01", TradeType: TradeNative, Desc: "fuzz", Total: 10000, Currency: "CNY", PrepayID: "wxfuzz",
		State: StateSuccess, TransactionID: fuzzTxn, SuccessTime: time.Now(), ProfitSharing: true, CreatedAt: time.Now(),
	})
	r := &Receiver{Key: receiverKey(sandboxMchID, fuzzSub, "MERCHANT_ID", sandboxMchID), SpMchID: sandboxMchID, SubMchID: fuzzSub,
		AppID: sandboxAppID, Type: "MERCHANT_ID", Account: sandboxMchID, RelationType: "SERVICE_PROVIDER"}
	s.ps.receivers[r.Key] = r
	s.mu.Unlock()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sharingSeed(100, false))
	f.Add(sharingSeed(100, false)) // the same again
	f.Add(sharingSeed(20000, false))
	f.Add(sharingSeed(100, true))
	f.Add(`{"sub_mchid":"1900000109","transaction_id":"4200000000202601010000000001","out_order_no":"U1","description":"解冻"}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v3/profitsharing/orders", "/v3/profitsharing/orders/unfreeze"} {
			s.mu.Lock()
			before, sharings := *s.byTxn[fuzzTxn], len(s.ps.sharings)
			s.mu.Unlock()
			code := fuzzSharingRequest(t, s, path, body)
			s.mu.Lock()
			after, n := *s.byTxn[fuzzTxn], len(s.ps.sharings)
			s.mu.Unlock()
			if after.Shared+after.Unfrozen+after.Refunded > after.Total || after.Shared < 0 || after.Unfrozen < 0 {
				t.Fatalf("money adds up to more than was paid: %+v", after)
			}
			if after.Shared > maxShared(&after) {
				t.Fatalf("shared %d of %d, beyond the maximum ratio", after.Shared, after.Total)
			}
			if code != http.StatusOK && (n != sharings || after.Shared != before.Shared || after.Unfrozen != before.Unfrozen || after.SharingDone != before.SharingDone) {
				t.Fatalf("a refused request (%d) changed state", code)
			}
		}
	})
}

// fuzzSharingRequest is fuzzRequest, answering the status.
func fuzzSharingRequest(t *testing.T, s *Simulator, path, body string) int {
	t.Helper()
	c := s.creds
	key, err := sandboxkeys.ParsePrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	a := wechatpayv3.Authorization{MchID: c.MchID, NonceStr: "fuzz", Timestamp: time.Now().Unix(), SerialNo: c.MerchantSerialNo}
	a.Signature, err = wechatpayv3.Sign(key, wechatpayv3.RequestMessage(http.MethodPost, path, a.Timestamp, a.NonceStr, []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Authorization", a.String())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Header().Get(wechatpayv3.HeaderSignature) == "" {
		t.Fatalf("answer %d is unsigned", rec.Code)
	}
	switch rec.Code {
	case http.StatusOK:
		var o sharingJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil || o.OrderID == "" || o.TransactionID != fuzzTxn {
			t.Fatalf("200 is not a sharing order: %s", rec.Body)
		}
		return rec.Code
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge:
	default:
		t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
	}
	var e struct{ Code, Message string }
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("error answer %q is not {code, message}", rec.Body)
	}
	return rec.Code
}

// FuzzReceiverBody posts any body, correctly signed, to receivers/add and
// receivers/delete, for a direct merchant or a sub-merchant: every answer
// is signed and well-formed, a refused request changes no receiver, an
// added one exists afterwards and a deleted one does not.
func FuzzReceiverBody(f *testing.F) {
	s := fuzzSimulator(f)
	seed := func(sub, typ, account string) string {
		b, err := json.Marshal(map[string]any{"sub_mchid": sub, "appid": sandboxAppID, "type": typ, "account": account,
			"relation_type": "SUPPLIER"})
		if err != nil {
			f.Fatal(err)
		}
		return string(b)
	}
	zhang := users.OpenID("buyer-zhang", sandboxAppID)
	f.Add(seed("", "PERSONAL_OPENID", zhang))
	f.Add(seed(fuzzSub, "PERSONAL_OPENID", zhang))
	f.Add(seed("", "MERCHANT_ID", "1900008001"))
	f.Add(seed("", "PERSONAL_SUB_OPENID", "o1"))
	f.Add(seed("", "MERCHANT_ID", sandboxMchID))
	f.Add(`{"appid":"` + sandboxAppID + `","type":"PERSONAL_OPENID","account":"o","relation_type":"USER"}`)
	f.Add(`{"sub_mchid":"x"}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v3/profitsharing/receivers/add", "/v3/profitsharing/receivers/delete"} {
			s.mu.Lock()
			before := len(s.ps.receivers)
			s.mu.Unlock()
			code, answer := fuzzPost(t, s, path, body)
			s.mu.Lock()
			after := len(s.ps.receivers)
			s.mu.Unlock()
			if code != http.StatusOK {
				if after != before {
					t.Fatalf("a refused %s (%d) changed the receivers: %d → %d", path, code, before, after)
				}
				continue
			}
			var a struct{ SubMchID, Type, Account string }
			if err := json.Unmarshal(answer, &a); err != nil || a.Type == "" || a.Account == "" {
				t.Fatalf("%s answered 200 %s", path, answer)
			}
			var b struct {
				SubMchID string `json:"sub_mchid"`
			}
			if err := json.Unmarshal([]byte(body), &b); err != nil {
				t.Fatalf("%s answered 200 to a body that is not JSON: %v\n%s", path, err, body)
			}
			s.mu.Lock()
			_, exists := s.ps.receivers[receiverKey(sandboxMchID, b.SubMchID, a.Type, a.Account)]
			s.mu.Unlock()
			if exists != strings.HasSuffix(path, "/add") {
				t.Fatalf("after %s of %s %s the receiver exists: %v", path, a.Type, a.Account, exists)
			}
		}
	})
}

// fuzzPost is a signed POST of body to path: its status and answer, which
// must be signed, and be {code, message} when refused.
func fuzzPost(t *testing.T, s *Simulator, path, body string) (int, []byte) {
	t.Helper()
	c := s.creds
	key, err := sandboxkeys.ParsePrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	a := wechatpayv3.Authorization{MchID: c.MchID, NonceStr: "fuzz", Timestamp: time.Now().Unix(), SerialNo: c.MerchantSerialNo}
	a.Signature, err = wechatpayv3.Sign(key, wechatpayv3.RequestMessage(http.MethodPost, path, a.Timestamp, a.NonceStr, []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Authorization", a.String())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Header().Get(wechatpayv3.HeaderSignature) == "" {
		t.Fatalf("answer %d is unsigned", rec.Code)
	}
	switch rec.Code {
	case http.StatusOK:
		return rec.Code, rec.Body.Bytes()
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge:
	default:
		t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
	}
	var e struct{ Code, Message string }
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("error answer %q is not {code, message}", rec.Body)
	}
	return rec.Code, rec.Body.Bytes()
}
