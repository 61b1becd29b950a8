package wechatpay_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// applymentRequest is a sub-merchant application as a service provider
// writes it for the SDK, which encrypts the fields tagged EM_APIV3 with
// the platform key it trusts (EncryptRequest).
type applymentRequest struct {
	BusinessCode string `json:"business_code"`
	ContactInfo  struct {
		ContactName  string `json:"contact_name" encryption:"EM_APIV3"`
		MobilePhone  string `json:"mobile_phone" encryption:"EM_APIV3"`
		ContactEmail string `json:"contact_email" encryption:"EM_APIV3"`
	} `json:"contact_info"`
	SubjectInfo struct {
		SubjectType         string `json:"subject_type"`
		BusinessLicenseInfo struct {
			LicenseCopy   string `json:"license_copy"`
			LicenseNumber string `json:"license_number"`
			MerchantName  string `json:"merchant_name"`
			LegalPerson   string `json:"legal_person"`
		} `json:"business_license_info"`
	} `json:"subject_info"`
	BusinessInfo struct {
		MerchantShortname string `json:"merchant_shortname"`
		ServicePhone      string `json:"service_phone"`
		SalesInfo         struct {
			SalesScenesType []string `json:"sales_scenes_type"`
		} `json:"sales_info"`
	} `json:"business_info"`
	SettlementInfo struct {
		SettlementID      string `json:"settlement_id"`
		QualificationType string `json:"qualification_type"`
	} `json:"settlement_info"`
	BankAccountInfo struct {
		BankAccountType string `json:"bank_account_type"`
		AccountName     string `json:"account_name" encryption:"EM_APIV3"`
		AccountBank     string `json:"account_bank"`
		BankAddressCode string `json:"bank_address_code"`
		AccountNumber   string `json:"account_number" encryption:"EM_APIV3"`
	} `json:"bank_account_info"`
}

func newApplyment(code string) applymentRequest {
	var a applymentRequest
	a.BusinessCode = code
	a.ContactInfo.ContactName, a.ContactInfo.MobilePhone, a.ContactInfo.ContactEmail = "李四", "13900001111", "li@example.com"
	a.SubjectInfo.SubjectType = "SUBJECT_TYPE_ENTERPRISE"
	bl := &a.SubjectInfo.BusinessLicenseInfo
	bl.LicenseCopy, bl.LicenseNumber, bl.MerchantName, bl.LegalPerson = "media-id-license", "91440300MA5EXAMP1X", "深圳城市服饰有限公司", "李四"
	a.BusinessInfo.MerchantShortname, a.BusinessInfo.ServicePhone = "城市服饰", "4008000000"
	a.BusinessInfo.SalesInfo.SalesScenesType = []string{"SALES_SCENES_MINI_PROGRAM", "SALES_SCENES_STORE"}
	a.SettlementInfo.SettlementID, a.SettlementInfo.QualificationType = "716", "零售批发/生活娱乐/其他"
	ba := &a.BankAccountInfo
	ba.BankAccountType, ba.AccountName, ba.AccountBank, ba.BankAddressCode, ba.AccountNumber = "BANK_ACCOUNT_TYPE_CORPORATE", "深圳城市服饰有限公司", "招商银行", "440300", "755912345678901"
	return a
}

// submit encrypts a copy of a with the client's platform key and posts it.
func submit(t *testing.T, client *core.Client, a applymentRequest) (int64, error) {
	t.Helper()
	serial, err := client.EncryptRequest(ctx, &a)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Request(ctx, http.MethodPost, "https://api.mch.weixin.qq.com/v3/applyment4sub/applyment/",
		http.Header{consts.WechatPaySerial: {serial}}, nil, a, consts.ApplicationJSON)
	if err != nil {
		return 0, err
	}
	var out struct {
		ApplymentID int64 `json:"applyment_id"`
	}
	if err := json.NewDecoder(res.Response.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.ApplymentID, nil
}

type applymentState struct {
	BusinessCode      string `json:"business_code"`
	ApplymentID       int64  `json:"applyment_id"`
	SubMchID          string `json:"sub_mchid"`
	SignURL           string `json:"sign_url"`
	ApplymentState    string `json:"applyment_state"`
	ApplymentStateMsg string `json:"applyment_state_msg"`
	AuditDetail       []struct {
		Field, FieldName, RejectReason string
	} `json:"audit_detail"`
}

func query(t *testing.T, client *core.Client, path string) (applymentState, error) {
	t.Helper()
	res, err := client.Get(ctx, "https://api.mch.weixin.qq.com/v3/applyment4sub/applyment/"+path)
	var out applymentState
	if err != nil {
		return out, err
	}
	if err := json.NewDecoder(res.Response.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out, nil
}

// TestApplymentAPI drives the applyment API with the SDK in both key
// modes: the same application posted again is the same applyment_id
// (though its ciphertexts differ), another one under a business_code in
// review is refused, both queries agree.
func TestApplymentAPI(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	pk := publicKeyClient(t, e)
	cert, _ := certificateClient(t, e)
	code := outTradeNo("1900000001_")
	if st := e.Helper("POST", "/sandbox/v1/wechatpay/applyment_outcome", wechatpay.ApplymentOutcome{BusinessCode: code, Outcome: wechatpay.OutcomeApproved, DelayMS: 3_600_000}, nil); st != 200 {
		t.Fatalf("outcome: %d", st)
	}
	id, err := submit(t, pk, newApplyment(code))
	if err != nil {
		t.Fatal(err)
	}
	if id < 2_000_000_000_000_000 || id > 2_000_002_999_999_999 {
		t.Fatalf("applyment_id %d is not shaped like the platform's", id)
	}
	again, err := submit(t, cert, newApplyment(code)) // certificate mode, other ciphertexts
	if err != nil || again != id {
		t.Fatalf("the same application again: %d, %v; want %d", again, err, id)
	}
	edited := newApplyment(code)
	edited.BusinessInfo.MerchantShortname = "城市服饰旗舰店"
	_, err = submit(t, pk, edited)
	wantAPIError(t, err, http.StatusBadRequest, "INVALID_REQUEST")

	byCode, err := query(t, pk, "business_code/"+code)
	if err != nil {
		t.Fatal(err)
	}
	byID, err := query(t, cert, "applyment_id/"+strconv.FormatInt(id, 10))
	if err != nil {
		t.Fatal(err)
	}
	if byCode.ApplymentID != id || byCode.ApplymentState != wechatpay.ApplymentAuditing || byCode.ApplymentStateMsg != "审核中" ||
		byCode.SubMchID != "" || byCode.SignURL == "" || byCode.BusinessCode != code {
		t.Fatalf("query by business_code: %+v", byCode)
	}
	if byID.ApplymentID != byCode.ApplymentID || byID.ApplymentState != byCode.ApplymentState || byID.BusinessCode != code {
		t.Fatalf("query by id %+v differs from by code %+v", byID, byCode)
	}

	_, err = query(t, pk, "business_code/1900000001_unknown")
	wantAPIError(t, err, http.StatusNotFound, "RESOURCE_NOT_EXISTS")
	_, err = query(t, pk, "applyment_id/2000002000000001")
	wantAPIError(t, err, http.StatusNotFound, "RESOURCE_NOT_EXISTS")
	_, err = query(t, pk, "applyment_id/abc")
	wantAPIError(t, err, http.StatusBadRequest, "PARAM_ERROR")
	_, err = query(t, pk, "business_code/has-dash")
	wantAPIError(t, err, http.StatusBadRequest, "PARAM_ERROR")
}

// TestApplymentRefusals: what the platform refuses, each a PARAM_ERROR
// naming the field, and none leaving an application behind.
func TestApplymentRefusals(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	// Signed by hand: the SDK sets Wechatpay-Serial itself.
	post := func(body any, serial string) (int, wechatpayv3.Error) {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		c := e.Credentials()
		key := mustPrivateKey(t, c.MerchantPrivateKey)
		path := "/v3/applyment4sub/applyment/"
		a := wechatpayv3.Authorization{MchID: c.MchID, NonceStr: wechatpayv3.RandomString(32), Timestamp: time.Now().Unix(), SerialNo: c.MerchantSerialNo}
		if a.Signature, err = wechatpayv3.Sign(key, wechatpayv3.RequestMessage("POST", path, a.Timestamp, a.NonceStr, b)); err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest("POST", e.URL+path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", a.String())
		req.Header.Set("Content-Type", "application/json")
		if serial != "" {
			req.Header.Set(consts.WechatPaySerial, serial)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get(wechatpayv3.HeaderSignature) == "" {
			t.Fatalf("answer %d is unsigned", resp.StatusCode)
		}
		var ans wechatpayv3.Error
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
			t.Fatalf("answer %d is not JSON: %v", resp.StatusCode, err)
		}
		return resp.StatusCode, ans
	}
	encrypted := func(edit func(*applymentRequest)) applymentRequest {
		a := newApplyment("1900000001_refused")
		if edit != nil {
			edit(&a)
		}
		if _, err := client.EncryptRequest(ctx, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	pubKeyID := e.Credentials().PlatformPublicKeyID
	for _, tc := range []struct {
		name   string
		body   any
		serial string
		field  string
	}{
		{"plaintext sensitive fields", newApplyment("1900000001_refused"), pubKeyID, "/body/contact_info/contact_name"},
		{"no Wechatpay-Serial", encrypted(nil), "", "/header/Wechatpay-Serial"},
		{"unknown Wechatpay-Serial", encrypted(nil), "PUB_KEY_ID_0000", "/header/Wechatpay-Serial"},
		{"encrypted for the other key", encrypted(nil), e.Credentials().PlatformSerialNo, "/body/contact_info/contact_name"},
		{"no business_code", encrypted(func(a *applymentRequest) { a.BusinessCode = "" }), pubKeyID, "/body/business_code"},
		{"long business_code", encrypted(func(a *applymentRequest) { a.BusinessCode = strings.Repeat("a", 125) }), pubKeyID, "/body/business_code"},
		{"unknown subject type", encrypted(func(a *applymentRequest) { a.SubjectInfo.SubjectType = "SUBJECT_TYPE_PERSON" }), pubKeyID, "/body/subject_info/subject_type"},
		{"no merchant name", encrypted(func(a *applymentRequest) { a.SubjectInfo.BusinessLicenseInfo.MerchantName = "" }), pubKeyID, "/body/subject_info/business_license_info/merchant_name"},
		{"no sales scene", encrypted(func(a *applymentRequest) { a.BusinessInfo.SalesInfo.SalesScenesType = nil }), pubKeyID, "/body/business_info/sales_info/sales_scenes_type"},
		{"unknown sales scene", encrypted(func(a *applymentRequest) { a.BusinessInfo.SalesInfo.SalesScenesType = []string{"SALES_SCENES_TV"} }), pubKeyID, "/body/business_info/sales_info/sales_scenes_type"},
		{"no settlement rule", encrypted(func(a *applymentRequest) { a.SettlementInfo.SettlementID = "" }), pubKeyID, "/body/settlement_info/settlement_id"},
		{"enterprise with a personal account", encrypted(func(a *applymentRequest) { a.BankAccountInfo.BankAccountType = "BANK_ACCOUNT_TYPE_PERSONAL" }), pubKeyID, "/body/bank_account_info/bank_account_type"},
		{"no account name", encrypted(func(a *applymentRequest) { a.BankAccountInfo.AccountName = "" }), pubKeyID, "/body/bank_account_info/account_name"},
		{"wrong type", map[string]any{"business_code": 42}, pubKeyID, "/business_code"},
		{"no contact_info", map[string]any{"business_code": "1900000001_refused"}, pubKeyID, "/body/contact_info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, ae := post(tc.body, tc.serial)
			if st != http.StatusBadRequest || ae.Code != "PARAM_ERROR" || !strings.Contains(ae.Message, tc.field) {
				t.Fatalf("%d %s %q, want PARAM_ERROR naming %s", st, ae.Code, ae.Message, tc.field)
			}
		})
	}
	var list struct{ Data []wechatpay.ApplymentView }
	if st := e.Helper("GET", "/sandbox/v1/wechatpay/applyments", nil, &list); st != http.StatusOK {
		t.Fatalf("listing the applications: status %d", st)
	}
	if len(list.Data) != 0 {
		t.Fatalf("refused applications were kept: %+v", list.Data)
	}
}

// TestApplymentOutcomeKnob: the helper API refuses settings it cannot
// apply.
func TestApplymentOutcomeKnob(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	for _, bad := range []map[string]any{
		{"outcome": "maybe"},
		{"outcome": "approved", "delay_ms": -1},
		{"outcome": "approved", "delay_ms": 31 * 24 * 3600 * 1000},
		{"outcome": "rejected", "business_code": "has-dash"},
		{"outcome": "rejected", "field": "Not A Field"},
		{"outcome": "approved", "dealy_ms": 5},
	} {
		if st := e.Helper("POST", "/sandbox/v1/wechatpay/applyment_outcome", bad, nil); st != http.StatusBadRequest {
			t.Errorf("%v: status %d, want 400", bad, st)
		}
	}
	var got struct{ Default wechatpay.ApplymentOutcome }
	e.Helper("GET", "/sandbox/v1/wechatpay/applyment_outcome", nil, &got)
	if got.Default.Outcome != wechatpay.OutcomeApproved || got.Default.DelayMS != 0 {
		t.Fatalf("default changed by refused settings: %+v", got.Default)
	}
	if st := e.Helper("POST", "/sandbox/v1/wechatpay/applyments/confirm", map[string]string{"business_code": "nope"}, nil); st != http.StatusNotFound {
		t.Fatalf("confirm unknown: %d", st)
	}
}
