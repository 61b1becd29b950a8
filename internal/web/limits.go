package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/ratelimit"
)

// Every anonymous page action that creates state is rate limited twice: per
// client address, so one client cannot flood, and per merchant (all
// clients together), so many addresses cannot either. A refused request is
// answered 429 with Retry-After and changes nothing.
const (
	LimitStorePay     = "store_pay"     // POST /m/{merchant}: creates a payment
	LimitAttempt      = "attempt"       // POST /pay/{id}/attempts: opens a wallet order (also a pay-for-me friend's choice)
	LimitFeedback     = "feedback"      // POST /feedback/{id}: stores feedback
	LimitShareResolve = "share_resolve" // POST /s/: counts a use of a share code, or answers a guess
)

// Limit is a token bucket: Burst requests at once, then PerSecond.
type Limit struct {
	PerSecond float64
	Burst     float64
}

// Limits are one action's limits. For share-code resolves the merchant is
// not known until the code is looked up (and looking it up counts a use),
// so Merchant is the limit of all clients together.
type Limits struct {
	Client   Limit
	Merchant Limit
}

// DefaultLimits are generous for people and tight for scripts: a buyer
// pays at a store code a few times a minute at most, a busy store takes a
// few payments a second.
var DefaultLimits = map[string]Limits{
	LimitStorePay:     {Client: Limit{PerSecond: 0.2, Burst: 10}, Merchant: Limit{PerSecond: 5, Burst: 100}},
	LimitAttempt:      {Client: Limit{PerSecond: 1, Burst: 30}, Merchant: Limit{PerSecond: 20, Burst: 300}},
	LimitFeedback:     {Client: Limit{PerSecond: 0.5, Burst: 10}, Merchant: Limit{PerSecond: 2, Burst: 50}},
	LimitShareResolve: {Client: Limit{PerSecond: 2, Burst: 20}, Merchant: Limit{PerSecond: 50, Burst: 500}},
}

// limiters are one action's buckets.
type limiters struct{ client, merchant *ratelimit.Limiter }

func newLimiters(override map[string]Limits) map[string]limiters {
	out := map[string]limiters{}
	for name, l := range DefaultLimits {
		if o, ok := override[name]; ok {
			l = o
		}
		out[name] = limiters{
			client:   &ratelimit.Limiter{Rate: l.Client.PerSecond, Burst: l.Client.Burst},
			merchant: &ratelimit.Limiter{Rate: l.Merchant.PerSecond, Burst: l.Merchant.Burst},
		}
	}
	return out
}

// allow takes a token for action from the client's and the merchant's
// buckets. When either is empty it answers 429 with Retry-After (whole
// seconds, rounded up) through refuse, which renders the page the action
// came from with the message, and reports false.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request, action, merchantID string, refuse func(msg string)) bool {
	l := h.limit[action]
	ok, wait := ratelimit.AllowEach(time.Now(), ratelimit.Take{Limiter: l.client, Key: clientKey(h.clientIP(r))}, ratelimit.Take{Limiter: l.merchant, Key: merchantID})
	if ok {
		return true
	}
	secs := max(1, int((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	refuse(fmt.Sprintf("操作太频繁，请 %d 秒后再试。", secs))
	return false
}

// clientKey is the bucket of a client address: an IPv6 client gets a
// whole /64, which is what one subscriber is given.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// clientIP is the buyer's address: the TCP peer, or, when the peer is one
// of Config.TrustedProxies, the address the proxies recorded in
// X-Forwarded-For (see forwardedFor).
func (h *Handler) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return "127.0.0.1"
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(h.cfg.TrustedProxies) == 0 {
		return host
	}
	return forwardedFor(peer.Unmap(), r.Header.Values("X-Forwarded-For"), h.cfg.TrustedProxies).String()
}

// forwardedFor walks X-Forwarded-For from the right (the entry the nearest
// proxy appended) while the address is a trusted proxy, and returns the
// first one that is not: everything left of it was written by the client
// and proves nothing. A malformed entry ends the walk at the proxy that
// passed it on.
func forwardedFor(peer netip.Addr, headers []string, trusted []netip.Prefix) netip.Addr {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	client := peer
	var entries []string
	for _, h := range headers {
		entries = append(entries, strings.Split(h, ",")...)
	}
	for i := len(entries) - 1; i >= 0 && isTrusted(client); i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
		if err != nil {
			return client
		}
		client = a.Unmap()
	}
	return client
}
