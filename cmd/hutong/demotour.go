package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/onboarding"
)

// demoTour is what the demo prints: where everything is, and a walkthrough
// whose every "$ " line runs as printed in a POSIX shell, on the first start
// and on every later one. Order ids are fresh on each start, and what a step
// says about a merchant (its contract, so whether it can take WeChat Pay) is
// read from the database, not assumed.
type demoTour struct {
	gateway, sandbox, shop, metrics string
	data                            string // the data folder, as given
	self                            string // how to run this binary again, as the user did
	keys                            []demoKey
	platformKey                     string
	county, city                    onboarding.ContractView // WeChat Pay contracts; State "" when none
	payments                        int                     // payments of the demo merchants so far
	firstStart                      bool                    // the demo merchants were made by this start
}

func readTour(ctx context.Context, svc *gateway.Service, keys []demoKey, platformKey string) (demoTour, error) {
	t := demoTour{keys: keys, platformKey: platformKey}
	for id, into := range map[string]*onboarding.ContractView{"m_demo_county": &t.county, "m_demo_city": &t.city} {
		list, err := svc.OnboardingService().ListContracts(ctx, onboarding.ContractFilter{MerchantID: id, Channel: "wechatpay"})
		if err != nil {
			return t, fmt.Errorf("demo: contracts of %s: %w", id, err)
		}
		if len(list) > 0 {
			*into = list[0]
		}
		ps, err := svc.PaymentService().ListPayments(ctx, id, "", "", 1000)
		if err != nil {
			return t, fmt.Errorf("demo: payments of %s: %w", id, err)
		}
		t.payments += len(ps)
	}
	return t, nil
}

// selfCommand is how the printed commands should start hutong: "go run
// ./cmd/hutong" under go run (whose binary is gone when it exits),
// "hutong" when that is this binary on the PATH, else this binary's path.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "hutong"
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/hutong"
	}
	if onPath, err := exec.LookPath("hutong"); err == nil {
		if a, err1 := filepath.EvalSymlinks(onPath); err1 == nil {
			if b, err2 := filepath.EvalSymlinks(exe); err2 == nil && a == b {
				return "hutong"
			}
		}
	}
	return exe
}

// contractWords says what a contract's state means for the merchant's buyers.
func contractWords(c onboarding.ContractView) string {
	switch c.State {
	case "":
		return "not invited: its buyers see Alipay only"
	case contract.Active:
		return "active: its buyers can pay with WeChat Pay"
	case contract.Submitted:
		return "submitted, under the wallet's review: WeChat Pay appears when it is approved"
	default:
		return c.State + ": its buyers see Alipay only until it is active"
	}
}

func (t demoTour) print(w io.Writer, now time.Time) {
	if t.firstStart {
		fmt.Fprintf(w, "hutong demo (first start; everything is kept in %s)\n", t.data)
	} else {
		fmt.Fprintf(w, "hutong demo (restarted with %s: %d payments so far)\n", t.data, t.payments)
	}
	fmt.Fprintf(w, "  gateway API     %s/v1/   (openapi: %s/v1/openapi.yaml)\n", t.gateway, t.gateway)
	fmt.Fprintf(w, "  wallet sandbox  %s   (WeChat Pay /v3/, Alipay /gateway.do)\n", t.sandbox)
	fmt.Fprintf(w, "  marketplace     %s/   (shop, check out, pay, share, ask a friend to pay)\n", t.shop)
	fmt.Fprintf(w, "  play the buyer  %s/phone/   (PIN 123456)\n", t.sandbox)
	fmt.Fprintf(w, "  share codes     %s/s/   store code %s/m/%s\n", t.gateway, t.gateway, t.keys[0].id)
	fmt.Fprintf(w, "  console         %s/console/   (%s or, as the county shop, %s; password %s)\n", t.gateway,
		demoConsoleUsers[0].Email, demoConsoleUsers[1].Email, demoConsolePassword)
	fmt.Fprintf(w, "  analytics       %s/console/analytics?from=%s&to=%s   (six months of demo history: WeChat Pay opened to 1%%, 5%%, 20%%, then all buyers)\n", t.gateway,
		chinatime.Date(now.AddDate(0, 0, -demoHistoryDays)), chinatime.Date(now))
	if t.metrics != "" {
		fmt.Fprintf(w, "  metrics         %s\n", t.metrics)
	}
	for _, k := range t.keys {
		fmt.Fprintf(w, "  merchant %-22s %s  key %s\n", k.name, k.id, k.secret)
	}
	fmt.Fprintf(w, "  platform key    %s   (acts for any merchant)\n", t.platformKey)

	// Each start makes its own order ids: a merchant_order_id names one
	// payment for good, so yesterday's would answer with yesterday's
	// (already paid) payment.
	stamp := strings.ReplaceAll(now.UTC().Format("20060102-150405.000"), ".", "")
	today := chinatime.Date(now)
	auth := `-H "Authorization: Bearer $KEY"`
	platform := `-H "Authorization: Bearer $PLATFORM"`
	json := `-H 'Content-Type: application/json'`
	fmt.Fprintf(w, "\nWalkthrough (a POSIX shell; each $ line runs as printed):\n")
	fmt.Fprintf(w, "  $ export HUTONG=%s KEY=%s PLATFORM=%s\n", t.gateway, t.keys[0].secret, t.platformKey)

	method, wallet := "wechatpay.native", "WeChat Pay"
	if t.county.State != contract.Active {
		method, wallet = "alipay.precreate", "Alipay"
	}
	fmt.Fprintf(w, "\n1. A payment at %s with %s (WeChat Pay contract %s); its id is kept in $PAY:\n", t.keys[0].name, wallet, contractWords(t.county))
	fmt.Fprintf(w, "  $ PAY=$(curl -s $HUTONG/v1/payments %s %s -d '{\"merchant_order_id\":\"demo-%s-1\",\"amount\":1990,\"currency\":\"CNY\",\"description\":\"豆浆油条\",\"method\":\"%s\",\"buyer\":{\"id\":\"buyer-zhang\",\"name\":\"张伟\"}}' | tee /dev/stderr | grep -o '\"id\":\"pay_[0-9a-z]*' | cut -d'\"' -f4 | head -n 1)\n",
		auth, json, stamp, method)
	fmt.Fprintf(w, "   Pay it: open %s/phone/, paste the answer's next_action.qr_code, PIN 123456. Then:\n", t.sandbox)
	fmt.Fprintf(w, "  $ curl -s $HUTONG/v1/payments/$PAY %s\n", auth)
	fmt.Fprintf(w, "\n2. Another order, paid with Alipay through the same call:\n")
	fmt.Fprintf(w, "  $ curl -s $HUTONG/v1/payments %s %s -d '{\"merchant_order_id\":\"demo-%s-2\",\"amount\":2590,\"currency\":\"CNY\",\"description\":\"五常大米 5kg\",\"method\":\"alipay.precreate\",\"buyer\":{\"id\":\"buyer-wang\",\"name\":\"王芳\"}}'\n",
		auth, json, stamp)

	fmt.Fprintf(w, "\n3. Follow the money of $PAY once it is paid: confirm receipt (escrow → the merchant's payable), refund part\n")
	fmt.Fprintf(w, "   (an Idempotency-Key makes a retried call refund once), settle, read the books, reconcile the wallet's bill:\n")
	fmt.Fprintf(w, "  $ curl -s -X POST $HUTONG/v1/payments/$PAY/confirm_receipt %s\n", auth)
	fmt.Fprintf(w, "  $ curl -s $HUTONG/v1/payments/$PAY/refunds %s %s -H 'Idempotency-Key: demo-%s-refund' -d '{\"amount\":200,\"kind\":\"refund_only\",\"reason\":\"少了一根油条\"}'\n", auth, json, stamp)
	fmt.Fprintf(w, "  $ curl -s -X POST $HUTONG/v1/settlements %s\n", platform)
	fmt.Fprintf(w, "  $ curl -s $HUTONG/v1/balances %s\n", auth)
	fmt.Fprintf(w, "  $ curl -s \"$HUTONG/v1/statements?from=%s&to=%s\" %s\n", today, today, auth)
	fmt.Fprintf(w, "  $ %s reconcile --channel %s --date %s --database sqlite:%s --credentials %s --wallet-sandbox %s\n",
		t.self, strings.SplitN(method, ".", 2)[0], today, filepath.Join(t.data, "hutong.db"), filepath.Join(t.data, "sandbox", "credentials.json"), t.sandbox)

	fmt.Fprintf(w, "\n4. Opening WeChat Pay at %s (contract %s):\n", t.keys[1].name, contractWords(t.city))
	switch t.city.State {
	case contract.Invited:
		fmt.Fprintf(w, "   Sign in a browser: %s\n   then submit the application to the wallet, and within seconds WeChat Pay appears at its checkout:\n", t.city.SignURL)
		fallthrough
	case contract.Signed:
		fmt.Fprintf(w, "  $ curl -s $HUTONG/v1/contracts/%s/submit %s %s -d '{\"license_number\":\"91110105MA01ABCD2X\",\"legal_person\":\"李四\",\"contact_name\":\"李四\",\"contact_phone\":\"13900139000\",\"contact_email\":\"city@example.com\",\"service_phone\":\"010-88888888\",\"bank_account_name\":\"城市服饰有限公司\",\"bank_account_number\":\"11001234567890\"}'\n",
			t.city.ID, platform, json)
	}
	if t.city.ID != "" {
		fmt.Fprintf(w, "  $ curl -s $HUTONG/v1/contracts/%s %s\n", t.city.ID, platform)
	}

	fmt.Fprintf(w, "\n5. Staged rollout: show WeChat Pay's QR code to 20%% of buyers, and ask why a buyer does or does not see it:\n")
	fmt.Fprintf(w, "  $ curl -s $HUTONG/v1/rollout/rules/wechatpay.native %s %s -d '{\"rule\":{\"enabled\":true,\"percent_bps\":2000,\"salt\":\"wechat-2024\"},\"reason\":\"20%% of buyers\"}'\n", platform, json)
	fmt.Fprintf(w, "  $ curl -s \"$HUTONG/v1/rollout/explain?merchant_id=m_demo_county&buyer_id=buyer-zhang&region_code=130627\" %s\n", platform)
	fmt.Fprintf(w, "\nCtrl-C stops the demo; %s keeps everything for the next start.\n", t.data)
}
