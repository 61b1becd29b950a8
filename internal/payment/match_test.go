package payment

import (
	"errors"
	"testing"

	"github.com/hutong-pay/hutong/internal/channel"
)

func TestMatchRefund(t *testing.T) {
	t.Parallel()
	p := New("m1", validRequest(), now)
	r := Refund{ID: "re_1", PaymentID: p.ID, Amount: 300, Status: RefundPending}
	want := channel.Identity{Merchant: us.Merchant}
	ok := channel.Refund{Identity: want, OutTradeNo: p.ID, OutRefundNo: r.ID, Amount: 300, Total: p.Amount, State: channel.RefundSucceeded}
	if err := MatchRefund(p, r, p.ID, p.Amount, want, ok); err != nil {
		t.Fatalf("the refund's own word refused: %v", err)
	}
	cumulative := ok
	cumulative.Cumulative, cumulative.Amount = true, p.Amount
	if err := MatchRefund(p, r, p.ID, p.Amount, want, cumulative); err != nil {
		t.Fatalf("a total refunded that includes the refund refused: %v", err)
	}
	for field, change := range map[string]func(*channel.Refund){
		FieldRefundNumber:  func(g *channel.Refund) { g.OutRefundNo = "re_2" },
		FieldOrder:         func(g *channel.Refund) { g.OutTradeNo = "pay_other" },
		FieldRefundAmount:  func(g *channel.Refund) { g.Amount = 299 },
		FieldOrderAmount:   func(g *channel.Refund) { g.Total = p.Amount + 1 },
		FieldMerchant:      func(g *channel.Refund) { g.Merchant = "1900000002" },
		FieldSubMerchant:   func(g *channel.Refund) { g.SubMerchant = "1900000109" },
		FieldApp:           func(g *channel.Refund) { g.App = "wx0000000000000000" },
		"cumulative below": func(g *channel.Refund) { g.Cumulative, g.Amount = true, 299 },
		"cumulative above": func(g *channel.Refund) { g.Cumulative, g.Amount = true, p.Amount+1 },
	} {
		got := ok
		change(&got)
		var me *MismatchError
		if err := MatchRefund(p, r, p.ID, p.Amount, want, got); !errors.As(err, &me) {
			t.Errorf("%s: a mismatched refund accepted: %v", field, err)
		} else if me.Payment != p.ID {
			t.Errorf("%s: the mismatch names payment %q", field, me.Payment)
		}
	}
}

func TestMatchIdentity(t *testing.T) {
	t.Parallel()
	direct := channel.Identity{App: "wx8888888888888888", Merchant: "1900000001"}
	partner := channel.Identity{App: "wx8888888888888888", Merchant: "1900000001", SubMerchant: "1900000109"}
	for _, c := range []struct {
		name      string
		want, got channel.Identity
		field     string // "" when it matches
	}{
		{"direct, all named", direct, direct, ""},
		{"partner, all named", partner, partner, ""},
		{"nothing named (an answer to hutong's own request)", partner, channel.Identity{}, ""},
		{"only the app named", direct, channel.Identity{App: direct.App}, ""},
		{"another app", direct, channel.Identity{App: "wx0000000000000000", Merchant: direct.Merchant}, FieldApp},
		{"another merchant", direct, channel.Identity{App: direct.App, Merchant: "1900000002"}, FieldMerchant},
		{"a sub-merchant on a direct payment", direct, partner, FieldSubMerchant},
		{"no sub-merchant on a partner payment", partner, direct, FieldSubMerchant},
		{"another sub-merchant", partner, channel.Identity{App: partner.App, Merchant: partner.Merchant, SubMerchant: "1900000110"}, FieldSubMerchant},
		{"the sub-merchant named as the merchant", partner, channel.Identity{App: partner.App, Merchant: partner.SubMerchant}, FieldMerchant},
	} {
		err := MatchIdentity("pay_1", c.want, c.got)
		var me *MismatchError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.field != "" && (!errors.As(err, &me) || me.Field != c.field):
			t.Errorf("%s: %v, want a mismatch of %s", c.name, err, c.field)
		}
	}
}

// FuzzMatchTrade changes the fields of a wallet message that matches at
// random: the message is accepted exactly when every field it names is
// the expected one, whatever the change.
func FuzzMatchTrade(f *testing.F) {
	f.Add("wx8888888888888888", "1900000001", "", "", int64(0), "CNY")
	f.Add("wx0000000000000000", "1900000001", "", "", int64(0), "CNY")
	f.Add("", "1900000002", "", "", int64(0), "")
	f.Add("", "", "1900000109", "", int64(0), "")
	f.Add("", "", "", "pay_other", int64(1), "USD")
	f.Fuzz(func(t *testing.T, app, merchant, sub, order string, amountDelta int64, currency string) {
		p := New("m1", validRequest(), now)
		want := us
		tr := paid(p)
		tr.Identity = channel.Identity{App: app, Merchant: merchant, SubMerchant: sub}
		if order != "" {
			tr.OutTradeNo = order
		}
		tr.Amount += amountDelta
		tr.Currency = currency
		matches := (app == "" || app == want.App) && (merchant == "" || merchant == want.Merchant) && sub == want.SubMerchant &&
			tr.OutTradeNo == p.ID && amountDelta == 0 && (currency == "" || currency == p.Currency)
		c, err := ApplyTrade(p, tr, want, now)
		if matches != (err == nil) {
			t.Fatalf("matches %v, err %v", matches, err)
		}
		if err != nil {
			var me *MismatchError
			if !errors.As(err, &me) {
				t.Fatalf("refused without naming the field: %v", err)
			}
			if c.Changed || c.Payment.Status != "" {
				t.Fatalf("a refused message changed the payment: %+v", c)
			}
		}
	})
}

// FuzzMatchRefund does the same for a refund's word.
func FuzzMatchRefund(f *testing.F) {
	f.Add("1900000001", "", "re_1", "", int64(0), int64(0), false)
	f.Add("1900000002", "1900000109", "re_2", "pay_other", int64(-1), int64(1), true)
	f.Fuzz(func(t *testing.T, merchant, sub, refundNo, order string, amountDelta, totalDelta int64, cumulative bool) {
		p := New("m1", validRequest(), now)
		r := Refund{ID: "re_1", PaymentID: p.ID, Amount: 300, Status: RefundPending}
		want := channel.Identity{Merchant: us.Merchant}
		got := channel.Refund{Identity: channel.Identity{Merchant: merchant, SubMerchant: sub}, OutTradeNo: p.ID, OutRefundNo: refundNo,
			Amount: r.Amount + amountDelta, Total: p.Amount + totalDelta, Cumulative: cumulative}
		if order != "" {
			got.OutTradeNo = order
		}
		amountOK := amountDelta == 0
		if cumulative {
			amountOK = got.Amount >= r.Amount && got.Amount <= p.Amount
		}
		matches := (merchant == "" || merchant == want.Merchant) && sub == want.SubMerchant && refundNo == r.ID && got.OutTradeNo == p.ID &&
			amountOK && (got.Total == 0 || totalDelta == 0)
		err := MatchRefund(p, r, p.ID, p.Amount, want, got)
		if matches != (err == nil) {
			t.Fatalf("matches %v, err %v (%+v)", matches, err, got)
		}
	})
}
