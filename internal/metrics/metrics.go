// Package metrics is the one place hutong's Prometheus metrics are
// defined and registered. They live on a registry of their own (never
// prometheus.DefaultRegisterer), served by Handler on the metrics listener
// only: the counts span every merchant.
//
// The rest of hutong records through the functions here (ObserveRequest,
// ObserveWalletCall, CountNotification, …), so each metric's labels are
// spelled once. Every metric, what it means and its labels:
//
// API (recorded by the api package for each route of api.Routes; route is
// the route as registered, "POST /v1/payments", never the raw path):
//
//	hutong_http_requests_total{route,code}        counter: answers by HTTP status code
//	hutong_http_request_duration_seconds{route}   histogram: time from the request's arrival to its answer
//	hutong_api_own_seconds{route}                 histogram: the same less the time spent waiting for
//	                                              wallets (walletcall.WithTimer): what hutong itself costs
//
// Wallets (recorded where the gateway calls a connector; wallet is the
// channel, "wechatpay" or "alipay"; call is one of prepay, query, close,
// refund, query_refund, share_profit, submit_merchant, query_merchant,
// download_bill, download_merchant_bill):
//
//	hutong_wallet_call_duration_seconds{wallet,call}  histogram: each call, answered or not
//	hutong_wallet_call_errors_total{wallet,call}      counter: calls that failed (no answer, a refusal, a bad
//	                                                  answer); "no such order" is an answer, not an error
//	hutong_wallet_mismatches_total{channel,source,field}  counter: signed wallet messages refused because
//	                                                  field named something hutong did not send; source is
//	                                                  notification, query or refund_answer
//
// Notifications (POST /notify/{channel}/{account}):
//
//	hutong_notifications_total{channel,verdict}   counter: verdict is accepted (applied now), duplicate
//	                                              (applied before: a wallet's retry) or refused
//	hutong_notifications_refused_total{reason}    counter: refusals by reason: bad_signature,
//	                                              unknown_order, mismatch_<field>, other
//	hutong_notifications_accepted_total           counter: accepted and duplicate together (the answer
//	                                              was success); kept for dashboards that predate verdicts
//
// Merchants' webhooks:
//
//	hutong_webhook_deliveries_total{outcome}      counter: attempts by outcome: delivered (2xx),
//	                                              bad_status (any other answer, 3xx included),
//	                                              no_answer (connection refused or failed, timeout,
//	                                              an address hutong may not call)
//	hutong_webhooks_delivered_total               counter: outcome delivered (older name)
//	hutong_webhooks_failed_total                  counter: outcomes bad_status and no_answer (older name)
//
// Alerts (set when the gateway's checks run; see gateway's alerts):
//
//	hutong_reconciliation_discrepancies{channel}  gauge: discrepancies of the channel's last reconciliation
//	hutong_overdue{event}                         gauge: what the last hourly check found overdue, by
//	                                              event: refund.overdue, payment.overdue
//
// Read from the database at each scrape (Handler with Options.DB), with a
// timeout; when a read fails it is logged, counted, and its gauges are left
// out of that scrape rather than reported wrong:
//
//	hutong_payments{method,status}                gauge: payments by method and status
//	hutong_job_lag_seconds{kind}                  gauge: how late the most overdue job of a kind is
//	                                              (0 when none is due); max() over kinds is the
//	                                              lag of the whole queue
//	hutong_metrics_database_errors_total          counter: scrapes whose database reads failed
//	go_sql_*{db_name="hutong"}                    the connection pool (collectors.NewDBStatsCollector)
//
// And the Go runtime's (go_*) and the process's (process_*) standard
// collectors.
//
// Histograms have classic buckets (what the text format carries) and
// native buckets at most 10% wide as well, which a Prometheus with native
// histograms enabled ingests, and from which OwnTime reads percentiles.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Verdicts of a wallet notification.
const (
	Accepted  = "accepted"
	Duplicate = "duplicate"
	Refused   = "refused"
)

// Outcomes of a webhook delivery attempt.
const (
	Delivered = "delivered"
	BadStatus = "bad_status"
	NoAnswer  = "no_answer"
)

// registry holds every process-wide collector; Handler adds the database's
// per handler.
var registry = prometheus.NewRegistry()

// Bucket bounds, in seconds. A request's own time is usually well under
// a millisecond; requests and wallet calls reach the wallets' 30 s timeout.
var (
	ownBuckets     = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	requestBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	walletBuckets  = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

var (
	httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hutong_http_requests_total",
		Help: "API answers by route and HTTP status code.",
	}, []string{"route", "code"})
	httpDuration = newHistogramVec("hutong_http_request_duration_seconds",
		"Time to answer an API request, by route.", requestBuckets, "route")
	ownTime = newHistogramVec("hutong_api_own_seconds",
		"Time to answer an API request less the time spent waiting for wallets, by route.", ownBuckets, "route")

	walletDuration = newHistogramVec("hutong_wallet_call_duration_seconds",
		"Time of each call to a wallet, by wallet and call.", walletBuckets, "wallet", "call")
	walletErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hutong_wallet_call_errors_total",
		Help: "Wallet calls that failed (no answer, a refusal or a bad answer), by wallet and call.",
	}, []string{"wallet", "call"})
	walletMismatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hutong_wallet_mismatches_total",
		Help: "Signed wallet messages refused because they named what hutong did not send, by channel, source and field.",
	}, []string{"channel", "source", "field"})

	notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hutong_notifications_total",
		Help: "Wallet notifications by channel and verdict: accepted, duplicate (applied before) or refused.",
	}, []string{"channel", "verdict"})
	notificationsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hutong_notifications_refused_total",
		Help: "Refused wallet notifications by reason.",
	}, []string{"reason"})
	notificationsAccepted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hutong_notifications_accepted_total",
		Help: "Wallet notifications answered with success (accepted and duplicate verdicts together).",
	})

	webhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hutong_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome: delivered, bad_status, no_answer.",
	}, []string{"outcome"})
	webhooksDelivered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hutong_webhooks_delivered_total",
		Help: "Webhook delivery attempts answered 2xx.",
	})
	webhooksFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hutong_webhooks_failed_total",
		Help: "Webhook delivery attempts that failed (any answer but 2xx, or none).",
	})

	reconDiscrepancies = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hutong_reconciliation_discrepancies",
		Help: "Discrepancies found by the channel's last reconciliation.",
	}, []string{"channel"})
	overdue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hutong_overdue",
		Help: "Refunds and payments the last hourly check found overdue, by event type.",
	}, []string{"event"})

	databaseErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hutong_metrics_database_errors_total",
		Help: "Scrapes of /metrics whose database reads failed (their gauges were left out).",
	})
)

func init() {
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		httpRequests, httpDuration, ownTime,
		walletDuration, walletErrors, walletMismatches,
		notifications, notificationsRefused, notificationsAccepted,
		webhookDeliveries, webhooksDelivered, webhooksFailed,
		reconDiscrepancies, overdue,
		databaseErrors,
	)
	// Outcomes known in advance start at 0, so rate() sees the first one.
	for _, o := range []string{Delivered, BadStatus, NoAnswer} {
		webhookDeliveries.WithLabelValues(o)
	}
}

// newHistogramVec makes a histogram with classic buckets and native ones.
// Native buckets are bounded in number; past the bound their resolution
// halves rather than the histogram resetting.
func newHistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                           name,
		Help:                           help,
		Buckets:                        buckets,
		NativeHistogramBucketFactor:    1.1,
		NativeHistogramMaxBucketNumber: 200,
	}, labels)
}

// ObserveRequest records an API answer: its route, status code, its whole
// time and hutong's own part of it (the whole less wallet calls).
func ObserveRequest(route string, code int, took, own time.Duration) {
	httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	httpDuration.WithLabelValues(route).Observe(took.Seconds())
	ownTime.WithLabelValues(route).Observe(max(own, 0).Seconds())
}

// ObserveWalletCall records one call to a wallet; failed says it counts
// as an error.
func ObserveWalletCall(wallet, call string, took time.Duration, failed bool) {
	walletDuration.WithLabelValues(wallet, call).Observe(took.Seconds())
	if failed {
		walletErrors.WithLabelValues(wallet, call).Inc()
	}
}

// CountMismatch counts a wallet message refused because field named
// something hutong did not send.
func CountMismatch(channel, source, field string) {
	walletMismatches.WithLabelValues(channel, source, field).Inc()
}

// CountNotification counts a notification's verdict (Accepted, Duplicate,
// Refused); reason says why a refused one was refused.
func CountNotification(channel, verdict, reason string) {
	notifications.WithLabelValues(channel, verdict).Inc()
	switch verdict {
	case Refused:
		notificationsRefused.WithLabelValues(reason).Inc()
	default:
		notificationsAccepted.Inc()
	}
}

// CountWebhookDelivery counts a delivery attempt's outcome (Delivered,
// BadStatus, NoAnswer).
func CountWebhookDelivery(outcome string) {
	webhookDeliveries.WithLabelValues(outcome).Inc()
	if outcome == Delivered {
		webhooksDelivered.Inc()
	} else {
		webhooksFailed.Inc()
	}
}

// SetReconciliationDiscrepancies records the discrepancies of a channel's
// latest reconciliation.
func SetReconciliationDiscrepancies(channel string, n int64) {
	reconDiscrepancies.WithLabelValues(channel).Set(float64(n))
}

// SetOverdue records how many objects the latest check found overdue for
// an event type.
func SetOverdue(event string, n int64) {
	overdue.WithLabelValues(event).Set(float64(n))
}
