package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestIdempotencyKeyMethods: a key claimed once, taken over only from its
// holder, answered only by its holder, released, inserted answered (over
// an expired key only), and pruned, on both backends.
func TestIdempotencyKeyMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Now().UTC().Truncate(time.Microsecond)
		k := store.IdempotencyKey{Scope: "key_1/m_1", Key: "k", RequestHash: "h", Owner: "run-a", CreatedAt: now, LeaseUntil: now.Add(time.Minute)}
		mustBool := func(what string, got bool, err error, want bool) {
			t.Helper()
			if err != nil || got != want {
				t.Fatalf("%s: %v, %v; want %v", what, got, err, want)
			}
		}
		ok, err := pool.IdempotencyKeyClaim(ctx, k)
		mustBool("first claim", ok, err, true)
		ok, err = pool.IdempotencyKeyClaim(ctx, k)
		mustBool("second claim", ok, err, false)
		ok, err = pool.IdempotencyKeyTakeOver(ctx, store.IdempotencyKeyTakeOverParams{Scope: k.Scope, Key: k.Key, From: "run-x", To: "run-b", LeaseUntil: now})
		mustBool("take over from a run that does not hold it", ok, err, false)
		ok, err = pool.IdempotencyKeyTakeOver(ctx, store.IdempotencyKeyTakeOverParams{Scope: k.Scope, Key: k.Key, From: "run-a", To: "run-b", LeaseUntil: now})
		mustBool("take over from the holder", ok, err, true)
		k.Status, k.Response = 201, `{"id":"pay_1"}`
		ok, err = pool.IdempotencyKeyAnswer(ctx, k) // run-a no longer holds it
		mustBool("answer by the run that lost the key", ok, err, false)
		k.Owner = "run-b"
		ok, err = pool.IdempotencyKeyAnswer(ctx, k)
		mustBool("answer by its holder", ok, err, true)
		got, err := pool.IdempotencyKeyGet(ctx, k.Scope, k.Key)
		if err != nil || got.Status != 201 || got.Response != k.Response || got.Owner != "run-b" || !got.CreatedAt.Equal(now) {
			t.Fatalf("read back %+v, %v", got, err)
		}
		if err := pool.IdempotencyKeyRelease(ctx, k.Scope, k.Key, "run-b"); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.IdempotencyKeyGet(ctx, k.Scope, k.Key); err != nil {
			t.Fatalf("an answered key was released: %v", err)
		}

		fresh := store.IdempotencyKey{Scope: k.Scope, Key: k.Key, RequestHash: "h2", Status: 201, Response: "{}", Owner: "run-c", CreatedAt: now}
		ok, err = pool.IdempotencyKeyInsertAnswered(ctx, fresh, now.Add(-24*time.Hour))
		mustBool("insert answered over a live key", ok, err, false)
		ok, err = pool.IdempotencyKeyInsertAnswered(ctx, fresh, now.Add(time.Second))
		mustBool("insert answered over an expired key", ok, err, true)
		if got, err := pool.IdempotencyKeyGet(ctx, k.Scope, k.Key); err != nil || got.RequestHash != "h2" || got.Owner != "run-c" {
			t.Fatalf("after replacing: %+v, %v", got, err)
		}
		if err := pool.IdempotencyKeyDeleteBefore(ctx, k.Scope, k.Key, now); err != nil {
			t.Fatal(err)
		}
		if err := pool.IdempotencyKeyDeleteBefore(ctx, k.Scope, k.Key, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.IdempotencyKeyGet(ctx, k.Scope, k.Key); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("after DeleteBefore: %v, want ErrNoRows", err)
		}
		for _, key := range []string{"old", "new"} {
			at := now
			if key == "old" {
				at = now.Add(-48 * time.Hour)
			}
			if _, err := pool.IdempotencyKeyClaim(ctx, store.IdempotencyKey{Scope: "s", Key: key, RequestHash: "h", CreatedAt: at, LeaseUntil: at}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := pool.IdempotencyKeysPrune(ctx, now.Add(-24*time.Hour)); err != nil || n != 1 {
			t.Fatalf("pruned %d, %v; want 1", n, err)
		}
	})
}
