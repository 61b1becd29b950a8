package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/alipayapi"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/ledger"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

const (
	// burstSize is how many wallet notifications arrive at once: a wallet
	// flushing its queue after an outage, or a sale's first minute.
	burstSize = 200
	// walletTimeout is how long the wallets wait for an answer before they
	// count a notification as failed and retry it later (both wait 5 s).
	walletTimeout = 5 * time.Second
)

// BenchmarkNotificationBurst: 200 genuine signed payment notifications
// (half WeChat Pay, half Alipay, for two merchants) arrive at /notify/ at
// the same instant, each on its own connection with the wallets' 5 s
// timeout, at a whole gateway on the store's default pool. One iteration
// is one burst over 200 fresh payments. Every one must be answered as
// accepted within 5 s and applied once; the figures say how close to the
// limit the burst came and where its time went.
//
// "serial" sends the same kind of notification one at a time, for the
// cost of one notification with nothing waiting beside it.
//
// It runs only with -bench:
//
//	HUTONG_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run - -bench NotificationBurst -benchtime 3x ./internal/payments
func BenchmarkNotificationBurst(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchBursts(b, storetest.SQLite(b)) })
	// The default SQLite pool has no bound: a burst opens a connection per
	// notification, and they all poll for the one write lock. The same
	// burst through four connections shows what a bound is worth.
	b.Run("sqlite-4conns", func(b *testing.B) {
		db := storetest.SQLite(b)
		db.SetMaxOpenConns(4)
		benchBursts(b, db)
	})
	b.Run("postgres", func(b *testing.B) { benchBursts(b, storetest.Postgres(b)) })
	b.Run("verify", benchVerify)
}

// benchVerify is the gateway's own check of one notification, as
// /notify/ runs it before any database work: the signature (RSA-2048
// SHA-256), for WeChat Pay the resource's AES-256-GCM, and the decoding.
func benchVerify(b *testing.B) {
	e := gatewaytest.Start(b, storetest.SQLite(b), gatewaytest.Options{NoWorker: true})
	bb := &burstBench{b: b, e: e}
	for _, ch := range []string{"wechatpay", "alipay"} {
		b.Run(ch, func(b *testing.B) {
			bb.b = b
			req := bb.notifications([]payment.Payment{{ID: "pay_verify", Channel: ch, Amount: 100}})[0]
			body, err := io.ReadAll(req.Body)
			if err != nil {
				b.Fatal(err)
			}
			conn := e.Svc.Accounts[ch].Connector
			for b.Loop() {
				r := req.Clone(context.Background())
				r.Body = io.NopCloser(bytes.NewReader(body))
				if _, err := conn.ParseNotification(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchBursts(b *testing.B, db *store.DB) {
	// No worker: status polls would pay the payments besides the
	// notifications and compete with them for the CPU.
	e := gatewaytest.Start(b, db, gatewaytest.Options{NoWorker: true})
	bb := &burstBench{b: b, e: e, db: db}
	b.Run("burst", func(b *testing.B) {
		bb.b = b
		var all []time.Duration
		var accepted, refused, late, succeeded, bursts, peak int
		var wall time.Duration
		var poolWaits int64
		var problems []string
		b.StopTimer()
		for range b.N {
			ps := bb.payments(burstSize)
			reqs := bb.notifications(ps)
			before := db.Stats()
			stop := watchPool(db, &peak)
			b.StartTimer()
			r := fire(reqs)
			b.StopTimer()
			stop()
			after := db.Stats()
			bursts++
			all = append(all, r.latencies...)
			accepted += r.accepted
			refused += r.refused
			late += r.late
			wall += r.wall
			poolWaits += after.WaitCount - before.WaitCount
			b.Logf("burst %d: %d accepted within %s, %d refused, %d unanswered; p50 %s, p99 %s, max %s; wall %s; pool: limit %d, peak %d open, %d waits, %s waited",
				bursts, r.accepted, walletTimeout, r.refused, r.late, pct(r.latencies, 50), pct(r.latencies, 99), slices.Max(r.latencies), r.wall.Round(time.Millisecond),
				after.MaxOpenConnections, peak, after.WaitCount-before.WaitCount, (after.WaitDuration - before.WaitDuration).Round(time.Millisecond))
			for i, why := range r.errors {
				if i == 8 {
					b.Logf("… %d more", len(r.errors)-8)
					break
				}
				b.Logf("  %s", why)
			}
			ok, bad := bb.check(ps)
			succeeded += ok
			problems = append(problems, bad...)
		}
		n := float64(bursts)
		b.ReportMetric(float64(accepted)/n, "accepted/burst")
		b.ReportMetric(float64(refused)/n, "refused/burst")
		b.ReportMetric(float64(late)/n, "unanswered/burst")
		b.ReportMetric(float64(succeeded)/n, "succeeded/burst")
		b.ReportMetric(ms(pct(all, 50)), "p50-ms")
		b.ReportMetric(ms(pct(all, 99)), "p99-ms")
		b.ReportMetric(ms(slices.Max(all)), "max-ms")
		b.ReportMetric(ms(wall)/n, "wall-ms/burst")
		b.ReportMetric(float64(burstSize)*n/wall.Seconds(), "notifications/s")
		b.ReportMetric(float64(poolWaits)/n, "pool-waits/burst")
		b.ReportMetric(float64(peak), "peak-open-conns")
		b.ReportMetric(0, "ns/op") // an iteration is a burst with its set-up; wall-ms/burst is its time
		for i, p := range problems {
			if i == 10 {
				b.Errorf("… %d more", len(problems)-10)
				break
			}
			b.Error(p)
		}
		if accepted != burstSize*bursts || succeeded != burstSize*bursts {
			// A failed benchmark prints no metrics: say them here.
			b.Fatalf("of %d notifications in %d bursts, %d were not accepted within %s (%d refused, %d unanswered); %d payments are not succeeded; p50 %s, p99 %s, max %s, wall %s a burst",
				burstSize*bursts, bursts, burstSize*bursts-accepted, walletTimeout, refused, late, burstSize*bursts-succeeded,
				pct(all, 50), pct(all, 99), slices.Max(all), (wall / time.Duration(bursts)).Round(time.Millisecond))
		}
	})
	b.Run("serial", func(b *testing.B) {
		bb.b = b
		var all []time.Duration
		b.StopTimer()
		for range b.N {
			ps := bb.payments(burstSize)
			reqs := bb.notifications(ps)
			b.StartTimer()
			for _, req := range reqs {
				r := fire([]*http.Request{req})
				if r.accepted != 1 {
					b.Fatalf("a notification alone was not accepted: %v", r.errors)
				}
				all = append(all, r.latencies...)
			}
			b.StopTimer()
			if ok, bad := bb.check(ps); ok != len(ps) || len(bad) > 0 {
				b.Fatalf("%d of %d payments succeeded: %v", ok, len(ps), bad)
			}
		}
		b.ReportMetric(ms(pct(all, 50)), "p50-ms")
		b.ReportMetric(ms(pct(all, 99)), "p99-ms")
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "notifications/s")
	})
}

type burstBench struct {
	b   *testing.B
	e   *gatewaytest.Env
	db  *store.DB
	seq int
}

// payments creates n pending payments, alternately WeChat Pay Native and
// Alipay precreate, alternately for the two merchants.
func (bb *burstBench) payments(n int) []payment.Payment {
	ctx := context.Background()
	out := make([]payment.Payment, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	first := bb.seq
	bb.seq += n
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				method := "wechatpay.native"
				if i%2 == 1 {
					method = "alipay.precreate"
				}
				p, err := bb.e.Svc.PaymentService().CreatePayment(ctx, bb.e.Merchants[(i/2)%2], payment.Request{MerchantOrderID: fmt.Sprintf("burst-%d", first+i),
					Amount: int64(100 + i), Currency: "CNY", Description: "burst", Method: method, Buyer: payment.Buyer{ID: fmt.Sprintf("b-%d", i)}})
				if err != nil {
					errs <- err
					return
				}
				out[i] = p
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		bb.b.Fatal(err)
	}
	return out
}

// notifications makes each payment's "paid" notification as its wallet
// sends it: WeChat Pay's resource sealed under the APIv3 key and the
// request signed with the platform key; Alipay's form signed with the
// Alipay key. Each has an event id of its own.
func (bb *burstBench) notifications(ps []payment.Payment) []*http.Request {
	ctx := context.Background()
	sb := bb.e.Sandbox
	wc, ac := sb.Credentials(), sb.Sandbox().Credentials().Alipay
	now := time.Now()
	reqs := make([]*http.Request, len(ps))
	for i, p := range ps {
		var req *http.Request
		var err error
		switch p.Channel {
		case "wechatpay":
			plain, _ := json.Marshal(map[string]any{
				"appid": wc.AppID, "mchid": wc.MchID, "out_trade_no": p.ID, "transaction_id": fmt.Sprintf("42000000002026120%011d", bb.seq*1000+i),
				"trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
				"success_time": chinatime.RFC3339(now), "payer": map[string]any{"openid": "o_burst"},
				"amount": map[string]any{"total": p.Amount, "payer_total": p.Amount, "currency": "CNY", "payer_currency": "CNY"},
			})
			sealed, serr := wechatpayv3.Seal(wc.APIv3Key, "transaction", "transaction", plain)
			if serr != nil {
				bb.b.Fatal(serr)
			}
			body, _ := json.Marshal(map[string]any{
				"id": fmt.Sprintf("EV-burst-%s", p.ID), "create_time": chinatime.RFC3339(now), "resource_type": "encrypt-resource",
				"event_type": "TRANSACTION.SUCCESS", "summary": "支付成功", "resource": sealed,
			})
			req, err = sb.Sandbox().WeChatPay().Prepare(ctx, &notify.Notification{
				URL: bb.e.URL + "/notify/wechatpay/main", ContentType: "application/json", Body: string(body)})
		case "alipay":
			at := chinatime.DateTime(now)
			form := url.Values{
				"notify_type": {"trade_status_sync"}, "notify_id": {"burst" + p.ID}, "charset": {"utf-8"}, "version": {"1.0"}, "app_id": {ac.AppID},
				"seller_id": {ac.SellerID}, "out_trade_no": {p.ID}, "trade_no": {fmt.Sprintf("2026120222001%015d", bb.seq*1000+i)},
				"trade_status": {"TRADE_SUCCESS"}, "total_amount": {alipayapi.FormatYuan(p.Amount)}, "gmt_create": {at}, "gmt_payment": {at},
				"buyer_id": {"2088102000000001"},
			}
			req, err = sb.Sandbox().Alipay().Prepare(ctx, &notify.Notification{
				URL: bb.e.URL + "/notify/alipay/main", ContentType: "application/x-www-form-urlencoded; charset=utf-8", Body: form.Encode()})
		default:
			bb.b.Fatalf("payment %s on %q", p.ID, p.Channel)
		}
		if err != nil {
			bb.b.Fatal(err)
		}
		reqs[i] = req
	}
	return reqs
}

// check counts the burst's payments that are succeeded, and lists every
// payment applied more than once (or paid without its one wallet event,
// payment.succeeded event and "paid" ledger entry).
func (bb *burstBench) check(ps []payment.Payment) (succeeded int, problems []string) {
	ctx := context.Background()
	for _, p := range ps {
		got, err := bb.e.Svc.PaymentService().GetPayment(ctx, p.MerchantID, p.ID)
		if err != nil {
			bb.b.Fatal(err)
		}
		var walletEvents, events, entries int
		if err := bb.db.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM wallet_events WHERE object_id = $1),
			(SELECT COUNT(*) FROM events WHERE object_id = $1 AND type = $2),
			(SELECT COUNT(*) FROM ledger_entries WHERE payment_id = $1 AND kind = $3)`, p.ID, payment.EventSucceeded, ledger.KindPaid).
			Scan(&walletEvents, &events, &entries); err != nil {
			bb.b.Fatal(err)
		}
		want := 0
		if got.Status == payment.StatusSucceeded {
			succeeded++
			want = 1
		}
		if walletEvents != want || events != want || entries != want {
			problems = append(problems, fmt.Sprintf("payment %s is %s with %d wallet events, %d payment.succeeded events, %d paid entries; want %d each",
				p.ID, got.Status, walletEvents, events, entries, want))
		}
	}
	return succeeded, problems
}

// watchPool records in peak the most connections db held open until stop
// is called.
func watchPool(db *store.DB, peak *int) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			*peak = max(*peak, db.Stats().OpenConnections)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// burstResult is what the wallets saw of one burst.
type burstResult struct {
	accepted, refused, late int
	latencies               []time.Duration // of every one, answered or not
	wall                    time.Duration
	errors                  []string
}

// fire sends every request at once, each from its own goroutine on its
// own connection with the wallets' timeout, released together.
func fire(reqs []*http.Request) burstResult {
	client := &http.Client{Timeout: walletTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	var (
		mu    sync.Mutex
		res   burstResult
		ready sync.WaitGroup
		done  sync.WaitGroup
	)
	start := make(chan struct{})
	for _, req := range reqs {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-start
			t0 := time.Now()
			status, body, err := send(client, req)
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.late++
				res.errors = append(res.errors, fmt.Sprintf("%s after %s: %v", req.URL.Path, took.Round(time.Millisecond), err))
			case took <= walletTimeout && acknowledged(req, status, body):
				res.accepted++
			default:
				res.refused++
				res.errors = append(res.errors, fmt.Sprintf("%s after %s: %d %q", req.URL.Path, took.Round(time.Millisecond), status, body))
			}
			res.latencies = append(res.latencies, took)
		})
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	res.wall = time.Since(t0)
	// The refused first: an answer says more than a timeout.
	slices.SortStableFunc(res.errors, func(a, b string) int {
		return strings.Compare(fmt.Sprint(strings.Contains(a, "Client.Timeout")), fmt.Sprint(strings.Contains(b, "Client.Timeout")))
	})
	return res
}

func send(client *http.Client, req *http.Request) (int, string, error) {
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", err
	}
	return res.StatusCode, strings.TrimSpace(string(body)), nil
}

// acknowledged is the wallet's own test of an answer: WeChat Pay takes
// 200 or 204, Alipay only the text "success".
func acknowledged(req *http.Request, status int, body string) bool {
	if strings.Contains(req.URL.Path, "/alipay/") {
		return status == http.StatusOK && body == "success"
	}
	return status == http.StatusOK || status == http.StatusNoContent
}

// pct is the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
