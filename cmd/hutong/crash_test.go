package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/store"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestGatewaySurvivesKill runs payments and refunds through a gateway
// process that is killed with SIGKILL at random moments and restarted on
// the same database: nothing accepted is lost, nothing is doubled, and
// every event reaches the webhook endpoint at least once, under one id.
func TestGatewaySurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHutong(t)
	t.Run("sqlite", func(t *testing.T) { crashRun(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "gateway.db")) })
	t.Run("postgres", func(t *testing.T) { crashRun(t, bin, storetest.PostgresDSN(t)) })
}

func crashRun(t *testing.T, bin, dsn string) {
	dir := t.TempDir()
	sb := startSandbox(t, bin, filepath.Join(dir, "sandbox"), "127.0.0.1:0")
	out, err := exec.Command(bin, "key", "--merchant", "m_crash", "--name", "崩溃测试商户", "--database", dsn).Output()
	if err != nil {
		t.Fatalf("hutong key: %v", err)
	}
	key := strings.TrimSpace(string(out))

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	gwURL := "http://" + addr
	var mu sync.Mutex
	var gw *exec.Cmd
	startGateway := func() {
		cmd := exec.Command(bin, "serve", "--addr", addr, "--database", dsn, "--credentials", filepath.Join(dir, "sandbox", "credentials.json"),
			"--wallet-sandbox", sb.url, "--idempotency-lease", "2s", "--job-lease", "2s",
			"--metrics-addr", "off", "--webhook-allow-private") // the webhook receiver below is on loopback
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for range 200 {
			if resp, err := http.Get(gwURL + "/healthz"); err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		gw = cmd
	}
	startGateway()
	t.Cleanup(func() { mu.Lock(); gw.Process.Kill(); gw.Wait(); mu.Unlock() })

	// The merchant's webhook endpoint.
	var hookMu sync.Mutex
	received := map[string]int{}
	var secret string
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		defer hookMu.Unlock()
		ev, err := client.VerifyWebhook(secret, r.Header, body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		received[ev.ID]++
	}))
	defer hooks.Close()
	c := client.New(gwURL, key)
	ctx := context.Background()
	retry := func(what string, fn func() error) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			err := fn()
			var ae *client.Error
			if err == nil || (errors.As(err, &ae) && ae.Status < 500 && ae.Code != "request_in_progress") {
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still failing: %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	retry("webhook endpoint", func() error {
		ep, err := c.CreateWebhookEndpoint(ctx, hooks.URL)
		if err == nil {
			hookMu.Lock()
			secret = ep.Secret
			hookMu.Unlock()
		}
		return err
	})

	// Kill the gateway at random moments while the work runs.
	stop := make(chan struct{})
	killerDone := make(chan int)
	go func() {
		kills := 0
		for {
			select {
			case <-stop:
				killerDone <- kills
				return
			case <-time.After(time.Duration(150+rand.IntN(350)) * time.Millisecond):
			}
			mu.Lock()
			gw.Process.Signal(syscall.SIGKILL)
			gw.Wait()
			kills++
			startGateway()
			mu.Unlock()
		}
	}()

	const n = 20
	var ids []string
	var refunds []string
	for i := range n {
		params := client.PaymentParams{MerchantOrderID: fmt.Sprintf("crash-%d", i), Amount: int64(1000 + i), Currency: "CNY",
			Description: "崩溃测试", Method: []string{"wechatpay.native", "alipay.precreate"}[i%2], Buyer: client.Buyer{ID: "b"}}
		var p *client.Payment
		retry("create "+params.MerchantOrderID, func() error {
			var err error
			p, err = c.CreatePayment(ctx, params, params.MerchantOrderID)
			return err
		})
		ids = append(ids, p.ID)
		wallet := strings.SplitN(params.Method, ".", 2)[0]
		body, _ := json.Marshal(map[string]string{"wallet": wallet, "code": p.NextAction.QRCode})
		resp, err := http.Post(sb.url+"/sandbox/v1/pay", "application/json", strings.NewReader(string(body)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("pay %s: %v %v", p.ID, err, resp)
		}
		resp.Body.Close()
		if i%3 == 0 {
			retry("paid "+p.ID, func() error {
				got, err := c.GetPayment(ctx, p.ID)
				if err == nil && got.Status != "succeeded" {
					return &client.Error{Status: 503, Code: "not_yet"}
				}
				return err
			})
			retry("refund "+p.ID, func() error {
				r, err := c.CreateRefund(ctx, p.ID, 100, "仅退款", "refund-"+p.ID)
				if err == nil {
					refunds = append(refunds, r.ID)
				}
				return err
			})
		}
	}
	close(stop)
	kills := <-killerDone
	t.Logf("killed the gateway %d times during %d payments and %d refunds", kills, n, len(refunds))

	for _, id := range ids {
		retry("final state of "+id, func() error {
			got, err := c.GetPayment(ctx, id)
			if err == nil && got.Status != "succeeded" {
				return &client.Error{Status: 503, Code: "not_yet"}
			}
			return err
		})
	}
	for _, id := range refunds {
		retry("refund "+id, func() error {
			got, err := c.GetRefund(ctx, id)
			if err == nil && got.Status != "succeeded" {
				return &client.Error{Status: 503, Code: "not_yet"}
			}
			return err
		})
	}
	events, err := c.ListEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perObject := map[string]int{}
	for _, ev := range events {
		var obj struct{ ID string }
		json.Unmarshal(ev.Data, &obj)
		perObject[ev.Type+" "+obj.ID]++
	}
	for _, id := range ids {
		if k := perObject["payment.succeeded "+id]; k != 1 {
			t.Errorf("%s: %d payment.succeeded events", id, k)
		}
	}
	for _, id := range refunds {
		if k := perObject["refund.succeeded "+id]; k != 1 {
			t.Errorf("%s: %d refund.succeeded events", id, k)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		hookMu.Lock()
		missing := 0
		for _, ev := range events {
			if received[ev.ID] == 0 {
				missing++
			}
		}
		hookMu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never reached the webhook endpoint", missing, len(events))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The books survived every kill: each entry sums to zero, the cached
	// balances equal the lines, and each payment was booked paid once.
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := &gateway.Service{DB: db}
	if problems, err := svc.VerifyLedger(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("ledger after the kills: %v %v", problems, err)
	}
	for _, id := range ids {
		var n int
		db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_entries WHERE payment_id = $1 AND kind = 'paid'`, id).Scan(&n)
		if n != 1 {
			t.Errorf("%s: booked paid %d times", id, n)
		}
	}
}
