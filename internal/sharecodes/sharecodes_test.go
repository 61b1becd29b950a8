package sharecodes_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payforme"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sharecode"
	"github.com/hutong-pay/hutong/internal/sharecodes"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// start runs a gateway on db and returns its share code service, as the
// gateway wires it, on a clock of the test's own.
func start(t *testing.T, db *store.DB) (*gatewaytest.Env, *sharecodes.Service, *gatewaytest.Clock) {
	t.Helper()
	e := gatewaytest.Start(t, db, gatewaytest.Options{})
	clk := &gatewaytest.Clock{}
	svc := *e.Svc.ShareCodeService()
	svc.Now = clk.Now
	return e, &svc, clk
}

func unpaid(t *testing.T, e *gatewaytest.Env, merchant int, order string) payment.Payment {
	t.Helper()
	p, err := e.Svc.PaymentService().CreatePayment(context.Background(), e.Merchants[merchant], payment.Request{MerchantOrderID: order, Amount: 1200,
		Currency: "CNY", Description: "围巾 " + order, Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-" + order}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCreateRefusesBadInputNamingTheField: every bad request is refused
// with a payment.FieldError naming its field, a code for another
// merchant's payment or pay-for-me request is not found under target_id,
// and nothing is stored for any of them; the limits themselves are
// accepted.
func TestCreateRefusesBadInputNamingTheField(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, svc, clk := start(t, db)
		ctx := context.Background()
		a, b := e.Merchants[0], e.Merchants[1]
		pb := unpaid(t, e, 1, "other-1")
		pfmB, err := e.Svc.PayForMeService().Create(ctx, b.ID, pb.ID, payforme.Request{})
		if err != nil {
			t.Fatal(err)
		}
		before, err := svc.Stats(ctx, a.ID, "code")
		if err != nil {
			t.Fatal(err)
		}
		past := clk.Now().Add(-time.Second)
		zero, tooMany := int64(0), int64(1_000_000_001)
		product := func(r sharecodes.Request) sharecodes.Request {
			r.Target, r.TargetID, r.Source = "product", "sku-1", "wechat_group"
			if r.URL == "" {
				r.URL = "https://shop.example/sku-1"
			}
			return r
		}
		for _, c := range []struct {
			name  string
			req   sharecodes.Request
			param string
		}{
			{"unknown target", sharecodes.Request{Target: "link", TargetID: "x", Source: "wechat_group"}, "target"},
			{"no target", sharecodes.Request{TargetID: "x", Source: "wechat_group"}, "target"},
			{"no target_id", sharecodes.Request{Target: "store", Source: "wechat_group"}, "target_id"},
			{"long target_id", sharecodes.Request{Target: "product", TargetID: strings.Repeat("x", 65), Source: "wechat_group", URL: "https://shop.example/"}, "target_id"},
			{"no source", sharecodes.Request{Target: "store", TargetID: a.ID}, "source"},
			{"upper-case source", sharecodes.Request{Target: "store", TargetID: a.ID, Source: "WeChat"}, "source"},
			{"empty detail", sharecodes.Request{Target: "store", TargetID: a.ID, Source: "ad:"}, "source"},
			{"product without url", sharecodes.Request{Target: "product", TargetID: "sku-1", Source: "wechat_group"}, "url"},
			{"ftp url", product(sharecodes.Request{URL: "ftp://shop.example/sku-1"}), "url"},
			{"script url", sharecodes.Request{Target: "store", TargetID: a.ID, Source: "wechat_group", URL: "javascript:alert(1)"}, "url"},
			{"relative url", product(sharecodes.Request{URL: "/sku-1"}), "url"},
			{"long title", product(sharecodes.Request{Title: strings.Repeat("好", 41)}), "title"},
			{"title not UTF-8", product(sharecodes.Request{Title: "\xff"}), "title"},
			{"expired already", product(sharecodes.Request{ExpiresAt: &past}), "expires_at"},
			{"no uses", product(sharecodes.Request{MaxUses: &zero}), "max_uses"},
			{"too many uses", product(sharecodes.Request{MaxUses: &tooMany}), "max_uses"},
			{"another merchant's store", sharecodes.Request{Target: "store", TargetID: b.ID, Source: "wechat_group"}, "target_id"},
		} {
			_, err := svc.Create(ctx, a.ID, c.req)
			var fe *payment.FieldError
			if !errors.As(err, &fe) || fe.Param != c.param {
				t.Errorf("%s: %v, want a field error on %s", c.name, err, c.param)
			}
		}
		for _, c := range []struct{ target, id string }{
			{"payment", pb.ID}, {"payment", payment.NewID("pay")}, {"pay_for_me", pfmB.ID}, {"pay_for_me", payment.NewID("pfm")},
		} {
			_, err := svc.Create(ctx, a.ID, sharecodes.Request{Target: c.target, TargetID: c.id, Source: "wechat_group"})
			var nf *notfound.Error
			if !errors.As(err, &nf) || nf.Param != "target_id" || !errors.Is(err, notfound.Err) {
				t.Errorf("a %s code for %s, not the merchant's: %v, want not found on target_id", c.target, c.id, err)
			}
		}
		after, err := svc.Stats(ctx, a.ID, "code")
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Fatalf("refused requests stored share codes: %+v", after)
		}

		// The limits are allowed, and what a code is made for fills it in.
		one := int64(1)
		soon := clk.Now().Add(time.Minute)
		if _, err := svc.Create(ctx, a.ID, product(sharecodes.Request{Title: strings.Repeat("好", 40), MaxUses: &one, ExpiresAt: &soon})); err != nil {
			t.Errorf("a code at the limits: %v", err)
		}
		st, err := svc.Create(ctx, a.ID, sharecodes.Request{Target: "store", TargetID: a.ID, Source: "ad:spring_sale"})
		if err != nil {
			t.Fatal(err)
		}
		if st.URL != e.Svc.BaseURL+"/m/"+a.ID || st.Title != a.Name || st.MerchantID != a.ID {
			t.Errorf("store code %+v, want the store page and the merchant's name", st)
		}
		pa := unpaid(t, e, 0, "own-1")
		pc, err := svc.Create(ctx, a.ID, sharecodes.Request{Target: "payment", TargetID: pa.ID, Source: "wechat_chat"})
		if err != nil {
			t.Fatal(err)
		}
		if pc.URL != e.Svc.BaseURL+"/pay/"+pa.ID || pc.Title != pa.Description || pc.Text == "" || !strings.Contains(pc.Message, pc.Token) {
			t.Errorf("payment code %+v, want the payment's page, its description and a message around its token", pc)
		}
	})
}

// TestResolve: a code is found inside pasted chat text and each resolve
// is counted; a revoked, expired or used-up code is refused with its own
// reason and not counted; an unknown token, and another merchant's code
// when resolving for a merchant, are unknown.
func TestResolve(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, svc, clk := start(t, db)
		ctx := context.Background()
		a, b := e.Merchants[0], e.Merchants[1]
		mk := func(req sharecodes.Request) sharecodes.ShareCode {
			t.Helper()
			req.Target, req.TargetID, req.Source = "store", a.ID, "wechat_group"
			sc, err := svc.Create(ctx, a.ID, req)
			if err != nil {
				t.Fatal(err)
			}
			return sc
		}
		resolves := func(sc sharecodes.ShareCode) int64 {
			t.Helper()
			got, err := svc.Get(ctx, a.ID, sc.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Resolves
		}

		plain := mk(sharecodes.Request{})
		chat := "【" + a.Name + "】快来看看 " + plain.Text + " 复制这条消息，打开淘宝"
		for i, who := range []string{"", a.ID} {
			got, err := svc.Resolve(ctx, who, chat)
			if err != nil || got.ID != plain.ID || got.Resolves != int64(i+1) || got.URL != plain.URL {
				t.Fatalf("resolve %d for %q: %+v %v", i+1, who, got, err)
			}
		}
		if _, err := svc.Resolve(ctx, a.ID, plain.Message); err != nil {
			t.Errorf("the code's own message: %v", err)
		}
		if _, err := svc.Resolve(ctx, b.ID, chat); !errors.Is(err, sharecodes.ErrUnknown) {
			t.Errorf("another merchant resolved A's code: %v, want ErrUnknown", err)
		}
		if n := resolves(plain); n != 3 {
			t.Errorf("%d resolves counted, want 3", n)
		}
		if _, err := svc.Resolve(ctx, "", "复制 "+sharecode.Wrap(sharecode.New())+" 打开"); !errors.Is(err, sharecodes.ErrUnknown) {
			t.Errorf("a token never issued: %v, want ErrUnknown", err)
		}
		if _, err := svc.Resolve(ctx, "", "hello, no code here"); !errors.Is(err, sharecode.ErrNoToken) {
			t.Errorf("text without a token: %v, want sharecode.ErrNoToken", err)
		}

		// Revoked: another merchant cannot revoke it; its merchant can.
		if _, err := svc.Revoke(ctx, b.ID, plain.ID); !errors.Is(err, notfound.Err) {
			t.Errorf("B revoked A's code: %v", err)
		}
		if _, err := svc.Resolve(ctx, "", chat); err != nil {
			t.Errorf("after B's revoke: %v", err)
		}
		rv, err := svc.Revoke(ctx, a.ID, plain.ID)
		if err != nil || !rv.Revoked {
			t.Fatalf("revoke: %+v %v", rv, err)
		}
		if _, err := svc.Resolve(ctx, "", chat); !errors.Is(err, sharecodes.ErrRevoked) {
			t.Errorf("a revoked code: %v, want ErrRevoked", err)
		}

		// Expired once its time has come.
		at := clk.Now().Add(time.Hour)
		exp := mk(sharecodes.Request{ExpiresAt: &at})
		if _, err := svc.Resolve(ctx, "", exp.Text); err != nil {
			t.Fatalf("before its expiry: %v", err)
		}
		clk.Advance(time.Hour)
		if _, err := svc.Resolve(ctx, "", exp.Text); !errors.Is(err, sharecodes.ErrExpired) {
			t.Errorf("at its expiry: %v, want ErrExpired", err)
		}

		// Used up after MaxUses resolves.
		two := int64(2)
		limited := mk(sharecodes.Request{MaxUses: &two})
		for range 2 {
			if _, err := svc.Resolve(ctx, "", limited.Text); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.Resolve(ctx, "", limited.Text); !errors.Is(err, sharecodes.ErrUsedUp) {
			t.Errorf("a third resolve of a two-use code: %v, want ErrUsedUp", err)
		}
		for sc, want := range map[sharecodes.ShareCode]int64{plain: 4, exp: 1, limited: 2} {
			if n := resolves(sc); n != want {
				t.Errorf("code %s: %d resolves counted, want %d", sc.ID, n, want)
			}
		}
	})
}

// TestUsesNeverExceedMaxUses: resolves at once of a code that allows
// three succeed three times, on both stores.
func TestUsesNeverExceedMaxUses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, svc, _ := start(t, db)
		ctx := context.Background()
		a := e.Merchants[0]
		three := int64(3)
		sc, err := svc.Create(ctx, a.ID, sharecodes.Request{Target: "store", TargetID: a.ID, Source: "wechat_group", MaxUses: &three})
		if err != nil {
			t.Fatal(err)
		}
		var ok, usedUp atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := svc.Resolve(ctx, "", sc.Text)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, sharecodes.ErrUsedUp):
					usedUp.Add(1)
				default:
					t.Errorf("resolve: %v", err)
				}
			})
		}
		wg.Wait()
		got, err := svc.Get(ctx, a.ID, sc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok.Load() != 3 || usedUp.Load() != 7 || got.Resolves != 3 {
			t.Errorf("%d resolved, %d used up, %d counted; want 3, 7, 3", ok.Load(), usedUp.Load(), got.Resolves)
		}
	})
}

// TestStats: a merchant's counts by source and by code add up its own
// codes' resolves and paid orders, and nobody else's.
func TestStats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, svc, _ := start(t, db)
		ctx := context.Background()
		a, b := e.Merchants[0], e.Merchants[1]
		mk := func(m string, target, id, source string) sharecodes.ShareCode {
			t.Helper()
			sc, err := svc.Create(ctx, m, sharecodes.Request{Target: target, TargetID: id, Source: source, URL: "https://shop.example/" + id})
			if err != nil {
				t.Fatal(err)
			}
			return sc
		}
		resolve := func(sc sharecodes.ShareCode, n int) {
			t.Helper()
			for range n {
				if _, err := svc.Resolve(ctx, "", sc.Text); err != nil {
					t.Fatal(err)
				}
			}
		}
		group := mk(a.ID, "store", a.ID, "wechat_group")
		group2 := mk(a.ID, "product", "sku-2", "wechat_group")
		ad := mk(a.ID, "product", "sku-3", "ad:spring_sale")
		other := mk(b.ID, "store", b.ID, "wechat_group")
		resolve(group, 2)
		resolve(group2, 1)
		resolve(ad, 4)
		resolve(other, 5)
		// A sale through group2.
		p, err := e.Svc.PaymentService().CreatePayment(ctx, a, payment.Request{MerchantOrderID: "shared-1", Amount: 880, Currency: "CNY",
			Description: "分享的围巾", Method: "wechatpay.native", Buyer: payment.Buyer{ID: "b-shared"}, ShareCode: group2.ID})
		if err != nil {
			t.Fatal(err)
		}
		e.Sandbox.Pay(p.NextAction.QRCode, "")
		e.Eventually("paid", func() bool {
			got, err := svc.Get(ctx, a.ID, group2.ID)
			return err == nil && got.PaidOrders == 1
		})

		bySource, err := svc.Stats(ctx, a.ID, "source")
		if err != nil {
			t.Fatal(err)
		}
		want := []sharecodes.Stat{
			{Key: "ad:spring_sale", Codes: 1, Resolves: 4},
			{Key: "wechat_group", Codes: 2, Resolves: 3, PaidOrders: 1, PaidAmount: 880},
		}
		if !slices.Equal(bySource, want) {
			t.Errorf("by source %+v, want %+v", bySource, want)
		}
		byCode, err := svc.Stats(ctx, a.ID, "code")
		if err != nil {
			t.Fatal(err)
		}
		wantCode := map[string]sharecodes.Stat{
			group.ID:  {Key: group.ID, Codes: 1, Resolves: 2},
			group2.ID: {Key: group2.ID, Codes: 1, Resolves: 1, PaidOrders: 1, PaidAmount: 880},
			ad.ID:     {Key: ad.ID, Codes: 1, Resolves: 4},
		}
		if len(byCode) != len(wantCode) {
			t.Fatalf("by code %+v, want %d codes", byCode, len(wantCode))
		}
		for _, st := range byCode {
			if st != wantCode[st.Key] {
				t.Errorf("code %s: %+v, want %+v", st.Key, st, wantCode[st.Key])
			}
		}
	})
}
