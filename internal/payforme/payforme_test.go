package payforme_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payforme"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sharecodes"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// env is a gateway with its pay-for-me and share code services, as the
// gateway wires them, on a clock of the test's own.
type env struct {
	*gatewaytest.Env
	pfm   *payforme.Service
	codes *sharecodes.Service
	clk   *gatewaytest.Clock
}

func start(t *testing.T, db *store.DB) *env {
	t.Helper()
	e := gatewaytest.Start(t, db, gatewaytest.Options{})
	clk := &gatewaytest.Clock{}
	codes := *e.Svc.ShareCodeService()
	codes.Now = clk.Now
	pfm := *e.Svc.PayForMeService()
	pfm.Now = clk.Now
	pfm.ShareCodes = &codes
	return &env{Env: e, pfm: &pfm, codes: &codes, clk: clk}
}

func (e *env) unpaid(merchant int, order string, expiresIn int64) payment.Payment {
	e.T.Helper()
	p, err := e.Svc.PaymentService().CreatePayment(context.Background(), e.Merchants[merchant], payment.Request{MerchantOrderID: order, Amount: 3600,
		Currency: "CNY", Description: "羽绒服 " + order, Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-" + order, Name: "王小明"},
		ExpiresIn: expiresIn})
	if err != nil {
		e.T.Fatal(err)
	}
	return p
}

// TestCreate: bad expires_in or note is refused naming the field and
// stores nothing; a request never outlives its payment, nor does its share
// code, which goes with it; another merchant's payment is not found.
func TestCreate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		a := e.Merchants[0]
		p := e.unpaid(0, "pfm-1", 0) // the payment expires in 2 h
		for _, c := range []struct {
			req   payforme.Request
			param string
		}{
			{payforme.Request{ExpiresIn: -1}, "expires_in"},
			{payforme.Request{ExpiresIn: 7*24*3600 + 1}, "expires_in"},
			{payforme.Request{Note: strings.Repeat("谢", 61)}, "note"},
			{payforme.Request{Note: "\xff"}, "note"},
			{payforme.Request{Source: "WeChat Moments!"}, "source"}, // its share code's source
		} {
			_, err := e.pfm.Create(ctx, a.ID, p.ID, c.req)
			var fe *payment.FieldError
			if !errors.As(err, &fe) || fe.Param != c.param {
				t.Errorf("%+v: %v, want a field error on %s", c.req, err, c.param)
			}
		}
		if st, err := e.codes.Stats(ctx, a.ID, "code"); err != nil || len(st) != 0 {
			t.Fatalf("refused requests left share codes: %+v %v", st, err)
		}
		var stored int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pay_for_me`).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("refused requests left %d pay-for-me rows (%v)", stored, err)
		}
		if _, err := e.pfm.Create(ctx, e.Merchants[1].ID, p.ID, payforme.Request{}); !errors.Is(err, notfound.Err) {
			t.Errorf("B asked for A's payment to be paid: %v, want not found", err)
		}

		// By default a day, cut to the payment's two hours; so is a week.
		for _, in := range []int64{0, 7 * 24 * 3600} {
			r, err := e.pfm.Create(ctx, a.ID, p.ID, payforme.Request{ExpiresIn: in, Note: strings.Repeat("谢", 60)})
			if err != nil {
				t.Fatal(err)
			}
			if !r.ExpiresAt.Equal(p.ExpiresAt) {
				t.Errorf("expires_in %d: the request expires at %v, after its payment's %v", in, r.ExpiresAt, p.ExpiresAt)
			}
			if r.ShareCode == nil || r.ShareCode.ExpiresAt == nil || !r.ShareCode.ExpiresAt.Equal(r.ExpiresAt) {
				t.Errorf("expires_in %d: share code %+v, want one expiring with the request at %v", in, r.ShareCode, r.ExpiresAt)
			}
		}
		// A shorter expiry is its own.
		r, err := e.pfm.Create(ctx, a.ID, p.ID, payforme.Request{ExpiresIn: 600, Source: "wechat_chat"})
		if err != nil {
			t.Fatal(err)
		}
		if want := r.Created.Add(10 * time.Minute); !r.ExpiresAt.Equal(want) {
			t.Errorf("expires_in 600: expires at %v, want %v", r.ExpiresAt, want)
		}
		sc := r.ShareCode
		if r.Status != "open" || r.PaymentID != p.ID || r.MerchantID != a.ID || r.URL != e.Svc.BaseURL+"/pfm/"+r.ID ||
			sc == nil || sc.Target != "pay_for_me" || sc.TargetID != r.ID || sc.Source != "wechat_chat" || sc.URL != r.URL {
			t.Fatalf("request %+v with share code %+v", r, sc)
		}
		got, err := e.pfm.Get(ctx, r.ID)
		if err != nil || got.Status != "open" || got.ShareCode == nil || got.ShareCode.ID != sc.ID {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := e.codes.Resolve(ctx, "", sc.Text); err != nil {
			t.Errorf("resolving the request's code: %v", err)
		}

		// Past its time the request is expired, and so is its code.
		e.clk.Advance(10 * time.Minute)
		if got, err := e.pfm.Get(ctx, r.ID); err != nil || got.Status != "expired" {
			t.Errorf("after its expiry: %+v %v, want expired", got, err)
		}
		if got, err := e.pfm.OfMerchant(ctx, a.ID, r.ID); err != nil || got.Status != "expired" {
			t.Errorf("the merchant's read after its expiry: %+v %v, want expired", got, err)
		}
		if _, err := e.codes.Resolve(ctx, "", sc.Text); !errors.Is(err, sharecodes.ErrExpired) {
			t.Errorf("resolving the expired request's code: %v, want ErrExpired", err)
		}
	})
}

// TestPaidOrCanceledPaymentTakesNoRequest: once a payment is paid by
// anyone, a request for it is refused as paid by another and its open
// requests are closed; a canceled payment takes none either.
func TestPaidOrCanceledPaymentTakesNoRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		a := e.Merchants[0]
		p := e.unpaid(0, "pfm-paid", 0)
		r, err := e.pfm.Create(ctx, a.ID, p.ID, payforme.Request{})
		if err != nil {
			t.Fatal(err)
		}
		e.Sandbox.Pay(p.NextAction.QRCode, "") // the buyer pays after all
		e.Eventually("the request closed", func() bool {
			got, err := e.pfm.OfMerchant(ctx, a.ID, r.ID)
			return err == nil && got.Status == "closed"
		})
		if _, err := e.pfm.Create(ctx, a.ID, p.ID, payforme.Request{}); !errors.Is(err, payment.ErrPaidByOther) {
			t.Errorf("a request for a paid payment: %v, want ErrPaidByOther", err)
		}

		c := e.unpaid(0, "pfm-canceled", 0)
		if _, err := e.Svc.PaymentService().CancelPayment(ctx, a.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pfm.Create(ctx, a.ID, c.ID, payforme.Request{}); !errors.Is(err, payment.ErrClosed) {
			t.Errorf("a request for a canceled payment: %v, want payment.ErrClosed", err)
		}
	})
}

// TestOnlyTheMerchantSeesAndRevokes: another merchant's request is not
// found, and its revoke changes nothing; the merchant's own revoke closes
// the request and its share code with it. The public read sees any.
func TestOnlyTheMerchantSeesAndRevokes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		ctx := context.Background()
		a, b := e.Merchants[0], e.Merchants[1]
		p := e.unpaid(0, "pfm-revoke", 0)
		r, err := e.pfm.Create(ctx, a.ID, p.ID, payforme.Request{Note: "妈，帮我付一下"})
		if err != nil {
			t.Fatal(err)
		}
		for _, who := range []string{b.ID, ""} {
			if _, err := e.pfm.OfMerchant(ctx, who, r.ID); !errors.Is(err, notfound.Err) {
				t.Errorf("merchant %q read A's request: %v", who, err)
			}
		}
		if _, err := e.pfm.Revoke(ctx, b.ID, r.ID); !errors.Is(err, notfound.Err) {
			t.Errorf("B revoked A's request: %v", err)
		}
		if got, err := e.pfm.Get(ctx, r.ID); err != nil || got.Status != "open" || got.ShareCode == nil || got.ShareCode.Revoked {
			t.Fatalf("after B's revoke: %+v %v", got, err)
		}
		if _, err := e.codes.Resolve(ctx, "", r.ShareCode.Text); err != nil {
			t.Fatalf("the code after B's revoke: %v", err)
		}
		if _, err := e.pfm.Get(ctx, payment.NewID("pfm")); !errors.Is(err, notfound.Err) {
			t.Errorf("an unknown request: %v", err)
		}

		got, err := e.pfm.Revoke(ctx, a.ID, r.ID)
		if err != nil || got.Status != "revoked" || got.ShareCode == nil || !got.ShareCode.Revoked {
			t.Fatalf("revoke: %+v %v", got, err)
		}
		if _, err := e.codes.Resolve(ctx, "", r.ShareCode.Text); !errors.Is(err, sharecodes.ErrRevoked) {
			t.Errorf("the revoked request's code: %v, want ErrRevoked", err)
		}
		// A revoked request stays revoked, also past its time.
		e.clk.Advance(3 * time.Hour)
		if got, err := e.pfm.Get(ctx, r.ID); err != nil || got.Status != "revoked" {
			t.Errorf("later: %+v %v, want revoked", got, err)
		}
	})
}
