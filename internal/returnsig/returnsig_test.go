package returnsig

import (
	"crypto/ed25519"
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	now := time.Unix(1_790_000_000, 0).UTC()
	r := Return{MerchantID: "m_1", PaymentID: "pay_1", MerchantOrderID: "o-1", Status: "succeeded", Amount: 1990, Time: now}
	signed, err := Sign(priv, "https://shop.example/back?cart=7&hutong_status=forged", r)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(signed)
	if u.Query().Get("cart") != "7" {
		t.Fatalf("the merchant's own query is lost: %s", signed)
	}
	got, err := Verify(pub, "m_1", u.Query(), now.Add(time.Minute), 10*time.Minute)
	if err != nil || got != r {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	// Another merchant, a changed amount or status, an old return: refused.
	if _, err := Verify(pub, "m_2", u.Query(), now, 0); !errors.Is(err, ErrSignature) {
		t.Errorf("another merchant: %v", err)
	}
	for k, v := range map[string]string{"hutong_amount": "1", "hutong_status": "canceled", "hutong_payment": "pay_2", "hutong_order": "o-2"} {
		q := u.Query()
		q.Set(k, v)
		if _, err := Verify(pub, "m_1", q, now, 0); err == nil {
			t.Errorf("%s changed: verified", k)
		}
	}
	if _, err := Verify(pub, "m_1", u.Query(), now.Add(time.Hour), 10*time.Minute); !errors.Is(err, ErrStale) {
		t.Errorf("an hour later: %v", err)
	}
	if _, err := Verify(pub, "m_1", url.Values{"cart": {"7"}}, now, 0); !errors.Is(err, ErrMissing) {
		t.Errorf("no parameters: %v", err)
	}
	q := u.Query()
	q.Add("hutong_status", "succeeded")
	if _, err := Verify(pub, "m_1", q, now, 0); err == nil {
		t.Error("a parameter given twice verified")
	}
}

func FuzzVerify(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	now := time.Unix(1_790_000_000, 0).UTC()
	signed, _ := Sign(priv, "https://shop.example/back", Return{MerchantID: "m", PaymentID: "p", Status: "succeeded", Amount: 1, Time: now})
	u, _ := url.Parse(signed)
	f.Add(u.RawQuery)
	f.Add("hutong_payment=p&hutong_sig=xx")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		r, err := Verify(pub, "m", q, now, 0)
		if err == nil && (r.PaymentID != "p" || r.Amount != 1 || r.Status != "succeeded") {
			t.Fatalf("verified a return that was not signed: %+v", r)
		}
	})
}
