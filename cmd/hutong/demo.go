package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/sandbox"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/storefront"
)

const demoSynopsis = `Runs everything on this machine: the wallet sandbox, the gateway on
embedded SQLite with its wallet accounts wired to the sandbox, demo merchants
and their API keys, and a demo marketplace (a client of the API with a
platform key). It prints the URLs to open and a key to use.

  hutong demo [--addr 127.0.0.1:8080] [--sandbox-addr 127.0.0.1:8090]
              [--shop-addr 127.0.0.1:8070] [--data DIR]`

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoSynopsis, stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "gateway listen address")
	sandboxAddr := fs.String("sandbox-addr", "127.0.0.1:8090", "sandbox listen address")
	shopAddr := fs.String("shop-addr", "127.0.0.1:8070", "demo marketplace listen address")
	data := fs.String("data", "hutong-data", "data folder")
	timeScale := fs.Float64("time-scale", 1, "divide the wallets' real delays by this")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, a := range []string{*addr, *sandboxAddr, *shopAddr} {
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
	accounts, err := walletAccounts(ctx, sb.Credentials(), sandboxURL)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	url := "http://" + ln.Addr().String()
	svc := &gateway.Service{DB: db, Accounts: accounts, BaseURL: url, Logger: logger}
	keys, err := seedDemo(ctx, svc)
	if err != nil {
		return err
	}
	_, platformKey, err := svc.CreateKey(ctx, "")
	if err != nil {
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
	go func() { shopDone <- serveHTTP(ctx, shopLn, shop) }()
	fmt.Fprintf(stdout, "hutong demo\n")
	fmt.Fprintf(stdout, "  gateway API     %s/v1/   (openapi: %s/v1/openapi.yaml)\n", url, url)
	fmt.Fprintf(stdout, "  wallet sandbox  %s   (WeChat Pay /v3/, Alipay /gateway.do)\n", sandboxURL)
	fmt.Fprintf(stdout, "  marketplace     %s/   (shop, check out, pay, share, ask a friend to pay)\n", shopURL)
	fmt.Fprintf(stdout, "  play the buyer  %s/phone/   (PIN 123456)\n", sandboxURL)
	fmt.Fprintf(stdout, "  share codes     %s/s/   store code %s/m/%s\n", url, url, keys[0].id)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  merchant %-22s %s  key %s\n", k.name, k.id, k.secret)
	}
	fmt.Fprintf(stdout, "\nTry:\n  curl -s %s/v1/payments -H 'Authorization: Bearer %s' \\\n    -d '{\"merchant_order_id\":\"demo-1\",\"amount\":1990,\"currency\":\"CNY\",\"description\":\"豆浆油条\",\"method\":\"wechatpay.native\",\"buyer\":{\"id\":\"b1\"}}'\n", url, keys[0].secret)
	fmt.Fprintf(stdout, "then paste next_action.qr_code into %s/phone/ and pay.\n", sandboxURL)
	err = serveGateway(ctx, ln, svc, logger, 0, sandboxURL)
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
// (keys are shown only when made, and the demo must print one).
func seedDemo(ctx context.Context, svc *gateway.Service) ([]demoKey, error) {
	var out []demoKey
	for _, dm := range storefront.DemoMerchants() {
		m := gateway.Merchant{ID: dm.ID, Name: dm.Name}
		if _, err := svc.GetMerchant(ctx, m.ID); err != nil {
			if _, err := svc.CreateMerchant(ctx, m); err != nil {
				return nil, err
			}
		}
		_, secret, err := svc.CreateKey(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, demoKey{m.Name, m.ID, secret})
	}
	return out, nil
}
