package alipay_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/channel/alipay"
	sbalipay "github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// The sandbox sellers that may authorize the app.
const (
	countySeller = "2088621000000002"
	citySeller   = "2088621000000003"
)

// authCode is a seller authorizing the app, without a browser.
func authCode(t *testing.T, e *sandboxtest.Env, seller string) sbalipay.AuthCodeView {
	t.Helper()
	var v sbalipay.AuthCodeView
	if st := e.Helper("POST", "/sandbox/v1/alipay/app_auth_codes", map[string]string{"merchant": seller}, &v); st != http.StatusOK || v.AppAuthCode == "" {
		t.Fatalf("app_auth_code for %s: %d %+v", seller, st, v)
	}
	return v
}

func setAuthOutcome(t *testing.T, e *sandboxtest.Env, o sbalipay.AuthOutcome) {
	t.Helper()
	if st := e.Helper("POST", "/sandbox/v1/alipay/authorization_outcome", o, nil); st != http.StatusOK {
		t.Fatalf("set outcome %+v: %d", o, st)
	}
}

type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// precreateFor checks that the token acts for the seller.
func precreateFor(t *testing.T, conn *alipay.Connector, token string) {
	t.Helper()
	a, err := conn.Prepay(ctx, channel.Prepay{OutTradeNo: no("OB"), Method: channel.AlipayQR, Amount: 990, Description: "授权后首单",
		NotifyURL: "https://gw.example/notify/alipay/main", SubMerchant: token})
	if err != nil || a.QRCode == "" {
		t.Fatalf("precreate with the token: %+v, %v", a, err)
	}
}

func TestOnboardingAuthorizedAtOnce(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	// A seller may be named by its name as well as its PID.
	code := authCode(t, e, "县城超市")
	if code.Merchant != countySeller || code.Outcome != sbalipay.AuthApproved {
		t.Fatalf("code %+v", code)
	}
	ob, err := conn.SubmitMerchant(ctx, channel.MerchantApplication{Ref: "hutong_x", AuthCode: code.AppAuthCode})
	if err != nil {
		t.Fatal(err)
	}
	if ob.State != channel.OnboardingActive || ob.SubMerchant == "" || ob.Ref != ob.SubMerchant || ob.WalletState != "valid" {
		t.Fatalf("onboarding %+v, want active with the app_auth_token as ref", ob)
	}
	// The token is what the gateway asks about next: still valid.
	q, err := conn.QueryMerchant(ctx, ob.Ref)
	if err != nil || q != ob {
		t.Fatalf("query = %+v, %v; want %+v", q, err, ob)
	}
	precreateFor(t, conn, ob.SubMerchant)
	// The code was good for one exchange.
	_, err = conn.SubmitMerchant(ctx, channel.MerchantApplication{AuthCode: code.AppAuthCode})
	var we *channel.WalletError
	if !errors.As(err, &we) || !strings.Contains(we.Code, "isv.code-invalid") {
		t.Fatalf("a used code: %v", err)
	}
	if q, err := conn.QueryMerchant(ctx, code.AppAuthCode); err != nil || q.State != channel.OnboardingRejected || q.WalletState != "isv.code-invalid" {
		t.Fatalf("query with a used code: %+v, %v", q, err)
	}
}

func TestOnboardingAuthorizationRejected(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	setAuthOutcome(t, e, sbalipay.AuthOutcome{Merchant: citySeller, Outcome: sbalipay.AuthRejected, Reason: "经营类目与授权范围不符"})
	code := authCode(t, e, citySeller)
	ob, err := conn.SubmitMerchant(ctx, channel.MerchantApplication{AuthCode: code.AppAuthCode})
	if err != nil {
		t.Fatal(err)
	}
	if ob.State != channel.OnboardingRejected || ob.WalletState != sbalipay.SubCodeAuthRejected || !strings.Contains(ob.Reason, "经营类目与授权范围不符") ||
		ob.SubMerchant != "" || ob.Ref != code.AppAuthCode {
		t.Fatalf("onboarding %+v, want rejected with the reason", ob)
	}
	if again, err := conn.QueryMerchant(ctx, ob.Ref); err != nil || again != ob {
		t.Fatalf("asked again: %+v, %v", again, err)
	}
	// Another seller is not affected, and neither is a new authorization
	// once the review approves again.
	other, err := conn.SubmitMerchant(ctx, channel.MerchantApplication{AuthCode: authCode(t, e, countySeller).AppAuthCode})
	if err != nil || other.State != channel.OnboardingActive {
		t.Fatalf("another seller: %+v, %v", other, err)
	}
	setAuthOutcome(t, e, sbalipay.AuthOutcome{Merchant: citySeller, Outcome: sbalipay.AuthApproved})
	ok, err := conn.SubmitMerchant(ctx, channel.MerchantApplication{AuthCode: authCode(t, e, citySeller).AppAuthCode})
	if err != nil || ok.State != channel.OnboardingActive {
		t.Fatalf("authorized again: %+v, %v", ok, err)
	}
	precreateFor(t, conn, ok.SubMerchant)
}

// TestOnboardingAuthorizationDelayAndRestart: the exchange is refused as
// under review until the delay passes on the sandbox's clock, across a
// restart, and the code outlives its review.
func TestOnboardingAuthorizationDelayAndRestart(t *testing.T) {
	t.Parallel()
	var c clock
	e := sandboxtest.Start(t, sandboxtest.WithNow(c.now))
	conn := connector(t, e)
	setAuthOutcome(t, e, sbalipay.AuthOutcome{Outcome: sbalipay.AuthApproved, DelayMS: 12 * 60_000}) // longer than a code's 10 minutes
	code := authCode(t, e, countySeller)
	ob, err := conn.SubmitMerchant(ctx, channel.MerchantApplication{AuthCode: code.AppAuthCode})
	if err != nil {
		t.Fatal(err)
	}
	if ob.State != channel.OnboardingReviewing || ob.WalletState != sbalipay.SubCodeAuthReviewing || ob.Ref != code.AppAuthCode {
		t.Fatalf("onboarding %+v, want reviewing", ob)
	}
	rejected := authCode(t, e, citySeller)
	setAuthOutcome(t, e, sbalipay.AuthOutcome{Merchant: citySeller, Outcome: sbalipay.AuthRejected, Reason: "主体信息不一致", DelayMS: 90_000})

	e.Restart()
	conn = connector(t, e)
	c.advance(11 * time.Minute)
	if q, err := conn.QueryMerchant(ctx, ob.Ref); err != nil || q.State != channel.OnboardingReviewing {
		t.Fatalf("before the delay: %+v, %v", q, err)
	}
	// The city seller's review was set again while its code waited: it
	// ends 90 s after that.
	if q, err := conn.QueryMerchant(ctx, rejected.AppAuthCode); err != nil || q.State != channel.OnboardingRejected || !strings.Contains(q.Reason, "主体信息不一致") {
		t.Fatalf("the re-decided review: %+v, %v", q, err)
	}
	c.advance(90 * time.Second)
	q, err := conn.QueryMerchant(ctx, ob.Ref)
	if err != nil || q.State != channel.OnboardingActive || q.SubMerchant == "" || q.Ref != q.SubMerchant {
		t.Fatalf("after the delay: %+v, %v", q, err)
	}
	e.Restart()
	conn = connector(t, e)
	if again, err := conn.QueryMerchant(ctx, q.Ref); err != nil || again != q {
		t.Fatalf("the token after a restart: %+v, %v", again, err)
	}
	precreateFor(t, conn, q.SubMerchant)
	var settings struct {
		Default   sbalipay.AuthOutcome
		Merchants []sbalipay.AuthOutcome
	}
	e.Helper("GET", "/sandbox/v1/alipay/authorization_outcome", nil, &settings)
	if settings.Default.DelayMS != 12*60_000 || len(settings.Merchants) != 1 || settings.Merchants[0].Merchant != citySeller {
		t.Fatalf("settings after restarts: %+v", settings)
	}
}

func TestOnboardingAuthorizationBadInput(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	conn := connector(t, e)
	if _, err := conn.SubmitMerchant(ctx, channel.MerchantApplication{Ref: "hutong_x"}); err == nil {
		t.Fatal("no app_auth_code: accepted")
	}
	var we *channel.WalletError
	if _, err := conn.SubmitMerchant(ctx, channel.MerchantApplication{AuthCode: "Pnot-a-code"}); !errors.As(err, &we) {
		t.Fatalf("unknown code: %v", err)
	}
	if q, err := conn.QueryMerchant(ctx, "202601BBnotatoken"); err != nil || q.State != channel.OnboardingRejected {
		t.Fatalf("unknown token: %+v, %v", q, err)
	}
	if _, err := conn.QueryMerchant(ctx, ""); err == nil {
		t.Fatal("empty ref: accepted")
	}
	for _, bad := range []map[string]any{
		{"outcome": "needs_info"},
		{"outcome": "rejected", "delay_ms": -5},
		{"outcome": "rejected", "merchant": "2088000000000000"},
		{"outcome": "rejected", "merchant": "2088621000000001"}, // the app's own merchant authorizes nothing
		{"outcome": "approved", "reasons": "typo"},
	} {
		if st := e.Helper("POST", "/sandbox/v1/alipay/authorization_outcome", bad, nil); st != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", bad, st)
		}
	}
}
