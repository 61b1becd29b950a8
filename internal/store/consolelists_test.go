package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestMerchantList: merchants filtered by region prefix, size and
// category, paged by id, each with its contracts' states.
func TestMerchantList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		for _, m := range []merchant.Merchant{
			{ID: "m_a", Name: "县城超市", Category: "grocery", RegionCode: "130627", Size: "small"},
			{ID: "m_b", Name: "城市服饰", Category: "apparel", RegionCode: "440305", Size: "large"},
			{ID: "m_c", Name: "镇上五金", Category: "grocery", RegionCode: "130681", Size: "medium"},
		} {
			if err := pool.MerchantInsert(ctx, store.MerchantInsertParams{Merchant: m, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []contract.Contract{
			{ID: "ct_1", MerchantID: "m_a", Channel: "wechatpay", State: contract.Active, Updated: now},
			{ID: "ct_2", MerchantID: "m_a", Channel: "alipay", State: contract.Invited, Updated: now},
			{ID: "ct_3", MerchantID: "m_b", Channel: "wechatpay", State: contract.Suspended, Updated: now},
		} {
			if err := pool.ContractInsert(ctx, store.ContractInsertParams{Contract: c}); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(rows []store.MerchantRow) (out []string) {
			for _, r := range rows {
				out = append(out, r.Merchant.ID)
			}
			return out
		}
		for _, tc := range []struct {
			p    store.MerchantListParams
			want string
		}{
			{store.MerchantListParams{Limit: 10}, "[m_a m_b m_c]"},
			{store.MerchantListParams{RegionCode: "13", Limit: 10}, "[m_a m_c]"},
			{store.MerchantListParams{RegionCode: "1306", Size: "small", Limit: 10}, "[m_a]"},
			{store.MerchantListParams{Category: "apparel", Limit: 10}, "[m_b]"},
			{store.MerchantListParams{RegionCode: "44", Category: "grocery", Limit: 10}, "[]"},
			{store.MerchantListParams{Limit: 2}, "[m_a m_b]"},
			{store.MerchantListParams{After: "m_b", Limit: 2}, "[m_c]"},
		} {
			rows, err := pool.MerchantList(ctx, tc.p)
			if err != nil || rows == nil {
				t.Fatalf("MerchantList(%+v): %v", tc.p, err)
			}
			if got := fmtIDs(ids(rows)); got != tc.want {
				t.Errorf("MerchantList(%+v) = %s, want %s", tc.p, got, tc.want)
			}
		}
		rows, err := pool.MerchantList(ctx, store.MerchantListParams{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		a := rows[0]
		if a.Merchant.Name != "县城超市" || a.Merchant.RegionCode != "130627" || a.Merchant.Size != "small" || a.Merchant.Category != "grocery" || !a.CreatedAt.Equal(now) ||
			len(a.Contracts) != 2 || a.Contracts["wechatpay"] != (store.MerchantContract{ID: "ct_1", State: contract.Active}) || a.Contracts["alipay"].State != contract.Invited {
			t.Errorf("m_a = %+v", a)
		}
		if len(rows[2].Contracts) != 0 || rows[2].Contracts == nil {
			t.Errorf("a merchant without contracts: %#v", rows[2].Contracts)
		}
	})
}

func fmtIDs(ids []string) string {
	out := "["
	for i, id := range ids {
		if i > 0 {
			out += " "
		}
		out += id
	}
	return out + "]"
}

// TestPaymentsInEscrowAndSettlements: the escrow list holds paid payments
// not yet released, the earliest paid first, within a merchant if asked;
// settlement batches list the latest day first.
func TestPaymentsInEscrowAndSettlements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		day := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		seedMerchants(t, db, day, "m1", "m2")
		mk := func(id, m, status string, paid, released time.Duration) payment.Payment {
			p := payment.Payment{ID: id, MerchantID: m, MerchantOrderID: id, Status: status, Method: "wechatpay.native", Channel: "wechatpay", Amount: 100, CreatedAt: day}
			if paid > 0 {
				p.PaidAt, p.AutoConfirmAt = day.Add(paid), day.Add(paid+240*time.Hour)
			}
			if released > 0 {
				p.ReleasedAt = day.Add(released)
			}
			return p
		}
		for _, p := range []payment.Payment{
			mk("pay_late", "m1", payment.StatusSucceeded, 3*time.Hour, 0),
			mk("pay_early", "m2", payment.StatusSucceeded, time.Hour, 0),
			mk("pay_released", "m1", payment.StatusSucceeded, time.Minute, 2*time.Hour),
			mk("pay_open", "m1", payment.StatusRequiresAction, 0, 0),
		} {
			if err := pool.PaymentInsert(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		held, err := pool.PaymentsInEscrow(ctx, store.PaymentsInEscrowParams{Limit: 10})
		if err != nil || len(held) != 2 || held[0].ID != "pay_early" || held[1].ID != "pay_late" || !held[1].AutoConfirmAt.Equal(day.Add(243*time.Hour)) {
			t.Errorf("PaymentsInEscrow = %+v, %v", held, err)
		}
		if held, err := pool.PaymentsInEscrow(ctx, store.PaymentsInEscrowParams{MerchantID: "m1", Limit: 10}); err != nil || len(held) != 1 || held[0].ID != "pay_late" {
			t.Errorf("PaymentsInEscrow of m1 = %+v, %v", held, err)
		}
		if held, err := pool.PaymentsInEscrow(ctx, store.PaymentsInEscrowParams{MerchantID: "m9", Limit: 10}); err != nil || held == nil || len(held) != 0 {
			t.Errorf("PaymentsInEscrow of a merchant without any = %#v, %v", held, err)
		}

		for _, b := range []store.SettlementInsertParams{
			{ID: "stl_1", MerchantID: "m1", Day: "2024-09-04", Amount: 500, CreatedAt: day},
			{ID: "stl_2", MerchantID: "m1", Day: "2024-09-05", Amount: 700, CreatedAt: day.Add(24 * time.Hour)},
			{ID: "stl_3", MerchantID: "m2", Day: "2024-09-05", Amount: 900, CreatedAt: day.Add(24 * time.Hour)},
		} {
			if _, err := pool.SettlementInsert(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		list, err := pool.SettlementList(ctx, store.SettlementListParams{Limit: 10})
		if err != nil || len(list) != 3 || list[0].Day != "2024-09-05" || list[2].ID != "stl_1" || list[2].Amount != 500 || !list[2].CreatedAt.Equal(day) {
			t.Errorf("SettlementList = %+v, %v", list, err)
		}
		if list, err := pool.SettlementList(ctx, store.SettlementListParams{MerchantID: "m2", Limit: 10}); err != nil || len(list) != 1 || list[0].ID != "stl_3" {
			t.Errorf("SettlementList of m2 = %+v, %v", list, err)
		}
		if list, err := pool.SettlementList(ctx, store.SettlementListParams{MerchantID: "m1", Limit: 1}); err != nil || len(list) != 1 || list[0].ID != "stl_2" {
			t.Errorf("SettlementList of m1, one = %+v, %v", list, err)
		}
	})
}
