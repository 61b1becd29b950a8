package payment

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
)

var now = time.Date(2024, 9, 12, 2, 0, 0, 0, time.UTC)

func validRequest() Request {
	return Request{MerchantOrderID: "order-42", Amount: 8880, Currency: "CNY", Description: "县城包邮 · 纯棉T恤",
		Method: channel.WeChatNative, Buyer: Buyer{ID: "b1", RegionCode: "330782", Platform: "ios"}}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if err := validRequest().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		param string
		edit  func(r *Request)
	}{
		{"merchant_order_id", func(r *Request) { r.MerchantOrderID = "" }},
		{"merchant_order_id", func(r *Request) { r.MerchantOrderID = "a b'; DROP TABLE payments;--" }},
		{"amount", func(r *Request) { r.Amount = 0 }},
		{"amount", func(r *Request) { r.Amount = -1 }},
		{"amount", func(r *Request) { r.Amount = MaxAmount + 1 }},
		{"currency", func(r *Request) { r.Currency = "USD" }},
		{"description", func(r *Request) { r.Description = " " }},
		{"description", func(r *Request) { r.Description = strings.Repeat("字", 128) }},
		{"method", func(r *Request) { r.Method = "paypal" }},
		{"buyer.id", func(r *Request) { r.Buyer.ID = "" }},
		{"buyer.region_code", func(r *Request) { r.Buyer.RegionCode = "33078" }},
		{"buyer.platform", func(r *Request) { r.Buyer.Platform = "symbian" }},
		{"return_url", func(r *Request) { r.ReturnURL = "javascript:alert(1)" }},
		{"expires_in", func(r *Request) { r.ExpiresIn = 30 }},
		{"expires_in", func(r *Request) { r.ExpiresIn = 90000 }},
		{"metadata.k", func(r *Request) { r.Metadata = map[string]string{"k": strings.Repeat("v", 501)} }},
	} {
		r := validRequest()
		tc.edit(&r)
		var fe *FieldError
		if err := r.Validate(); !errors.As(err, &fe) || fe.Param != tc.param {
			t.Errorf("want a problem with %s, got %v", tc.param, err)
		}
	}
}

func TestNewIDFitsBothWallets(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := NewID("pay")
		if len(id) != 28 || strings.Trim(id[4:], "0123456789abcdefghjkmnpqrstvwxyz") != "" || seen[id] {
			t.Fatalf("id %q", id)
		}
		seen[id] = true
	}
}

func paid(p Payment) channel.Trade {
	return channel.Trade{Identity: us, OutTradeNo: p.ID, TransactionID: "4200001", State: channel.TradePaid, Amount: p.Amount, Currency: "CNY", PaidAt: now}
}

// us is the identity the tests' payments are made with.
var us = channel.Identity{App: "wx8888888888888888", Merchant: "1900000001"}

func TestApplyTrade(t *testing.T) {
	t.Parallel()
	p := New("m1", validRequest(), now)

	c, err := ApplyTrade(p, paid(p), us, now)
	if err != nil || !c.Changed || c.Event != EventSucceeded || c.Payment.Status != StatusSucceeded || c.Payment.WalletTradeNo != "4200001" {
		t.Fatalf("paid: %v %+v", err, c)
	}
	again, _ := ApplyTrade(c.Payment, paid(p), us, now)
	if again.Changed || again.Event != "" {
		t.Fatal("the same fact applied twice")
	}
	closed, _ := ApplyTrade(c.Payment, channel.Trade{OutTradeNo: p.ID, State: channel.TradeClosed, Amount: p.Amount}, us, now)
	if closed.Changed {
		t.Fatal("a late close undid a payment")
	}

	for name, tr := range map[string]channel.Trade{
		"amount":   {OutTradeNo: p.ID, State: channel.TradePaid, Amount: p.Amount - 1, Currency: "CNY"},
		"order":    {OutTradeNo: "pay_other", State: channel.TradePaid, Amount: p.Amount, Currency: "CNY"},
		"currency": {OutTradeNo: p.ID, State: channel.TradePaid, Amount: p.Amount, Currency: "USD"},
		"merchant": {OutTradeNo: p.ID, State: channel.TradePaid, Amount: p.Amount, Currency: "CNY", Identity: channel.Identity{Merchant: "1900000002"}},
		"app":      {OutTradeNo: p.ID, State: channel.TradePaid, Amount: p.Amount, Currency: "CNY", Identity: channel.Identity{App: "wx0000000000000000", Merchant: us.Merchant}},
		"sub":      {OutTradeNo: p.ID, State: channel.TradePaid, Amount: p.Amount, Currency: "CNY", Identity: channel.Identity{App: us.App, Merchant: us.Merchant, SubMerchant: "1900000109"}},
	} {
		var me *MismatchError
		if _, err := ApplyTrade(p, tr, us, now); !errors.As(err, &me) {
			t.Errorf("%s mismatch accepted: %v", name, err)
		}
	}

	// Canceled (expired) and then paid at the wallet: recorded and flagged.
	canceled, _ := Cancel(p, now)
	late, err := ApplyTrade(canceled.Payment, paid(p), us, now)
	if err != nil || late.Payment.Status != StatusSucceeded || !late.Payment.LatePaid {
		t.Fatalf("late payment: %v %+v", err, late.Payment)
	}
	if _, err := Cancel(late.Payment, now); !errors.Is(err, ErrAlreadyPaid) {
		t.Fatalf("canceled a paid payment: %v", err)
	}
}

// TestRefundsNeverExceedPaid is a property test: any sequence of refund
// requests, failures and successes keeps 0 ≤ refunded ≤ amount, and the
// succeeded refunds never sum past the payment.
func TestRefundsNeverExceedPaid(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		p := New("m1", validRequest(), now)
		p.Amount = 1 + rng.Int64N(100000)
		p = mustApply(t, p)
		var pending []Refund
		var succeeded int64
		for range 20 {
			if len(pending) > 0 && rng.IntN(2) == 0 {
				i := rng.IntN(len(pending))
				ok := rng.IntN(3) > 0
				var r Refund
				p, r, _ = SettleRefund(p, pending[i], ok, now)
				if r.Status == RefundSucceeded {
					succeeded += r.Amount
				}
				pending = append(pending[:i], pending[i+1:]...)
				continue
			}
			next, r, err := ReserveRefund(p, 1+rng.Int64N(p.Amount), "", now)
			if err == nil {
				p = next
				pending = append(pending, r)
			}
			if p.Refunded < 0 || p.Refunded > p.Amount || succeeded > p.Amount {
				t.Fatalf("refunded %d, succeeded %d of %d", p.Refunded, succeeded, p.Amount)
			}
		}
	}
}

func mustApply(t *testing.T, p Payment) Payment {
	c, err := ApplyTrade(p, paid(p), us, now)
	if err != nil {
		t.Fatal(err)
	}
	return c.Payment
}

// TestRefusalsNameThePayment: a refused refund or cancel names the payment,
// its status or its numbers, and still matches its sentinel.
func TestRefusalsNameThePayment(t *testing.T) {
	t.Parallel()
	p := New("m1", validRequest(), now)
	_, _, err := ReserveRefund(p, 100, "", now)
	if !errors.Is(err, ErrNotPaid) || err.Error() != "payment "+p.ID+" is requires_action (not paid yet); only a succeeded payment can be refunded" {
		t.Errorf("refunding an unpaid payment: %v", err)
	}
	p.Status, p.Refunded = StatusSucceeded, 5880
	_, _, err = ReserveRefund(p, 5000, "", now)
	want := "amount 5000 exceeds the 3000 fen still refundable on " + p.ID
	if !errors.Is(err, ErrRefundExceeds) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("over-refund: %v, want %q…", err, want)
	}
	p.Refunded = p.Amount
	if _, _, err = ReserveRefund(p, 1, "", now); !errors.Is(err, ErrRefundExceeds) || !strings.Contains(err.Error(), "all 8880 fen of "+p.ID) {
		t.Errorf("refunding a fully refunded payment: %v", err)
	}
	var fe *FieldError
	if _, _, err = ReserveRefund(p, 0, "", now); !errors.As(err, &fe) || fe.Param != "amount" {
		t.Errorf("a refund of 0: %v", err)
	}
	if _, err = Cancel(p, now); !errors.Is(err, ErrAlreadyPaid) || !strings.Contains(err.Error(), "payment "+p.ID+" is succeeded") {
		t.Errorf("canceling a paid payment: %v", err)
	}
}
