package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// rollupWorld makes random marketplace history for the rollup's tests:
// orders of random buyers, merchants, regions and wallets over eight
// weeks from wk1, some unpaid, some refunded, and exposures to a rollout.
type rollupWorld struct {
	t   *testing.T
	db  *store.DB
	rng *rand.Rand
	n   int
}

var (
	rollupRegions   = []string{"110105", "130627", "130102", "429004", "441900", "", "abc"}
	rollupMerchants = []struct{ id, category, region string }{
		{"m1", "grocery", "130627"}, {"m2", "grocery", "110105"}, {"m3", "apparel", "130102"}, {"m4", "apparel", "429004"},
	}
	rollupKinds = []string{payment.RefundOnly, payment.RefundWithReturn, payment.RefundDuplicateCharge}
)

// orders stores n random orders, paid (if at all) in [from, from+span),
// stamped updated at stamp.
func (w *rollupWorld) orders(n int, from time.Time, span time.Duration, stamp time.Time) {
	ctx := context.Background()
	for range n {
		w.n++
		id := fmt.Sprintf("p%d", w.n)
		m := rollupMerchants[w.rng.IntN(len(rollupMerchants))].id
		ch, method := "alipay", "alipay.precreate"
		if w.rng.IntN(2) == 0 {
			ch, method = "wechatpay", "wechatpay.native"
		}
		paidAt := from.Add(time.Duration(w.rng.Int64N(int64(span))))
		p := payment.Payment{ID: id, MerchantID: m, MerchantOrderID: id, Amount: 100 + w.rng.Int64N(10000), Currency: "CNY", Method: method, Channel: ch,
			Buyer:  payment.Buyer{ID: fmt.Sprintf("b%d", w.rng.IntN(40)), RegionCode: rollupRegions[w.rng.IntN(len(rollupRegions))]},
			Status: payment.StatusSucceeded, CreatedAt: paidAt.Add(-time.Minute), UpdatedAt: stamp, PaidAt: paidAt, PaidMethod: method}
		switch w.rng.IntN(10) {
		case 0:
			p.Status, p.PaidAt, p.PaidMethod = payment.StatusRequiresAction, time.Time{}, ""
		case 1:
			p.Status = payment.StatusCanceled // paid late: not an order
		case 2:
			p.Buyer.ID = ""
		}
		if err := w.db.Pool().PaymentInsert(ctx, p); err != nil {
			w.t.Fatalf("payment %s: %v", id, err)
		}
		if p.Status == payment.StatusSucceeded && w.rng.IntN(4) == 0 {
			w.refund(p, stamp)
		}
	}
}

// refund refunds part of p, of a random kind and state, as the refund
// service does: the refund and the payment's refunded, stamped at stamp.
func (w *rollupWorld) refund(p payment.Payment, stamp time.Time) {
	ctx := context.Background()
	w.n++
	status := payment.RefundSucceeded
	if w.rng.IntN(4) == 0 {
		status = payment.RefundPending
	}
	r := payment.Refund{ID: fmt.Sprintf("re%d", w.n), PaymentID: p.ID, Amount: 1, Kind: rollupKinds[w.rng.IntN(len(rollupKinds))], Status: status, CreatedAt: stamp}
	if err := w.db.Pool().RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: p.MerchantID, Insert: true}); err != nil {
		w.t.Fatalf("refund of %s: %v", p.ID, err)
	}
	if _, err := w.db.ExecContext(ctx, `UPDATE payments SET refunded = refunded + 1, updated_at = $1 WHERE id = $2`, store.Micros(stamp), p.ID); err != nil {
		w.t.Fatal(err)
	}
}

// exposures stores n random exposures to wechatpay.native in [from, from+span).
func (w *rollupWorld) exposures(n int, from time.Time, span time.Duration) {
	var xs []store.Exposure
	for range n {
		tier := rollout.Tiers[w.rng.IntN(len(rollout.Tiers))]
		xs = append(xs, store.Exposure{At: from.Add(time.Duration(w.rng.Int64N(int64(span)))),
			Checkout: rollout.Checkout{BuyerID: fmt.Sprintf("b%d", w.rng.IntN(40)), MerchantID: "m1"},
			Decision: rollout.Decision{Method: "wechatpay.native", Shown: w.rng.IntN(2) == 0, Version: 1, Cohort: rollout.CohortPercent, Tier: tier}})
	}
	if err := w.db.Pool().ExposureInsert(context.Background(), xs); err != nil {
		w.t.Fatal(err)
	}
}

// reports are every report of one span and filter, as one value to
// compare.
type reports struct {
	Share      []store.ShareRow
	NewBuyers  []store.NewBuyerRow
	AOV        []store.AOVRow
	Refunds    []store.RefundRow
	Conversion []store.ConversionRow
}

func readReports(t *testing.T, db *store.DB, p store.AnalyticsParams) reports {
	t.Helper()
	ctx := context.Background()
	var r reports
	var err error
	if r.Share, err = db.Pool().MethodShare(ctx, p); err != nil {
		t.Fatal(err)
	}
	if r.NewBuyers, err = db.Pool().NewBuyers(ctx, p); err != nil {
		t.Fatal(err)
	}
	if r.AOV, err = db.Pool().WalletAOV(ctx, p); err != nil {
		t.Fatal(err)
	}
	if r.Refunds, err = db.Pool().RefundRates(ctx, p); err != nil {
		t.Fatal(err)
	}
	if r.Conversion, err = db.Pool().RolloutConversion(ctx, store.RolloutParams{Method: "wechatpay.native", From: p.From, To: p.To, Live: p.Live}); err != nil {
		t.Fatal(err)
	}
	return r
}

// rollupSpans are the spans and filters the rollup is checked on.
func rollupSpans() []store.AnalyticsParams {
	var out []store.AnalyticsParams
	for _, span := range [][2]time.Time{{wk1, wk1.AddDate(0, 0, 56)}, {wk1.AddDate(0, 0, 3), wk1.AddDate(0, 0, 17)}, {wk1.AddDate(0, 0, 20), wk1.AddDate(0, 0, 21)},
		{wk1.Add(5 * time.Hour), wk1.AddDate(0, 0, 30).Add(7 * time.Hour)}} { // not whole days: conversion from rollout_arms, the rest live
		for _, f := range []store.AnalyticsParams{{}, {MerchantID: "m2"}, {Category: "apparel"}, {Province: "13"}, {Category: "grocery", Province: "11"}, {Tier: rollout.TierCounty}} {
			f.From, f.To = span[0], span[1]
			out = append(out, f)
		}
	}
	return out
}

// wholeDays says whether p's span begins and ends at Beijing midnights.
func wholeDays(p store.AnalyticsParams) bool {
	for _, t := range []time.Time{p.From, p.To} {
		if bj := t.In(chinatime.Location); bj.Hour() != 0 || bj.Minute() != 0 || bj.Second() != 0 || bj.Nanosecond() != 0 {
			return false
		}
	}
	return true
}

// TestAnalyticsRollupMatchesPayments: on random history, every report
// read from the rollup equals the same report read from the payments, for
// several spans and filters; after more orders, refunds of old orders,
// buyers' earlier first orders and new exposures, the rollup still reads
// what it read before (it has not been refreshed), and after an
// incremental refresh it agrees with the payments again, rebuilding only
// the days that changed.
func TestAnalyticsRollupMatchesPayments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, m := range rollupMerchants {
			if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: m.id, Name: m.id, Category: m.category, RegionCode: m.region}, CreatedAt: wk1}); err != nil {
				t.Fatal(err)
			}
		}
		w := &rollupWorld{t: t, db: db, rng: rand.New(rand.NewPCG(1, 2))}
		clock := wk1.AddDate(0, 0, 60)
		w.orders(400, wk1, 56*24*time.Hour, clock)
		w.exposures(150, wk1, 56*24*time.Hour)

		check := func(stage string) map[int]reports {
			t.Helper()
			rolled := map[int]reports{}
			for i, p := range rollupSpans() {
				got := readReports(t, db, p)
				p.Live = true
				if want := readReports(t, db, p); !reflect.DeepEqual(got, want) {
					t.Errorf("%s, span %d %+v: the rollup reads\n%+v\nthe payments\n%+v", stage, i, p, got, want)
				}
				rolled[i] = got
			}
			return rolled
		}
		if got := refreshAnalytics(t, db, clock.Add(2*time.Minute)); !got.Full || got.Days == 0 {
			t.Errorf("the first refresh = %+v; want a full rebuild", got)
		}
		before := check("after the first refresh")

		// Changes stamped after the refresh: new orders in the last two
		// weeks (some buyers' first orders move earlier: the buyers are
		// few), refunds of old orders, new exposures.
		clock = clock.Add(2*time.Minute + 30*time.Second)
		w.orders(60, wk1.AddDate(0, 0, 42), 14*24*time.Hour, clock)
		w.orders(10, wk1, 24*time.Hour, clock)
		old, err := db.Pool().PaymentGet(ctx, store.PaymentGetParams{ID: "p7"})
		if err != nil {
			t.Fatal(err)
		}
		if old.Status == payment.StatusSucceeded {
			w.refund(old, clock)
		}
		w.exposures(40, clock.Add(-30*time.Second), 30*time.Second)
		for i, p := range rollupSpans() {
			got, want := readReports(t, db, p), before[i]
			if !wholeDays(p) { // only the conversion reads the rollup
				got, want = reports{Conversion: got.Conversion}, reports{Conversion: want.Conversion}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("span %d: the rollup changed without a refresh; the reports are not reading it", i)
			}
		}
		got := refreshAnalytics(t, db, clock.Add(90*time.Second))
		if got.Full || got.Days == 0 || got.Days > 40 {
			t.Errorf("the second refresh = %+v; want an incremental one over the changed days", got)
		}
		check("after an incremental refresh")

		// A refresh with nothing changed since rebuilds nothing.
		if got := refreshAnalytics(t, db, clock.Add(time.Hour)); got.Full || got.Days != 0 {
			t.Errorf("a refresh after nothing changed = %+v; want no days", got)
		}
		check("after an idle refresh")
	})
}

// BenchmarkAnalytics times the analytics rollup and each report over a
// year of a marketplace (storetest.SeedMarketplace): 1,000,000 payments on
// SQLite (HUTONG_BENCH_ANALYTICS_ROWS changes it) and, when
// HUTONG_TEST_POSTGRES is set, as many on PostgreSQL. Each report is
// timed reading the rollup and, beside it, reading the payments (Live):
// the pages' goal is under 500 ms each at 1M payments.
//
//	go test -run - -bench Analytics -benchtime 1x ./internal/store
func BenchmarkAnalytics(b *testing.B) {
	rows := storetest.MarketplaceRows(b)
	b.Run("sqlite", func(b *testing.B) { benchAnalytics(b, storetest.SQLite(b), rows) })
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv(storetest.EnvPostgres) == "" {
			b.Skip("HUTONG_TEST_POSTGRES is not set")
		}
		benchAnalytics(b, storetest.Postgres(b), rows)
	})
}

func benchAnalytics(b *testing.B, db *store.DB, rows int64) {
	storetest.SeedMarketplace(b, db, rows)
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
	// 1,000 payments of the year's last week paid (and stamped) since
	// the last refresh: a busy minute.
	batch := 0
	b.Run("Refresh/1000-changed", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			batch++
			now = now.Add(2 * time.Minute)
			if _, err := db.ExecContext(ctx, `INSERT INTO payments (id, merchant_id, merchant_order_id, status, method, amount, refunded, created_at, updated_at, data,
					channel, paid_method, buyer_id, region_code, paid_at)
				SELECT 'new_' || $1 || '_' || id, merchant_id, 'new_' || $1 || '_' || id, status, method, amount, 0, created_at, $2, '{}',
					channel, paid_method, buyer_id, region_code, paid_at + 1
				FROM payments WHERE status = 'succeeded' AND paid_at >= $3 AND id NOT LIKE 'new_%' ORDER BY paid_at LIMIT 1000`,
				fmt.Sprint(batch), store.Micros(now.Add(-time.Minute)), store.Micros(year0.AddDate(1, 0, -7))); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if got := refreshAnalytics(b, db, now); got.Full || got.Days == 0 {
				b.Fatalf("refresh = %+v; want an incremental one", got)
			}
		}
	})
	year := store.AnalyticsParams{From: year0, To: year0.AddDate(1, 0, 0)}
	quarter := store.AnalyticsParams{From: year0.AddDate(0, 9, 0), To: year0.AddDate(1, 0, 0)}
	for _, read := range []string{"rollup", "payments"} {
		for _, span := range []struct {
			name string
			p    store.AnalyticsParams
		}{{"year", year}, {"quarter", quarter}} {
			p := span.p
			p.Live = read == "payments"
			for _, q := range []struct {
				name string
				run  func() (int, error)
			}{
				{"MethodShare", func() (int, error) { r, err := db.Pool().MethodShare(ctx, p); return len(r), err }},
				{"NewBuyers", func() (int, error) { r, err := db.Pool().NewBuyers(ctx, p); return len(r), err }},
				{"RolloutConversion", func() (int, error) {
					r, err := db.Pool().RolloutConversion(ctx, store.RolloutParams{Method: "wechatpay.native", From: p.From, To: p.To, Live: p.Live})
					return len(r), err
				}},
				{"WalletAOV", func() (int, error) { r, err := db.Pool().WalletAOV(ctx, p); return len(r), err }},
				{"RefundRates", func() (int, error) { r, err := db.Pool().RefundRates(ctx, p); return len(r), err }},
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

// TestAnalyticsRefreshSkipsWhileAnotherRuns: on PostgreSQL, a refresh that
// finds another holding the rollup's state returns at once, skipped,
// rather than wait: a job worker's slot is never held waiting for it.
func TestAnalyticsRefreshSkipsWhileAnotherRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect != store.Postgres {
			t.Skip("SQLite's writers take turns; there is no row lock to find held")
		}
		ctx := context.Background()
		refreshAnalytics(t, db, time.Now())
		holder, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = holder.Rollback() }()
		if _, err := holder.ExecContext(ctx, `SELECT 1 FROM analytics_state WHERE id = 1 FOR UPDATE`); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := refreshAnalytics(t, db, time.Now())
		if !got.Skipped || time.Since(start) > 5*time.Second {
			t.Errorf("a refresh beside a running one = %+v after %s; want skipped at once", got, time.Since(start))
		}
		if err := holder.Rollback(); err != nil {
			t.Fatal(err)
		}
		if got := refreshAnalytics(t, db, time.Now()); got.Skipped {
			t.Error("a refresh with no other running was skipped")
		}
	})
}
