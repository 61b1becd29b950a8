package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/sandbox"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// TestQuickstartRuns builds the example as a user would and runs it against
// a sandbox, as the README's quick start does.
func TestQuickstartRuns(t *testing.T) {
	e := sandboxtest.Start(t)
	bin := filepath.Join(t.TempDir(), "quickstart")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-sandbox", e.URL, "-credentials", filepath.Join(e.Dir, sandbox.CredentialsFile)).CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "trade_state SUCCESS") || !strings.Contains(string(out), "weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("quickstart printed:\n%s", out)
	}
}
