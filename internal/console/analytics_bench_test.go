package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// BenchmarkAnalyticsPage times the whole analytics page, every report
// drawn, over HTTP as an operator's browser asks for it, on a year of a
// marketplace (storetest.SeedMarketplace): 1,000,000 payments
// (HUTONG_BENCH_ANALYTICS_ROWS changes it) on SQLite and, when
// HUTONG_TEST_POSTGRES is set, on PostgreSQL. The goal is under 500 ms a
// page.
//
//	go test -run - -bench AnalyticsPage -benchtime 1x ./internal/console
func BenchmarkAnalyticsPage(b *testing.B) {
	rows := storetest.MarketplaceRows(b)
	b.Run("sqlite", func(b *testing.B) { benchAnalyticsPage(b, storetest.SQLite(b), rows) })
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv(storetest.EnvPostgres) == "" {
			b.Skip("HUTONG_TEST_POSTGRES is not set")
		}
		benchAnalyticsPage(b, storetest.Postgres(b), rows)
	})
}

func benchAnalyticsPage(b *testing.B, db *store.DB, rows int64) {
	storetest.SeedMarketplace(b, db, rows)
	e := gatewaytest.Start(b, db, gatewaytest.Options{})
	ctx := context.Background()
	if _, err := e.Accounts.AddUser(ctx, accounts.AddUserParams{Email: "ops@hutong.test", Name: "运营", Role: accounts.RoleOperations, Password: password}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.Svc.RefreshAnalytics(ctx); err != nil {
		b.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Jar: jar}
	res, err := hc.PostForm(e.URL+"/console/login", url.Values{"email": {"ops@hutong.test"}, "password": {password}})
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	year := "from=" + storetest.MarketplaceYear.Format("2006-01-02") + "&to=" + storetest.MarketplaceYear.AddDate(1, 0, -1).Format("2006-01-02")
	quarter := "from=" + storetest.MarketplaceYear.AddDate(0, 9, 0).Format("2006-01-02") + "&to=" + storetest.MarketplaceYear.AddDate(1, 0, -1).Format("2006-01-02")
	for _, q := range []struct{ name, query string }{
		{"year", year},
		{"quarter", quarter},
		{"year-one-merchant", year + "&merchant=m7"},
		{"year-category", year + "&category=grocery"},
		{"year-county-tier", year + "&tier=county"},
	} {
		b.Run(q.name, func(b *testing.B) {
			var size int
			for b.Loop() {
				res, err := hc.Get(e.URL + "/console/analytics?" + q.query)
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != http.StatusOK || !strings.Contains(string(body), "数据截至") {
					b.Fatalf("analytics?%s: %d %v", q.query, res.StatusCode, err)
				}
				size = len(body)
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}
