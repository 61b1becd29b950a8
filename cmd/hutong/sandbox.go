package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hutong-pay/hutong/internal/httpserve"
	"github.com/hutong-pay/hutong/internal/sandbox"
)

const sandboxSynopsis = `Runs the wallet sandbox: the WeChat Pay API v3 at the real paths (/v3/...), the
Alipay OpenAPI gateway (/gateway.do) and the test-helper API (/sandbox/v1/...),
on one listener, with state in --data.

  hutong sandbox credentials [--data DIR]    print DIR/credentials.json`

func runSandbox(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "credentials" {
		return runSandboxCredentials(args[1:], stdout, stderr)
	}
	fs := newFlagSet("sandbox", sandboxSynopsis, stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	data := fs.String("data", filepath.Join("hutong-data", "sandbox"), "data folder (created if absent)")
	timeScale := fs.Float64("time-scale", 1, "divide the wallets' real delays (notification retries, refunds) by this")
	public := fs.Bool("public", false, "allow a non-loopback --addr; the helper API has no authentication")
	baseURL := fs.String("base-url", "", "`URL` the sandbox is reached at, for pay links and bill downloads (default http://ADDR)")
	verbose := fs.Bool("verbose", false, "log every notification attempt")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sandbox: unexpected argument %q", fs.Arg(0))
	}
	if !(*timeScale > 0) {
		return fmt.Errorf("sandbox: --time-scale must be positive, got %v", *timeScale)
	}
	if err := checkLoopback(*addr, *public); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	url := *baseURL
	if url == "" {
		url = "http://" + ln.Addr().String()
	}
	sb, err := sandbox.Open(sandbox.Config{DataDir: *data, BaseURL: url, TimeScale: *timeScale, Logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := sb.Credentials().WeChatPay
	fmt.Fprintf(stdout, "hutong sandbox listening on %s\n", url)
	fmt.Fprintf(stdout, "  WeChat Pay API v3   %s/v3/   (mchid %s, appid %s)\n", url, c.MchID, c.AppID)
	a := sb.Credentials().Alipay
	fmt.Fprintf(stdout, "  Alipay gateway      %s/gateway.do   (app_id %s)\n", url, a.AppID)
	fmt.Fprintf(stdout, "  phone (play buyer)  %s/phone/   (PIN 123456)\n", url)
	fmt.Fprintf(stdout, "  helper API          %s/sandbox/v1/\n", url)
	fmt.Fprintf(stdout, "  credentials         %s\n", filepath.Join(*data, sandbox.CredentialsFile))
	if *timeScale != 1 {
		fmt.Fprintf(stdout, "  time scale          ×%v\n", *timeScale)
	}
	err = serveSandbox(ctx, ln, sb)
	if cerr := sb.Close(); err == nil {
		err = cerr
	}
	return err
}

// serveSandbox serves the sandbox and delivers its notifications until ctx
// ends.
func serveSandbox(ctx context.Context, ln net.Listener, sb *sandbox.Sandbox) error {
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { sb.Run(runCtx); close(runDone) }()
	err := httpserve.Serve(ctx, ln, sandboxListener(sb.Handler()))
	stopRun()
	<-runDone
	return err
}

// sandboxListener bounds the sandbox's listener: httpserve's timeouts, and
// 1 MiB of body but on the phone pages, which take a picture of a code
// (5 MiB; the page itself bounds each of its forms more tightly).
func sandboxListener(h http.Handler) httpserve.Config {
	return httpserve.Config{Handler: h, BodyLimit: 1 << 20, BodyLimitFor: func(r *http.Request) int64 {
		if strings.HasPrefix(r.URL.Path, "/phone/") {
			return 6 << 20
		}
		return 0
	}}
}

// checkLoopback refuses to expose the sandbox beyond this machine unless the
// operator says so: its helper API pays orders without authentication.
func checkLoopback(addr string, public bool) error {
	if public {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sandbox: --addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("sandbox: --addr %q is not a loopback address; the helper API has no authentication, so pass --public to listen there anyway", addr)
}

func runSandboxCredentials(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sandbox credentials", "Prints the merchant credentials of a sandbox data folder (credentials.json).", stderr)
	data := fs.String("data", filepath.Join("hutong-data", "sandbox"), "data folder of the sandbox")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := sandbox.ReadCredentials(*data)
	if err != nil {
		return fmt.Errorf("sandbox credentials: %w (has a sandbox been started with --data %s?)", err, *data)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}
