package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/hutong-pay/hutong/internal/channel"
)

// Sub-merchant onboarding in service-provider mode (特约商户进件): the
// application goes to POST /v3/applyment4sub/applyment/ under the
// platform's business_code, its sensitive fields encrypted with the
// platform public key (RSA-OAEP, SHA-1, base64) that Wechatpay-Serial
// names; its progress is read back by business_code.
//
// How the platform's states read (Onboarding.State):
//
//	APPLYMENT_STATE_EDITTING        submitted  (not under review; submit again)
//	APPLYMENT_STATE_AUDITING        reviewing
//	APPLYMENT_STATE_SIGNING         reviewing  (permissions being opened)
//	APPLYMENT_STATE_TO_BE_CONFIRMED needs_info (the super administrator must verify the account at SignURL)
//	APPLYMENT_STATE_TO_BE_SIGNED    needs_info (the super administrator must sign at SignURL)
//	APPLYMENT_STATE_REJECTED        rejected   (Reason from audit_detail; submit again, same business_code)
//	APPLYMENT_STATE_CANCELED        rejected
//	APPLYMENT_STATE_FINISHED        active     (SubMerchant is the sub_mchid)

// What an application says about the merchant's business that
// MerchantApplication does not: the settlement rule and industry of a
// retailer without special qualifications, and where the marketplace sells
// (the provider's official account, whose appid JSAPI payments use).
const (
	settlementIndividual = "719" // 个体工商户
	settlementEnterprise = "716" // 企业
	qualificationRetail  = "零售批发/生活娱乐/其他"
)

var _ channel.Onboarder = (*Connector)(nil)

// SubmitMerchant implements channel.Onboarder. An application the platform
// already holds under a.Ref is not sent again unless it was rejected (or
// never reached review): then it is resubmitted, edited, under the same
// business_code. It answers the application's state after the submission.
func (c *Connector) SubmitMerchant(ctx context.Context, a channel.MerchantApplication) (channel.Onboarding, error) {
	if a.Ref == "" {
		return channel.Onboarding{}, errors.New("wechatpay: an application needs its business_code (Ref)")
	}
	cur, err := c.QueryMerchant(ctx, a.Ref)
	switch {
	case errors.Is(err, channel.ErrNotFound):
	case err != nil:
		return channel.Onboarding{}, err
	case cur.WalletState != stateEditing && cur.WalletState != stateRejected:
		return cur, nil
	}
	body, err := c.applymentBody(a)
	if err != nil {
		return channel.Onboarding{}, err
	}
	header := http.Header{consts.WechatPaySerial: {c.cfg.PlatformPublicKeyID}}
	res, err := c.client.Request(ctx, http.MethodPost, api+"/v3/applyment4sub/applyment/", header, nil, body, consts.ApplicationJSON)
	if err != nil {
		return channel.Onboarding{}, walletError(err)
	}
	var out struct {
		ApplymentID int64 `json:"applyment_id"`
	}
	if err := json.NewDecoder(res.Response.Body).Decode(&out); err != nil || out.ApplymentID == 0 {
		return channel.Onboarding{}, fmt.Errorf("wechatpay: applyment answer has no applyment_id (%w)", err)
	}
	after, err := c.QueryMerchant(ctx, a.Ref)
	if err != nil { // submitted; the state comes with the next query
		return channel.Onboarding{Ref: a.Ref, State: channel.OnboardingSubmitted}, nil
	}
	return after, nil
}

// QueryMerchant implements channel.Onboarder: ref is the business_code.
// An application the platform does not know is channel.ErrNotFound.
func (c *Connector) QueryMerchant(ctx context.Context, ref string) (channel.Onboarding, error) {
	if ref == "" {
		return channel.Onboarding{}, errors.New("wechatpay: a business_code is required")
	}
	res, err := c.client.Get(ctx, api+"/v3/applyment4sub/applyment/business_code/"+url.PathEscape(ref))
	if err != nil {
		return channel.Onboarding{}, walletError(err)
	}
	var q applymentAnswer
	if err := json.NewDecoder(res.Response.Body).Decode(&q); err != nil {
		return channel.Onboarding{}, fmt.Errorf("wechatpay: applyment query answer: %w", err)
	}
	if q.BusinessCode == "" {
		q.BusinessCode = ref
	}
	return q.onboarding(), nil
}

// The platform's applyment states.
const (
	stateEditing       = "APPLYMENT_STATE_EDITTING"
	stateAuditing      = "APPLYMENT_STATE_AUDITING"
	stateRejected      = "APPLYMENT_STATE_REJECTED"
	stateToBeConfirmed = "APPLYMENT_STATE_TO_BE_CONFIRMED"
	stateToBeSigned    = "APPLYMENT_STATE_TO_BE_SIGNED"
	stateSigning       = "APPLYMENT_STATE_SIGNING"
	stateFinished      = "APPLYMENT_STATE_FINISHED"
	stateCanceled      = "APPLYMENT_STATE_CANCELED"
)

// applymentAnswer is GET /v3/applyment4sub/applyment/business_code/{…}.
type applymentAnswer struct {
	BusinessCode      string `json:"business_code"`
	ApplymentID       int64  `json:"applyment_id"`
	SubMchID          string `json:"sub_mchid"`
	SignURL           string `json:"sign_url"`
	ApplymentState    string `json:"applyment_state"`
	ApplymentStateMsg string `json:"applyment_state_msg"`
	AuditDetail       []struct {
		Field        string `json:"field"`
		FieldName    string `json:"field_name"`
		RejectReason string `json:"reject_reason"`
	} `json:"audit_detail"`
}

func (q applymentAnswer) onboarding() channel.Onboarding {
	o := channel.Onboarding{Ref: q.BusinessCode, WalletState: q.ApplymentState, Reason: q.ApplymentStateMsg}
	switch q.ApplymentState {
	case stateEditing:
		o.State = channel.OnboardingSubmitted
	case stateRejected, stateCanceled:
		o.State = channel.OnboardingRejected
		var reasons []string
		for _, d := range q.AuditDetail {
			name := d.FieldName
			if name == "" {
				name = d.Field
			}
			reasons = append(reasons, name+"："+d.RejectReason)
		}
		if len(reasons) > 0 {
			o.Reason = strings.Join(reasons, "；")
		}
	case stateToBeConfirmed, stateToBeSigned:
		o.State = channel.OnboardingNeedsInfo
		o.SignURL = q.SignURL
	case stateFinished:
		o.State = channel.OnboardingActive
		o.SubMerchant = q.SubMchID
		o.Reason = ""
		if o.SubMerchant == "" { // finished, yet no sub_mchid: not usable yet
			o.State = channel.OnboardingReviewing
		}
	default: // AUDITING, SIGNING, and any state added later
		o.State = channel.OnboardingReviewing
	}
	return o
}

// applymentBody builds the application, sensitive fields encrypted. An
// empty field is left out, so that the platform names it as missing.
func (c *Connector) applymentBody(a channel.MerchantApplication) (map[string]any, error) {
	if c.cfg.PlatformPublicKey == nil || c.cfg.PlatformPublicKeyID == "" {
		return nil, errors.New("wechatpay: onboarding needs the platform public key and its id")
	}
	var encErr error
	enc := func(m map[string]any, key, v string) {
		if v == "" || encErr != nil {
			return
		}
		ct, err := utils.EncryptOAEPWithPublicKey(v, c.cfg.PlatformPublicKey)
		if err != nil {
			encErr = fmt.Errorf("wechatpay: encrypt %s: %w", key, err)
			return
		}
		m[key] = ct
	}
	set := func(m map[string]any, key, v string) {
		if v != "" {
			m[key] = v
		}
	}
	subject, settlement, account := "SUBJECT_TYPE_ENTERPRISE", settlementEnterprise, "BANK_ACCOUNT_TYPE_CORPORATE"
	if individual(a.LicenseNumber) {
		subject, settlement, account = "SUBJECT_TYPE_INDIVIDUAL", settlementIndividual, "BANK_ACCOUNT_TYPE_PERSONAL"
	}
	contact := map[string]any{}
	enc(contact, "contact_name", a.ContactName)
	enc(contact, "mobile_phone", a.ContactPhone)
	enc(contact, "contact_email", a.ContactEmail)
	license := map[string]any{}
	set(license, "license_number", a.LicenseNumber)
	set(license, "merchant_name", a.Name)
	set(license, "legal_person", a.LegalPerson)
	short := a.ShortName
	if short == "" {
		short = a.Name
	}
	business := map[string]any{
		"sales_info": map[string]any{
			"sales_scenes_type": []string{"SALES_SCENES_MP"},
			"mp_info":           map[string]any{"mp_appid": c.cfg.AppID},
		},
	}
	set(business, "merchant_shortname", short)
	set(business, "service_phone", a.ServicePhone)
	bank := map[string]any{"bank_account_type": account}
	enc(bank, "account_name", a.BankAccountName)
	enc(bank, "account_number", a.BankAccountNumber)
	if encErr != nil {
		return nil, encErr
	}
	return map[string]any{
		"business_code":     a.Ref,
		"contact_info":      contact,
		"subject_info":      map[string]any{"subject_type": subject, "business_license_info": license},
		"business_info":     business,
		"settlement_info":   map[string]any{"settlement_id": settlement, "qualification_type": qualificationRetail},
		"bank_account_info": bank,
	}, nil
}

// individual tells an individual business (个体工商户) by its unified
// social credit code: registered by market regulation (9), as an
// individual business (2), GB 32100-2015. Anything else applies as an
// enterprise.
func individual(license string) bool {
	return len(license) == 18 && strings.HasPrefix(license, "92")
}
