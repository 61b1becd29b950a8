package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hutong-pay/hutong/client"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
	"github.com/hutong-pay/hutong/internal/store"
)

// chaosT is what a chaos run reports to: the test's *testing.T, or
// hutong chaos's own report, whose Fatal ends the run's goroutine as
// testing's does.
type chaosT interface {
	Helper()
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// chaosOptions is one chaos run.
type chaosOptions struct {
	bin      string // the hutong binary the gateways and the sandbox run
	dsn      string // the gateways' database
	dir      string // a folder for the sandbox's data and the gateways' log
	payments int    // half WeChat Pay, half Alipay; every one refunded
	workers  int    // merchant clients working at once
	gateways int    // gateway processes on the one database, behind a round-robin proxy
	// killEvery is the mean time between two kills (exponentially
	// distributed); killMin the least. One gateway is killed at a time.
	killEvery, killMin time.Duration
	// hooksDown is the share of the time the merchant's webhook endpoint
	// answers 503, in windows of up to a second.
	hooksDown float64
	seed      uint64
	// progress, if not nil, gets a line every ten seconds of the work.
	progress io.Writer
}

// chaosRun runs payments and refunds through o.gateways gateway processes
// that are killed with SIGKILL at random moments and restarted on the
// same database, while both sandbox wallets lose, duplicate and reorder
// notifications and fail some API calls, and the merchant's webhook
// endpoint is down part of the time. A merchant client retries every
// unanswered change with its Idempotency-Key. Then, with the wallets
// well again, the audit (chaos_audit.go) holds hutong to the wallet:
// nothing accepted is lost or doubled, one refund per key, every refund
// in the wallet's state, amount_refunded the sum of the succeeded
// refunds, the ledger balanced and the day's bills reconciled, and every
// event at the webhook endpoint at least once.
func chaosRun(t chaosT, o chaosOptions) {
	began := time.Now()
	rng := rand.New(rand.NewPCG(o.seed, 0x6875746f6e67)) // the kills' and outages' times
	dir := o.dir
	sb, err := startChild(context.Background(), "sandbox", o.bin, []string{"sandbox", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "sandbox"), "--time-scale", "1000"},
		[]string{"hutong sandbox listening on "})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.kill()
	sbURL := sb.found[0]
	out, err := exec.Command(o.bin, "key", "--merchant", merchantOfCrash, "--name", "混沌测试商户", "--database", o.dsn).Output()
	if err != nil {
		t.Fatalf("hutong key: %v", err)
	}
	key := strings.TrimSpace(string(out))

	// The gateways listen on fixed loopback ports, so a restarted one is
	// where the proxy looks; the proxy's address is every gateway's base
	// URL, so the wallets' notifications reach whichever is up.
	freeAddr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	addrs := make([]string, o.gateways)
	for i := range addrs {
		addrs[i] = freeAddr()
	}
	proxy, err := newRoundRobin(addrs)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	gwURL := proxy.URL
	// Every gateway's log, kept for the evidence of a failed audit.
	logPath := filepath.Join(dir, "gateway.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var mu sync.Mutex
	gws := make([]*exec.Cmd, o.gateways)
	var down, longestDown time.Duration // from a kill until that gateway answers /healthz again
	// startGateway starts gateway i and waits until it answers; it runs
	// on the killer's goroutine too, so it reports failure rather than
	// calling t.Fatal there.
	startGateway := func(i int) error {
		killed := time.Now()
		defer func() { d := time.Since(killed); down += d; longestDown = max(longestDown, d) }()
		cmd := exec.Command(o.bin, "serve", "--addr", addrs[i], "--base-url", gwURL, "--database", o.dsn, "--credentials", filepath.Join(dir, "sandbox", "credentials.json"),
			"--wallet-sandbox", sbURL, "--idempotency-lease", "2s", "--job-lease", "2s",
			"--metrics-addr", "off", "--webhook-allow-private") // the webhook receiver below is on loopback
		cmd.Stdout, cmd.Stderr = io.Discard, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting gateway %d: %w", i, err)
		}
		for range 500 {
			if resp, err := http.Get("http://" + addrs[i] + "/healthz"); err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		gws[i] = cmd
		return nil
	}
	for i := range gws {
		if err := startGateway(i); err != nil {
			t.Fatal(err)
		}
	}
	// stopGateway kills gateway i; one that had already exited on its own
	// is a failure, for only the kill may end it. mu is held.
	stopGateway := func(i int) {
		if err := gws[i].Process.Signal(syscall.SIGKILL); err != nil {
			t.Errorf("killing gateway %d: %v", i, err)
		}
		if err := gws[i].Wait(); !endedByKill(err) {
			t.Errorf("gateway %d ended before it was killed (its log: %s): %v", i, logPath, err)
		}
	}
	defer func() {
		mu.Lock()
		for i := range gws {
			stopGateway(i)
		}
		mu.Unlock()
	}()

	// The merchant's webhook endpoint, down (503) part of the time.
	var hookMu sync.Mutex
	received := map[string]int{}
	var secret string
	var hooksDown atomic.Bool
	var refusedHooks atomic.Int64
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if hooksDown.Load() {
			refusedHooks.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
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
	// A request cut off by a kill fails at once; one that hangs must not
	// hold the run.
	c.HTTP = &http.Client{Timeout: 15 * time.Second}
	ctx := context.Background()
	r := &crashRunner{ctx: ctx, c: c, sbURL: sbURL}
	err = r.send("webhook endpoint", func() error {
		ep, err := c.CreateWebhookEndpoint(ctx, hooks.URL)
		if err == nil {
			hookMu.Lock()
			secret = ep.Secret
			hookMu.Unlock()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, f := range crashFaults() {
		if err := setWalletFaults(sbURL, f); err != nil {
			t.Fatal(err)
		}
	}

	// Kill a gateway at random moments while the work runs, and take the
	// webhook endpoint down now and then.
	stop := make(chan struct{})
	killerDone := make(chan int, 1)
	// haltKiller stops the killer and says how often it killed; a run that
	// fails early halts it too, before the gateways' last kill, so that
	// nothing kills or reports after the run has ended.
	haltKiller := sync.OnceValue(func() int { close(stop); hooksDown.Store(false); return <-killerDone })
	defer haltKiller()
	var rngMu sync.Mutex
	var killCount atomic.Int64
	draw := func(mean, least time.Duration) time.Duration {
		rngMu.Lock()
		defer rngMu.Unlock()
		return least + time.Duration(rng.ExpFloat64()*float64(mean-least))
	}
	if o.hooksDown > 0 {
		go func() {
			for {
				up := draw(time.Duration(float64(time.Second)*(1-o.hooksDown)/o.hooksDown), 0)
				select {
				case <-stop:
					return
				case <-time.After(up):
				}
				hooksDown.Store(true)
				select {
				case <-stop:
					return
				case <-time.After(draw(time.Second, 0)):
				}
				hooksDown.Store(false)
			}
		}()
	}
	go func() {
		kills := 0
		for {
			select {
			case <-stop:
				killerDone <- kills
				return
			case <-time.After(draw(o.killEvery, o.killMin)):
			}
			rngMu.Lock()
			i := rng.IntN(len(gws))
			rngMu.Unlock()
			mu.Lock()
			stopGateway(i)
			kills++
			killCount.Store(int64(kills))
			err := startGateway(i)
			mu.Unlock()
			if err != nil {
				// The work now fails against a gateway that is down; the
				// run fails with it instead of hanging.
				t.Errorf("restarting gateway %d after kill %d: %v", i, kills, err)
				<-stop
				killerDone <- kills
				return
			}
		}
	}()

	if o.progress != nil {
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Second):
				}
				r.mu.Lock()
				paid := len(r.payments)
				r.mu.Unlock()
				fmt.Fprintf(o.progress, "chaos: %s: %d of %d payments paid, %d kills\n", time.Since(began).Round(time.Second), paid, o.payments, killCount.Load())
			}
		}()
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var workErrs []error
	for range o.workers {
		wg.Go(func() {
			for i := range work {
				if err := r.payAndRefund(i); err != nil {
					errMu.Lock()
					workErrs = append(workErrs, err)
					errMu.Unlock()
				}
			}
		})
	}
	for i := range o.payments {
		work <- i
	}
	close(work)
	wg.Wait()
	kills := haltKiller()
	workTime := time.Since(began)
	for _, err := range workErrs {
		t.Error(err)
	}

	// The wallets are well again; what hutong left unsettled must now
	// settle through notifications (retried by the sandbox), polls and
	// refund jobs that ask the wallet again.
	for _, f := range crashFaults() {
		if err := setWalletFaults(sbURL, faults.Faults{Wallet: f.Wallet}); err != nil {
			t.Fatal(err)
		}
	}
	a := crashAudit{t: t, ctx: ctx, c: c, dsn: o.dsn, sandboxURL: sbURL, credentials: filepath.Join(dir, "sandbox", "credentials.json"),
		logPath: logPath, began: began, payments: r.payments, keys: r.keys}
	a.run()

	events, err := c.ListEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.checkEvents(events)
	// An event whose deliveries all met the endpoint down waits for its
	// next attempt on the webhook schedule (5 s, 30 s, 2 min, 10 min, …,
	// for three days). Give the quick ones time; an event still
	// undelivered after that must have its delivery job waiting, for
	// at-least-once to hold.
	deadline := time.Now().Add(150 * time.Second)
	var missing []string
	for {
		hookMu.Lock()
		missing = missing[:0]
		for _, ev := range events {
			if received[ev.ID] == 0 {
				missing = append(missing, ev.ID)
			}
		}
		hookMu.Unlock()
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	scheduled := 0
	if len(missing) > 0 {
		db, err := store.Open(ctx, o.dsn)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range missing {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = 'webhook.deliver' AND state IN ('available', 'running')
				AND payload LIKE $1`, `%"event":"`+id+`"%`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				scheduled++
			} else {
				t.Errorf("event %s never reached the webhook endpoint, and no delivery of it is scheduled", id)
			}
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}
	hookMu.Lock()
	deliveries := 0
	for _, n := range received {
		deliveries += n
	}
	hookMu.Unlock()
	dropped, duplicated, notifications := sandboxNotificationFaults(t, sbURL)

	s := &r.stats
	t.Logf("chaos run on %s with %d gateway(s), seed %d: %d payments by %d clients, work %s, whole run %s", dsnKind(o.dsn), o.gateways, o.seed, o.payments, o.workers,
		workTime.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	t.Logf("  %-34s %.1f payments/s over the work", "throughput", float64(len(r.payments))/workTime.Seconds())
	t.Logf("  %-34s %d; down %s in all (longest %s)", "gateway kills (SIGKILL)", kills,
		down.Round(time.Millisecond), longestDown.Round(time.Millisecond))
	t.Logf("  %-34s %d (wechatpay %d, alipay %d)", "payments paid", len(r.payments), a.count.perWallet[wechatpay.Wallet], a.count.perWallet[alipay.Wallet])
	t.Logf("  %-34s %d (%d for a whole payment at once); %d payments refunded in full", "refund keys", len(r.keys), a.count.fullKeys, a.count.refundedInFull)
	t.Logf("  %-34s %d", "changing requests sent", s.requests.Load())
	t.Logf("  %-34s %d (no answer %d, 5xx %d, 409 request_in_progress %d)", "  sent again, same key", s.retries.Load(), s.transport.Load(), s.serverErr.Load(), s.inProgress.Load())
	t.Logf("  %-34s %d notifications: %d attempts dropped, %d duplicated; 5%% API errors, 20%% reordered", "wallet faults injected", notifications, dropped, duplicated)
	t.Logf("  %-34s %d deliveries refused while down", "webhook endpoint outages", refusedHooks.Load())
	t.Logf("  %-34s %d refunds (%d succeeded, %d failed, %d pending); %d keys, %d answers", "audit: database", a.count.refunds, a.count.succeeded, a.count.failed, a.count.pending, len(r.keys), a.count.answers)
	t.Logf("  %-34s %d agree, %d disagree", "audit: wallet's refund state", a.count.walletAgrees, a.count.walletDisagrees)
	t.Logf("  %-34s %d payments, %d fen refunded, %d wrong", "audit: amount_refunded", a.count.paymentsChecked, a.count.refundedFen, a.count.amountWrong)
	t.Logf("  %-34s %s", "audit: the wallets' orders", a.count.walletOrders)
	t.Logf("  %-34s %s", "audit: ledger", a.count.ledger)
	t.Logf("  %-34s %s", "audit: reconciliation", strings.Join(a.count.recon, "; "))
	t.Logf("  %-34s %d events, %d delivered; %d deliveries, each id applied once by the endpoint; %d still on the webhook schedule, %d lost",
		"audit: events", len(events), len(events)-len(missing), deliveries, scheduled, len(missing)-scheduled)
}

// roundRobin is the chaos run's load balancer: each request goes to the
// next gateway; one that refuses the connection (killed) is skipped for
// the next, so a request fails only when every gateway is down.
type roundRobin struct {
	*httptest.Server
	next atomic.Uint64
}

func newRoundRobin(addrs []string) (*roundRobin, error) {
	rr := &roundRobin{}
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	rr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		start := rr.next.Add(1)
		var last error
		for k := range uint64(len(addrs)) {
			addr := addrs[(start+k)%uint64(len(addrs))]
			out := r.Clone(r.Context())
			out.RequestURI = ""
			out.URL.Scheme, out.URL.Host = "http", addr
			out.Body = io.NopCloser(bytes.NewReader(body))
			resp, err := transport.RoundTrip(out)
			if err != nil {
				last = err
				// Only a connection never made is safe to send elsewhere:
				// a request cut off mid-way may have been applied, and is
				// the client's to retry under its key.
				var op *net.OpError
				if errors.As(err, &op) && op.Op == "dial" {
					continue
				}
				break
			}
			for k, vs := range resp.Header {
				w.Header()[k] = vs
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body) // a copy cut by a kill is the client's to retry
			resp.Body.Close()
			return
		}
		http.Error(w, fmt.Sprintf("no gateway answered: %v", last), http.StatusBadGateway)
	}))
	return rr, nil
}

// crashFaults is how badly each wallet behaves while the gateway is
// killed: a fifth of notification attempts lost (the sandbox retries on
// the wallet's schedule), almost a third sent twice, some held back so
// later ones overtake them, and one API call in twenty answered with the
// wallet's system error.
func crashFaults() []faults.Faults {
	var out []faults.Faults
	for _, w := range []string{wechatpay.Wallet, alipay.Wallet} {
		out = append(out, faults.Faults{Wallet: w, NotifyDropRate: 0.2, NotifyDuplicateRate: 0.3, NotifyReorderRate: 0.2, APIErrorRate: 0.05})
	}
	return out
}

// setWalletFaults sets one wallet's faults through the sandbox's helper
// API.
func setWalletFaults(sandboxURL string, f faults.Faults) error {
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	resp, err := http.Post(sandboxURL+"/sandbox/v1/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		answer, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("setting %s faults: %s %s", f.Wallet, resp.Status, answer)
	}
	return nil
}

// refundKey is one Idempotency-Key a merchant used to ask for a refund,
// and what the gateway answered under it.
type refundKey struct {
	key       string
	paymentID string
	amount    int64
	ids       []string      // the refund each 2xx answer named, in order
	refused   *client.Error // a final 4xx answer, which no key here should get
}

// crashStats counts what the merchant client met.
type crashStats struct {
	requests   atomic.Int64 // API calls that change something (payments, refunds)
	retries    atomic.Int64 // of those, calls sent again with the same key
	inProgress atomic.Int64 // 409 request_in_progress answers
	transport  atomic.Int64 // no answer: connection refused or reset by a kill
	serverErr  atomic.Int64 // 5xx answers
}

// crashRunner is one crash run's merchant side.
type crashRunner struct {
	ctx   context.Context
	c     *client.Client
	sbURL string
	stats crashStats

	mu       sync.Mutex
	payments []crashPayment
	keys     []*refundKey
}

// crashPayment is a payment the run created and saw paid.
type crashPayment struct {
	id, wallet string
	amount     int64
}

// send calls fn, which makes one change under an Idempotency-Key, until it
// is answered: a 2xx (nil) or a 4xx other than 409 request_in_progress
// (that error). No answer (a kill), a 5xx and request_in_progress are
// sent again with the same key, as a merchant's client would.
func (r *crashRunner) send(what string, fn func() error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for try := 0; ; try++ {
		r.stats.requests.Add(1)
		if try > 0 {
			r.stats.retries.Add(1)
		}
		err := fn()
		var ae *client.Error
		switch {
		case err == nil:
			return nil
		case !errors.As(err, &ae):
			r.stats.transport.Add(1)
		case ae.Status >= 500:
			r.stats.serverErr.Add(1)
		case ae.Status == http.StatusConflict && ae.Code == "request_in_progress":
			r.stats.inProgress.Add(1)
		default:
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no answer after %d tries; last: %w", what, try+1, err)
		}
		// Back off as a client should: on a 2-core machine, clients
		// hammering a restarting gateway slow its start.
		time.Sleep(min(25*time.Millisecond<<min(try, 5), 400*time.Millisecond) + time.Duration(rand.IntN(50))*time.Millisecond)
	}
}

// waitFor reads until done reports true; read errors (a kill) are retried.
func waitFor(what string, limit time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		ok, err := done()
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("%s: not so after %s (last error: %w)", what, limit, last)
			}
			return fmt.Errorf("%s: not so after %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// refundPlan is the refunds asked of payment i of amount. Payments
// alternate between the wallets, and each wallet's payments take turns: one
// refunded in full at once, one in two parts that add up to all of it, one
// in one to three parts that leave at least half.
func refundPlan(i int, amount int64) []int64 {
	switch (i / 2) % 3 {
	case 0:
		return []int64{amount}
	case 1:
		a := 1 + rand.Int64N(amount-1)
		return []int64{a, amount - a}
	}
	k := int64(1 + (i/6)%3)
	out := make([]int64, k)
	for j := range out {
		out[j] = 1 + rand.Int64N(amount/(2*k))
	}
	return out
}

// payAndRefund creates payment i, pays it at the wallet, waits for hutong
// to see it paid and asks for its refunds, all at once.
func (r *crashRunner) payAndRefund(i int) error {
	method := []string{"wechatpay.native", "alipay.precreate"}[i%2]
	params := client.PaymentParams{MerchantOrderID: fmt.Sprintf("crash-%d", i), Amount: 1000 + rand.Int64N(9000), Currency: "CNY",
		Description: "崩溃测试", Method: method, Buyer: client.Buyer{ID: "b"}}
	var p *client.Payment
	err := r.send("create "+params.MerchantOrderID, func() error {
		var err error
		p, err = r.c.CreatePayment(r.ctx, params, "pay-"+params.MerchantOrderID)
		return err
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", params.MerchantOrderID, err)
	}
	wallet, _, _ := strings.Cut(method, ".")
	body, _ := json.Marshal(map[string]string{"wallet": wallet, "code": p.NextAction.QRCode})
	resp, err := http.Post(r.sbURL+"/sandbox/v1/pay", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("pay %s: %w", p.ID, err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pay %s: %s %s", p.ID, resp.Status, answer)
	}
	err = waitFor("payment "+p.ID+" succeeded", 90*time.Second, func() (bool, error) {
		got, err := r.c.GetPayment(r.ctx, p.ID)
		return err == nil && got.Status == "succeeded", err
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.payments = append(r.payments, crashPayment{id: p.ID, wallet: wallet, amount: params.Amount})
	r.mu.Unlock()

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for j, amount := range refundPlan(i, params.Amount) {
		k := &refundKey{key: fmt.Sprintf("refund-%s-%d", p.ID, j), paymentID: p.ID, amount: amount}
		r.mu.Lock()
		r.keys = append(r.keys, k)
		r.mu.Unlock()
		// Every third key is sent by two clients at once (a double
		// submit), so one of them meets the other's request in progress.
		senders := 1
		if j%3 == 0 {
			senders = 2
		}
		for range senders {
			wg.Go(func() {
				if err := r.refund(k); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// refund asks for k's refund until answered, then once more with the same
// key: a client that lost the first answer must be told the same refund.
func (r *crashRunner) refund(k *refundKey) error {
	for range 2 {
		err := r.send("refund "+k.key, func() error {
			got, err := r.c.CreateRefund(r.ctx, k.paymentID, k.amount, "崩溃测试退款", k.key)
			if err == nil {
				r.mu.Lock()
				k.ids = append(k.ids, got.ID)
				r.mu.Unlock()
			}
			return err
		})
		var ae *client.Error
		if errors.As(err, &ae) {
			r.mu.Lock()
			k.refused = ae
			r.mu.Unlock()
		}
		if err != nil {
			return fmt.Errorf("refund %d fen of %s under key %s: %w", k.amount, k.paymentID, k.key, err)
		}
	}
	return nil
}

// dsnKind names a database for the report.
func dsnKind(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return "SQLite"
	}
	return "PostgreSQL"
}

// sandboxNotificationFaults counts the notifications the sandbox made and
// the attempts its faults dropped or duplicated.
func sandboxNotificationFaults(t chaosT, sandboxURL string) (dropped, duplicated, total int) {
	resp, err := http.Get(sandboxURL + "/sandbox/v1/notifications")
	if err != nil {
		t.Errorf("listing the sandbox's notifications: %v", err)
		return
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct {
			Attempts []struct {
				Dropped   bool `json:"dropped"`
				Duplicate bool `json:"duplicate"`
			} `json:"attempts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Errorf("listing the sandbox's notifications: %v", err)
		return
	}
	for _, n := range list.Data {
		for _, a := range n.Attempts {
			if a.Dropped {
				dropped++
			}
			if a.Duplicate {
				duplicated++
			}
		}
	}
	return dropped, duplicated, len(list.Data)
}

// endedByKill reports whether err is what Wait returns for a process that
// SIGKILL ended, rather than one that had exited on its own first.
func endedByKill(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
