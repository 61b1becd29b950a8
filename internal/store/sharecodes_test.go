package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sharecode"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestShareCodeMethods: share codes stored, found by id, token and
// target within their merchant, revoked, resolved up to their limit,
// credited with paid orders and counted, on both backends.
func TestShareCodeMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		seedMerchants(t, db, now, "m_a", "m_b")
		once := int64(1)
		exp := now.Add(time.Hour)
		a := sharecode.Code{ID: "sc_a", Token: sharecode.New().String(), MerchantID: "m_a", Target: "store", TargetID: "m_a", URL: "https://shop.example/m_a",
			Title: "县城超市", Source: "wechat_group", MaxUses: &once, ExpiresAt: &exp, Created: now}
		b := sharecode.Code{ID: "sc_b", Token: sharecode.New().String(), MerchantID: "m_a", Target: "pay_for_me", TargetID: "pfm_1", URL: "https://pay.example/pfm/pfm_1",
			Source: "pay_for_me", Created: now}
		for _, sc := range []sharecode.Code{a, b} {
			if err := pool.ShareCodeInsert(ctx, sc); err != nil {
				t.Fatal(err)
			}
		}
		clash := b
		clash.ID = "sc_c"
		if err := pool.ShareCodeInsert(ctx, clash); !store.IsUniqueViolation(err) {
			t.Fatalf("a token in use again: %v, want a unique violation", err)
		}
		got, err := pool.ShareCodeGet(ctx, "m_a", a.ID)
		if err != nil || got.Token != a.Token || got.Text == "" || *got.MaxUses != 1 || !got.ExpiresAt.Equal(exp) || !got.Created.Equal(now) {
			t.Fatalf("ShareCodeGet = %+v, %v", got, err)
		}
		if _, err := pool.ShareCodeGet(ctx, "m_b", a.ID); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("another merchant's code: %v, want ErrNoRows", err)
		}
		if got, err := pool.ShareCodeGet(ctx, "", a.ID); err != nil || got.ID != a.ID {
			t.Fatalf("any merchant's code: %+v, %v", got, err)
		}
		if got, err := pool.ShareCodeByToken(ctx, "", b.Token); err != nil || got.ID != b.ID {
			t.Fatalf("ShareCodeByToken = %+v, %v", got, err)
		}
		if _, err := pool.ShareCodeByToken(ctx, "m_b", b.Token); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("another merchant's token: %v, want ErrNoRows", err)
		}
		if got, err := pool.ShareCodeByTarget(ctx, "m_a", "pay_for_me", "pfm_1"); err != nil || got.ID != b.ID {
			t.Fatalf("ShareCodeByTarget = %+v, %v", got, err)
		}

		for i, want := range []bool{true, false} { // max_uses 1
			if ok, err := pool.ShareCodeCountResolve(ctx, a.ID, time.Now()); err != nil || ok != want {
				t.Fatalf("resolve %d: %v, %v; want %v", i+1, ok, err, want)
			}
		}
		paid := payment.Payment{ID: "pay_1", MerchantID: "m_a", Amount: 2599, ShareCode: b.ID}
		if err := pool.ShareCodeCountPaid(ctx, paid); err != nil {
			t.Fatal(err)
		}
		paid.MerchantID = "m_b" // a code that is not the payment's merchant's is not credited
		if err := pool.ShareCodeCountPaid(ctx, paid); err != nil {
			t.Fatal(err)
		}
		if err := pool.ShareCodeRevoke(ctx, store.ShareCodeRevokeParams{MerchantID: "m_a", Target: "pay_for_me", TargetID: "pfm_1", At: now}); err != nil {
			t.Fatal(err)
		}
		if err := pool.ShareCodeRevoke(ctx, store.ShareCodeRevokeParams{MerchantID: "m_b", ID: a.ID, At: now}); err != nil {
			t.Fatal(err)
		}
		ga, _ := pool.ShareCodeGet(ctx, "", a.ID)
		gb, _ := pool.ShareCodeGet(ctx, "", b.ID)
		if ga.Revoked || !gb.Revoked || ga.Resolves != 1 || gb.PaidOrders != 1 || gb.PaidAmount != 2599 {
			t.Fatalf("after revoking and counting: %+v / %+v", ga, gb)
		}
		stats, err := pool.ShareCodeStats(ctx, "m_a", false)
		if err != nil || len(stats) != 2 || stats[0] != (sharecode.Stat{Key: "pay_for_me", Codes: 1, PaidOrders: 1, PaidAmount: 2599}) {
			t.Fatalf("by source: %+v, %v", stats, err)
		}
		if stats, err := pool.ShareCodeStats(ctx, "m_b", true); err != nil || stats == nil || len(stats) != 0 {
			t.Fatalf("a merchant with no codes: %#v, %v; want an empty list", stats, err)
		}
	})
}

// TestPayForMeAndWalletMessageMethods: pay-for-me requests, the gateway's
// kept keys, wallet notification ids and refused wallet messages, on both
// backends.
func TestPayForMeAndWalletMessageMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		seedMerchants(t, db, now, "m_a")
		for i, id := range []string{"pay_1", "pay_2"} {
			p := payment.New("m_a", payment.Request{MerchantOrderID: id, Amount: 100, Currency: "CNY", Description: "豆浆", Method: "alipay.precreate"}, now)
			p.ID = id
			if err := pool.PaymentInsert(ctx, p); err != nil {
				t.Fatalf("payment %d: %v", i, err)
			}
		}
		for _, id := range []string{"pfm_1", "pfm_2", "pfm_3"} {
			r := payment.PayForMe{ID: id, PaymentID: "pay_1", MerchantID: "m_a", Status: "open", URL: "https://pay.example/pfm/" + id, ExpiresAt: now.Add(time.Hour), Created: now,
				ShareCode: &sharecode.Code{ID: "kept elsewhere"}}
			if id == "pfm_3" {
				r.PaymentID = "pay_2"
			}
			if err := pool.PayForMeInsert(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		got, err := pool.PayForMeGet(ctx, "m_a", "pfm_1")
		if err != nil || got.Status != "open" || got.ShareCode != nil || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("PayForMeGet = %+v, %v", got, err)
		}
		if _, err := pool.PayForMeGet(ctx, "m_b", "pfm_1"); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("another merchant's request: %v, want ErrNoRows", err)
		}
		if err := pool.PayForMePaid(ctx, "pay_1", "pfm_2"); err != nil {
			t.Fatal(err)
		}
		if err := pool.PayForMeRevoke(ctx, "m_a", "pfm_1"); err != nil { // closed already: stays closed
			t.Fatal(err)
		}
		if err := pool.PayForMeExpire(ctx, "pay_2"); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]string{"pfm_1": "closed", "pfm_2": "paid", "pfm_3": "expired"} {
			if r, err := pool.PayForMeGet(ctx, "", id); err != nil || r.Status != want {
				t.Errorf("%s: %s, %v; want %s", id, r.Status, err, want)
			}
		}

		for i, value := range []string{"first", "second"} {
			if v, err := pool.GatewayKeyEnsure(ctx, "return_ed25519", value, now); err != nil || v != "first" {
				t.Fatalf("ensure %d: %q, %v; want the first value kept", i+1, v, err)
			}
		}
		ev := store.WalletEventParams{Channel: "wechatpay", EventID: "evt-1", ObjectID: "pay_1", ReceivedAt: now}
		for i, want := range []bool{true, false} {
			if first, err := pool.WalletEventFirst(ctx, ev); err != nil || first != want {
				t.Fatalf("notification %d: first %v, %v; want %v", i+1, first, err, want)
			}
		}

		m := payment.Mismatch{Channel: "alipay", MessageID: "ntf-9", Source: "notification", PaymentID: "pay_1", Field: "amount", Expected: "2599", Got: "1"}
		for i := range 2 {
			if err := pool.MismatchNote(ctx, store.MismatchNoteParams{Mismatch: m, MerchantID: "m_a", At: now.Add(time.Duration(i) * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := pool.Mismatches(ctx, "m_a", "pay_1")
		if err != nil || len(list) != 1 || list[0].Times != 2 || !list[0].FirstAt.Equal(now) || !list[0].LastAt.Equal(now.Add(time.Minute)) || list[0].Got != "1" {
			t.Fatalf("Mismatches = %+v, %v", list, err)
		}
		if list, err := pool.Mismatches(ctx, "m_b", "pay_1"); err != nil || list == nil || len(list) != 0 {
			t.Fatalf("another merchant's: %#v, %v; want an empty list", list, err)
		}
	})
}
