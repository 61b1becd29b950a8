package alipay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// nodeSDKDir holds the Node.js program and its package.json, which pins
// alipay-sdk; `npm ci --ignore-scripts` there installs it.
const nodeSDKDir = "nodesdk"

// nodeSDKVersion is the alipay-sdk version package.json pins.
const nodeSDKVersion = "4.14.0"

// TestOfficialNodeSDK drives the sandbox with Ant Group's official Node.js
// SDK over both protocols (nodesdk/sdk.mjs says what it checks). Without
// node or the installed SDK it is skipped, saying why; with
// HUTONG_NODE_TESTS=1 (as in CI) it fails instead.
func TestOfficialNodeSDK(t *testing.T) {
	t.Parallel()
	required := os.Getenv("HUTONG_NODE_TESTS") == "1"
	unavailable := func(format string, args ...any) {
		t.Helper()
		if required {
			t.Fatalf("HUTONG_NODE_TESTS=1, but "+format, args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH (%v); install Node.js 18 or later", err)
	}
	installed, err := os.ReadFile(filepath.Join(nodeSDKDir, "node_modules", "alipay-sdk", "package.json"))
	if err != nil {
		unavailable("alipay-sdk is not installed: run `npm ci --ignore-scripts` in internal/sandbox/alipay/%s (%v)", nodeSDKDir, err)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(installed, &pkg); err != nil || pkg.Version != nodeSDKVersion {
		t.Fatalf("alipay-sdk %q is installed, want %s (%v): run `npm ci --ignore-scripts` in internal/sandbox/alipay/%s", pkg.Version, nodeSDKVersion, err, nodeSDKDir)
	}

	e := sandboxtest.Start(t)
	tamperer, altered := tamperingProxy(t, e.URL)
	c := e.Sandbox().Credentials().Alipay
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "sdk.mjs")
	cmd.Dir = nodeSDKDir
	cmd.Env = append(os.Environ(),
		"TZ=Asia/Shanghai",
		"HUTONG_SANDBOX_URL="+e.URL,
		"HUTONG_TAMPER_URL="+tamperer,
		"HUTONG_ALIPAY_APP_ID="+c.AppID,
		"HUTONG_ALIPAY_APP_PRIVATE_KEY="+c.AppPrivateKey,
		"HUTONG_ALIPAY_PUBLIC_KEY="+c.AlipayPublicKey,
	)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("node sdk.mjs (%v):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("the official SDK's run failed: %v", err)
	}
	passed := 0
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "ok ") {
			passed++
		}
	}
	if passed < 20 {
		t.Fatalf("only %d steps passed", passed)
	}
	// The tampering steps prove something only if answers were altered.
	if altered.Load() < 2 {
		t.Fatalf("the proxy altered %d answers; the tampering steps checked nothing", altered.Load())
	}
}

// tamperingProxy forwards to the sandbox and alters every answer that
// names a trade (out_trade_no A1 becomes XA1) after the sandbox signed it,
// as a man in the middle would. It counts the answers it altered.
func tamperingProxy(t *testing.T, sandbox string) (string, *atomic.Int64) {
	t.Helper()
	target, err := url.Parse(sandbox)
	if err != nil {
		t.Fatal(err)
	}
	var altered atomic.Int64
	p := httputil.NewSingleHostReverseProxy(target)
	p.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if err := resp.Body.Close(); err != nil {
			return err
		}
		if changed := bytes.Replace(body, []byte(`"out_trade_no":"`), []byte(`"out_trade_no":"X`), 1); !bytes.Equal(changed, body) {
			altered.Add(1)
			body = changed
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL, &altered
}
