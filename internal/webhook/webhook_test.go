package webhook

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	now := time.Unix(1727000000, 0)
	body := []byte(`{"type":"payment.succeeded","data":{"id":"pay_1"}}`)
	h := http.Header{}
	if err := SetHeaders(h, secret, "evt_1", now, body); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.Get(HeaderSignature), "v1,") {
		t.Fatalf("signature %q", h.Get(HeaderSignature))
	}
	if err := Verify(secret, h, body, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := Verify(secret, h, append(body, ' '), now); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered body: %v", err)
	}
	if err := Verify(NewSecret(), h, body, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("another secret: %v", err)
	}
	if err := Verify(secret, h, body, now.Add(6*time.Minute)); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("late: %v", err)
	}
	// A rotating secret sends two signatures; either verifies.
	old := NewSecret()
	oldSig, _ := Sign(old, "evt_1", now, body)
	h.Set(HeaderSignature, oldSig+" "+h.Get(HeaderSignature))
	if err := Verify(secret, h, body, now); err != nil {
		t.Fatal(err)
	}
	h.Del(HeaderID)
	if err := Verify(secret, h, body, now); !errors.Is(err, ErrMissingHeaders) {
		t.Fatalf("no id: %v", err)
	}
}

// TestSpecVector checks the example of the Standard Webhooks specification.
func TestSpecVector(t *testing.T) {
	t.Parallel()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"test": 2432232314}`)
	sig, err := Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	if err != nil {
		t.Fatal(err)
	}
	if sig != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %s", sig)
	}
}

func TestScheduleSpansThreeDays(t *testing.T) {
	t.Parallel()
	var total time.Duration
	for _, d := range Schedule {
		total += d
	}
	if total > 72*time.Hour || total < 69*time.Hour {
		t.Fatalf("retries span %v", total)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("evt_1", "1727000000", "v1,AAAA", "{}")
	f.Fuzz(func(t *testing.T, id, ts, sig, body string) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		if Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, []byte(body), time.Unix(1727000000, 0)) == nil {
			t.Fatalf("forged webhook verified: %q %q %q", id, ts, sig)
		}
	})
}
