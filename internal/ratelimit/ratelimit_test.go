package ratelimit

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	l := &Limiter{Rate: 2, Burst: 3}
	now := time.Unix(0, 0)
	for i := range 3 {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("try %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("fourth try = %v, wait %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("another client shares the first one's bucket")
	}
	if ok, _ := l.Allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("a token did not come back after 1/rate")
	}
	// An idle client's bucket is forgotten, and starts full again.
	l.Allow("a", now.Add(2*time.Minute))
	if _, kept := l.buckets["b"]; kept {
		t.Error("an idle full bucket was kept")
	}
}

func TestAllowEachTakesAllOrNothing(t *testing.T) {
	client := &Limiter{Rate: 1, Burst: 2}
	merchant := &Limiter{Rate: 1, Burst: 3}
	now := time.Unix(0, 0)
	take := func(c string) bool {
		ok, _ := AllowEach(now, Take{client, c}, Take{merchant, "m"})
		return ok
	}
	for i := range 2 {
		if !take("a") {
			t.Fatalf("try %d of the client's burst refused", i+1)
		}
	}
	if take("a") {
		t.Fatal("the client's third try allowed")
	}
	// Client b has its own bucket, but the merchant's has one token left.
	if !take("b") {
		t.Fatal("another client refused")
	}
	ok, wait := AllowEach(now, Take{client, "b"}, Take{merchant, "m"})
	if ok || wait != time.Second {
		t.Fatalf("over the merchant's limit: %v, wait %v", ok, wait)
	}
	// The refusal took nothing from b's bucket: it still has one token.
	if ok, _ := client.Allow("b", now); !ok {
		t.Fatal("a refused request used up the client's token")
	}
}
