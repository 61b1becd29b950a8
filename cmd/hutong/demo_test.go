package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A printed demo: where things are, and the walkthrough's commands.
type printedDemo struct {
	text                            string
	gateway, sandbox, shop, metrics string
	commands                        []string // the "$ " lines, in order
	signURL                         string
	stop                            func()
}

// startDemo runs the demo binary on data and reads what it prints, up to
// its last line.
func startDemo(t *testing.T, bin, data string) printedDemo {
	t.Helper()
	cmd := exec.Command(bin, "demo", "--addr", "127.0.0.1:0", "--sandbox-addr", "127.0.0.1:0", "--shop-addr", "127.0.0.1:0", "--data", data, "--time-scale", "1000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	var drained <-chan error
	d := printedDemo{stop: func() {
		if stopped {
			return
		}
		stopped = true
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("stopping the demo: %v", err)
		}
		if drained != nil {
			if err := <-drained; err != nil {
				t.Errorf("reading the demo's output: %v", err)
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("the demo's exit on SIGTERM: %v", err)
		}
	}}
	t.Cleanup(d.stop)
	var text strings.Builder
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		text.WriteString(line + "\n")
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "metrics":
			d.metrics = f[1]
		case len(f) > 2 && f[0] == "gateway" && f[1] == "API":
			d.gateway = strings.TrimSuffix(f[2], "/v1/")
		case len(f) > 2 && f[0] == "wallet" && f[1] == "sandbox":
			d.sandbox = f[2]
		case len(f) > 1 && f[0] == "marketplace":
			d.shop = f[1]
		case len(f) > 2 && f[0] == "Sign" && f[1] == "in":
			d.signURL = f[len(f)-1]
		}
		if c, ok := strings.CutPrefix(line, "  $ "); ok {
			d.commands = append(d.commands, c)
		}
		if strings.HasPrefix(line, "Ctrl-C stops the demo") {
			break
		}
	}
	drained = drain(stdout)
	d.text = text.String()
	if d.gateway == "" || d.sandbox == "" || d.shop == "" || len(d.commands) < 10 {
		t.Fatalf("the demo printed (%v):\n%s", sc.Err(), d.text)
	}
	return d
}

// shell runs one printed command as printed, after the walkthrough's
// export line and with $PAY set, in a POSIX shell.
func shell(t *testing.T, setup []string, command string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", strings.Join(append(setup, command), "\n"))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("$ %s\n%v\nstdout: %s\nstderr: %s", command, err, o.String(), e.String())
	}
	return o.String(), e.String()
}

// walk runs every printed command in order, as a new user would: it pays
// the first payment on the sandbox between creating and reading it, signs
// City Wear's agreement in "a browser" before submitting it, and fails on
// any command that fails or answers an API error.
func walk(t *testing.T, d printedDemo) {
	t.Helper()
	if !strings.HasPrefix(d.commands[0], "export HUTONG=") {
		t.Fatalf("the walkthrough starts with %q", d.commands[0])
	}
	setup := []string{d.commands[0]}
	for _, c := range d.commands[1:] {
		if strings.Contains(c, "/submit ") {
			if d.signURL == "" {
				t.Fatalf("a submit command without a signing link:\n%s", d.text)
			}
			signContract(t, d.signURL)
		}
		out, errOut := shell(t, setup, c+`; echo "PAY=$PAY"`)
		if strings.HasPrefix(c, "PAY=") {
			pay, ok := strings.CutPrefix(strings.TrimSpace(out), "PAY=")
			if !ok || !strings.HasPrefix(pay, "pay_") {
				t.Fatalf("$ %s\nleft PAY=%q; the answer was %s", c, out, errOut)
			}
			setup = append(setup, "PAY="+pay)
			var created struct {
				NextAction struct {
					QRCode string `json:"qr_code"`
				} `json:"next_action"`
			}
			if err := json.Unmarshal([]byte(errOut), &created); err != nil || created.NextAction.QRCode == "" {
				t.Fatalf("$ %s\nanswered %s (%v)", c, errOut, err)
			}
			payOnPhone(t, d.sandbox, created.NextAction.QRCode)
			waitForAnswer(t, d.gateway, setup, "$HUTONG/v1/payments/$PAY", `"status":"succeeded"`)
			continue
		}
		if strings.Contains(out, `"error":{`) {
			t.Fatalf("$ %s\nanswered an error: %s", c, out)
		}
		switch {
		case strings.Contains(c, `"method":"alipay.precreate"`):
			// Alipay, like WeChat Pay, names the shop to the buyer (the
			// shop authorized the platform's app), and the sandbox phone
			// pays as the payment's buyer.
			var created struct {
				NextAction struct {
					QRCode string `json:"qr_code"`
				} `json:"next_action"`
			}
			answer, _, _ := strings.Cut(out, "PAY=") // the echo after the command
			if err := json.Unmarshal([]byte(answer), &created); err != nil || created.NextAction.QRCode == "" {
				t.Fatalf("$ %s\nanswered %s (%v)", c, out, err)
			}
			resp, err := http.Get(d.sandbox + "/phone/open?" + url.Values{"wallet": {"alipay"}, "code": {created.NextAction.QRCode}, "as": {"buyer-wang"}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(page), "县城超市") || !strings.Contains(string(page), "付款人 王芳") {
				t.Fatalf("the Alipay order on the sandbox phone:\n%s", page)
			}
		case strings.Contains(c, " reconcile "):
			if !strings.Contains(out, "missing in books 0, missing in bill 0, amount differs 0") {
				t.Fatalf("$ %s\n%s", c, out)
			}
		case strings.Contains(c, "/refunds "):
			// The next steps read the books after the wallet has refunded.
			waitForAnswer(t, d.gateway, setup, "$HUTONG/v1/payments/$PAY", `"amount_refunded":200`)
		case strings.Contains(c, "/submit "):
			id := regexp.MustCompile(`contracts/(ct_[0-9a-z]+)/submit`).FindStringSubmatch(c)[1]
			waitForAnswer(t, d.gateway, setup, `$HUTONG/v1/contracts/`+id+` -H "Authorization: Bearer $PLATFORM"`, `"state":"active"`)
		}
	}
}

// waitForAnswer repeats a GET (curl arguments, the merchant key unless they name
// another) until its answer contains want.
func waitForAnswer(t *testing.T, gateway string, setup []string, args, want string) {
	t.Helper()
	if !strings.Contains(args, "Authorization") {
		args += ` -H "Authorization: Bearer $KEY"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := shell(t, setup, "curl -s "+args)
		if strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("curl -s %s never answered %s; last: %s", args, want, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func payOnPhone(t *testing.T, sandbox, code string) {
	t.Helper()
	wallet := "wechatpay"
	if !strings.HasPrefix(code, "weixin://") {
		wallet = "alipay"
	}
	body, _ := json.Marshal(map[string]string{"wallet": wallet, "code": code})
	resp, err := http.Post(sandbox+"/sandbox/v1/pay", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("pay %s: %s %s", code, resp.Status, b)
	}
}

// signContract does what the merchant does at the printed link: reads the
// agreement page and signs it.
func signContract(t *testing.T, link string) {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{"agree": {"yes"}, "signer": {"李四"}}
	for _, name := range []string{"token", "version", "text_sha256"} {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("the signing page has no %s:\n%s", name, page)
		}
		form.Set(name, string(m[1]))
	}
	resp, err = http.PostForm(link, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("signing: %s", resp.Status)
	}
}

// A new user's first start and a restart: every printed command runs as
// printed, each start with fresh order ids, and the second start tells
// the state the first left (City Wear signed up, so no signing link).
func TestDemoWalkthroughRunsAsPrinted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the walkthrough's commands use curl, which this machine lacks")
	}
	bin := buildHutong(t)
	data := t.TempDir()

	first := startDemo(t, bin, data)
	if !strings.Contains(first.text, "first start") || first.signURL == "" {
		t.Fatalf("the first start printed:\n%s", first.text)
	}
	// /metrics is on a listener of its own, not beside the API.
	for u, want := range map[string]int{first.metrics: 200, first.gateway + "/metrics": 404, first.shop: 200} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("GET %s: %v %v, want %d", u, err, resp, want)
		}
		resp.Body.Close()
	}
	walk(t, first)
	first.stop()

	second := startDemo(t, bin, data)
	if !strings.Contains(second.text, "restarted") || second.signURL != "" || strings.Contains(second.text, "/submit") ||
		!strings.Contains(second.text, "城市服饰 (contract active") {
		t.Fatalf("the restarted demo printed:\n%s", second.text)
	}
	ids := regexp.MustCompile(`demo-[0-9]+-[0-9]+-[0-9]`)
	for _, id := range ids.FindAllString(first.text, -1) {
		if strings.Contains(second.text, id) {
			t.Fatalf("the restart prints the first start's order id %s again", id)
		}
	}
	walk(t, second)
}
