package alipay

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/channel"
)

// Merchant onboarding on Alipay is the merchant authorizing hutong's app
// (第三方应用授权): the merchant's authorization yields an app_auth_code,
// which alipay.open.auth.token.app exchanges for the app_auth_token that
// acts for the merchant (Prepay's SubMerchant). The authorization may be
// reviewed first; while it is, the exchange is refused and asked again.
//
// How the answers read (Onboarding.State, WalletState):
//
//	token issued, or token.app.query status valid   active    "valid" (SubMerchant: the token)
//	sub_code isv.app-auth-reviewing                 reviewing the sub_code (Reason: sub_msg)
//	sub_code isv.app-auth-rejected                  rejected  the sub_code (Reason: sub_msg)
//	isv.code-invalid on a later query               rejected  the sub_code
//	token.app.query status invalid                  rejected  "invalid"
//
// The two review sub_codes are the hutong sandbox's: Alipay documents
// none for a reviewed authorization.
const (
	subCodeReviewing   = "isv.app-auth-reviewing"
	subCodeRejected    = "isv.app-auth-rejected"
	subCodeCodeInvalid = "isv.code-invalid"
)

var _ channel.Onboarder = (*Connector)(nil)

// tokenPattern tells an app_auth_token (yyyyMMBB…) from an app_auth_code.
var tokenPattern = regexp.MustCompile(`^[0-9]{6}BB[0-9A-Za-z]+$`)

// SubmitMerchant implements channel.Onboarder: it exchanges the merchant's
// a.AuthCode. The answer's Ref is what to query with next: the token once
// active (a code is good for one exchange), else the code.
func (c *Connector) SubmitMerchant(ctx context.Context, a channel.MerchantApplication) (channel.Onboarding, error) {
	if a.AuthCode == "" {
		return channel.Onboarding{}, errors.New("alipay: onboarding needs the app_auth_code of the merchant's authorization")
	}
	o, err := c.exchange(ctx, a.AuthCode)
	if err != nil {
		return channel.Onboarding{}, err
	}
	if o.WalletState == subCodeCodeInvalid { // a code that cannot be used is bad input, not a decision
		return channel.Onboarding{}, &channel.WalletError{Code: "40004 " + subCodeCodeInvalid, Message: o.Reason, Final: true}
	}
	return o, nil
}

// QueryMerchant implements channel.Onboarder: ref is the app_auth_token
// (its validity is asked) or the app_auth_code still under review (its
// exchange is tried again).
func (c *Connector) QueryMerchant(ctx context.Context, ref string) (channel.Onboarding, error) {
	if ref == "" {
		return channel.Onboarding{}, errors.New("alipay: an app_auth_code or app_auth_token is required")
	}
	if !tokenPattern.MatchString(ref) {
		return c.exchange(ctx, ref)
	}
	res, err := c.client.OpenAuthTokenAppQuery(alipaysdk.OpenAuthTokenAppQuery{AppAuthToken: ref})
	var common *alipaysdk.Error
	if res != nil {
		common = &res.Error
	}
	sdkRes, err := result(common, err)
	if err != nil {
		return channel.Onboarding{}, err
	}
	switch {
	case sdkRes.Code == "40004": // the token is not (or no longer) the app's
		return channel.Onboarding{Ref: ref, State: channel.OnboardingRejected, WalletState: sdkRes.SubCode, Reason: sdkRes.SubMsg}, nil
	case !sdkRes.IsSuccess():
		return channel.Onboarding{}, check(sdkRes, nil)
	}
	if res.Status != "valid" {
		return channel.Onboarding{Ref: ref, State: channel.OnboardingRejected, WalletState: res.Status, Reason: "应用授权令牌已失效（" + res.Status + "）"}, nil
	}
	return channel.Onboarding{Ref: ref, State: channel.OnboardingActive, WalletState: res.Status, SubMerchant: ref, Seller: res.UserId}, nil
}

// exchange trades an app_auth_code for the merchant's token.
func (c *Connector) exchange(ctx context.Context, code string) (channel.Onboarding, error) {
	res, err := c.client.OpenAuthTokenApp(alipaysdk.OpenAuthTokenApp{GrantType: "authorization_code", Code: code})
	var common *alipaysdk.Error
	if res != nil {
		common = &res.Error
	}
	sdkRes, err := result(common, err)
	if err != nil {
		return channel.Onboarding{}, err
	}
	if !sdkRes.IsSuccess() {
		o := channel.Onboarding{Ref: code, WalletState: sdkRes.SubCode, Reason: sdkRes.SubMsg}
		switch {
		case sdkRes.Code != "40004":
			return channel.Onboarding{}, check(sdkRes, nil)
		case sdkRes.SubCode == subCodeReviewing:
			o.State = channel.OnboardingReviewing
		default: // refused, or a code no longer good
			o.State = channel.OnboardingRejected
		}
		return o, nil
	}
	var tok, seller string
	if len(res.Tokens) > 0 && res.Tokens[0] != nil {
		tok, seller = res.Tokens[0].AppAuthToken, res.Tokens[0].UserId
	}
	if tok == "" {
		return channel.Onboarding{}, errors.New("alipay: the token answer has no app_auth_token")
	}
	if !isBuyerID(seller) {
		return channel.Onboarding{}, fmt.Errorf("alipay: the token answer's user_id %q is not a 2088… user id", seller)
	}
	return channel.Onboarding{Ref: tok, State: channel.OnboardingActive, WalletState: "valid", SubMerchant: tok, Seller: seller}, nil
}

// result is an answer's common result: of the signed answer (common, nil
// when none came), or of the gateway's unsigned refusal that the SDK
// returns as an error. Any other error (the network, a bad signature) is
// returned.
func result(common *alipaysdk.Error, err error) (alipaysdk.Error, error) {
	var ae *alipaysdk.Error
	if errors.As(err, &ae) {
		return *ae, nil
	}
	if err != nil {
		return alipaysdk.Error{}, fmt.Errorf("alipay: %w", err)
	}
	if common == nil {
		return alipaysdk.Error{}, errors.New("alipay: no answer")
	}
	return *common, nil
}
