package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hutong-pay/hutong/internal/store"
)

// Options are what Handler reads besides the process's metrics.
type Options struct {
	// DB is read at each scrape for hutong_payments and
	// hutong_job_lag_seconds; nil leaves them out.
	DB *store.DB
	// JobKinds are reported in hutong_job_lag_seconds even with no job
	// due (as 0), so a kind's series does not come and go.
	JobKinds []string
	// Now is the clock the jobs' times are read against; nil means
	// time.Now.
	Now func() time.Time
	// Timeout bounds the database reads of one scrape; 0 means 5 s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Handler serves the Prometheus exposition of every hutong metric (see
// the package's doc), in whichever format the scraper asks for.
func Handler(o Options) http.Handler {
	var gatherers prometheus.Gatherers
	if o.DB != nil {
		// The database's collectors belong to this handler's DB, so they
		// are registered apart from the process-wide registry, and
		// gathered first: a failed read counted in databaseErrors shows in
		// the same scrape.
		reg := prometheus.NewRegistry()
		reg.MustRegister(&dbCollector{o: o}, collectors.NewDBStatsCollector(o.DB.DB, "hutong"))
		gatherers = append(gatherers, reg)
	}
	gatherers = append(gatherers, registry)
	return promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog:      errorLog{o.Logger},
		ErrorHandling: promhttp.ContinueOnError,
		// Each scrape reads the database: a burst of scrapes must not
		// become a burst of queries.
		MaxRequestsInFlight: 4,
	})
}

// errorLog passes promhttp's errors to the log.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Println(v ...any) {
	if e.l != nil {
		e.l.Error("metrics: serving /metrics", "err", fmt.Sprint(v...))
	}
}

var (
	paymentsDesc = prometheus.NewDesc("hutong_payments",
		"Payments by method and status (read from the database at each scrape).", []string{"method", "status"}, nil)
	jobLagDesc = prometheus.NewDesc("hutong_job_lag_seconds",
		"How late the most overdue job of a kind is; 0 when none is due (read from the database at each scrape).", []string{"kind"}, nil)
)

// dbCollector reads the database's gauges at each scrape.
type dbCollector struct{ o Options }

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- paymentsDesc
	ch <- jobLagDesc
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	failed := false
	// Each gauge is read whole before any of it is sent: a read that
	// fails halfway sends nothing rather than a part.
	if ms, err := c.payments(ctx); err != nil {
		c.failed("payments", err)
		failed = true
	} else {
		for _, m := range ms {
			ch <- m
		}
	}
	if ms, err := c.jobLag(ctx); err != nil {
		c.failed("job lag", err)
		failed = true
	} else {
		for _, m := range ms {
			ch <- m
		}
	}
	if failed {
		databaseErrors.Inc()
	}
}

func (c *dbCollector) failed(what string, err error) {
	if c.o.Logger != nil {
		c.o.Logger.Error("metrics: reading the database", "gauge", what, "err", err)
	}
}

func (c *dbCollector) payments(ctx context.Context) ([]prometheus.Metric, error) {
	counts, err := c.o.DB.Pool().PaymentCounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []prometheus.Metric
	for _, n := range counts {
		out = append(out, prometheus.MustNewConstMetric(paymentsDesc, prometheus.GaugeValue, float64(n.N), n.Method, n.Status))
	}
	return out, nil
}

func (c *dbCollector) jobLag(ctx context.Context) ([]prometheus.Metric, error) {
	oldest, err := c.o.DB.Pool().JobsOldestDue(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if c.o.Now != nil {
		now = c.o.Now()
	}
	lag := map[string]float64{}
	for _, k := range c.o.JobKinds {
		lag[k] = 0
	}
	for kind, due := range oldest {
		lag[kind] = max(0, now.Sub(due).Seconds())
	}
	out := make([]prometheus.Metric, 0, len(lag))
	for kind, seconds := range lag {
		out = append(out, prometheus.MustNewConstMetric(jobLagDesc, prometheus.GaugeValue, seconds, kind))
	}
	return out, nil
}
