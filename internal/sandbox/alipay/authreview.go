package alipay

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
)

// A merchant's authorization of the app may be reviewed before its
// app_auth_code can be exchanged: the helper API scripts the outcome
// (SetAuthOutcome), bound to each code when the merchant authorizes.
// While the review runs, alipay.open.auth.token.app answers
// SubCodeAuthReviewing; a refusal answers SubCodeAuthRejected with the
// reason in sub_msg. By default (no setting) a code is approved at once,
// as before. The delay runs on the simulator's clock and is looked at when
// the code is exchanged, so it survives a restart.

// Authorization review outcomes.
const (
	AuthApproved = "approved"
	AuthRejected = "rejected"
)

// The sub_codes of a reviewed authorization. Alipay documents no such
// codes for alipay.open.auth.token.app; these are the sandbox's own, in
// Alipay's isv.* style, and hutong's connector reads them.
const (
	SubCodeAuthReviewing = "isv.app-auth-reviewing"
	SubCodeAuthRejected  = "isv.app-auth-rejected"
)

// MaxAuthReviewDelay bounds a scripted review delay.
const MaxAuthReviewDelay = 30 * 24 * time.Hour

// AuthOutcome is how authorizations are reviewed: those of one merchant
// (by PID), or of every merchant without a setting of its own.
type AuthOutcome struct {
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason,omitempty"`
	DelayMS  int64  `json:"delay_ms"`
	Merchant string `json:"merchant,omitempty"`
}

const (
	kindAuthOutcome       = "alipay.authoutcome"
	defaultAuthOutcomeKey = "*"
)

// SetAuthOutcome sets the review of authorizations made from now on, by
// o.Merchant or (o.Merchant "") by any merchant without a setting of its
// own. That merchant's codes still under review are decided again, the
// delay counted from now.
func (s *Simulator) SetAuthOutcome(o AuthOutcome) (AuthOutcome, error) {
	switch o.Outcome {
	case AuthApproved, AuthRejected:
	default:
		return o, fmt.Errorf("outcome must be %q or %q, got %q", AuthApproved, AuthRejected, o.Outcome)
	}
	if o.DelayMS < 0 || time.Duration(o.DelayMS)*time.Millisecond > MaxAuthReviewDelay {
		return o, fmt.Errorf("delay_ms must be between 0 and %d", MaxAuthReviewDelay.Milliseconds())
	}
	if utf8.RuneCountInString(o.Reason) > 256 {
		return o, errors.New("reason is at most 256 characters")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := defaultAuthOutcomeKey
	if o.Merchant != "" {
		m, ok := s.merchants[o.Merchant]
		if !ok || m.PID == sandboxPID {
			return o, fmt.Errorf("merchant %q is not a sandbox merchant that can authorize the app", o.Merchant)
		}
		key = o.Merchant
	}
	if err := s.cfg.Journal.Put(kindAuthOutcome, key, o); err != nil {
		return o, err
	}
	s.authOutcomes[key] = o
	if o.Merchant == "" {
		return o, nil
	}
	now := s.now()
	for _, c := range s.codes {
		if c.PID != o.Merchant || c.Used || now.After(c.ExpiresAt) || !now.Before(c.DecideAt) {
			continue
		}
		next := *c
		next.bind(o, now)
		if err := s.cfg.Journal.Put(kindAuthCode, next.Code, next); err != nil {
			return o, err
		}
		*c = next
	}
	return o, nil
}

// AuthOutcomes returns the default review and those of single merchants.
func (s *Simulator) AuthOutcomes() (def AuthOutcome, byMerchant []AuthOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	def = s.authOutcomeFor("")
	for k, o := range s.authOutcomes {
		if k != defaultAuthOutcomeKey {
			byMerchant = append(byMerchant, o)
		}
	}
	slices.SortFunc(byMerchant, func(a, b AuthOutcome) int { return strings.Compare(a.Merchant, b.Merchant) })
	return def, byMerchant
}

// authOutcomeFor is the review of a merchant's authorizations. Callers
// hold s.mu.
func (s *Simulator) authOutcomeFor(pid string) AuthOutcome {
	if o, ok := s.authOutcomes[pid]; ok && pid != "" {
		return o
	}
	if o, ok := s.authOutcomes[defaultAuthOutcomeKey]; ok {
		return o
	}
	return AuthOutcome{Outcome: AuthApproved}
}

// bind gives a code its review, decided after the delay, and keeps the
// code exchangeable for its usual lifetime after that.
func (c *AuthCode) bind(o AuthOutcome, now time.Time) {
	c.Outcome, c.Reason = o.Outcome, o.Reason
	c.DecideAt = now.Add(time.Duration(o.DelayMS) * time.Millisecond)
	c.ExpiresAt = c.DecideAt.Add(authCodeTTL)
}

// reviewRefusal is the answer to exchanging a code under review or
// refused; ok when the code may be exchanged.
func (c *AuthCode) reviewRefusal(now time.Time) (answer, bool) {
	if now.Before(c.DecideAt) {
		return businessFailed(SubCodeAuthReviewing, "商家授权审核中，预计 "+chinatime.DateTime(c.DecideAt)+" 前完成，请稍后再换取令牌"), false
	}
	if c.Outcome == AuthRejected {
		reason := c.Reason
		if reason == "" {
			reason = "商家资质不符合要求"
		}
		return businessFailed(SubCodeAuthRejected, "商家授权未通过审核："+reason), false
	}
	return answer{}, true
}

// AuthCodeView is an issued app_auth_code with its review.
type AuthCodeView struct {
	AppAuthCode string    `json:"app_auth_code"`
	Merchant    string    `json:"merchant"`
	Outcome     string    `json:"outcome"`
	Reason      string    `json:"reason,omitempty"`
	DecideAt    time.Time `json:"decide_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// AuthCodeInfo describes an issued code.
func (s *Simulator) AuthCodeInfo(code string) (AuthCodeView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[code]
	if !ok {
		return AuthCodeView{}, false
	}
	out := c.Outcome
	if out == "" {
		out = AuthApproved
	}
	return AuthCodeView{AppAuthCode: c.Code, Merchant: c.PID, Outcome: out, Reason: c.Reason, DecideAt: c.DecideAt, ExpiresAt: c.ExpiresAt}, true
}

// MerchantPID finds a seller by its PID, app_id or exact name.
func (s *Simulator) MerchantPID(nameOrID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.merchants[nameOrID]; ok {
		return m.PID, true
	}
	for _, m := range s.merchants {
		if m.AppID == nameOrID || m.Name == nameOrID {
			return m.PID, true
		}
	}
	return "", false
}

// authTokenQuery is alipay.open.auth.token.app.query: what an
// app_auth_token allows, and whether it is still valid.
func (s *Simulator) authTokenQuery(c *call) answer {
	tok, _ := c.bizString("app_auth_token")
	if tok == "" {
		return answer{result: alipayapi.Failure(alipayapi.CodeMissingArguments, "isv.missing-app-auth-token", "缺少参数 app_auth_token")}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tok]
	if !ok {
		return businessFailed("isv.invalid-app-auth-token", "无效的应用授权令牌")
	}
	now := s.now()
	status, expiresIn := "valid", int64(t.ExpiresAt.Sub(now)/time.Second)
	if t.Revoked || !now.Before(t.ExpiresAt) {
		status, expiresIn = "invalid", 0
	}
	return success(struct {
		UserID      string   `json:"user_id"`
		AuthAppID   string   `json:"auth_app_id"`
		ExpiresIn   int64    `json:"expires_in"`
		AuthMethods []string `json:"auth_methods"`
		AuthStart   string   `json:"auth_start"`
		AuthEnd     string   `json:"auth_end"`
		Status      string   `json:"status"`
		IsByAppAuth bool     `json:"is_by_app_auth"`
	}{t.PID, t.AuthAppID, expiresIn, authMethods, chinatime.DateTime(t.ExpiresAt.Add(-authTokenTTL)), chinatime.DateTime(t.ExpiresAt), status, true})
}

// authMethods are the methods an app_auth_token lets the app call.
var authMethods = []string{
	"alipay.trade.precreate", "alipay.trade.create", "alipay.trade.page.pay", "alipay.trade.wap.pay", "alipay.trade.app.pay",
	"alipay.trade.query", "alipay.trade.close", "alipay.trade.cancel", "alipay.trade.refund", "alipay.trade.fastpay.refund.query",
	"alipay.data.dataservice.bill.downloadurl.query",
}
