package wechatpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// Sub-merchant applications (特约商户进件, /v3/applyment4sub/applyment/):
// a service provider submits a merchant's application, the platform
// reviews it, and an approved one becomes a sub_mchid the provider's
// partner payments may name. The sandbox's review is scripted through the
// helper API (SetApplymentOutcome); its delay runs on the simulator's
// clock and is decided when the application is next read, so state
// survives a restart without timers.

// Applyment states, as GET /v3/applyment4sub/applyment/... reports them.
// (EDITTING is spelt as the platform spells it.)
const (
	ApplymentEditing       = "APPLYMENT_STATE_EDITTING"
	ApplymentAuditing      = "APPLYMENT_STATE_AUDITING"
	ApplymentRejected      = "APPLYMENT_STATE_REJECTED"
	ApplymentToBeConfirmed = "APPLYMENT_STATE_TO_BE_CONFIRMED"
	ApplymentToBeSigned    = "APPLYMENT_STATE_TO_BE_SIGNED"
	ApplymentSigning       = "APPLYMENT_STATE_SIGNING"
	ApplymentFinished      = "APPLYMENT_STATE_FINISHED"
	ApplymentCanceled      = "APPLYMENT_STATE_CANCELED"
)

var applymentStateMsg = map[string]string{
	ApplymentEditing:       "编辑中",
	ApplymentAuditing:      "审核中",
	ApplymentRejected:      "已驳回",
	ApplymentToBeConfirmed: "待账户验证",
	ApplymentToBeSigned:    "待签约",
	ApplymentSigning:       "开通权限中",
	ApplymentFinished:      "已完成",
	ApplymentCanceled:      "已作废",
}

// Review outcomes the helper API sets.
const (
	OutcomeApproved  = "approved"   // → APPLYMENT_STATE_FINISHED, a new sub_mchid
	OutcomeRejected  = "rejected"   // → APPLYMENT_STATE_REJECTED, audit_detail
	OutcomeNeedsInfo = "needs_info" // → APPLYMENT_STATE_TO_BE_CONFIRMED, sign_url
)

// MaxReviewDelay bounds a scripted review delay.
const MaxReviewDelay = 30 * 24 * time.Hour

// ApplymentOutcome is how the sandbox's review decides: for one
// business_code, or (BusinessCode "") for every other application.
type ApplymentOutcome struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Field is the application field a rejection names in audit_detail
	// (such as "license_copy" or "bank_account_info.account_number").
	Field        string `json:"field,omitempty"`
	DelayMS      int64  `json:"delay_ms"`
	BusinessCode string `json:"business_code,omitempty"`
}

// AuditDetail is one rejected field of an application.
type AuditDetail struct {
	Field        string `json:"field"`
	FieldName    string `json:"field_name"`
	RejectReason string `json:"reject_reason"`
}

// Applyment is one sub-merchant application.
type Applyment struct {
	Key          string `json:"key"` // sp_mchid|business_code
	SpMchID      string `json:"sp_mchid"`
	BusinessCode string `json:"business_code"`
	ApplymentID  int64  `json:"applyment_id"`
	// Fingerprint identifies the content (decrypted), to tell a retry of
	// the same application from a different one under the same code.
	Fingerprint   string `json:"fingerprint"`
	SubjectType   string `json:"subject_type"`
	MerchantName  string `json:"merchant_name"`
	ShortName     string `json:"merchant_shortname"`
	LicenseNumber string `json:"license_number"`
	// SubMchID is reserved at the first submission and shown once the
	// application is finished.
	SubMchID    string           `json:"sub_mchid"`
	SignToken   string           `json:"sign_token"`
	State       string           `json:"applyment_state"`
	StateMsg    string           `json:"applyment_state_msg"`
	AuditDetail []AuditDetail    `json:"audit_detail,omitempty"`
	Review      ApplymentOutcome `json:"review"`
	Submissions int              `json:"submissions"`
	SubmittedAt time.Time        `json:"submitted_at"`
	DecideAt    time.Time        `json:"decide_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
}

const (
	kindApplyment        = "wechatpay.applyment"
	kindApplymentOutcome = "wechatpay.applyment_outcome"
	defaultOutcomeKey    = "*" // not a valid business_code
)

var defaultApplymentOutcome = ApplymentOutcome{Outcome: OutcomeApproved}

func applymentKey(spMchID, businessCode string) string { return spMchID + "|" + businessCode }

// loadApplyments reads applications and review settings from the journal.
// Callers are New (no lock needed).
func (s *Simulator) loadApplyments() error {
	j := s.cfg.Journal
	err := j.Each(kindApplyment, func(_ string, raw json.RawMessage) error {
		var a Applyment
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		s.applyments[a.Key] = &a
		s.applymentIDs[a.ApplymentID] = &a
		return nil
	})
	if err != nil {
		return err
	}
	return j.Each(kindApplymentOutcome, func(key string, raw json.RawMessage) error {
		var o ApplymentOutcome
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		s.outcomes[key] = o
		return nil
	})
}

// checkOutcome validates a review setting.
func checkOutcome(o ApplymentOutcome) error {
	switch o.Outcome {
	case OutcomeApproved, OutcomeRejected, OutcomeNeedsInfo:
	default:
		return fmt.Errorf("outcome must be %q, %q or %q, got %q", OutcomeApproved, OutcomeRejected, OutcomeNeedsInfo, o.Outcome)
	}
	if o.DelayMS < 0 || time.Duration(o.DelayMS)*time.Millisecond > MaxReviewDelay {
		return fmt.Errorf("delay_ms must be between 0 and %d", MaxReviewDelay.Milliseconds())
	}
	if utf8.RuneCountInString(o.Reason) > 256 {
		return errors.New("reason is at most 256 characters")
	}
	if o.Field != "" && !auditFieldPattern.MatchString(o.Field) {
		return fmt.Errorf("field %q is not a field path such as license_copy or bank_account_info.account_number", o.Field)
	}
	if o.BusinessCode != "" && !businessCodePattern.MatchString(o.BusinessCode) {
		return fmt.Errorf("business_code %q is not 1 to 124 letters, digits or underscores", o.BusinessCode)
	}
	return nil
}

var auditFieldPattern = regexp.MustCompile(`^[a-z_]{1,64}(\.[a-z_]{1,64}){0,3}$`)

// SetApplymentOutcome sets how the review decides: applications submitted
// (or resubmitted) from now on under o.BusinessCode, or under any code
// without a setting of its own when o.BusinessCode is "". An application
// of that code under review now is decided again, the delay counted from
// now.
func (s *Simulator) SetApplymentOutcome(o ApplymentOutcome) (ApplymentOutcome, error) {
	if err := checkOutcome(o); err != nil {
		return o, err
	}
	key := o.BusinessCode
	if key == "" {
		key = defaultOutcomeKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cfg.Journal.Put(kindApplymentOutcome, key, o); err != nil {
		return o, err
	}
	s.outcomes[key] = o
	if o.BusinessCode == "" {
		return o, nil
	}
	for _, a := range s.applyments {
		if a.BusinessCode != o.BusinessCode {
			continue
		}
		s.advanceApplyment(a)
		if a.State != ApplymentAuditing {
			continue
		}
		next := *a
		next.Review = o
		next.DecideAt = s.now().Add(time.Duration(o.DelayMS) * time.Millisecond)
		if err := s.putApplyment(&next); err != nil {
			return o, err
		}
	}
	return o, nil
}

// ApplymentOutcomes returns the default review setting and those of
// single business codes.
func (s *Simulator) ApplymentOutcomes() (def ApplymentOutcome, byCode []ApplymentOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	def = s.outcomeFor("")
	for k, o := range s.outcomes {
		if k != defaultOutcomeKey {
			byCode = append(byCode, o)
		}
	}
	slices.SortFunc(byCode, func(a, b ApplymentOutcome) int { return strings.Compare(a.BusinessCode, b.BusinessCode) })
	return def, byCode
}

// outcomeFor is the review setting for a business code. Callers hold s.mu.
func (s *Simulator) outcomeFor(businessCode string) ApplymentOutcome {
	if o, ok := s.outcomes[businessCode]; ok && businessCode != "" {
		return o
	}
	if o, ok := s.outcomes[defaultOutcomeKey]; ok {
		return o
	}
	return defaultApplymentOutcome
}

// putApplyment persists a (a modified copy) and then makes it live.
// Callers hold s.mu.
func (s *Simulator) putApplyment(a *Applyment) error {
	a.UpdatedAt = s.now()
	if err := s.cfg.Journal.Put(kindApplyment, a.Key, a); err != nil {
		return err
	}
	if old, ok := s.applyments[a.Key]; ok {
		*old = *a
		return nil
	}
	s.applyments[a.Key] = a
	s.applymentIDs[a.ApplymentID] = a
	return nil
}

// advanceApplyment applies the review's outcome once its time has come.
// Callers hold s.mu. A failed write leaves the application under review,
// to be decided at the next read.
func (s *Simulator) advanceApplyment(a *Applyment) {
	if a.State != ApplymentAuditing || s.now().Before(a.DecideAt) {
		return
	}
	next := *a
	next.AuditDetail = nil
	switch a.Review.Outcome {
	case OutcomeRejected:
		reason := a.Review.Reason
		if reason == "" {
			reason = "营业执照信息与工商登记不一致，请核对后重新提交"
		}
		field := a.Review.Field
		if field == "" {
			field = "license_copy"
		}
		next.State = ApplymentRejected
		next.StateMsg = applymentStateMsg[ApplymentRejected]
		next.AuditDetail = []AuditDetail{{Field: field, FieldName: auditFieldName(field), RejectReason: reason}}
	case OutcomeNeedsInfo:
		reason := a.Review.Reason
		if reason == "" {
			reason = "请补充并核实结算账户信息"
		}
		next.State = ApplymentToBeConfirmed
		next.StateMsg = "待账户验证：请超级管理员使用微信打开签约链接，按页面指引完成账户验证。" + reason
	default:
		if err := s.finishApplyment(&next); err != nil {
			s.cfg.Logger.Error("wechatpay: finish applyment", "business_code", a.BusinessCode, "err", err)
			return
		}
		return
	}
	if err := s.putApplyment(&next); err != nil {
		s.cfg.Logger.Error("wechatpay: decide applyment", "business_code", a.BusinessCode, "err", err)
	}
}

// finishApplyment makes the reserved sub_mchid a sub-merchant of the
// provider, then marks the application finished. The sub-merchant is
// written first and under the reserved id, so a crash in between repeats
// the same write. Callers hold s.mu and pass a copy.
func (s *Simulator) finishApplyment(next *Applyment) error {
	name := next.ShortName
	if name == "" {
		name = next.MerchantName
	}
	sm := SubMerchant{SubMchID: next.SubMchID, SpMchID: next.SpMchID, Name: name}
	if old, ok := s.subs[sm.SubMchID]; ok {
		sm = *old
	}
	if err := s.cfg.Journal.Put(kindSubMerchant, sm.SubMchID, sm); err != nil {
		return err
	}
	s.subs[sm.SubMchID] = &sm
	next.State = ApplymentFinished
	next.StateMsg = applymentStateMsg[ApplymentFinished]
	next.AuditDetail = nil
	return s.putApplyment(next)
}

// advanceApplyments decides every application whose review is due.
// Callers hold s.mu.
func (s *Simulator) advanceApplyments() {
	for _, a := range s.applyments {
		s.advanceApplyment(a)
	}
}

// ErrUnknownApplyment is a helper call naming no application.
var ErrUnknownApplyment = errors.New("no sub-merchant application has this business_code")

// ErrNotConfirmable is a confirmation of an application that awaits none.
var ErrNotConfirmable = errors.New("the application awaits no account verification or signing")

// ConfirmApplyment is the merchant's super administrator completing the
// account verification and signing behind sign_url: an application
// TO_BE_CONFIRMED or TO_BE_SIGNED becomes FINISHED with its sub_mchid.
func (s *Simulator) ConfirmApplyment(businessCode string) (ApplymentView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.applyments[applymentKey(s.creds.MchID, businessCode)]
	if a == nil {
		return ApplymentView{}, fmt.Errorf("%w: %q", ErrUnknownApplyment, businessCode)
	}
	return s.confirm(a)
}

// confirm finishes an application awaiting its merchant. Callers hold s.mu.
func (s *Simulator) confirm(a *Applyment) (ApplymentView, error) {
	s.advanceApplyment(a)
	if a.State != ApplymentToBeConfirmed && a.State != ApplymentToBeSigned {
		return s.view(a), fmt.Errorf("%w (it is %s)", ErrNotConfirmable, a.State)
	}
	next := *a
	if err := s.finishApplyment(&next); err != nil {
		return s.view(a), err
	}
	return s.view(a), nil
}

// ApplymentView is an application as the query API answers it, with what
// the sandbox knows besides.
type ApplymentView struct {
	applymentJSON
	MerchantName string           `json:"merchant_name"`
	Review       ApplymentOutcome `json:"review"`
	Submissions  int              `json:"submissions"`
	SubmittedAt  time.Time        `json:"submitted_at"`
	DecideAt     time.Time        `json:"decide_at"`
}

// Applyments lists the applications, newest first, deciding those due.
func (s *Simulator) Applyments() []ApplymentView {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceApplyments()
	out := make([]ApplymentView, 0, len(s.applyments))
	for _, a := range s.applyments {
		out = append(out, s.view(a))
	}
	slices.SortFunc(out, func(a, b ApplymentView) int { return b.SubmittedAt.Compare(a.SubmittedAt) })
	return out
}

func (s *Simulator) view(a *Applyment) ApplymentView {
	return ApplymentView{applymentJSON: s.applymentJSON(a), MerchantName: a.MerchantName, Review: a.Review,
		Submissions: a.Submissions, SubmittedAt: a.SubmittedAt, DecideAt: a.DecideAt}
}

// applymentJSON is the query API's answer.
type applymentJSON struct {
	BusinessCode      string        `json:"business_code"`
	ApplymentID       int64         `json:"applyment_id"`
	SubMchID          string        `json:"sub_mchid,omitempty"`
	SignURL           string        `json:"sign_url,omitempty"`
	ApplymentState    string        `json:"applyment_state"`
	ApplymentStateMsg string        `json:"applyment_state_msg"`
	AuditDetail       []AuditDetail `json:"audit_detail,omitempty"`
}

func (s *Simulator) applymentJSON(a *Applyment) applymentJSON {
	out := applymentJSON{BusinessCode: a.BusinessCode, ApplymentID: a.ApplymentID, ApplymentState: a.State, ApplymentStateMsg: a.StateMsg}
	switch a.State {
	case ApplymentFinished:
		out.SubMchID = a.SubMchID
	case ApplymentRejected:
		out.AuditDetail = a.AuditDetail
	}
	// The super administrator's link: to bind, then to verify and sign.
	switch a.State {
	case ApplymentAuditing, ApplymentRejected, ApplymentToBeConfirmed, ApplymentToBeSigned:
		out.SignURL = s.signURL(a)
	}
	return out
}

// The sign page, the sandbox's stand-in for pay.weixin.qq.com's.
const signPath = "/sandbox/wechatpay/applyment/sign"

func (s *Simulator) signURL(a *Applyment) string {
	return s.cfg.BaseURL + signPath + "?applymentId=" + strconv.FormatInt(a.ApplymentID, 10) + "&sign=" + a.SignToken
}

// ---- the API ----

var businessCodePattern = regexp.MustCompile(`^[0-9A-Za-z_]{1,124}$`)

var (
	applymentNotExist = fail(http.StatusNotFound, wechatpayv3.CodeResourceNotExists, "申请单不存在")
	systemError       = fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误")
)

// submitApplyment is POST /v3/applyment4sub/applyment/.
func (s *Simulator) submitApplyment(c *call) reply {
	var b applymentBody
	if rep, ok := decodeBody(c.body, &b); !ok {
		return rep
	}
	key, rep, ok := s.decryptionKey(c.r.Header.Get(wechatpayv3.HeaderSerial))
	if !ok {
		return rep
	}
	form, rep, ok := parseApplyment(&b, func(ciphertext string) (string, error) { return decryptOAEP(key, ciphertext) })
	if !ok {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	review := s.outcomeFor(form.BusinessCode)
	if old := s.applyments[applymentKey(c.mchid, form.BusinessCode)]; old != nil {
		s.advanceApplyment(old)
		switch {
		case old.State == ApplymentRejected || old.State == ApplymentEditing:
			// Resubmitted (edited or not): the same application is
			// reviewed again.
			next := *old
			form.apply(&next)
			next.State, next.StateMsg, next.AuditDetail = ApplymentAuditing, applymentStateMsg[ApplymentAuditing], nil
			next.Review = review
			next.Submissions++
			next.SubmittedAt = now
			next.DecideAt = now.Add(time.Duration(review.DelayMS) * time.Millisecond)
			if err := s.putApplyment(&next); err != nil {
				return systemError
			}
			s.advanceApplyment(old) // a review without delay ends now
			return answer(map[string]int64{"applyment_id": old.ApplymentID})
		case old.Fingerprint == form.Fingerprint:
			return answer(map[string]int64{"applyment_id": old.ApplymentID})
		default:
			return fail(http.StatusBadRequest, wechatpayv3.CodeInvalidRequest,
				"业务申请编号 "+form.BusinessCode+" 已有申请单，状态为 "+old.State+"，只有已驳回的申请单可以修改后重新提交")
		}
	}
	a := &Applyment{
		Key:         applymentKey(c.mchid, form.BusinessCode),
		SpMchID:     c.mchid,
		ApplymentID: s.newApplymentID(),
		SubMchID:    s.newSubMchID(),
		SignToken:   randomHex(32),
		State:       ApplymentAuditing,
		StateMsg:    applymentStateMsg[ApplymentAuditing],
		Review:      review,
		Submissions: 1,
		SubmittedAt: now,
		DecideAt:    now.Add(time.Duration(review.DelayMS) * time.Millisecond),
	}
	form.apply(a)
	if err := s.putApplyment(a); err != nil {
		return systemError
	}
	s.advanceApplyment(a) // a review without delay ends now
	return answer(map[string]int64{"applyment_id": a.ApplymentID})
}

// newApplymentID is a 16-digit id not yet given. Callers hold s.mu.
func (s *Simulator) newApplymentID() int64 {
	for {
		id, _ := strconv.ParseInt("2000002"+sandboxkeys.Digits(9), 10, 64)
		if _, taken := s.applymentIDs[id]; !taken {
			return id
		}
	}
}

// newSubMchID is a 10-digit sub_mchid not yet given. Callers hold s.mu.
func (s *Simulator) newSubMchID() string {
	for {
		id := "16" + sandboxkeys.Digits(8)
		taken := s.subs[id] != nil
		for _, a := range s.applyments {
			taken = taken || a.SubMchID == id
		}
		if !taken {
			return id
		}
	}
}

// queryApplymentByCode is GET /v3/applyment4sub/applyment/business_code/{business_code}.
func (s *Simulator) queryApplymentByCode(c *call) reply {
	code := c.r.PathValue("business_code")
	if !businessCodePattern.MatchString(code) {
		return paramError("path", "/business_code", "格式规则校验失败，应为 1 到 124 位数字、字母或下划线", code)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.applyments[applymentKey(c.mchid, code)]
	if a == nil {
		return applymentNotExist
	}
	s.advanceApplyment(a)
	return answer(s.applymentJSON(a))
}

// queryApplymentByID is GET /v3/applyment4sub/applyment/applyment_id/{applyment_id}.
func (s *Simulator) queryApplymentByID(c *call) reply {
	raw := c.r.PathValue("applyment_id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return paramError("path", "/applyment_id", "格式规则校验失败，应为 64 位正整数", raw)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.applymentIDs[id]
	if a == nil || a.SpMchID != c.mchid {
		return applymentNotExist
	}
	s.advanceApplyment(a)
	return answer(s.applymentJSON(a))
}

// decryptionKey is the private key behind the platform key a request's
// Wechatpay-Serial names: the platform certificate's, or the public key's
// (PUB_KEY_ID_…).
func (s *Simulator) decryptionKey(serial string) (*rsa.PrivateKey, reply, bool) {
	switch serial {
	case "":
		return nil, paramError("header", "/Wechatpay-Serial", "必填性规则校验失败，请求含加密的敏感信息，应在请求头 Wechatpay-Serial 中指明加密所用的平台证书序列号或平台公钥ID", nil), false
	case s.keys.pubKeyID:
		return s.keys.pubKeyKey, reply{}, true
	case s.keys.platformSerial:
		return s.keys.platformKey, reply{}, true
	}
	return nil, paramError("header", "/Wechatpay-Serial", "取值规则校验失败，平台证书序列号或平台公钥ID不存在或已过期", serial), false
}

// decryptOAEP undoes what the SDKs' EncryptOAEPWithPublicKey does: RSA-OAEP
// with SHA-1, base64.
func decryptOAEP(key *rsa.PrivateKey, ciphertext string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil {
		return "", err
	}
	plain, err := rsa.DecryptOAEP(sha1.New(), rand.Reader, key, b, nil)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// ---- the body ----

// applymentBody is the part of the application body the sandbox reads;
// the rest (photos' media ids, identity documents, store details…) is
// accepted as it comes.
type applymentBody struct {
	BusinessCode string `json:"business_code"`
	ContactInfo  *struct {
		ContactType     string `json:"contact_type"`
		ContactName     string `json:"contact_name"`
		ContactIDNumber string `json:"contact_id_number"`
		OpenID          string `json:"openid"`
		MobilePhone     string `json:"mobile_phone"`
		ContactEmail    string `json:"contact_email"`
	} `json:"contact_info"`
	SubjectInfo *struct {
		SubjectType         string `json:"subject_type"`
		BusinessLicenseInfo *struct {
			LicenseCopy   string `json:"license_copy"`
			LicenseNumber string `json:"license_number"`
			MerchantName  string `json:"merchant_name"`
			LegalPerson   string `json:"legal_person"`
		} `json:"business_license_info"`
		CertificateInfo json.RawMessage `json:"certificate_info"`
	} `json:"subject_info"`
	BusinessInfo *struct {
		MerchantShortname string `json:"merchant_shortname"`
		ServicePhone      string `json:"service_phone"`
		SalesInfo         *struct {
			SalesScenesType []string `json:"sales_scenes_type"`
		} `json:"sales_info"`
	} `json:"business_info"`
	SettlementInfo *struct {
		SettlementID      string `json:"settlement_id"`
		QualificationType string `json:"qualification_type"`
	} `json:"settlement_info"`
	BankAccountInfo *struct {
		BankAccountType string `json:"bank_account_type"`
		AccountName     string `json:"account_name"`
		AccountBank     string `json:"account_bank"`
		BankAddressCode string `json:"bank_address_code"`
		AccountNumber   string `json:"account_number"`
	} `json:"bank_account_info"`
}

// applymentForm is a checked application, sensitive fields decrypted.
type applymentForm struct {
	BusinessCode  string
	ContactName   string
	MobilePhone   string
	ContactEmail  string
	SubjectType   string
	LicenseNumber string
	MerchantName  string
	LegalPerson   string
	ShortName     string
	ServicePhone  string
	SalesScenes   []string
	SettlementID  string
	Qualification string
	AccountType   string
	AccountName   string
	AccountBank   string
	AccountNumber string
	Fingerprint   string
}

func (f *applymentForm) apply(a *Applyment) {
	a.BusinessCode = f.BusinessCode
	a.Fingerprint = f.Fingerprint
	a.SubjectType = f.SubjectType
	a.MerchantName = f.MerchantName
	a.ShortName = f.ShortName
	a.LicenseNumber = f.LicenseNumber
}

// Subject types, sales scenes and bank account types the platform knows.
var (
	subjectTypes = []string{"SUBJECT_TYPE_INDIVIDUAL", "SUBJECT_TYPE_ENTERPRISE", "SUBJECT_TYPE_GOVERNMENT", "SUBJECT_TYPE_INSTITUTIONS", "SUBJECT_TYPE_OTHERS"}
	salesScenes  = []string{"SALES_SCENES_STORE", "SALES_SCENES_MP", "SALES_SCENES_MINI_PROGRAM", "SALES_SCENES_WEB", "SALES_SCENES_APP", "SALES_SCENES_WEWORK"}
	accountTypes = []string{"BANK_ACCOUNT_TYPE_CORPORATE", "BANK_ACCOUNT_TYPE_PERSONAL"}
)

var (
	// A unified social credit code (18 characters, GB 32100) or an old
	// 15-digit registration number.
	licensePattern    = regexp.MustCompile(`^([0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}|[0-9]{15})$`)
	mobilePattern     = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	phonePattern      = regexp.MustCompile(`^[0-9][0-9-]{4,19}$`)
	settlementPattern = regexp.MustCompile(`^[0-9]{1,10}$`)
	accountPattern    = regexp.MustCompile(`^[0-9]{8,30}$`)
)

// parseApplyment checks an application body as the platform does, in the
// order of its fields, decrypting the sensitive ones. A problem is a
// PARAM_ERROR naming the field.
func parseApplyment(b *applymentBody, decrypt func(string) (string, error)) (*applymentForm, reply, bool) {
	f := &applymentForm{}
	var rep reply
	ok := true
	// required text field
	text := func(path, v string, lo, hi int) string {
		if !ok {
			return ""
		}
		if rep, ok = checkLen(path, v, lo, hi); !ok {
			return ""
		}
		return v
	}
	// required encrypted field, checked after decryption
	secret := func(path, v string, check func(string) string) string {
		if !ok {
			return ""
		}
		if v == "" {
			rep, ok = missing("body", path), false
			return ""
		}
		plain, err := decrypt(v)
		if err != nil {
			rep, ok = paramError("body", path, "解密失败，敏感信息应以 Wechatpay-Serial 指明的平台公钥或平台证书做 RSA-OAEP 加密后 base64 编码", nil), false
			return ""
		}
		if plain == "" || !utf8.ValidString(plain) {
			rep, ok = paramError("body", path, "必填性规则校验失败，解密后为空或不是 UTF-8 文本", nil), false
			return ""
		}
		if issue := check(plain); issue != "" {
			rep, ok = paramError("body", path, issue, nil), false
			return ""
		}
		return plain
	}
	refuse := func(path, issue string, value any) {
		if ok {
			rep, ok = paramError("body", path, issue, value), false
		}
	}
	need := func(path string, present bool) {
		if ok && !present {
			rep, ok = missing("body", path), false
		}
	}
	anyText := func(string) string { return "" }

	f.BusinessCode = text("/business_code", b.BusinessCode, 1, 124)
	if ok && !businessCodePattern.MatchString(b.BusinessCode) {
		refuse("/business_code", "格式规则校验失败，应为 1 到 124 位数字、字母或下划线", b.BusinessCode)
	}

	need("/contact_info", b.ContactInfo != nil)
	if ok {
		ci := b.ContactInfo
		f.ContactName = secret("/contact_info/contact_name", ci.ContactName, func(v string) string {
			if utf8.RuneCountInString(v) > 64 {
				return "长度规则校验失败，长度应在 1 到 64 之间"
			}
			return ""
		})
		f.MobilePhone = secret("/contact_info/mobile_phone", ci.MobilePhone, func(v string) string {
			if !mobilePattern.MatchString(v) {
				return "格式规则校验失败，应为 11 位中国大陆手机号"
			}
			return ""
		})
		f.ContactEmail = secret("/contact_info/contact_email", ci.ContactEmail, func(v string) string {
			if a, err := mail.ParseAddress(v); err != nil || a.Address != v || len(v) > 256 {
				return "格式规则校验失败，应为邮箱地址"
			}
			return ""
		})
		if ok && ci.ContactIDNumber != "" {
			secret("/contact_info/contact_id_number", ci.ContactIDNumber, anyText)
		}
	}

	need("/subject_info", b.SubjectInfo != nil)
	if ok {
		si := b.SubjectInfo
		need("/subject_info/subject_type", si.SubjectType != "")
		if ok && !slices.Contains(subjectTypes, si.SubjectType) {
			refuse("/subject_info/subject_type", "枚举规则校验失败，应为 "+strings.Join(subjectTypes, "、")+" 之一", si.SubjectType)
		}
		f.SubjectType = si.SubjectType
		switch si.SubjectType {
		case "SUBJECT_TYPE_INDIVIDUAL", "SUBJECT_TYPE_ENTERPRISE":
			need("/subject_info/business_license_info", si.BusinessLicenseInfo != nil)
			if ok {
				bl := si.BusinessLicenseInfo
				f.LicenseNumber = text("/subject_info/business_license_info/license_number", bl.LicenseNumber, 1, 18)
				if ok && !licensePattern.MatchString(bl.LicenseNumber) {
					refuse("/subject_info/business_license_info/license_number", "格式规则校验失败，应为 18 位统一社会信用代码或 15 位注册号", bl.LicenseNumber)
				}
				f.MerchantName = text("/subject_info/business_license_info/merchant_name", bl.MerchantName, 1, 128)
				f.LegalPerson = text("/subject_info/business_license_info/legal_person", bl.LegalPerson, 1, 64)
			}
		default:
			need("/subject_info/certificate_info", len(si.CertificateInfo) > 0 && string(si.CertificateInfo) != "null")
		}
	}

	need("/business_info", b.BusinessInfo != nil)
	if ok {
		bi := b.BusinessInfo
		f.ShortName = text("/business_info/merchant_shortname", bi.MerchantShortname, 1, 64)
		f.ServicePhone = text("/business_info/service_phone", bi.ServicePhone, 1, 20)
		if ok && !phonePattern.MatchString(bi.ServicePhone) {
			refuse("/business_info/service_phone", "格式规则校验失败，应为数字或 - 组成的座机、手机或 400 电话", bi.ServicePhone)
		}
		need("/business_info/sales_info", bi.SalesInfo != nil)
		if ok {
			scenes := bi.SalesInfo.SalesScenesType
			need("/business_info/sales_info/sales_scenes_type", len(scenes) > 0)
			for i, sc := range scenes {
				if ok && (!slices.Contains(salesScenes, sc) || slices.Index(scenes, sc) != i) {
					refuse("/business_info/sales_info/sales_scenes_type", "枚举规则校验失败，应为 "+strings.Join(salesScenes, "、")+" 中不重复的值", sc)
				}
			}
			f.SalesScenes = slices.Sorted(slices.Values(scenes))
		}
	}

	need("/settlement_info", b.SettlementInfo != nil)
	if ok {
		st := b.SettlementInfo
		f.SettlementID = text("/settlement_info/settlement_id", st.SettlementID, 1, 10)
		if ok && !settlementPattern.MatchString(st.SettlementID) {
			refuse("/settlement_info/settlement_id", "格式规则校验失败，应为入驻结算规则ID（数字）", st.SettlementID)
		}
		f.Qualification = text("/settlement_info/qualification_type", st.QualificationType, 1, 200)
	}

	need("/bank_account_info", b.BankAccountInfo != nil)
	if ok {
		ba := b.BankAccountInfo
		need("/bank_account_info/bank_account_type", ba.BankAccountType != "")
		if ok && !slices.Contains(accountTypes, ba.BankAccountType) {
			refuse("/bank_account_info/bank_account_type", "枚举规则校验失败，应为 "+strings.Join(accountTypes, "、")+" 之一", ba.BankAccountType)
		}
		if ok && f.SubjectType == "SUBJECT_TYPE_ENTERPRISE" && ba.BankAccountType != "BANK_ACCOUNT_TYPE_CORPORATE" {
			refuse("/bank_account_info/bank_account_type", "取值规则校验失败，主体为企业时只能填写对公银行账户 BANK_ACCOUNT_TYPE_CORPORATE", ba.BankAccountType)
		}
		f.AccountType = ba.BankAccountType
		f.AccountName = secret("/bank_account_info/account_name", ba.AccountName, func(v string) string {
			if utf8.RuneCountInString(v) > 128 {
				return "长度规则校验失败，长度应在 1 到 128 之间"
			}
			return ""
		})
		if ok && ba.AccountBank != "" {
			f.AccountBank = text("/bank_account_info/account_bank", ba.AccountBank, 1, 128)
		}
		f.AccountNumber = secret("/bank_account_info/account_number", ba.AccountNumber, func(v string) string {
			if !accountPattern.MatchString(v) {
				return "格式规则校验失败，银行账号应为 8 到 30 位数字"
			}
			return ""
		})
	}
	if !ok {
		return nil, rep, false
	}
	f.Fingerprint = fingerprint(f)
	return f, reply{}, true
}

// auditFieldName is the Chinese name audit_detail gives a field.
func auditFieldName(field string) string {
	if l, ok := auditFieldNames[field]; ok {
		return l
	}
	if l, ok := fieldLabels["/"+strings.ReplaceAll(field, ".", "/")]; ok {
		return l
	}
	return field
}

var auditFieldNames = map[string]string{
	"license_copy": "营业执照照片", "license_number": "注册号/统一社会信用代码", "merchant_name": "商户名称",
	"legal_person": "经营者/法定代表人姓名", "id_card_copy": "身份证人像面照片", "id_card_national": "身份证国徽面照片",
	"merchant_shortname": "商户简称", "service_phone": "客服电话", "contact_name": "超级管理员姓名",
	"mobile_phone": "联系手机", "contact_email": "联系邮箱", "account_name": "开户名称", "account_number": "银行账号",
	"account_bank": "开户银行", "qualification_type": "所属行业", "store_entrance_pic": "门店门头照片",
	"indoor_pic": "店内环境照片", "mp_pics": "公众号页面截图", "mini_program_pics": "小程序截图",
}

func init() {
	maps.Copy(fieldLabels, map[string]string{
		"/business_code": "业务申请编号", "/contact_info": "超级管理员信息", "/contact_info/contact_name": "超级管理员姓名",
		"/contact_info/mobile_phone": "联系手机", "/contact_info/contact_email": "联系邮箱",
		"/contact_info/contact_id_number": "超级管理员身份证件号码", "/subject_info": "主体资料",
		"/subject_info/subject_type": "主体类型", "/subject_info/business_license_info": "营业执照",
		"/subject_info/business_license_info/license_number": "注册号/统一社会信用代码",
		"/subject_info/business_license_info/merchant_name":  "商户名称",
		"/subject_info/business_license_info/legal_person":   "个体户经营者/法人姓名",
		"/subject_info/certificate_info":                     "登记证书", "/business_info": "经营资料",
		"/business_info/merchant_shortname": "商户简称", "/business_info/service_phone": "客服电话",
		"/business_info/sales_info": "经营场景", "/business_info/sales_info/sales_scenes_type": "经营场景类型",
		"/settlement_info": "结算规则", "/settlement_info/settlement_id": "入驻结算规则ID",
		"/settlement_info/qualification_type": "所属行业", "/bank_account_info": "结算银行账户",
		"/bank_account_info/bank_account_type": "账户类型", "/bank_account_info/account_name": "开户名称",
		"/bank_account_info/account_bank": "开户银行", "/bank_account_info/account_number": "银行账号",
		"/Wechatpay-Serial": "平台证书序列号", "/applyment_id": "微信支付申请单号",
	})
}
