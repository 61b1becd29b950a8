// Package api is hutong's merchant REST API under /v1: JSON in and out,
// Bearer API keys, Idempotency-Key on every POST, and errors shaped as
// {"error": {"type", "code", "message", "param"}}. It also serves the
// wallets' notification endpoints and the operational ones (/healthz,
// /readyz); /metrics has a handler of its own (MetricsHandler).
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/idempotency"
	"github.com/hutong-pay/hutong/internal/jsonbody"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/metrics"
	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/onboarding"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollouts"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/walletcall"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

//go:embed openapi.yaml
var openapi []byte

// Server is the HTTP face of the gateway.
type Server struct {
	Svc *gateway.Service
	// Webhooks serves the webhook endpoint and event routes; nil means
	// the gateway's own (gateway.Service.WebhookService).
	Webhooks *webhooks.Service
	// Onboarding serves the agreement, contract and campaign routes; nil
	// means the gateway's own (gateway.Service.OnboardingService).
	Onboarding *onboarding.Service
	// Money serves the balance, ledger, settlement, statement and
	// reconciliation routes; nil means the gateway's own
	// (gateway.Service.MoneyService).
	Money *money.Service
	// Rollouts serves the rollout rule, explain and feedback routes, and
	// decides /v1/methods; nil means the gateway's own
	// (gateway.Service.RolloutService).
	Rollouts *rollouts.Service
	Logger   *slog.Logger
	// IdempotencyLease is how long a request may run before a retry under
	// the same Idempotency-Key may run it again (its gateway died). It must
	// exceed the wallets' timeouts; 0 means DefaultIdempotencyLease.
	IdempotencyLease time.Duration

	// crashAt, set by tests, names the steps of an idempotent request at
	// which the request stops as if its process had been killed.
	crashAt func(step string) bool
}

// webhooks is the service of the webhook endpoint and event routes.
func (s *Server) webhooks() *webhooks.Service {
	if s.Webhooks != nil {
		return s.Webhooks
	}
	return s.Svc.WebhookService()
}

// onboarding is the service of the agreement, contract and campaign
// routes.
func (s *Server) onboarding() *onboarding.Service {
	if s.Onboarding != nil {
		return s.Onboarding
	}
	return s.Svc.OnboardingService()
}

// money is the service of the money routes.
func (s *Server) money() *money.Service {
	if s.Money != nil {
		return s.Money
	}
	return s.Svc.MoneyService()
}

// rollouts is the service of the rollout and feedback routes.
func (s *Server) rollouts() *rollouts.Service {
	if s.Rollouts != nil {
		return s.Rollouts
	}
	return s.Svc.RolloutService()
}

// DefaultIdempotencyLease outlasts a wallet call's 30-second timeout.
const DefaultIdempotencyLease = 45 * time.Second

// Routes lists every route of the API, as registered; a test holds
// openapi.yaml to it.
var Routes = []string{
	"POST /v1/payments",
	"GET /v1/payments",
	"GET /v1/payments/{id}",
	"POST /v1/payments/{id}/cancel",
	"POST /v1/payments/{id}/refunds",
	"GET /v1/refunds/{id}",
	"GET /v1/payments/{id}/refunds",
	"GET /v1/methods",
	"POST /v1/webhook_endpoints",
	"GET /v1/webhook_endpoints",
	"DELETE /v1/webhook_endpoints/{id}",
	"GET /v1/events",
	"POST /v1/events/{id}/resend",
	"GET /v1/payments/{id}/attempts",
	"GET /v1/payments/{id}/wallet_mismatches",
	"POST /v1/payments/{id}/pay_for_me",
	"GET /v1/pay_for_me/{id}",
	"POST /v1/pay_for_me/{id}/revoke",
	"POST /v1/share_codes",
	"POST /v1/share_codes/resolve",
	"GET /v1/share_codes/stats",
	"GET /v1/share_codes/{id}",
	"POST /v1/share_codes/{id}/revoke",
	"GET /v1/return_key",
	"POST /v1/merchants",
	"POST /v1/merchants/{id}",
	"POST /v1/agreements",
	"GET /v1/agreements",
	"GET /v1/contracts",
	"POST /v1/contracts",
	"GET /v1/contracts/{id}",
	"GET /v1/contracts/{id}/transitions",
	"POST /v1/contracts/{id}/submit",
	"POST /v1/contracts/{id}/suspend",
	"POST /v1/contracts/{id}/resume",
	"POST /v1/campaigns",
	"GET /v1/campaigns",
	"GET /v1/campaigns/{id}",
	"GET /v1/rollout/rules",
	"POST /v1/rollout/rules/{method}",
	"DELETE /v1/rollout/rules/{method}",
	"POST /v1/rollout/rules/{method}/dry_run",
	"POST /v1/rollout/rules/{method}/revert",
	"GET /v1/rollout/history",
	"GET /v1/rollout/explain",
	"POST /v1/feedback",
	"GET /v1/feedback",
	"GET /v1/feedback.csv",
	"POST /v1/payments/{id}/confirm_receipt",
	"POST /v1/refunds/{id}/return_received",
	"POST /v1/refunds/{id}/cancel_return",
	"GET /v1/balances",
	"GET /v1/ledger/entries",
	"POST /v1/settlements",
	"GET /v1/statements",
	"POST /v1/reconciliations",
	"GET /v1/reconciliations",
	"GET /v1/reconciliations/{id}",
	"GET /v1/reconciliations/{id}/items.csv",
}

// PlatformWide are the routes a platform key may call without naming a
// merchant: they are not about one merchant's data.
var PlatformWide = map[string]bool{"POST /v1/share_codes/resolve": true, "GET /v1/return_key": true,
	"GET /v1/agreements": true, "GET /v1/rollout/explain": true, "GET /v1/feedback": true, "GET /v1/feedback.csv": true, "GET /v1/balances": true, "GET /v1/ledger/entries": true, "GET /v1/contracts": true, "GET /v1/contracts/{id}": true, "GET /v1/contracts/{id}/transitions": true,
	// Naming no merchant, the platform's own events (reconciliation.discrepancy).
	"GET /v1/events": true}

// Handler serves the API and the notification endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	handlers := map[string]func(w http.ResponseWriter, r *http.Request, c caller){
		"POST /v1/payments":                       s.createPayment,
		"GET /v1/payments":                        s.listPayments,
		"GET /v1/payments/{id}":                   s.getPayment,
		"POST /v1/payments/{id}/cancel":           s.cancelPayment,
		"POST /v1/payments/{id}/refunds":          s.createRefund,
		"GET /v1/refunds/{id}":                    s.getRefund,
		"GET /v1/payments/{id}/refunds":           s.listRefunds,
		"GET /v1/methods":                         s.methods,
		"POST /v1/webhook_endpoints":              s.createEndpoint,
		"GET /v1/webhook_endpoints":               s.listEndpoints,
		"DELETE /v1/webhook_endpoints/{id}":       s.deleteEndpoint,
		"GET /v1/events":                          s.listEvents,
		"POST /v1/events/{id}/resend":             s.resendEvent,
		"GET /v1/payments/{id}/attempts":          s.listAttempts,
		"GET /v1/payments/{id}/wallet_mismatches": s.listMismatches,
		"POST /v1/payments/{id}/pay_for_me":       s.createPayForMe,
		"GET /v1/pay_for_me/{id}":                 s.getPayForMe,
		"POST /v1/pay_for_me/{id}/revoke":         s.revokePayForMe,
		"POST /v1/share_codes":                    s.createShareCode,
		"POST /v1/share_codes/resolve":            s.resolveShareCode,
		"GET /v1/share_codes/stats":               s.shareStats,
		"GET /v1/share_codes/{id}":                s.getShareCode,
		"POST /v1/share_codes/{id}/revoke":        s.revokeShareCode,
		"GET /v1/return_key":                      s.returnKey,
		"POST /v1/merchants":                      s.createMerchant,
		"POST /v1/merchants/{id}":                 s.updateMerchant,
		"POST /v1/agreements":                     s.createAgreement,
		"GET /v1/agreements":                      s.listAgreements,
		"GET /v1/contracts":                       s.listContracts,
		"POST /v1/contracts":                      s.inviteMerchant,
		"GET /v1/contracts/{id}":                  s.getContract,
		"GET /v1/contracts/{id}/transitions":      s.contractTransitions,
		"POST /v1/contracts/{id}/submit":          s.submitContract,
		"POST /v1/contracts/{id}/suspend":         s.contractAction(contract.ActSuspend),
		"POST /v1/contracts/{id}/resume":          s.contractAction(contract.ActResume),
		"POST /v1/campaigns":                      s.createCampaign,
		"GET /v1/campaigns":                       s.listCampaigns,
		"GET /v1/campaigns/{id}":                  s.getCampaign,
		"GET /v1/rollout/rules":                   s.getRules,
		"POST /v1/rollout/rules/{method}":         s.setRule,
		"DELETE /v1/rollout/rules/{method}":       s.removeRule,
		"POST /v1/rollout/rules/{method}/dry_run": s.dryRunRule,
		"POST /v1/rollout/rules/{method}/revert":  s.revertRule,
		"GET /v1/rollout/history":                 s.ruleHistory,
		"GET /v1/rollout/explain":                 s.explainAny,
		"POST /v1/feedback":                       s.createFeedback,
		"GET /v1/feedback":                        s.listFeedback,
		"GET /v1/feedback.csv":                    s.exportFeedback,
		"POST /v1/payments/{id}/confirm_receipt":  s.confirmReceipt,
		"POST /v1/refunds/{id}/return_received":   s.returnReceived,
		"POST /v1/refunds/{id}/cancel_return":     s.cancelReturn,
		"GET /v1/balances":                        s.balances,
		"GET /v1/ledger/entries":                  s.ledgerEntries,
		"POST /v1/settlements":                    s.settle,
		"GET /v1/statements":                      s.statement,
		"POST /v1/reconciliations":                s.reconcile,
		"GET /v1/reconciliations":                 s.listReconciliations,
		"GET /v1/reconciliations/{id}":            s.getReconciliation,
		"GET /v1/reconciliations/{id}/items.csv":  s.exportReconciliation,
	}
	for _, route := range Routes {
		if handlers[route] == nil {
			panic("api: no handler for " + route)
		}
		mux.Handle(route, counted(route, s.authenticated(route, handlers[route])))
	}
	mux.HandleFunc("GET /v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openapi)
	})
	// Any other request under /v1/: a path that is a route under other
	// methods is 405 with the methods it takes (Allow); a path that is no
	// route at all is 404.
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(r.URL.Path); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed",
				fmt.Sprintf("%s does not take %s; it takes %s", r.URL.Path, r.Method, strings.Join(allow, ", ")), "")
			return
		}
		writeError(w, http.StatusNotFound, "invalid_request_error", "route_not_found", fmt.Sprintf("%s %s is not a route of the API (GET /v1/openapi.yaml lists them)", r.Method, r.URL.Path), "")
	})
	// The payments service is found at each notification: a test builds the
	// handler before it knows the address the service's notify URLs name.
	mux.HandleFunc("POST /notify/{channel}/{account}", func(w http.ResponseWriter, r *http.Request) {
		s.Svc.PaymentService().HandleNotification(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.ready)
	return mux
}

// allowedMethods lists the methods of the routes whose pattern matches
// path (a {name} segment matches any one non-empty segment), sorted, with
// HEAD where GET is (the mux answers HEAD with GET's handler); nil when
// no route has the path.
func allowedMethods(path string) []string {
	segs := strings.Split(path, "/")
	var out []string
	for _, route := range append(slices.Clone(Routes), "GET /v1/openapi.yaml") {
		method, pattern, _ := strings.Cut(route, " ")
		ps := strings.Split(pattern, "/")
		if len(ps) != len(segs) {
			continue
		}
		match := true
		for i, p := range ps {
			if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
				match = segs[i] != ""
			} else {
				match = p == segs[i]
			}
			if !match {
				break
			}
		}
		if match && !slices.Contains(out, method) {
			out = append(out, method)
			if method == http.MethodGet {
				out = append(out, http.MethodHead)
			}
		}
	}
	slices.Sort(out)
	return out
}

// MetricsHandler serves GET /metrics (the Prometheus exposition of
// package metrics, with the database's gauges read through s.Svc) and
// nothing else. It is not part of Handler: the counts span every merchant,
// so it is served on a listener of its own (hutong serve --metrics-addr,
// loopback by default), never beside /v1 and /notify on the internet.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(metrics.Options{
		DB: s.Svc.DB,
		// Every kind the gateway's worker runs has a lag series, 0 when
		// none of its jobs is due.
		JobKinds: slices.Collect(maps.Keys(s.Svc.Worker("").Handlers)),
		Now:      s.Svc.Now,
		Logger:   s.Logger,
	}))
	// The Go runtime's profiles, beside the metrics on the operators'
	// listener (loopback by default), never on the API's: a CPU profile of a
	// gateway under load is what says where its time goes.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Svc.DB.PingContext(ctx); err != nil {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// counted records a route's answers for /metrics: the status code, the
// request's time, and the gateway's own time (the request's time less its
// wallet calls).
func counted(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, wallet := walletcall.WithTimer(r.Context())
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		h.ServeHTTP(rec, r.WithContext(ctx))
		took := time.Since(start)
		metrics.ObserveRequest(route, rec.status, took, took-wallet())
	})
}

// OwnTime returns the p50 and p99 of a route's own times, estimated from
// hutong_api_own_seconds (see metrics.OwnTime).
func OwnTime(route string) (p50, p99 time.Duration) { return metrics.OwnTime(route) }

// ResetOwnTime forgets a route's own times (benchmarks measure one run).
func ResetOwnTime(route string) { metrics.ResetOwnTime(route) }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }

// caller is who is calling: the key and the merchant it acts for.
type caller struct {
	key      merchant.Key
	merchant merchant.Merchant
}

// authenticated checks the Bearer key. A platform key names the merchant
// it acts for in the Hutong-Merchant header.
func (s *Server) authenticated(route string, h func(http.ResponseWriter, *http.Request, caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			writeError(w, http.StatusUnauthorized, "authentication_error", "missing_api_key", "send your API key as Authorization: Bearer sk_…", "")
			return
		}
		key, err := s.Svc.MerchantService().Authenticate(r.Context(), secret)
		if errors.Is(err, merchants.ErrBadKey) {
			writeError(w, http.StatusUnauthorized, "authentication_error", "invalid_api_key", "the API key is not valid", "")
			return
		}
		if err != nil {
			s.log().Error("authenticating a request", "route", route, "err", err)
			writeError(w, http.StatusInternalServerError, "api_error", "internal", "the gateway could not check the API key; retry", "")
			return
		}
		c := caller{key: key}
		mid := key.MerchantID
		switch {
		case PlatformOnly[route] && !key.Platform():
			writeError(w, http.StatusForbidden, "permission_error", "platform_key_required", "only a platform key may call "+route, "")
			return
		case PlatformOnly[route]:
			mid = "" // the operator's side names no merchant
		case key.Platform():
			mid = r.Header.Get("Hutong-Merchant")
			if mid == "" && !PlatformWide[route] {
				writeError(w, http.StatusBadRequest, "invalid_request_error", "merchant_required", "a platform key names the merchant it acts for in the Hutong-Merchant header", "Hutong-Merchant")
				return
			}
		}
		if mid != "" {
			m, err := s.Svc.MerchantService().Get(r.Context(), mid)
			if err != nil {
				writeError(w, http.StatusNotFound, "invalid_request_error", "merchant_not_found", "no merchant "+strconv.Quote(mid), "Hutong-Merchant")
				return
			}
			c.merchant = m
		}
		if r.Method == http.MethodPost {
			s.idempotent(w, r, c, h)
			return
		}
		h(w, r, c)
	})
}

// recorder holds an idempotent request's answer until it is recorded
// under its key, then sends it: a client never sees an answer that a
// retry would not replay.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// send writes the held answer.
func (r *recorder) send() {
	r.ResponseWriter.WriteHeader(r.status)
	r.ResponseWriter.Write(r.body.Bytes())
}

// idempotent runs a POST once per Idempotency-Key: the same key and body
// within 24 hours replays the first answer; the same key with another body
// is refused (422); a request still running under the key is 409.
//
// The key is held by one run (its owner) for the lease. A change that a
// second run would repeat (a refund, a payment) commits its answer in its
// own transaction through idempotency.WithAnswerCommit, and only while this
// run owns the key: after a crash at any instant the key is either
// unanswered with nothing changed, or answered. A retry after the lease
// takes the key over; the first run, if it was only slow, then cannot
// commit its change.
//
// The routes in claimedAtCommit skip the claim: their key is written once,
// with its answer, in the change's transaction (idempotentAtCommit).
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, c caller, h func(http.ResponseWriter, *http.Request, caller)) {
	body, err := jsonbody.ReadAll(w, r, MaxBodyBytes)
	if !bodyOK(w, err) {
		return
	}
	// What the key is not kept for: a Content-Type is not part of the
	// request's hash, so its refusal must not be replayed to a client that
	// fixed it; nor is a body that is not one JSON value (malformed,
	// duplicate keys, trailing data) kept, as it was never a request.
	empty := len(bytes.Trim(body, " \t\r\n")) == 0
	if err := jsonbody.CheckContentType(r.Header, empty); !bodyOK(w, err) {
		return
	}
	if !empty && !bodyOK(w, jsonbody.Check(body, nil)) {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		h(w, r, c)
		return
	}
	if len(key) > 255 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "idempotency_key_too_long", "Idempotency-Key is at most 255 characters", "Idempotency-Key")
		return
	}
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"+c.merchant.ID+"\n"), body...))
	k := idemKey{db: s.Svc.DB, scope: c.key.ID + "/" + c.merchant.ID, key: key, hash: hex.EncodeToString(sum[:]), owner: newOwner()}
	if claimedAtCommit[r.Pattern] {
		s.idempotentAtCommit(w, r, c, h, k)
		return
	}
	lease := s.IdempotencyLease
	if lease <= 0 {
		lease = DefaultIdempotencyLease
	}
	ctx := r.Context()
	owned, err := k.acquire(ctx, lease)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "api_error", "internal", "could not record the idempotency key", "")
		return
	}
	if !owned {
		k.answerTaken(w, r)
		return
	}
	s.failpoint("key_held")
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	h(rec, r.WithContext(idempotency.WithAnswerCommit(ctx, k.commit)), c)
	s.failpoint("handled")
	defer rec.send()
	done := context.WithoutCancel(ctx)
	if rec.status >= 500 {
		// A server failure is not an answer to keep: let a retry run again.
		if err := k.db.Pool().IdempotencyKeyRelease(done, k.scope, k.key, k.owner); err != nil {
			s.log().Error("could not release an idempotency key", "error", err.Error())
		}
		return
	}
	// A change that committed its answer has nothing left to write here.
	if _, err := k.db.Pool().IdempotencyKeyAnswer(done, k.row(rec.status, rec.body.String())); err != nil {
		// The answer is still sent; a retry after the lease runs again.
		s.log().Error("could not record an idempotent answer", "error", err.Error())
	}
}

// claimedAtCommit are the routes whose Idempotency-Key is claimed by the
// commit of the change itself, saving a durable write before it and one
// after: creating a payment, the hot path. Their change commits its answer
// in its transaction, and everything they do before it may happen twice
// without harm: two runs under one key (a retry while the first still
// runs, or after it crashed) may each open an order at the wallet, but
// only one payment commits and the other order expires unpaid, as when a
// gateway dies between the wallet's answer and its commit.
var claimedAtCommit = map[string]bool{"POST /v1/payments": true}

// idempotentAtCommit runs a request of a claimedAtCommit route: a key
// already answered is replayed; otherwise the request runs, and its key is
// written with its answer in the change's transaction, or after it for an
// answer that changed nothing (a refusal, a replay of the payment a
// merchant_order_id already names). Of two runs under one key, the one that
// commits second rolls its change back and answers what the first did.
func (s *Server) idempotentAtCommit(w http.ResponseWriter, r *http.Request, c caller, h func(http.ResponseWriter, *http.Request, caller), k idemKey) {
	ctx := r.Context()
	prev, err := k.db.Pool().IdempotencyKeyGet(ctx, k.scope, k.key)
	switch {
	case err == nil && prev.CreatedAt.After(time.Now().Add(-idempotencyWindow)):
		k.answer(w, prev)
		return
	case err != nil && !errors.Is(err, store.ErrNoRows):
		writeError(w, http.StatusInternalServerError, "api_error", "internal", "could not read the idempotency key", "")
		return
	}
	s.failpoint("key_held")
	var committed, lost bool
	atCommit := func(ctx context.Context, tx *sql.Tx, status int, v any) error {
		response, err := encodeAnswer(v)
		if err != nil {
			return err
		}
		ok, err := k.db.In(tx).IdempotencyKeyInsertAnswered(ctx, k.row(status, response), time.Now().Add(-idempotencyWindow))
		if err != nil {
			return err
		}
		if !ok {
			lost = true
			return idempotency.ErrKeyTakenOver
		}
		committed = true
		return nil
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	h(rec, r.WithContext(idempotency.WithAnswerCommit(ctx, atCommit)), c)
	s.failpoint("handled")
	done := context.WithoutCancel(ctx)
	switch {
	case lost:
		// Another run under the key committed first: answer as it did.
		k.answerTaken(w, r)
		return
	case !committed && rec.status < 500:
		ok, err := k.db.Pool().IdempotencyKeyInsertAnswered(done, k.row(rec.status, rec.body.String()), time.Now().Add(-idempotencyWindow))
		if err != nil {
			s.log().Error("could not record an idempotent answer", "error", err.Error())
		} else if !ok {
			k.answerTaken(w, r)
			return
		}
	}
	rec.send()
}

// idempotencyWindow is how long a key's answer is kept for replay.
const idempotencyWindow = 24 * time.Hour

// idemKey is one request's Idempotency-Key, held by owner.
type idemKey struct {
	db               *store.DB
	scope, key, hash string
	owner            string
}

func newOwner() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// row is the key answered with status and response by this run.
func (k idemKey) row(status int, response string) store.IdempotencyKey {
	return store.IdempotencyKey{Scope: k.scope, Key: k.key, RequestHash: k.hash, Status: status, Response: response, Owner: k.owner, CreatedAt: time.Now()}
}

// acquire takes the key for this run: a new key, or one whose holder's
// lease ran out without an answer (its gateway died, or is stuck). It
// reports false when the key is answered or held.
func (k idemKey) acquire(ctx context.Context, lease time.Duration) (bool, error) {
	now := time.Now()
	pool := k.db.Pool()
	if err := pool.IdempotencyKeyDeleteBefore(ctx, k.scope, k.key, now.Add(-idempotencyWindow)); err != nil {
		return false, err
	}
	owned, err := pool.IdempotencyKeyClaim(ctx, store.IdempotencyKey{Scope: k.scope, Key: k.key, RequestHash: k.hash, Owner: k.owner, CreatedAt: now, LeaseUntil: now.Add(lease)})
	if err != nil || owned {
		return owned, err
	}
	// Taken over only from the holder seen, only if still unanswered and
	// for the same request: two retries cannot both take it.
	prev, err := pool.IdempotencyKeyGet(ctx, k.scope, k.key)
	if errors.Is(err, store.ErrNoRows) {
		return k.acquire(ctx, lease) // answered as a server failure and deleted meanwhile
	}
	if err != nil || prev.Status != 0 || prev.RequestHash != k.hash || prev.LeaseUntil.After(now) {
		return false, err
	}
	return pool.IdempotencyKeyTakeOver(ctx, store.IdempotencyKeyTakeOverParams{Scope: k.scope, Key: k.key, From: prev.Owner, To: k.owner, LeaseUntil: now.Add(lease)})
}

// answerTaken answers a request whose key another run holds or answered.
func (k idemKey) answerTaken(w http.ResponseWriter, r *http.Request) {
	prev, err := k.db.Pool().IdempotencyKeyGet(context.WithoutCancel(r.Context()), k.scope, k.key)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "api_error", "internal", "could not read the idempotency key", "")
		return
	}
	k.answer(w, prev)
}

// answer answers with what the key's first run did: its answer, a refusal
// of another request under the key, or "still running".
func (k idemKey) answer(w http.ResponseWriter, prev store.IdempotencyKey) {
	switch {
	case prev.RequestHash != k.hash:
		writeError(w, http.StatusUnprocessableEntity, "idempotency_error", "idempotency_key_reused", "this Idempotency-Key was used with another request", "Idempotency-Key")
	case prev.Status != 0:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(prev.Status)
		w.Write([]byte(prev.Response))
	default:
		writeError(w, http.StatusConflict, "idempotency_error", "request_in_progress", "a request with this Idempotency-Key is still running; retry later for its answer", "Idempotency-Key")
	}
}

// encodeAnswer is v as the API answers it.
func encodeAnswer(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// commit is the idempotency.AnswerCommit of this run: the answer is written in
// the change's transaction, and only while this run still owns the key.
func (k idemKey) commit(ctx context.Context, tx *sql.Tx, status int, v any) error {
	response, err := encodeAnswer(v)
	if err != nil {
		return err
	}
	ok, err := k.db.In(tx).IdempotencyKeyAnswer(ctx, k.row(status, response))
	if err != nil || !ok {
		return errors.Join(idempotency.ErrKeyTakenOver, err)
	}
	return nil
}

// failpoint stops the request at a named step when a test asks: the
// process "crashes" there, leaving the database as a killed gateway would.
func (s *Server) failpoint(step string) {
	if s.crashAt != nil && s.crashAt(step) {
		panic(http.ErrAbortHandler)
	}
}

// apiError is the error body.
type apiError struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

func writeError(w http.ResponseWriter, status int, typ, code, message, param string) {
	writeJSON(w, status, map[string]apiError{"error": {typ, code, message, param}})
}

// writeJSON answers with v, encoded before anything is sent: a value that
// does not encode (a bug) is answered 500 and logged, never half-written.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Error("api: an answer did not encode", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"type":"api_error","code":"internal","message":"the answer could not be encoded"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// decodeOptional is decode for a body that may be left out: an empty body
// needs no Content-Type (a bare POST of an action); one that is there is
// held to every rule of decode.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) bool {
	_, err := jsonbody.ReadOptional(w, r, MaxBodyBytes, v)
	return bodyOK(w, err)
}

// decode reads a JSON body with the one strict decoder of internal/jsonbody:
// Content-Type application/json, duplicate keys, trailing data, unknown
// fields, wrong types and oversized bodies are refused with a message naming
// the problem.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return bodyOK(w, jsonbody.Read(w, r, MaxBodyBytes, v))
}

// bodyOK answers a refused body, reporting whether there was none.
func bodyOK(w http.ResponseWriter, err error) bool {
	if err == nil {
		return true
	}
	var e *jsonbody.Error
	if !errors.As(err, &e) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", err.Error(), "")
		return false
	}
	writeError(w, e.Status, "invalid_request_error", e.Code, e.Message, e.Field)
	return false
}

// fail maps the service's errors to answers.
func fail(w http.ResponseWriter, err error) {
	var fe *payment.FieldError
	var nf *gateway.NotFoundError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", fe.Error(), fe.Param)
	case errors.As(err, &nf):
		writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", nf.Error(), nf.Param)
	case errors.Is(err, gateway.ErrNotFound):
		writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "the object the path names does not exist for this caller", "id")
	case errors.Is(err, gateway.ErrDuplicateOrder):
		writeError(w, http.StatusConflict, "invalid_request_error", "duplicate_merchant_order_id", err.Error(), "merchant_order_id")
	case errors.Is(err, contract.ErrNotAllowed), errors.Is(err, contract.ErrUnsigned):
		writeError(w, http.StatusConflict, "invalid_request_error", "contract_state", err.Error(), "")
	case errors.Is(err, onboarding.ErrBadSignToken):
		writeError(w, http.StatusForbidden, "permission_error", "bad_sign_token", err.Error(), "token")
	case errors.Is(err, money.ErrPayableShort):
		writeError(w, http.StatusConflict, "invalid_request_error", "payable_insufficient", err.Error(), "")
	case errors.Is(err, money.ErrReturnInProgress):
		writeError(w, http.StatusConflict, "invalid_request_error", "return_in_progress", err.Error(), "")
	case errors.Is(err, money.ErrRefundInFlight):
		writeError(w, http.StatusConflict, "invalid_request_error", "refund_in_flight", err.Error(), "")
	case errors.Is(err, gateway.ErrNotAwaitingReturn):
		writeError(w, http.StatusConflict, "invalid_request_error", "refund_not_awaiting_return", err.Error(), "")
	case errors.Is(err, money.ErrNegativeBalance):
		writeError(w, http.StatusConflict, "invalid_request_error", "balance_negative", err.Error(), "")
	case errors.Is(err, gateway.ErrPaidByOther):
		writeError(w, http.StatusConflict, "invalid_request_error", "payment_paid", err.Error(), "")
	case errors.Is(err, payment.ErrClosed):
		writeError(w, http.StatusConflict, "invalid_request_error", "payment_closed", err.Error(), "")
	case errors.Is(err, gateway.ErrAlreadyPaid):
		writeError(w, http.StatusConflict, "invalid_request_error", "payment_paid", err.Error(), "")
	case errors.Is(err, payment.ErrNotPaid):
		writeError(w, http.StatusConflict, "invalid_request_error", "payment_not_paid", err.Error(), "")
	case errors.Is(err, gateway.ErrRefundTooLarge):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "refund_exceeds_payment", err.Error(), "amount")
	case errors.Is(err, gateway.ErrMethodNotOpen), errors.Is(err, gateway.ErrNoContract), errors.Is(err, onboarding.ErrNoOnboarding):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "method_unavailable", err.Error(), "method")
	case errors.Is(err, rollouts.ErrConflict):
		writeError(w, http.StatusConflict, "invalid_request_error", "concurrent_change", err.Error(), "")
	case errors.Is(err, idempotency.ErrKeyTakenOver):
		writeError(w, http.StatusConflict, "idempotency_error", "request_in_progress", "a retry with this Idempotency-Key took this request over; retry later for its answer", "Idempotency-Key")
	case errors.Is(err, gateway.ErrWalletRefused), errors.Is(err, onboarding.ErrWalletRefused), errors.Is(err, money.ErrWalletRefused):
		writeError(w, http.StatusBadGateway, "wallet_error", "wallet_refused", err.Error(), "")
	default:
		writeError(w, http.StatusInternalServerError, "api_error", "internal", "the gateway failed; it is safe to retry with the same Idempotency-Key", "")
	}
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
