package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	alipaysdk "github.com/smartwalle/alipay/v3"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
	"github.com/hutong-pay/hutong/sandboxhttp"
)

func TestEverySubcommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		var out bytes.Buffer
		err := run([]string{c.name, "--help"}, &out, &out)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "Usage:\n  hutong "+c.name) {
			t.Errorf("%s --help: %v\n%s", c.name, err, out.String())
		}
	}
	// Asked nothing, hutong shows how to ask on stderr and exits 2.
	var stdout, stderr bytes.Buffer
	var ee exitError
	if err := run(nil, &stdout, &stderr); !errors.As(err, &ee) || ee.code != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "sandbox") {
		t.Fatalf("hutong with no command: %v\nstdout %q\nstderr %s", err, stdout.String(), stderr.String())
	}
	var out bytes.Buffer
	if err := run([]string{"help"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "sandbox") {
		t.Fatalf("hutong help: %v\n%s", err, out.String())
	}
	if err := run([]string{"nope"}, io.Discard, io.Discard); err == nil {
		t.Fatal("an unknown command succeeded")
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "h.db")
	for range 2 { // twice: the second run has nothing to do
		out.Reset()
		if err := run([]string{"migrate", "--database", dsn}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(out.String(), "sqlite database is at migration ") {
		t.Fatalf("migrate printed %q", out.String())
	}
	if err := run([]string{"migrate", "--database", "mysql://x"}, io.Discard, io.Discard); err == nil {
		t.Fatal("an unknown database was accepted")
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run([]string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "hutong ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}

func TestSandboxRefusesNonLoopbackWithoutPublic(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:8090", ":8090", "192.0.2.1:8090"} {
		err := run([]string{"sandbox", "--addr", addr, "--data", t.TempDir()}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--public") {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:1", "[::1]:1", "localhost:1"} {
		if err := checkLoopback(addr, false); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if err := run([]string{"sandbox", "--time-scale", "0", "--data", t.TempDir()}, io.Discard, io.Discard); err == nil {
		t.Error("--time-scale 0 was accepted")
	}
}

func TestEnvironmentFillsFlags(t *testing.T) {
	t.Setenv("HUTONG_ADDR", "0.0.0.0:9")
	err := run([]string{"sandbox", "--data", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "0.0.0.0:9") {
		t.Fatalf("HUTONG_ADDR was not read: %v", err)
	}
}

// process is a hutong sandbox running as its own process.
type process struct {
	cmd     *exec.Cmd
	url     string
	drained <-chan error // the rest of its output read, or why not
}

// stop sends sig, reads the rest of the sandbox's output and waits for it
// to end, returning what Wait says of its exit.
func (p *process) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending the sandbox %v: %v", sig, err)
	}
	if err := <-p.drained; err != nil {
		t.Errorf("reading the sandbox's output: %v", err)
	}
	return p.cmd.Wait()
}

// drain reads r to its end in the background and hands back the read's
// error once the process has closed its end: a process's output must be
// read whole before Wait, since Wait closes the pipe.
func drain(r io.Reader) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		done <- err
	}()
	return done
}

func buildHutong(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hutong")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startSandbox(t *testing.T, bin, data, addr string) *process {
	t.Helper()
	cmd := exec.Command(bin, "sandbox", "--addr", addr, "--data", data, "--time-scale", "1000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "hutong sandbox listening on "); ok {
			p.url = u
			break
		}
	}
	p.drained = drain(stdout)
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return // the test stopped it itself
		}
		if err := p.stop(t, syscall.SIGKILL); !endedByKill(err) {
			t.Errorf("the sandbox ended before it was killed: %v", err)
		}
	})
	if p.url == "" {
		t.Fatalf("the sandbox did not say where it listens (%v)", sc.Err())
	}
	return p
}

// TestSandboxProcessSurvivesKill starts the real binary, pays an order
// whose merchant is down, kills the process with SIGKILL, starts it again on
// the same folder and sees the order kept and the notification delivered.
func TestSandboxProcessSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHutong(t)
	data := t.TempDir()
	var up atomic.Bool
	var got atomic.Int32
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer merchant.Close()

	p := startSandbox(t, bin, data, "127.0.0.1:0")
	creds, err := sandbox.ReadCredentials(data)
	if err != nil {
		t.Fatal(err)
	}
	c := creds.WeChatPay
	no := fmt.Sprintf("KILL%d", time.Now().UnixNano())
	prepayAndPay(t, p.url, c, no, merchant.URL)
	time.Sleep(50 * time.Millisecond) // let an attempt or two fail
	if err := p.stop(t, syscall.SIGKILL); !endedByKill(err) {
		t.Fatalf("the sandbox ended before it was killed: %v", err)
	}

	// Same folder, a new process (and port).
	p = startSandbox(t, bin, data, "127.0.0.1:0")
	up.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pending notification was not delivered after the restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	client := sdkClient(t, p.url, c)
	tx, _, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(context.Background(), native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	if err != nil || *tx.TradeState != "SUCCESS" {
		t.Fatalf("order after kill -9: %v %+v", err, tx)
	}

	// The same running process serves the Alipay SDK.
	alipayRoundTrip(t, p.url, creds.Alipay)

	// A clean stop (SIGTERM) exits 0.
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	var out bytes.Buffer
	if err := run([]string{"sandbox", "credentials", "--data", data}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var printed sandbox.Credentials
	if err := json.Unmarshal(out.Bytes(), &printed); err != nil || printed.WeChatPay != c {
		t.Fatalf("sandbox credentials printed %s", out.String())
	}
}

func sdkClient(t *testing.T, url string, c wechatpay.Credentials) *core.Client {
	t.Helper()
	key, err := utils.LoadPrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := utils.LoadPublicKey(c.PlatformPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := sandboxhttp.Client(url)
	if err != nil {
		t.Fatal(err)
	}
	client, err := core.NewClient(context.Background(), option.WithHTTPClient(hc),
		option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, key, c.PlatformPublicKeyID, pub))
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// prepayAndPay creates a Native order through the SDK and pays it through
// the helper API.
func prepayAndPay(t *testing.T, url string, c wechatpay.Credentials, no, notifyURL string) {
	t.Helper()
	resp, _, err := (&native.NativeApiService{Client: sdkClient(t, url, c)}).Prepay(context.Background(), native.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("kill -9"),
		OutTradeNo: core.String(no), NotifyUrl: core.String(notifyURL), Amount: &native.Amount{Total: core.Int64(1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"wallet": "wechatpay", "code": *resp.CodeUrl})
	res, err := http.Post(url+"/sandbox/v1/pay", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("pay: %s", res.Status)
	}
}

// alipayRoundTrip precreates, pays and queries a trade through
// smartwalle/alipay against a running sandbox.
func alipayRoundTrip(t *testing.T, url string, c alipay.Credentials) {
	t.Helper()
	client, err := alipaysdk.New(c.AppID, c.AppPrivateKey, true,
		alipaysdk.WithProductionGateway(url+"/gateway.do"), alipaysdk.WithTimeLocation(chinatime.Location))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.LoadAliPayPublicKey(c.AlipayPublicKey); err != nil {
		t.Fatal(err)
	}
	p := alipaysdk.TradePreCreate{}
	p.OutTradeNo, p.Subject, p.TotalAmount = fmt.Sprintf("PROC%d", time.Now().UnixNano()), "one sandbox, two wallets", "1.23"
	res, err := client.TradePreCreate(p)
	if err != nil || !res.IsSuccess() {
		t.Fatalf("alipay precreate: %v %+v", err, res)
	}
	body, _ := json.Marshal(map[string]string{"wallet": "alipay", "code": res.QRCode})
	pr, err := http.Post(url+"/sandbox/v1/pay", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	pr.Body.Close()
	q, err := client.TradeQuery(alipaysdk.TradeQuery{OutTradeNo: p.OutTradeNo})
	if err != nil || q.TradeStatus != alipaysdk.TradeStatusSuccess || q.TotalAmount != "1.23" {
		t.Fatalf("alipay query: %v %+v", err, q)
	}
}

// TestDemo runs hutong demo as the README says and pays a payment created
// with the key it prints, through the sandbox it starts.

// The usage line of every subcommand names every flag its --help lists.
func TestUsageLineNamesEveryFlag(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"demo"}, {"serve"}, {"sandbox"}, {"sandbox", "credentials"}, {"reconcile"}, {"key"}, {"migrate"}, {"bench"}, {"version"}} {
		var out bytes.Buffer
		if err := run(append(args, "--help"), &out, &out); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%v --help: %v", args, err)
		}
		usage, flags, ok := strings.Cut(out.String(), "Flags (")
		if !ok {
			t.Fatalf("%v --help has no flag list:\n%s", args, out.String())
		}
		for _, line := range strings.Split(flags, "\n") {
			name, isFlag := strings.CutPrefix(strings.TrimSpace(line), "-")
			if !isFlag || strings.HasPrefix(line, "    ") {
				continue
			}
			name, _, _ = strings.Cut(name, " ")
			if !strings.Contains(usage, "--"+name) {
				t.Errorf("%v: the usage line omits --%s:\n%s", args, name, usage)
			}
		}
	}
}
