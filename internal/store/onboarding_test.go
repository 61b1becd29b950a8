package store_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/campaign"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestOnboardingMethods: every agreement, contract, transition and
// campaign method on both backends, with ErrNoRows for what does not
// exist and a unique violation for a second contract of one merchant on
// one channel.
func TestOnboardingMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		for _, m := range []merchant.Merchant{
			{ID: "m_county", Name: "县城超市", Category: "grocery", RegionCode: "341322", Size: "small"},
			{ID: "m_city", Name: "城市服饰", Category: "apparel", RegionCode: "310101", Size: "large"},
		} {
			if err := db.Pool().MerchantInsert(ctx, store.MerchantInsertParams{Merchant: m, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}

		// Agreements: versions count up per channel; the newest is current.
		if _, err := db.Pool().AgreementCurrent(ctx, "wechatpay"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("AgreementCurrent before any: %v, want ErrNoRows", err)
		}
		var published []contract.Agreement
		for i, a := range []contract.Agreement{
			{Channel: "wechatpay", Title: "微信支付开通服务协议", Body: "第一条", CreatedBy: "key:k1", Created: at},
			{Channel: "alipay", Title: "支付宝授权收款协议", Body: "第一条", CreatedBy: "key:k1", Created: at},
			{Channel: "wechatpay", Title: "微信支付开通服务协议", Body: "第一条（修订）", RequireResign: true, CreatedBy: "key:k2", Created: at.Add(time.Hour)},
		} {
			a.TextSHA256 = contract.TextHash(a.Title, a.Body)
			v, err := db.Pool().AgreementInsert(ctx, store.AgreementInsertParams{Agreement: a})
			if want := []int{1, 1, 2}[i]; err != nil || v != want {
				t.Fatalf("AgreementInsert %d = %d, %v; want version %d", i, v, err, want)
			}
			a.Version = v
			published = append(published, a)
		}
		if got, err := db.Pool().AgreementCurrent(ctx, "wechatpay"); err != nil || got != published[2] {
			t.Errorf("AgreementCurrent = %+v, %v; want %+v", got, err, published[2])
		}
		want := []contract.Agreement{published[1], published[0], published[2]} // by channel, version
		if got, err := db.Pool().AgreementList(ctx); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("AgreementList = %+v, %v; want %+v", got, err, want)
		}

		// Contracts, written in a transaction as the service does.
		county := contract.Contract{ID: "ct_county", MerchantID: "m_county", Channel: "wechatpay", State: contract.NotInvited, Created: at, Updated: at}
		city := contract.Contract{ID: "ct_city", MerchantID: "m_city", Channel: "wechatpay", State: contract.NotInvited, Created: at, Updated: at.Add(time.Minute)}
		cityAlipay := contract.Contract{ID: "ct_city_ali", MerchantID: "m_city", Channel: "alipay", State: contract.Active, SubMerchant: "token", Created: at, Updated: at.Add(2 * time.Minute)}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			e := db.In(tx)
			for _, p := range []store.ContractInsertParams{
				{Contract: county, CampaignID: "cmp_1", SignToken: "tok_county"},
				{Contract: city, SignToken: "tok_city"},
				{Contract: cityAlipay, SignToken: "tok_city_ali"},
			} {
				if err := e.ContractInsert(ctx, p); err != nil {
					return err
				}
			}
			// Locked, and read back in the transaction that wrote it.
			sc, err := e.ContractGet(ctx, store.ContractGetParams{ID: county.ID, Lock: true})
			if want := (store.StoredContract{Contract: county, CampaignID: "cmp_1", SignToken: "tok_county"}); err != nil || !reflect.DeepEqual(sc, want) {
				t.Errorf("ContractGet locked in the transaction = %+v, %v; want %+v", sc, err, want)
			}
			county.State, county.Updated = contract.Invited, at.Add(3*time.Minute)
			return e.ContractUpdate(ctx, county)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Pool().ContractInsert(ctx, store.ContractInsertParams{Contract: contract.Contract{ID: "ct_again", MerchantID: "m_county", Channel: "wechatpay"}, SignToken: "t"}); !store.IsUniqueViolation(err) {
			t.Errorf("a second contract of one merchant on one channel: %v, want a unique violation", err)
		}
		for _, p := range []store.ContractGetParams{{ID: "ct_nobody"}, {ID: county.ID, MerchantID: "m_city"}} {
			if _, err := db.Pool().ContractGet(ctx, p); !errors.Is(err, store.ErrNoRows) {
				t.Errorf("ContractGet(%+v): %v, want ErrNoRows", p, err)
			}
		}
		if sc, err := db.Pool().ContractGet(ctx, store.ContractGetParams{ID: county.ID, MerchantID: "m_county"}); err != nil || !reflect.DeepEqual(sc.Contract, county) {
			t.Errorf("ContractGet of the merchant's own = %+v, %v; want %+v", sc.Contract, err, county)
		}
		if sc, err := db.Pool().ContractByMerchant(ctx, "m_city", "alipay"); err != nil || !reflect.DeepEqual(sc.Contract, cityAlipay) || sc.SignToken != "tok_city_ali" {
			t.Errorf("ContractByMerchant = %+v, %v; want %+v", sc, err, cityAlipay)
		}
		if _, err := db.Pool().ContractByMerchant(ctx, "m_county", "alipay"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("ContractByMerchant of none: %v, want ErrNoRows", err)
		}
		if err := db.Pool().ContractCampaignSet(ctx, city.ID, "cmp_1"); err != nil {
			t.Fatal(err)
		}
		if err := db.Pool().ContractCampaignSet(ctx, "ct_nobody", "cmp_1"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("ContractCampaignSet of none: %v, want ErrNoRows", err)
		}
		if err := db.Pool().ContractUpdate(ctx, contract.Contract{ID: "ct_nobody"}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("ContractUpdate of none: %v, want ErrNoRows", err)
		}
		ids := func(list []store.StoredContract) (out []string) {
			for _, sc := range list {
				out = append(out, sc.Contract.ID)
			}
			return out
		}
		for _, c := range []struct {
			f    store.ContractFilter
			want []string
		}{
			{store.ContractFilter{}, []string{"ct_county", "ct_city_ali", "ct_city"}}, // the latest changed first
			{store.ContractFilter{MerchantID: "m_city"}, []string{"ct_city_ali", "ct_city"}},
			{store.ContractFilter{Channel: "wechatpay", CampaignID: "cmp_1"}, []string{"ct_county", "ct_city"}},
			{store.ContractFilter{States: []string{contract.Invited, contract.Active}}, []string{"ct_county", "ct_city_ali"}},
			{store.ContractFilter{MerchantID: "m_county", States: []string{contract.Active}}, nil},
		} {
			if list, err := db.Pool().ContractList(ctx, c.f); err != nil || !reflect.DeepEqual(ids(list), c.want) {
				t.Errorf("ContractList(%+v) = %v, %v; want %v", c.f, ids(list), err, c.want)
			}
		}

		// Transitions are numbered per contract and read back in order.
		trs := []contract.Transition{
			{ContractID: county.ID, From: contract.NotInvited, To: contract.Invited, Action: contract.ActInvite, Actor: "key:k1", Reason: "campaign cmp_1", At: at.Add(3 * time.Minute)},
			{ContractID: city.ID, From: contract.NotInvited, To: contract.Invited, Action: contract.ActInvite, Actor: "key:k1", At: at.Add(4 * time.Minute)},
			{ContractID: county.ID, From: contract.Invited, To: contract.Signed, Action: contract.ActSign, Actor: "merchant:张三", At: at.Add(5 * time.Minute)},
		}
		for _, tr := range trs {
			if err := db.Pool().ContractTransitionInsert(ctx, tr); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := db.Pool().ContractTransitionList(ctx, county.ID); err != nil || !reflect.DeepEqual(got, []contract.Transition{trs[0], trs[2]}) {
			t.Errorf("ContractTransitionList = %+v, %v", got, err)
		}
		if got, err := db.Pool().ContractTransitionList(ctx, "ct_nobody"); err != nil || len(got) != 0 {
			t.Errorf("ContractTransitionList of none = %+v, %v; want none", got, err)
		}

		// Campaigns.
		first := campaign.Campaign{ID: "cmp_1", Channel: "wechatpay", Name: "开通微信支付", Filter: campaign.Filter{Region: "34"},
			Deadline: at.Add(30 * 24 * time.Hour), RemindEvery: campaign.Duration(72 * time.Hour), Invited: 2, CreatedBy: "key:k1", Created: at}
		second := campaign.Campaign{ID: "cmp_2", Channel: "alipay", Deadline: at.Add(60 * 24 * time.Hour), CreatedBy: "key:k1", Created: at.Add(time.Hour)}
		for _, c := range []campaign.Campaign{first, second} {
			if err := db.Pool().CampaignInsert(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := db.Pool().CampaignGet(ctx, first.ID); err != nil || !reflect.DeepEqual(got, first) {
			t.Errorf("CampaignGet = %+v, %v; want %+v", got, err, first)
		}
		if _, err := db.Pool().CampaignGet(ctx, "cmp_nobody"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("CampaignGet of none: %v, want ErrNoRows", err)
		}
		if got, err := db.Pool().CampaignList(ctx); err != nil || !reflect.DeepEqual(got, []campaign.Campaign{second, first}) {
			t.Errorf("CampaignList = %+v, %v; want the newest first", got, err)
		}
		members, err := db.Pool().CampaignMemberList(ctx, first.ID)
		wantMembers := []campaign.Member{
			{ContractID: "ct_city", MerchantID: "m_city", State: contract.NotInvited, MerchantName: "城市服饰", Category: "apparel", RegionCode: "310101"},
			{ContractID: "ct_county", MerchantID: "m_county", State: contract.Invited, MerchantName: "县城超市", Category: "grocery", RegionCode: "341322"},
		}
		if err != nil || !reflect.DeepEqual(members, wantMembers) {
			t.Errorf("CampaignMemberList = %+v, %v; want %+v", members, err, wantMembers)
		}
		if members, err := db.Pool().CampaignMemberList(ctx, second.ID); err != nil || len(members) != 0 {
			t.Errorf("CampaignMemberList of a campaign that invited none = %+v, %v", members, err)
		}
	})
}
