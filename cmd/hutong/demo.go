package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/httpserve"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/sandbox"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/storefront"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

const demoSynopsis = `Runs everything on this machine: the wallet sandbox, the gateway on
embedded SQLite with its wallet accounts wired to the sandbox, demo merchants
and their API keys, and a demo marketplace (a client of the API with a
platform key). It prints the URLs to open, keys, and a walkthrough whose
commands run as printed, on the first start and every later one.

Webhook endpoints may point at this machine (--webhook-allow-private of
hutong serve is on), so a merchant's local receiver can be tried.`

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoSynopsis, stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "gateway listen address")
	sandboxAddr := fs.String("sandbox-addr", "127.0.0.1:8090", "sandbox listen address")
	shopAddr := fs.String("shop-addr", "127.0.0.1:8070", "demo marketplace listen address")
	data := fs.String("data", "hutong-data", "data folder `DIR` (kept between starts)")
	timeScale := fs.Float64("time-scale", 1, "divide the wallets' real delays by this")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:0", `listen address of /metrics (a free loopback port by default); "off" or "" for none`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	addrs := []string{*addr, *sandboxAddr, *shopAddr}
	if *metricsAddr != "" && *metricsAddr != "off" {
		addrs = append(addrs, *metricsAddr)
	}
	for _, a := range addrs {
		if err := checkLoopback(a, false); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	sln, err := net.Listen("tcp", *sandboxAddr)
	if err != nil {
		return fmt.Errorf("demo: sandbox: %w", err)
	}
	sandboxURL := "http://" + sln.Addr().String()
	sb, err := sandbox.Open(sandbox.Config{DataDir: filepath.Join(*data, "sandbox"), BaseURL: sandboxURL, TimeScale: *timeScale, Logger: logger})
	if err != nil {
		return err
	}
	defer sb.Close()
	sandboxDone := make(chan error, 1)
	go func() { sandboxDone <- serveSandbox(ctx, sln, sb) }()

	db, err := store.Open(ctx, "sqlite:"+filepath.Join(*data, "hutong.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	wallets, err := walletAccounts(ctx, sb.Credentials(), sandboxURL, false)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	metricsLn, err := listenMetrics(*metricsAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo: %w", err)
	}
	url := "http://" + ln.Addr().String()
	hooks := &webhooks.Service{DB: db, Logger: logger, AllowPrivate: true}
	svc := &gateway.Service{DB: db, Accounts: wallets, BaseURL: url, Logger: logger, Webhooks: hooks,
		Onboarding: &onboarding.Service{DB: db, Wallets: gateway.OnboardingWallets(wallets), BaseURL: url, Events: hooks,
			ContractsRequired: map[string]bool{"wechatpay": true}, Poll: time.Second}}
	svc.Money = &money.Service{DB: db, Logger: logger, Events: hooks, Payments: svc.MoneyPayments(), Wallets: svc.MoneyWallets()}
	keys, firstStart, err := seedDemo(ctx, svc, sb.Alipay().IssueAuthCode)
	if err != nil {
		return err
	}
	if firstStart {
		if err := seedDemoHistory(ctx, db, time.Now(), 2024); err != nil {
			return err
		}
	}
	_, platformKey, err := svc.MerchantService().CreateKey(ctx, "")
	if err != nil {
		return err
	}
	if err := seedConsoleUsers(ctx, &accounts.Service{DB: db}); err != nil {
		return err
	}
	// The console opens on the analytics, which read the rollup: build it
	// now rather than a minute from now, when its job first runs.
	if _, err := svc.RefreshAnalytics(ctx); err != nil {
		return err
	}
	if err := svc.ScheduleDaily(ctx); err != nil {
		return err
	}
	shopLn, err := net.Listen("tcp", *shopAddr)
	if err != nil {
		return fmt.Errorf("demo: shop: %w", err)
	}
	shopURL := "http://" + shopLn.Addr().String()
	shop, err := storefront.New(storefront.Config{API: client.New(url, platformKey), BaseURL: shopURL, Merchants: storefront.DemoMerchants(), Logger: logger})
	if err != nil {
		return err
	}
	shopDone := make(chan error, 1)
	go func() { shopDone <- httpserve.Serve(ctx, shopLn, httpserve.Config{Handler: shop}) }()
	tour, err := readTour(ctx, svc, keys, platformKey)
	if err != nil {
		return err
	}
	tour.firstStart = firstStart
	tour.gateway, tour.sandbox, tour.shop, tour.data, tour.self = url, sandboxURL, shopURL, *data, selfCommand()
	if metricsLn != nil {
		tour.metrics = "http://" + metricsLn.Addr().String() + "/metrics"
	}
	tour.print(stdout, time.Now())
	err = serveGateway(ctx, ln, metricsLn, svc, logger, 0, sandboxURL)
	stop()
	if serr := <-shopDone; err == nil {
		err = serr
	}
	if serr := <-sandboxDone; err == nil {
		err = serr
	}
	return err
}

type demoKey struct{ name, id, secret string }

// seedDemo creates the demo merchants and a key for each on every start
// (keys are shown only when made, and the demo must print one). WeChat Pay
// is the wallet being opened: it needs an active contract, and County Mart
// is signed up through the sandbox's onboarding on first start, while City
// Wear waits, invited, for someone to sign at its link. Both shops
// authorize the platform's Alipay app (app_auth_token) on first start, so
// Alipay, like WeChat Pay, names the shop to its buyers.
func seedDemo(ctx context.Context, svc *gateway.Service, alipayAuthCode func(pid string) (string, error)) (keys []demoKey, firstStart bool, err error) {
	var out []demoKey
	for _, dm := range storefront.DemoMerchants() {
		m := merchant.Merchant{ID: dm.ID, Name: dm.Name}
		if _, err := svc.MerchantService().Get(ctx, m.ID); errors.Is(err, gateway.ErrNotFound) {
			firstStart = true
			if _, err := svc.MerchantService().Create(ctx, m); err != nil {
				return nil, false, err
			}
			category, _, _ := strings.Cut(dm.Category, " ")
			size := map[string]string{"m_demo_county": "small"}[dm.ID]
			if size == "" {
				size = "medium"
			}
			if err := svc.MerchantService().SetProfile(ctx, m.ID, merchant.Profile{Category: category, RegionCode: dm.Region, Size: size}); err != nil {
				return nil, false, err
			}
		} else if err != nil {
			return nil, false, err
		}
		_, secret, err := svc.MerchantService().CreateKey(ctx, m.ID)
		if err != nil {
			return nil, false, err
		}
		out = append(out, demoKey{m.Name, m.ID, secret})
	}
	agreements := map[string][2]string{
		"wechatpay": {"微信支付开通服务协议", "第一条 商户同意通过平台接入微信支付，由平台代为申请特约商户。\n第二条 买家付款由平台托管，买家确认收货或付款 10 日后结算给商户，扣除平台佣金与支付渠道手续费。\n第三条 仅退款与退货退款按平台规则处理。"},
		"alipay":    {"支付宝授权收款协议", "第一条 商户授权平台的支付宝应用代为收款，款项进入商户自己的支付宝账户。\n第二条 买家付款由平台记账托管，买家确认收货或付款 10 日后结算，扣除平台佣金与支付渠道手续费。\n第三条 仅退款与退货退款按平台规则处理。"},
	}
	for ch, a := range agreements {
		if _, err := svc.OnboardingService().CurrentAgreement(ctx, ch); errors.Is(err, gateway.ErrNotFound) {
			if _, err := svc.OnboardingService().CreateAgreement(ctx, ch, a[0], a[1], "demo", false); err != nil {
				return nil, false, err
			}
		} else if err != nil {
			return nil, false, err
		}
	}
	county := channel.MerchantApplication{Name: "县城超市", ShortName: "县城超市", LicenseNumber: "92130627MA2JDMCK9H", LegalPerson: "张三",
		ContactName: "张三", ContactPhone: "13800138000", ContactEmail: "county@example.com", ServicePhone: "0312-8888888",
		BankAccountName: "张三", BankAccountNumber: "6222021234567890123"}
	if err := signUp(ctx, svc.OnboardingService(), "m_demo_county", "wechatpay", "县城超市 店主", func() (channel.MerchantApplication, error) { return county, nil }); err != nil {
		return nil, false, err
	}
	if _, err := svc.OnboardingService().Invite(ctx, "m_demo_city", "wechatpay", "demo"); err != nil && !errors.Is(err, contract.ErrNotAllowed) {
		return nil, false, err
	}
	// The sandbox's Alipay merchants for the two shops, by PID (their
	// names differ in data folders made by older versions).
	for _, shop := range []struct{ id, name, pid string }{{"m_demo_county", "县城超市", "2088621000000002"}, {"m_demo_city", "城市服饰", "2088621000000003"}} {
		authorize := func() (channel.MerchantApplication, error) {
			code, err := alipayAuthCode(shop.pid)
			return channel.MerchantApplication{AuthCode: code}, err
		}
		if err := signUp(ctx, svc.OnboardingService(), shop.id, "alipay", shop.name+" 店主", authorize); err != nil {
			return nil, false, err
		}
	}
	return out, firstStart, nil
}

// signUp takes a merchant's contract on ch as far as it goes by itself:
// invited, signed by signer, submitted with the application app makes, and
// waited on (up to 10 s) while the wallet reviews it. A contract already
// past a step skips it, so every start may call it.
func signUp(ctx context.Context, ob *onboarding.Service, merchantID, ch, signer string, app func() (channel.MerchantApplication, error)) error {
	c, err := ob.Invite(ctx, merchantID, ch, "demo")
	if err != nil && !errors.Is(err, contract.ErrNotAllowed) {
		return err
	}
	if c.State == "" {
		list, err := ob.ListContracts(ctx, onboarding.ContractFilter{MerchantID: merchantID, Channel: ch})
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return fmt.Errorf("demo: %s has no %s contract", merchantID, ch)
		}
		c = list[0]
	}
	if c.State == contract.Invited {
		u, err := neturl.Parse(c.SignURL)
		if err != nil {
			return err
		}
		page, err := ob.ForSigning(ctx, c.ID, u.Query().Get("token"))
		if err != nil {
			return err
		}
		if c, err = ob.Sign(ctx, c.ID, u.Query().Get("token"), page.Agreement.Version, page.Agreement.TextSHA256, signer, "127.0.0.1"); err != nil {
			return err
		}
	}
	if c.State == contract.Signed {
		a, err := app()
		if err != nil {
			return fmt.Errorf("demo: %s's %s application: %w", merchantID, ch, err)
		}
		if c, err = ob.Submit(ctx, c.ID, "demo", a); err != nil {
			return err
		}
	}
	for deadline := time.Now().Add(10 * time.Second); c.State == contract.Submitted && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := ob.RefreshContract(ctx, c.ID); err != nil {
			return err
		}
		if c, err = ob.GetContract(ctx, "", c.ID); err != nil {
			return err
		}
	}
	return nil
}

// The demo's console users, made on the first start that lacks them: an
// administrator, and the county shop's owner in the merchant portal. The
// password is printed: the demo listens on loopback only.
const demoConsolePassword = "hutong-demo-password"

var demoConsoleUsers = []accounts.AddUserParams{
	{Email: "admin@hutong.demo", Name: "平台管理员", Role: accounts.RoleAdmin},
	{Email: "county@hutong.demo", Name: "县城超市 店主", Role: accounts.RoleMerchant, MerchantID: "m_demo_county"},
}

func seedConsoleUsers(ctx context.Context, acc *accounts.Service) error {
	for _, u := range demoConsoleUsers {
		if _, err := acc.UserByEmail(ctx, u.Email); err == nil {
			continue
		} else if !errors.Is(err, notfound.Err) {
			return fmt.Errorf("demo: console user %s: %w", u.Email, err)
		}
		u.Password = demoConsolePassword
		if _, err := acc.AddUser(accounts.WithActor(ctx, accounts.User{Email: "demo"}), u); err != nil {
			return fmt.Errorf("demo: console user %s: %w", u.Email, err)
		}
	}
	return nil
}
