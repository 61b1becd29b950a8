// Package ratelimit is a token bucket per client key, in memory. It guards
// endpoints where each answer is a guess at something secret (resolving
// share codes): a client gets Burst tries at once and Rate more a second.
// Each gateway process counts on its own, so N processes allow N times the
// rate; that bounds guessing well enough for tokens of 2^49 values.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter holds one bucket per key.
type Limiter struct {
	Rate  float64 // tokens added per second
	Burst float64 // bucket size

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Allow takes a token from key's bucket at now, reporting whether there
// was one; when there was not, wait says how long until there is.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	// Forget full buckets now and then, so idle clients cost nothing.
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if b.tokens+now.Sub(b.at).Seconds()*l.Rate >= l.Burst {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.Burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.Burst, b.tokens+now.Sub(b.at).Seconds()*l.Rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
}
