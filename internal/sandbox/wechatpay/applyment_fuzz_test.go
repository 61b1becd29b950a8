package wechatpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// applymentSeed is a valid application body, its sensitive fields made by
// enc.
func applymentSeed(code string, enc func(string) string) string {
	b, _ := json.Marshal(map[string]any{
		"business_code": code,
		"contact_info":  map[string]any{"contact_name": enc("王五"), "mobile_phone": enc("13700001234"), "contact_email": enc("wang@example.com")},
		"subject_info": map[string]any{"subject_type": "SUBJECT_TYPE_INDIVIDUAL", "business_license_info": map[string]any{
			"license_copy": "media", "license_number": "92330411MA2JDMCK9H", "merchant_name": "王五小吃店", "legal_person": "王五"}},
		"business_info": map[string]any{"merchant_shortname": "王五小吃", "service_phone": "13700001234",
			"sales_info": map[string]any{"sales_scenes_type": []string{"SALES_SCENES_STORE"}}},
		"settlement_info":   map[string]any{"settlement_id": "719", "qualification_type": "餐饮"},
		"bank_account_info": map[string]any{"bank_account_type": "BANK_ACCOUNT_TYPE_PERSONAL", "account_name": enc("王五"), "account_number": enc("6222020000000000")},
	})
	return string(b)
}

// FuzzApplymentParse fuzzes the application body parser alone, with a
// stand-in for RSA ("enc:" + plaintext), so that the fuzzer reaches every
// check: what it accepts satisfies the rules, and parsing is deterministic.
func FuzzApplymentParse(f *testing.F) {
	enc := func(v string) string { return "enc:" + v }
	decrypt := func(v string) (string, error) {
		if p, ok := strings.CutPrefix(v, "enc:"); ok {
			return p, nil
		}
		return "", errors.New("not encrypted")
	}
	f.Add(applymentSeed("1900000001_seed", enc))
	f.Add(strings.Replace(applymentSeed("x", enc), `"SUBJECT_TYPE_INDIVIDUAL"`, `"SUBJECT_TYPE_GOVERNMENT"`, 1))
	f.Add(strings.Replace(applymentSeed("x", enc), `"enc:13700001234"`, `"13700001234"`, 1))
	f.Add(`{"business_code":"a","contact_info":null}`)
	f.Add(`{"business_info":{"sales_info":{"sales_scenes_type":["SALES_SCENES_APP","SALES_SCENES_APP"]}}}`)
	f.Add(`[]`)
	f.Add(`{"business_code":1}`)
	f.Fuzz(func(t *testing.T, body string) {
		var b applymentBody
		if rep, ok := decodeBody([]byte(body), &b); !ok {
			checkRefusal(t, rep)
			return
		}
		form, rep, ok := parseApplyment(&b, decrypt)
		if !ok {
			checkRefusal(t, rep)
			return
		}
		switch {
		case !businessCodePattern.MatchString(form.BusinessCode):
			t.Fatalf("accepted business_code %q", form.BusinessCode)
		case !mobilePattern.MatchString(form.MobilePhone) || form.ContactName == "" || form.ContactEmail == "":
			t.Fatalf("accepted contact %+v", form)
		case form.ShortName == "" || !phonePattern.MatchString(form.ServicePhone) || len(form.SalesScenes) == 0:
			t.Fatalf("accepted business info %+v", form)
		case form.AccountName == "" || !accountPattern.MatchString(form.AccountNumber):
			t.Fatalf("accepted bank account %+v", form)
		case (form.SubjectType == "SUBJECT_TYPE_INDIVIDUAL" || form.SubjectType == "SUBJECT_TYPE_ENTERPRISE") &&
			(!licensePattern.MatchString(form.LicenseNumber) || form.MerchantName == "" || form.LegalPerson == ""):
			t.Fatalf("accepted licence %+v", form)
		}
		var b2 applymentBody
		decodeBody([]byte(body), &b2)
		again, _, _ := parseApplyment(&b2, decrypt)
		if again == nil || again.Fingerprint != form.Fingerprint {
			t.Fatalf("parsing twice differs: %+v / %+v", form, again)
		}
	})
}

func checkRefusal(t *testing.T, rep reply) {
	t.Helper()
	e, ok := rep.body.(*wechatpayv3.Error)
	if rep.status != http.StatusBadRequest || !ok || e.Code != wechatpayv3.CodeParamError || e.Message == "" {
		t.Fatalf("refusal %d %+v is not a PARAM_ERROR", rep.status, rep.body)
	}
}

// FuzzApplymentBody posts any body, correctly signed and with the real
// Wechatpay-Serial, to the simulator: every answer is signed and
// well-formed, and a refused one changes nothing.
func FuzzApplymentBody(f *testing.F) {
	s := fuzzSimulator(f)
	pub := &s.keys.pubKeyKey.PublicKey
	enc := func(v string) string {
		ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, []byte(v), nil)
		if err != nil {
			f.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(ct)
	}
	f.Add(applymentSeed("1900000001_fuzz", enc))
	f.Add(applymentSeed("1900000001_fuzz", enc)) // the same again
	f.Add(strings.Replace(applymentSeed("1900000001_fuzz", enc), "王五小吃", "王五面馆", 1))
	f.Add(applymentSeed("bad code", enc))
	f.Add(`{"business_code":"1900000001_x","contact_info":{"contact_name":"AAAA"}}`)
	f.Add(`{}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, body string) {
		s.mu.Lock()
		s.advanceApplyments() // what time did is not the request's doing
		before := map[string]Applyment{}
		for k, a := range s.applyments {
			before[k] = *a
		}
		subs := len(s.subs)
		s.mu.Unlock()

		c := s.creds
		key, err := sandboxkeys.ParsePrivateKey(c.MerchantPrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		const path = "/v3/applyment4sub/applyment/"
		a := wechatpayv3.Authorization{MchID: c.MchID, NonceStr: "fuzz", Timestamp: time.Now().Unix(), SerialNo: c.MerchantSerialNo}
		a.Signature, err = wechatpayv3.Sign(key, wechatpayv3.RequestMessage("POST", path, a.Timestamp, a.NonceStr, []byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", a.String())
		req.Header.Set(wechatpayv3.HeaderSerial, c.PlatformPublicKeyID)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)

		if rec.Header().Get(wechatpayv3.HeaderSignature) == "" {
			t.Fatalf("answer %d is unsigned", rec.Code)
		}
		if rec.Code == http.StatusOK {
			var ok struct {
				ApplymentID int64 `json:"applyment_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil || ok.ApplymentID == 0 {
				t.Fatalf("200 without an applyment_id: %s", rec.Body)
			}
			s.mu.Lock()
			got := s.applymentIDs[ok.ApplymentID]
			s.mu.Unlock()
			if got == nil {
				t.Fatalf("applyment %d answered but not kept", ok.ApplymentID)
			}
			return
		}
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		var e wechatpayv3.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
			t.Fatalf("error answer %q is not {code, message}", rec.Body)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		after := map[string]Applyment{}
		for k, a := range s.applyments {
			after[k] = *a
		}
		if len(s.subs) != subs || !maps.EqualFunc(before, after, func(x, y Applyment) bool {
			return x.Fingerprint == y.Fingerprint && x.State == y.State && x.Submissions == y.Submissions
		}) {
			t.Fatalf("a refused application (%s) changed state", e.Code)
		}
	})
}
