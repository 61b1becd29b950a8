// Package ratelimit is a token bucket per client key, in memory. It guards
// the anonymous endpoints that create state or answer guesses (store codes,
// payment attempts, feedback, share-code resolves): a key gets Burst tries
// at once and Rate more a second. Each gateway process counts on its own,
// so N processes allow N times the rate; that bounds abuse well enough, and
// needs no shared state on the hot path.
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
	return AllowEach(now, Take{l, key})
}

// Take names one bucket: a limiter and a key.
type Take struct {
	Limiter *Limiter
	Key     string
}

// AllowEach takes a token from every named bucket, or from none when one of
// them is empty: a request refused by one limit (the merchant's) does not
// use up another (the client's). wait is how long until every bucket has a
// token. The limiters must be distinct and always named in the same order
// (they are locked in it).
func AllowEach(now time.Time, takes ...Take) (ok bool, wait time.Duration) {
	for _, t := range takes {
		t.Limiter.mu.Lock()
		defer t.Limiter.mu.Unlock()
	}
	bs := make([]*bucket, len(takes))
	for i, t := range takes {
		b := t.Limiter.refill(t.Key, now)
		bs[i] = b
		if b.tokens < 1 {
			wait = max(wait, time.Duration((1-b.tokens)/t.Limiter.Rate*float64(time.Second)))
		}
	}
	if wait > 0 {
		return false, wait
	}
	for _, b := range bs {
		b.tokens--
	}
	return true, 0
}

// refill returns key's bucket filled up to now; l.mu is held.
func (l *Limiter) refill(key string, now time.Time) *bucket {
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
	return b
}
