package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// funnelSeed writes the rows the funnel reports read, as the gateway
// writes them: payments, their wallet orders, the exposures the cashier
// records when it opens, and the wallets' notifications.
type funnelSeed struct {
	t  testing.TB
	db *store.DB
}

func (s funnelSeed) payment(p payment.Payment) {
	s.t.Helper()
	if p.Currency == "" {
		p.Currency, p.MerchantOrderID = "CNY", p.ID
	}
	if p.Amount == 0 {
		p.Amount = 1000
	}
	if p.Method == "" {
		p.Method = "cashier"
	}
	if err := s.db.Pool().PaymentInsert(context.Background(), p); err != nil {
		s.t.Fatalf("payment %s: %v", p.ID, err)
	}
}

func (s funnelSeed) attempt(a payment.Attempt) {
	s.t.Helper()
	if a.Channel == "" {
		a.Channel, _, _ = strings.Cut(a.Method, ".")
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	if err := s.db.Pool().AttemptInsert(context.Background(), a); err != nil {
		s.t.Fatalf("attempt %s: %v", a.ID, err)
	}
}

// opened records the cashier of payment id opened at at in browser.
func (s funnelSeed) opened(id, merchantID, browser string, at time.Time) {
	s.t.Helper()
	x := store.Exposure{At: at, PaymentID: id, Checkout: rollout.Checkout{BuyerID: "b-" + id, MerchantID: merchantID, Browser: browser},
		Decision: rollout.Decision{Method: "wechatpay.native", Shown: true, Version: 1, Cohort: rollout.CohortPercent}}
	y := x
	y.Decision.Method = "alipay.precreate"
	if err := s.db.Pool().ExposureInsert(context.Background(), []store.Exposure{x, y}); err != nil {
		s.t.Fatal(err)
	}
}

// notified records a wallet's notification about wallet order id.
func (s funnelSeed) notified(channel, eventID, id string, at time.Time) {
	s.t.Helper()
	if _, err := s.db.Pool().WalletEventFirst(context.Background(), store.WalletEventParams{Channel: channel, EventID: eventID, ObjectID: id, ReceivedAt: at}); err != nil {
		s.t.Fatal(err)
	}
}

// TestFunnelReports: the cashier funnel, the outcomes of wallet orders
// and the notification delays of a small hand-made history, read from the
// source rows and from the rollup, against values counted by hand.
func TestFunnelReports(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedMerchants(t, db, wk1, "m1", "m2")
		s := funnelSeed{t, db}
		d := wk2 // a Beijing Monday
		exp := d.Add(24 * time.Hour)
		county, first := "130627", "110105"
		paid := func(id, m, region, ch string, at time.Time) payment.Payment {
			return payment.Payment{ID: id, MerchantID: m, Buyer: payment.Buyer{RegionCode: region}, Status: payment.StatusSucceeded, Channel: ch,
				PaidAt: at, CreatedAt: at.Add(-time.Minute), UpdatedAt: at, ExpiresAt: exp}
		}
		open := func(id, m string, at time.Time) payment.Payment {
			return payment.Payment{ID: id, MerchantID: m, Buyer: payment.Buyer{RegionCode: county}, Status: payment.StatusRequiresAction,
				CreatedAt: at, UpdatedAt: at, ExpiresAt: exp}
		}
		att := func(id, pay, method, status string, at time.Time) payment.Attempt {
			return payment.Attempt{ID: id, PaymentID: pay, Method: method, Status: status, CreatedAt: at}
		}
		h := func(n int) time.Time { return d.Add(time.Duration(n) * time.Hour) }

		// c1: opened in WeChat, paid there; notified 1.5 s after.
		s.payment(paid("c1", "m1", county, "wechatpay", h(1).Add(10*time.Second)))
		s.opened("c1", "m1", "wechatpay", h(1))
		s.attempt(att("a1", "c1", "wechatpay.jsapi", payment.AttemptSucceeded, h(1)))
		s.notified("wechatpay", "e1", "a1", h(1).Add(11500*time.Millisecond))
		// c2: opened in Alipay (a first-tier buyer), Alipay's order closed
		// at the wallet, then paid by WeChat Pay's code; no notification.
		s.payment(paid("c2", "m1", first, "wechatpay", h(2).Add(time.Minute)))
		s.opened("c2", "m1", "alipay", h(2))
		s.attempt(att("a2", "c2", "alipay.wap", payment.AttemptClosed, h(2)))
		s.attempt(att("a3", "c2", "wechatpay.native", payment.AttemptSucceeded, h(2).Add(time.Second)))
		// c3: opened in another browser, nothing chosen.
		s.payment(open("c3", "m1", h(3)))
		s.opened("c3", "m1", "other", h(3))
		// c4: opened in another browser, Alipay's code shown, expired.
		c4 := open("c4", "m2", h(4))
		c4.Status, c4.UpdatedAt = payment.StatusCanceled, exp.Add(time.Second)
		s.payment(c4)
		s.opened("c4", "m2", "other", h(4))
		s.attempt(att("a4", "c4", "alipay.precreate", payment.AttemptPending, h(4)))
		// c5: opened in WeChat and later in Alipay (the first opening's
		// browser counts); Alipay's wap order lost to its code, paid and
		// notified 200 ms after; WeChat Pay's code paid too (a duplicate).
		s.payment(paid("c5", "m2", county, "alipay", h(5).Add(time.Minute)))
		s.opened("c5", "m2", "wechatpay", h(5))
		s.opened("c5", "m2", "alipay", h(6))
		s.attempt(att("a5", "c5", "alipay.wap", payment.AttemptPending, h(5)))
		s.attempt(att("a6", "c5", "alipay.precreate", payment.AttemptSucceeded, h(5)))
		s.attempt(att("a7", "c5", "wechatpay.native", payment.AttemptDuplicate, h(5)))
		s.notified("alipay", "e5", "a6", h(5).Add(time.Minute+200*time.Millisecond))
		s.notified("alipay", "e5b", "a6", h(5).Add(time.Hour)) // a later one does not count
		// c6: a wallet method's payment (its own order), never on the
		// cashier; notified 30 s after.
		c6 := paid("c6", "m1", county, "wechatpay", h(7))
		c6.Method = "wechatpay.native"
		s.payment(c6)
		s.attempt(att("c6", "c6", "wechatpay.native", payment.AttemptSucceeded, h(7).Add(-time.Minute)))
		s.notified("wechatpay", "e6", "c6", h(7).Add(30*time.Second))
		// c7: canceled by the merchant before its expiry.
		c7 := open("c7", "m1", h(8))
		c7.Status, c7.UpdatedAt = payment.StatusCanceled, h(9)
		s.payment(c7)
		s.attempt(att("a8", "c7", "wechatpay.native", payment.AttemptClosed, h(8)))
		// c9: still payable: Alipay closed its order, WeChat Pay's open.
		s.payment(open("c9", "m2", h(10)))
		s.attempt(att("a9", "c9", "alipay.wap", payment.AttemptClosed, h(10)))
		s.attempt(att("a10", "c9", "wechatpay.native", payment.AttemptPending, h(10)))
		// c8: opened after the span.
		s.payment(open("c8", "m1", d.AddDate(0, 0, 8)))
		s.opened("c8", "m1", "wechatpay", d.AddDate(0, 0, 8))
		s.attempt(att("a11", "c8", "wechatpay.native", payment.AttemptPending, d.AddDate(0, 0, 8)))

		span := store.AnalyticsParams{From: d, To: d.AddDate(0, 0, 7)}
		bothReads(t, db, func(t *testing.T) {
			for _, c := range []struct {
				name string
				p    store.AnalyticsParams
				want []store.FunnelRow
			}{
				{"all", span, []store.FunnelRow{
					{"alipay", "", 1, 1, 1}, {"alipay", "alipay", 0, 1, 0}, {"alipay", "wechatpay", 0, 1, 1},
					{"other", "", 2, 1, 0}, {"other", "alipay", 0, 1, 0},
					{"wechatpay", "", 2, 2, 2}, {"wechatpay", "alipay", 0, 1, 1}, {"wechatpay", "wechatpay", 0, 2, 1},
				}},
				{"m2", store.AnalyticsParams{From: span.From, To: span.To, MerchantID: "m2"}, []store.FunnelRow{
					{"other", "", 1, 1, 0}, {"other", "alipay", 0, 1, 0},
					{"wechatpay", "", 1, 1, 1}, {"wechatpay", "alipay", 0, 1, 1}, {"wechatpay", "wechatpay", 0, 1, 0},
				}},
				{"county", store.AnalyticsParams{From: span.From, To: span.To, Tier: rollout.TierCounty}, []store.FunnelRow{
					{"other", "", 2, 1, 0}, {"other", "alipay", 0, 1, 0},
					{"wechatpay", "", 2, 2, 2}, {"wechatpay", "alipay", 0, 1, 1}, {"wechatpay", "wechatpay", 0, 2, 1},
				}},
				{"later", store.AnalyticsParams{From: span.To, To: span.To.AddDate(0, 0, 7)}, []store.FunnelRow{
					{"wechatpay", "", 1, 1, 0}, {"wechatpay", "wechatpay", 0, 1, 0},
				}},
			} {
				got, err := db.Pool().CashierFunnel(ctx, c.p)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("CashierFunnel, %s =\n%v\nwant\n%v", c.name, got, c.want)
				}
			}

			got, err := db.Pool().MethodOutcomes(ctx, span)
			if err != nil {
				t.Fatal(err)
			}
			want := []store.OutcomeRow{
				{"alipay.precreate", store.OutcomeExpired, 1}, {"alipay.precreate", store.OutcomePaid, 1},
				{"alipay.wap", store.OutcomeClosed, 1}, {"alipay.wap", store.OutcomeOtherPaid, 2},
				{"wechatpay.jsapi", store.OutcomePaid, 1},
				{"wechatpay.native", store.OutcomeCanceled, 1}, {"wechatpay.native", store.OutcomeDuplicate, 1},
				{"wechatpay.native", store.OutcomeOpen, 1}, {"wechatpay.native", store.OutcomePaid, 2},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("MethodOutcomes =\n%v\nwant\n%v", got, want)
			}
			first := span
			first.Tier = rollout.TierFirst
			if got, err := db.Pool().MethodOutcomes(ctx, first); err != nil || !reflect.DeepEqual(got, []store.OutcomeRow{
				{"alipay.wap", store.OutcomeOtherPaid, 1}, {"wechatpay.native", store.OutcomePaid, 1}}) {
				t.Errorf("MethodOutcomes of the first tier = %v, %v", got, err)
			}

			delays, err := db.Pool().NotifyDelay(ctx, span)
			if err != nil {
				t.Fatal(err)
			}
			// 200 ms is in [2^7.5, 2^8) ms, bucket 16; 1.5 s in
			// [2^10.5, 2^11) ms, 22; 30 s in [2^14.5, 2^15) ms, 30.
			wantDelays := []store.DelayRow{{d, "alipay", 16, 1}, {d, "wechatpay", -1, 1}, {d, "wechatpay", 22, 1}, {d, "wechatpay", 30, 1}}
			if !reflect.DeepEqual(delays, wantDelays) {
				t.Errorf("NotifyDelay =\n%v\nwant\n%v", delays, wantDelays)
			}
			m1 := span
			m1.MerchantID = "m1"
			if got, err := db.Pool().NotifyDelay(ctx, m1); err != nil || len(got) != 3 || got[0].Channel != "wechatpay" {
				t.Errorf("NotifyDelay of m1 = %v, %v", got, err)
			}
		})
	})
}

// TestShareCodeAndPayForMeFunnels: share codes by source, issued →
// resolved → paid, and pay-for-me requests asked → paid, by the day they
// were issued or asked, read from the sources and from the rollup.
func TestShareCodeAndPayForMeFunnels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedMerchants(t, db, wk1, "m1", "m2")
		s := funnelSeed{t, db}
		d := wk2
		for _, c := range []struct {
			id, merchant, source    string
			at                      time.Time
			resolves, paid, paidFen int64
		}{
			{"sc1", "m1", "wechat", d, 3, 1, 5000},
			{"sc2", "m1", "wechat", d.Add(time.Hour), 1, 0, 0},
			{"sc3", "m1", "wechat", d.Add(2 * time.Hour), 0, 0, 0},
			{"sc4", "m2", "alipay", d.Add(3 * time.Hour), 2, 2, 8000},
			{"sc5", "m1", "weibo", d.Add(-time.Minute), 9, 9, 9000}, // the day before
		} {
			if _, err := db.ExecContext(ctx, `INSERT INTO share_codes (id, token, merchant_id, target, target_id, source, resolves, paid_orders, paid_amount, created_at)
				VALUES ($1, $1, $2, 'payment', 'x', $3, $4, $5, $6, $7)`, c.id, c.merchant, c.source, c.resolves, c.paid, c.paidFen, store.Micros(c.at)); err != nil {
				t.Fatal(err)
			}
		}
		for i, r := range []struct {
			merchant, region, status string
			at                       time.Time
		}{
			{"m1", "130627", "paid", d}, {"m1", "130627", "open", d.Add(time.Hour)}, {"m1", "110105", "paid", d.Add(2 * time.Hour)},
			{"m2", "130627", "expired", d.Add(3 * time.Hour)}, {"m1", "130627", "paid", d.AddDate(0, 0, 7)},
		} {
			id := fmt.Sprintf("pfm%d", i)
			s.payment(payment.Payment{ID: "p" + id, MerchantID: r.merchant, Buyer: payment.Buyer{RegionCode: r.region}, Status: payment.StatusRequiresAction, CreatedAt: r.at, UpdatedAt: r.at})
			if _, err := db.ExecContext(ctx, `INSERT INTO pay_for_me (id, payment_id, merchant_id, status, expires_at, created_at, data) VALUES ($1, $2, $3, $4, 0, $5, '{}')`,
				id, "p"+id, r.merchant, r.status, store.Micros(r.at)); err != nil {
				t.Fatal(err)
			}
		}
		span := store.AnalyticsParams{From: d, To: d.AddDate(0, 0, 7)}
		bothReads(t, db, func(t *testing.T) {
			got, err := db.Pool().ShareCodeFunnel(ctx, span)
			if err != nil {
				t.Fatal(err)
			}
			want := []store.ShareCodeRow{{"alipay", 1, 1, 2, 1, 2, 8000}, {"wechat", 3, 2, 4, 1, 1, 5000}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ShareCodeFunnel = %v; want %v", got, want)
			}
			m1 := span
			m1.MerchantID = "m1"
			if got, err := db.Pool().ShareCodeFunnel(ctx, m1); err != nil || !reflect.DeepEqual(got, want[1:]) {
				t.Errorf("ShareCodeFunnel of m1 = %v, %v", got, err)
			}
			pfm, err := db.Pool().PayForMeFunnel(ctx, span)
			if err != nil || pfm != (store.PayForMeRow{Asked: 4, Paid: 2}) {
				t.Errorf("PayForMeFunnel = %+v, %v; want 4 asked, 2 paid", pfm, err)
			}
			county := span
			county.Tier = rollout.TierCounty
			if pfm, err := db.Pool().PayForMeFunnel(ctx, county); err != nil || pfm != (store.PayForMeRow{Asked: 3, Paid: 1}) {
				t.Errorf("PayForMeFunnel of the county = %+v, %v", pfm, err)
			}
			none := store.AnalyticsParams{From: d.AddDate(0, 1, 0), To: d.AddDate(0, 2, 0)}
			if pfm, err := db.Pool().PayForMeFunnel(ctx, none); err != nil || pfm != (store.PayForMeRow{}) {
				t.Errorf("PayForMeFunnel of an empty span = %+v, %v", pfm, err)
			}
		})
	})
}

// TestDelayPercentile: a percentile is the bucket of its rank, read as
// the bucket's geometric middle, within 19% of any delay in it.
func TestDelayPercentile(t *testing.T) {
	var hist [store.DelayBuckets]int64
	if _, ok := store.DelayPercentile(hist, 0.5); ok {
		t.Error("a percentile of nothing")
	}
	hist[16], hist[22], hist[30] = 98, 1, 1
	for _, c := range []struct {
		q    float64
		want int
	}{{0.5, 16}, {0.98, 16}, {0.99, 22}, {1, 30}, {0.001, 16}} {
		if got, _ := store.DelayPercentile(hist, c.q); got != store.DelayOf(c.want) {
			t.Errorf("p%v = %v; want %v", c.q*100, got, store.DelayOf(c.want))
		}
	}
	// Bucket 16 holds [2^7.5, 2^8) ms: 181 ms to 256 ms.
	if got := store.DelayOf(16); got < 181*time.Millisecond || got > 256*time.Millisecond {
		t.Errorf("DelayOf(16) = %v", got)
	}
	for k := 1; k < store.DelayBuckets-1; k++ {
		lo := time.Duration(1000*math.Pow(2, float64(k-1)/2)) * time.Microsecond
		hi := time.Duration(1000*math.Pow(2, float64(k)/2)) * time.Microsecond
		if m := store.DelayOf(k); float64(m) > 1.19*float64(lo) || float64(m) < 0.84*float64(hi) {
			t.Errorf("DelayOf(%d) = %v, not within 19%% of [%v, %v)", k, m, lo, hi)
		}
	}
}

// funnelWorld makes random checkouts for the rollup's oracle test.
type funnelWorld struct {
	funnelSeed
	rng *rand.Rand
	n   int
}

var (
	funnelMethods  = []string{"wechatpay.native", "wechatpay.jsapi", "alipay.precreate", "alipay.wap"}
	funnelBrowsers = []string{"wechatpay", "alipay", "other", ""}
	funnelStatuses = []string{payment.AttemptPending, payment.AttemptSucceeded, payment.AttemptClosed, payment.AttemptDuplicate}
)

// checkouts stores n random checkouts created in [from, from+span),
// stamped at stamp: some opened (once or more, in random browsers), with
// up to three wallet orders, paid, canceled before or after their expiry,
// or still payable, some paid orders notified once or twice.
func (w *funnelWorld) checkouts(n int, from time.Time, span time.Duration, stamp time.Time) {
	for range n {
		w.n++
		id := fmt.Sprintf("c%d", w.n)
		m := rollupMerchants[w.rng.IntN(len(rollupMerchants))].id
		created := from.Add(time.Duration(w.rng.Int64N(int64(span))))
		p := payment.Payment{ID: id, MerchantID: m, Buyer: payment.Buyer{RegionCode: rollupRegions[w.rng.IntN(len(rollupRegions))]},
			Status: payment.StatusRequiresAction, CreatedAt: created, UpdatedAt: stamp, ExpiresAt: created.Add(2 * time.Hour)}
		var attempts []payment.Attempt
		for k := range w.rng.IntN(4) {
			method := funnelMethods[w.rng.IntN(len(funnelMethods))]
			aid := fmt.Sprintf("%s-a%d", id, k)
			if k == 0 && w.rng.IntN(4) == 0 {
				aid, p.Method = id, method // a wallet method's own order
			}
			attempts = append(attempts, payment.Attempt{ID: aid, PaymentID: id, Method: method, Status: funnelStatuses[w.rng.IntN(len(funnelStatuses))],
				CreatedAt: created.Add(time.Duration(k) * time.Minute), UpdatedAt: stamp})
		}
		switch w.rng.IntN(4) {
		case 0, 1:
			if len(attempts) > 0 {
				p.Status = payment.StatusSucceeded
				p.PaidAt = created.Add(time.Duration(w.rng.Int64N(int64(3 * time.Hour))))
				p.Channel, _, _ = strings.Cut(attempts[0].Method, ".")
				attempts[0].Status = payment.AttemptSucceeded
			}
		case 2:
			p.Status = payment.StatusCanceled
			if w.rng.IntN(2) == 0 {
				p.UpdatedAt = p.ExpiresAt.Add(time.Second) // an old stamp: as written then
			}
		}
		w.payment(p)
		for _, a := range attempts {
			w.attempt(a)
			if a.Status == payment.AttemptSucceeded && !p.PaidAt.IsZero() && w.rng.IntN(4) != 0 {
				// Delays from under a millisecond to over an hour.
				w.notified(a.Channel, "e-"+a.ID, a.ID, p.PaidAt.Add(time.Duration(w.rng.Int64N(int64(time.Hour)))>>w.rng.IntN(30)))
			}
		}
		if w.rng.IntN(3) == 0 {
			if _, err := w.db.ExecContext(context.Background(), `INSERT INTO share_codes (id, token, merchant_id, target, target_id, source, resolves, paid_orders, paid_amount, created_at, resolved_at)
				VALUES ($1, $1, $2, 'payment', $3, $4, $5, $6, $7, $8, $9)`, "sc-"+id, m, id, []string{"wechat", "alipay", "weibo"}[w.rng.IntN(3)],
				w.rng.IntN(3), w.rng.IntN(2), w.rng.IntN(5000), store.Micros(created), store.Micros(stamp)); err != nil {
				w.t.Fatal(err)
			}
		}
		if w.rng.IntN(3) == 0 {
			if _, err := w.db.ExecContext(context.Background(), `INSERT INTO pay_for_me (id, payment_id, merchant_id, status, expires_at, created_at, data) VALUES ($1, $2, $3, $4, 0, $5, '{}')`,
				"pfm-"+id, id, m, []string{"open", "paid", "expired", "revoked"}[w.rng.IntN(4)], store.Micros(created.Add(time.Minute))); err != nil {
				w.t.Fatal(err)
			}
		}
		for k := range w.rng.IntN(3) {
			w.opened(id, m, funnelBrowsers[w.rng.IntN(len(funnelBrowsers))], created.Add(time.Duration(k)*time.Hour+time.Duration(w.rng.IntN(1000))*time.Second))
		}
	}
}

// funnelReports are the funnel reports of one span and filter.
type funnelReports struct {
	Funnel   []store.FunnelRow
	Outcomes []store.OutcomeRow
	Delays   []store.DelayRow
	Shares   []store.ShareCodeRow
	PayForMe store.PayForMeRow
}

func readFunnelReports(t *testing.T, db *store.DB, p store.AnalyticsParams) funnelReports {
	t.Helper()
	ctx := context.Background()
	var r funnelReports
	var err error
	if r.Funnel, err = db.Pool().CashierFunnel(ctx, p); err != nil {
		t.Fatal(err)
	}
	if r.Outcomes, err = db.Pool().MethodOutcomes(ctx, p); err != nil {
		t.Fatal(err)
	}
	if r.Delays, err = db.Pool().NotifyDelay(ctx, p); err != nil {
		t.Fatal(err)
	}
	if r.Shares, err = db.Pool().ShareCodeFunnel(ctx, p); err != nil {
		t.Fatal(err)
	}
	if r.PayForMe, err = db.Pool().PayForMeFunnel(ctx, p); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFunnelRollupMatchesSources: on random history, every funnel report
// read from the rollup equals the same report read from the source rows,
// for several spans and filters; after new checkouts, wallet orders paid
// or closed, payments paid or canceled, new openings of old checkouts and
// late notifications, the rollup reads as before until a refresh, and
// after an incremental one it agrees with the sources again.
func TestFunnelRollupMatchesSources(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, m := range rollupMerchants {
			if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: m.id, Name: m.id, Category: m.category, RegionCode: m.region}, CreatedAt: wk1}); err != nil {
				t.Fatal(err)
			}
		}
		w := &funnelWorld{funnelSeed: funnelSeed{t, db}, rng: rand.New(rand.NewPCG(3, 4))}
		clock := wk1.AddDate(0, 0, 60)
		w.checkouts(300, wk1, 56*24*time.Hour, clock)

		check := func(stage string) map[int]funnelReports {
			t.Helper()
			rolled := map[int]funnelReports{}
			for i, p := range rollupSpans() {
				got := readFunnelReports(t, db, p)
				p.Live = true
				if want := readFunnelReports(t, db, p); !reflect.DeepEqual(got, want) {
					t.Errorf("%s, span %d %+v: the rollup reads\n%+v\nthe sources\n%+v", stage, i, p, got, want)
				}
				rolled[i] = got
			}
			return rolled
		}
		refreshAnalytics(t, db, clock.Add(2*time.Minute))
		before := check("after the first refresh")
		if r := before[0]; len(r.Funnel) == 0 || len(r.Outcomes) == 0 || len(r.Delays) == 0 || len(r.Shares) == 0 || r.PayForMe.Paid == 0 {
			t.Fatalf("the random history reads empty: %+v", r)
		}

		// Changes stamped after the refresh, to rows of every day.
		clock = clock.Add(2*time.Minute + 30*time.Second)
		stamp := store.Micros(clock)
		w.checkouts(40, wk1.AddDate(0, 0, 42), 14*24*time.Hour, clock)
		for _, q := range []struct {
			sql  string
			args []any
		}{
			// Payments paid, canceled; wallet orders closed and paid.
			{`UPDATE payments SET status = 'succeeded', paid_at = created_at + 60000000, channel = 'alipay', updated_at = $1 WHERE status = 'requires_action' AND id IN ('c3', 'c5', 'c8', 'c13', 'c21', 'c34')`, []any{stamp}},
			{`UPDATE payments SET status = 'canceled', updated_at = $1 WHERE status = 'requires_action' AND id IN ('c2', 'c4', 'c9', 'c16', 'c25')`, []any{stamp}},
			{`UPDATE payment_attempts SET status = 'closed', updated_at = $1 WHERE status = 'pending' AND payment_id IN ('c6', 'c7', 'c11', 'c12', 'c40')`, []any{stamp}},
			{`UPDATE payment_attempts SET status = 'succeeded', updated_at = $1 WHERE id IN ('c3-a0', 'c5-a0', 'c8-a0', 'c13-a0')`, []any{stamp}},
		} {
			if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
				t.Fatal(err)
			}
		}
		// Old checkouts opened again, an old paid order notified late, a
		// new order on an old checkout.
		for i := 1; i < 300; i += 37 {
			w.opened(fmt.Sprintf("c%d", i), "m1", "alipay", clock.Add(-10*time.Second))
		}
		var attempt, ch string
		if err := db.QueryRowContext(ctx, `SELECT a.id, a.channel FROM payment_attempts a JOIN payments p ON p.id = a.payment_id
			WHERE a.status = 'succeeded' AND p.status = 'succeeded' ORDER BY a.created_at LIMIT 1`).Scan(&attempt, &ch); err != nil {
			t.Fatal(err)
		}
		w.notified(ch, "late", attempt, clock)
		// Old share codes resolved and credited with a payment; old
		// pay-for-me requests paid with theirs.
		for _, q := range []string{
			`UPDATE share_codes SET resolves = resolves + 1, resolved_at = $1 WHERE id IN ('sc-c1', 'sc-c2', 'sc-c3', 'sc-c6', 'sc-c7', 'sc-c9', 'sc-c12')`,
			`UPDATE share_codes SET paid_orders = paid_orders + 1, paid_amount = paid_amount + 100 WHERE id IN ('sc-c4', 'sc-c10', 'sc-c11', 'sc-c15')`,
			`UPDATE payments SET share_code = 'sc-' || id, updated_at = $1 WHERE id IN ('c4', 'c10', 'c11', 'c15')`,
			`UPDATE pay_for_me SET status = 'paid' WHERE status = 'open' AND id IN ('pfm-c14', 'pfm-c17', 'pfm-c18', 'pfm-c19', 'pfm-c20', 'pfm-c22')`,
			`UPDATE payments SET updated_at = $1 WHERE id IN ('c14', 'c17', 'c18', 'c19', 'c20', 'c22')`,
		} {
			if _, err := db.ExecContext(ctx, strings.ReplaceAll(q, "$1", strconv.FormatInt(stamp, 10))); err != nil {
				t.Fatal(err)
			}
		}
		// New wallet orders on old checkouts, their payments untouched:
		// the funnel of the day each was opened changes.
		for i := 2; i < 300; i += 7 {
			w.attempt(payment.Attempt{ID: fmt.Sprintf("c%d-new", i), PaymentID: fmt.Sprintf("c%d", i), Method: "wechatpay.jsapi", Status: payment.AttemptSucceeded, CreatedAt: clock, UpdatedAt: clock})
		}
		w.attempt(payment.Attempt{ID: "c10-late", PaymentID: "c10", Method: "alipay.wap", Status: payment.AttemptPending, CreatedAt: clock, UpdatedAt: clock})

		for i, p := range rollupSpans() {
			if !wholeDays(p) {
				continue // read from the sources
			}
			if got := readFunnelReports(t, db, p); !reflect.DeepEqual(got, before[i]) {
				t.Fatalf("span %d: the rollup changed without a refresh; the reports are not reading it", i)
			}
		}
		refreshAnalytics(t, db, clock.Add(90*time.Second))
		check("after an incremental refresh")
		refreshAnalytics(t, db, clock.Add(time.Hour))
		check("after an idle refresh")
	})
}

// BenchmarkFunnels times the funnel rollup and each funnel report over a
// year of a marketplace: storetest.SeedMarketplace's payments
// (1,000,000 on SQLite; HUTONG_BENCH_ANALYTICS_ROWS changes it, and
// HUTONG_TEST_POSTGRES adds PostgreSQL), each with its wallet order and,
// where paid, a notification; a fifth of them checkouts on the cashier,
// opened in one of three browsers, with a chosen order of their own;
// a share code for every tenth, a pay-for-me request for every
// twentieth.
// Each report is timed from the rollup and from the sources (Live).
//
//	go test -run - -bench Funnels -benchtime 1x ./internal/store
func BenchmarkFunnels(b *testing.B) {
	rows := storetest.MarketplaceRows(b)
	b.Run("sqlite", func(b *testing.B) { benchFunnels(b, storetest.SQLite(b), rows) })
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv(storetest.EnvPostgres) == "" {
			b.Skip("HUTONG_TEST_POSTGRES is not set")
		}
		benchFunnels(b, storetest.Postgres(b), rows)
	})
}

// seedFunnels adds to SeedMarketplace's payments what the funnel reports
// read: every payment's own wallet order (succeeded where the payment
// is, else closed); for every fifth, the cashier's openings (two
// exposures, in a browser by turns) and a chosen order; and a
// notification for every paid order, from a millisecond to minutes late;
// share codes and pay-for-me requests.
func seedFunnels(b *testing.B, db *store.DB) {
	ctx := context.Background()
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO payment_attempts (id, payment_id, status, created_at, data, channel, method, updated_at)
			SELECT id, id, CASE status WHEN 'succeeded' THEN 'succeeded' ELSE 'closed' END, created_at, '{}', channel, method, updated_at FROM payments`,
		`INSERT INTO payment_attempts (id, payment_id, status, created_at, data, channel, method, updated_at)
			SELECT 'pa_' || id, id, CASE WHEN created_at % 7 = 0 THEN 'pending' ELSE 'closed' END, created_at + 1, '{}',
				CASE channel WHEN 'wechatpay' THEN 'alipay' ELSE 'wechatpay' END, CASE channel WHEN 'wechatpay' THEN 'alipay.wap' ELSE 'wechatpay.jsapi' END, updated_at
			FROM payments WHERE created_at % 5 = 0`,
		`INSERT INTO exposures (at, buyer_id, merchant_id, method, shown, rule_version, cohort, tier, region_code, payment_id, browser)
			SELECT created_at - m.k * 1000000, buyer_id, merchant_id, m.method, 1, 1, 'percent', '', region_code, id,
				CASE created_at % 3 WHEN 0 THEN 'wechatpay' WHEN 1 THEN 'alipay' ELSE 'other' END
			FROM payments, (SELECT 0 AS k, 'wechatpay.native' AS method UNION ALL SELECT 1, 'alipay.precreate') m WHERE created_at % 5 = 0`,
		`INSERT INTO share_codes (id, token, merchant_id, target, target_id, source, resolves, paid_orders, paid_amount, created_at)
			SELECT 'sc_' || id, 'T' || id, merchant_id, 'payment', id, CASE amount % 4 WHEN 0 THEN 'wechat_group' WHEN 1 THEN 'moments' WHEN 2 THEN 'weibo' ELSE 'sms' END,
				created_at % 5, CASE WHEN created_at % 3 = 0 THEN 1 ELSE 0 END, CASE WHEN created_at % 3 = 0 THEN amount ELSE 0 END, created_at
			FROM payments WHERE created_at % 10 = 0`,
		`INSERT INTO pay_for_me (id, payment_id, merchant_id, status, expires_at, created_at, data)
			SELECT 'pfm_' || id, id, merchant_id, CASE status WHEN 'succeeded' THEN 'paid' ELSE 'expired' END, 0, created_at, '{}'
			FROM payments WHERE created_at % 20 = 0`,
		`INSERT INTO wallet_events (channel, event_id, object_id, received_at)
			SELECT channel, 'ev_' || id, id, paid_at + 1000 + (created_at % 997) * (created_at % 997) * 300 FROM payments WHERE status = 'succeeded'`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatalf("seeding the funnels: %v", err)
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded the funnels' rows in %s", time.Since(start).Round(time.Millisecond))
}

func benchFunnels(b *testing.B, db *store.DB, rows int64) {
	storetest.SeedMarketplace(b, db, rows)
	seedFunnels(b, db)
	ctx := context.Background()
	year0 := storetest.MarketplaceYear
	now := year0.AddDate(1, 0, 1)
	b.Run("Refresh/full", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.ExecContext(ctx, `UPDATE analytics_state SET tiers = ''`); err != nil {
				b.Fatal(err)
			}
			if got := refreshAnalytics(b, db, now); !got.Full {
				b.Fatalf("refresh = %+v; want a full one", got)
			}
		}
	})
	year := store.AnalyticsParams{From: year0, To: year0.AddDate(1, 0, 0)}
	quarter := store.AnalyticsParams{From: year0.AddDate(0, 9, 0), To: year0.AddDate(1, 0, 0)}
	for _, read := range []string{"rollup", "sources"} {
		for _, span := range []struct {
			name string
			p    store.AnalyticsParams
		}{{"year", year}, {"quarter", quarter}} {
			p := span.p
			p.Live = read == "sources"
			for _, q := range []struct {
				name string
				run  func() (int, error)
			}{
				{"CashierFunnel", func() (int, error) { r, err := db.Pool().CashierFunnel(ctx, p); return len(r), err }},
				{"MethodOutcomes", func() (int, error) { r, err := db.Pool().MethodOutcomes(ctx, p); return len(r), err }},
				{"NotifyDelay", func() (int, error) { r, err := db.Pool().NotifyDelay(ctx, p); return len(r), err }},
				{"ShareCodeFunnel", func() (int, error) { r, err := db.Pool().ShareCodeFunnel(ctx, p); return len(r), err }},
				{"PayForMeFunnel", func() (int, error) { _, err := db.Pool().PayForMeFunnel(ctx, p); return 1, err }},
			} {
				b.Run(q.name+"/"+span.name+"/"+read, func(b *testing.B) {
					var n int
					for b.Loop() {
						var err error
						if n, err = q.run(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n), "rows")
				})
			}
		}
	}
}
