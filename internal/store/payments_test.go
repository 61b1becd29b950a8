package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestPaymentMethods: payments, their wallet orders and refunds written,
// read back (whole, within a merchant, locked in a transaction), listed
// and paged, on both backends; what does not exist is ErrNoRows.
func TestPaymentMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		seedMerchants(t, db, now, "m_a", "m_b")
		var made []payment.Payment
		for i := range 3 {
			p := payment.New("m_a", payment.Request{MerchantOrderID: fmt.Sprintf("o-%d", i), Amount: int64(100 + i), Currency: "CNY", Description: "豆浆",
				Method: "wechatpay.native", Buyer: payment.Buyer{ID: "buyer-1", RegionCode: "341322", Platform: "ios"}}, now.Add(time.Duration(i)*time.Second))
			if err := pool.PaymentInsert(ctx, p); err != nil {
				t.Fatal(err)
			}
			made = append(made, p)
		}
		dup := made[0]
		dup.ID = "pay_other"
		if err := pool.PaymentInsert(ctx, dup); !store.IsUniqueViolation(err) {
			t.Fatalf("a second payment under one order number: %v, want a unique violation", err)
		}
		if id, err := pool.PaymentIDByOrder(ctx, "m_a", "o-1"); err != nil || id != made[1].ID {
			t.Fatalf("PaymentIDByOrder = %s, %v", id, err)
		}
		if _, err := pool.PaymentIDByOrder(ctx, "m_b", "o-1"); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("another merchant's order number: %v, want ErrNoRows", err)
		}
		if mid, err := pool.PaymentMerchant(ctx, made[0].ID); err != nil || mid != "m_a" {
			t.Fatalf("PaymentMerchant = %s, %v", mid, err)
		}
		if _, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: made[0].ID, MerchantID: "m_b"}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("a payment read as another merchant's: %v, want ErrNoRows", err)
		}

		// Paid, in a transaction that reads it locked.
		paid := made[2]
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			p, err := db.In(tx).PaymentGet(ctx, store.PaymentGetParams{ID: paid.ID, MerchantID: "m_a", Lock: true})
			if err != nil {
				return err
			}
			p.Status, p.PaidAt, p.UpdatedAt, p.Refunded = payment.StatusSucceeded, now.Add(time.Minute), now.Add(time.Minute), 40
			paid = p
			return db.In(tx).PaymentSave(ctx, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: paid.ID})
		if err != nil || got.Status != payment.StatusSucceeded || got.Refunded != 40 || !got.PaidAt.Equal(paid.PaidAt) {
			t.Fatalf("after saving: %+v, %v", got, err)
		}
		var status string
		var paidAt int64
		if err := db.QueryRowContext(ctx, `SELECT status, paid_at FROM payments WHERE id = $1`, paid.ID).Scan(&status, &paidAt); err != nil ||
			status != payment.StatusSucceeded || paidAt != store.Micros(paid.PaidAt) {
			t.Fatalf("the columns after saving: %s, %d, %v", status, paidAt, err)
		}
		missing := paid
		missing.ID = "pay_missing"
		if err := pool.PaymentSave(ctx, missing); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("saving a payment never stored: %v, want ErrNoRows", err)
		}

		page, err := pool.PaymentList(ctx, store.PaymentListParams{MerchantID: "m_a", Limit: 2})
		if err != nil || len(page) != 2 || page[0].ID != made[2].ID || page[1].ID != made[1].ID {
			t.Fatalf("first page: %v, %v", ids(page), err)
		}
		page, err = pool.PaymentList(ctx, store.PaymentListParams{MerchantID: "m_a", After: page[1].ID, Limit: 2})
		if err != nil || len(page) != 1 || page[0].ID != made[0].ID {
			t.Fatalf("second page: %v, %v", ids(page), err)
		}
		if page, err := pool.PaymentList(ctx, store.PaymentListParams{MerchantID: "m_a", Status: payment.StatusSucceeded, Limit: 10}); err != nil || len(page) != 1 {
			t.Fatalf("by status: %v, %v", ids(page), err)
		}
		if _, err := pool.PaymentList(ctx, store.PaymentListParams{MerchantID: "m_b", After: made[0].ID, Limit: 10}); !errors.As(err, new(*notfound.Error)) {
			t.Fatalf("paging after another merchant's payment: %v, want a notfound error", err)
		}

		// Wallet orders.
		a := payment.SoleAttempt(made[0])
		second := a
		second.ID, second.Channel, second.Method, second.CreatedAt = "att_2", "alipay", "alipay.precreate", now.Add(time.Hour)
		for _, x := range []payment.Attempt{a, second} {
			if err := pool.AttemptInsert(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		second.Status = payment.AttemptClosed
		if err := pool.AttemptSave(ctx, second); err != nil {
			t.Fatal(err)
		}
		if got, err := pool.AttemptGet(ctx, second.ID, false); err != nil || got.Status != payment.AttemptClosed || got.Channel != "alipay" || got.PaymentID != made[0].ID {
			t.Fatalf("AttemptGet = %+v, %v", got, err)
		}
		if _, err := pool.AttemptGet(ctx, "att_missing", false); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("an unknown wallet order: %v, want ErrNoRows", err)
		}
		if list, err := pool.AttemptList(ctx, made[0].ID); err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != second.ID {
			t.Fatalf("AttemptList = %+v, %v", list, err)
		}
		if pending, err := pool.AttemptIDsPendingBesides(ctx, made[0].ID, "att_x"); err != nil || len(pending) != 1 || pending[0] != a.ID {
			t.Fatalf("pending besides another: %v, %v", pending, err)
		}
		if pending, err := pool.AttemptIDsPendingBesides(ctx, made[0].ID, a.ID); err != nil || len(pending) != 0 {
			t.Fatalf("pending besides the one pending: %v, %v", pending, err)
		}
		missingAttempt := a
		missingAttempt.ID = "att_missing"
		if err := pool.AttemptSave(ctx, missingAttempt); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("saving an unknown wallet order: %v, want ErrNoRows", err)
		}

		// Refunds.
		var refunds []payment.Refund
		for i := range 3 {
			r := payment.Refund{ID: fmt.Sprintf("re_%d", i), PaymentID: paid.ID, Amount: 10, Kind: payment.RefundOnly, Status: payment.RefundPending,
				CreatedAt: now.Add(time.Duration(i) * time.Minute)}
			if err := pool.RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: "m_a", Insert: true}); err != nil {
				t.Fatal(err)
			}
			refunds = append(refunds, r)
		}
		done := refunds[0]
		done.Status, done.SucceededAt, done.UpdatedAt = payment.RefundSucceeded, now.Add(time.Hour), now.Add(time.Hour)
		if err := pool.RefundSave(ctx, store.RefundSaveParams{Refund: done, MerchantID: "m_a"}); err != nil {
			t.Fatal(err)
		}
		if r, mid, err := pool.RefundGet(ctx, store.RefundGetParams{ID: done.ID}); err != nil || mid != "m_a" || r.Status != payment.RefundSucceeded {
			t.Fatalf("RefundGet = %+v, %s, %v", r, mid, err)
		}
		if _, _, err := pool.RefundGet(ctx, store.RefundGetParams{ID: done.ID, MerchantID: "m_b"}); !errors.Is(err, store.ErrNoRows) {
			t.Fatalf("a refund read as another merchant's: %v, want ErrNoRows", err)
		}
		list, err := pool.RefundList(ctx, store.RefundListParams{MerchantID: "m_a", PaymentID: paid.ID, After: refunds[0].ID, Limit: 1})
		if err != nil || len(list) != 1 || list[0].ID != refunds[1].ID {
			t.Fatalf("RefundList after the first = %+v, %v", list, err)
		}
		if all, err := pool.RefundsOf(ctx, paid.ID); err != nil || len(all) != 3 {
			t.Fatalf("RefundsOf = %d refunds, %v", len(all), err)
		}
	})
}

func ids(ps []payment.Payment) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

// filled is a T with every field set, none to its zero value, recursively:
// a field added to payment.Payment, Attempt or Refund that the store does
// not keep fails the round trips below. Times are to the microsecond in
// UTC, as the store keeps them.
func filled[T any]() T {
	var v T
	n := 0
	var fill func(v reflect.Value, name string)
	fill = func(v reflect.Value, name string) {
		n++
		switch {
		case v.Type() == reflect.TypeFor[time.Time]():
			v.Set(reflect.ValueOf(time.Date(2024, 9, 5, 2, 0, n, n*1000+123000, time.UTC)))
			return
		}
		switch v.Kind() {
		case reflect.String:
			v.SetString(fmt.Sprintf("%s-%d", name, n))
		case reflect.Int, reflect.Int64:
			v.SetInt(int64(1000 * n))
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Map:
			m := reflect.MakeMap(v.Type())
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, name+"-key")
			fill(e, name+"-value")
			m.SetMapIndex(k, e)
			v.Set(m)
		case reflect.Slice:
			s := reflect.MakeSlice(v.Type(), 1, 1)
			fill(s.Index(0), name)
			v.Set(s)
		case reflect.Pointer:
			p := reflect.New(v.Type().Elem())
			fill(p.Elem(), name)
			v.Set(p)
		case reflect.Struct:
			for i := range v.NumField() {
				fill(v.Field(i), v.Type().Field(i).Name)
			}
		default:
			panic(fmt.Sprintf("filled: %s is a %s", name, v.Kind()))
		}
	}
	fill(reflect.ValueOf(&v).Elem(), reflect.TypeFor[T]().Name())
	return v
}

// TestPaymentRoundTrip: a payment, a wallet order and a refund with every
// field set come back equal from every read, whichever of the columns or
// data keeps a field; times not yet happened come back zero.
func TestPaymentRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		p := filled[payment.Payment]()
		p.Status = payment.StatusSucceeded
		p.Refunded = p.Amount / 2 // refunds never claim more than was paid
		p.Payer.IsBuyer = false
		if err := pool.MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: p.MerchantID, Name: "shop", Wallets: map[string]merchant.Wallet{p.Channel: {SubMerchant: "1900000109"}}}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := pool.PaymentInsert(ctx, p); err != nil {
			t.Fatal(err)
		}
		open := payment.Payment{ID: "pay_open", MerchantID: p.MerchantID, MerchantOrderID: "o-open", Amount: 100, Currency: "CNY", Method: "cashier",
			Status: payment.StatusRequiresAction, CreatedAt: now, UpdatedAt: now}
		if err := pool.PaymentInsert(ctx, open); err != nil {
			t.Fatal(err)
		}
		a := filled[payment.Attempt]()
		a.PaymentID = p.ID
		r := filled[payment.Refund]()
		r.PaymentID = p.ID
		if err := pool.AttemptInsert(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := pool.RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: p.MerchantID, Insert: true}); err != nil {
			t.Fatal(err)
		}

		reads := map[string]func() (payment.Payment, error){
			"PaymentGet": func() (payment.Payment, error) {
				return pool.PaymentGet(ctx, store.PaymentGetParams{ID: p.ID, MerchantID: p.MerchantID})
			},
			"PaymentList": func() (payment.Payment, error) {
				ps, err := pool.PaymentList(ctx, store.PaymentListParams{MerchantID: p.MerchantID, Status: p.Status, Limit: 10})
				if err != nil || len(ps) != 1 {
					return payment.Payment{}, fmt.Errorf("%d payments, %w", len(ps), err)
				}
				return ps[0], nil
			},
			"PaymentsSucceeded": func() (payment.Payment, error) {
				ps, err := pool.PaymentsSucceeded(ctx, p.MerchantID)
				if err != nil || len(ps) != 1 {
					return payment.Payment{}, fmt.Errorf("%d payments, %w", len(ps), err)
				}
				return ps[0], nil
			},
			"PaymentProfitShareCandidates": func() (payment.Payment, error) {
				cs, err := pool.PaymentProfitShareCandidates(ctx, p.Channel)
				if err != nil || len(cs) != 1 {
					return payment.Payment{}, fmt.Errorf("%d payments, %w", len(cs), err)
				}
				return cs[0].Payment, nil
			},
		}
		for name, read := range reads {
			if got, err := read(); err != nil || !reflect.DeepEqual(got, p) {
				t.Errorf("%s = %+v, %v;\nwant %+v", name, got, err, p)
			}
		}
		got, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: open.ID})
		if err != nil || !reflect.DeepEqual(got, open) || !got.PaidAt.IsZero() || got.Payer != nil {
			t.Errorf("an open payment = %+v, %v;\nwant %+v", got, err, open)
		}
		if got, err := pool.AttemptGet(ctx, a.ID, false); err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("AttemptGet = %+v, %v;\nwant %+v", got, err, a)
		}
		if got, err := pool.AttemptList(ctx, p.ID); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], a) {
			t.Errorf("AttemptList = %+v, %v;\nwant %+v", got, err, a)
		}
		if got, mid, err := pool.RefundGet(ctx, store.RefundGetParams{ID: r.ID}); err != nil || mid != p.MerchantID || !reflect.DeepEqual(got, r) {
			t.Errorf("RefundGet = %+v, %s, %v;\nwant %+v", got, mid, err, r)
		}
		if got, err := pool.RefundsOf(ctx, p.ID); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], r) {
			t.Errorf("RefundsOf = %+v, %v;\nwant %+v", got, err, r)
		}
		if got, err := pool.RefundList(ctx, store.RefundListParams{MerchantID: p.MerchantID, PaymentID: p.ID, Limit: 10}); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], r) {
			t.Errorf("RefundList = %+v, %v;\nwant %+v", got, err, r)
		}

		// Nanoseconds and other zones are kept as the columns keep them.
		ns := p
		ns.ID, ns.MerchantOrderID = "pay_ns", "o-ns"
		beijing := time.FixedZone("CST", 8*3600)
		ns.CreatedAt, ns.ExpiresAt = time.Date(2024, 9, 5, 10, 0, 0, 123456789, beijing), time.Date(2024, 9, 5, 10, 30, 0, 999999999, beijing)
		if err := pool.PaymentInsert(ctx, ns); err != nil {
			t.Fatal(err)
		}
		got, err = pool.PaymentGet(ctx, store.PaymentGetParams{ID: ns.ID})
		if err != nil || got.CreatedAt != time.Date(2024, 9, 5, 2, 0, 0, 123456000, time.UTC) || got.ExpiresAt != time.Date(2024, 9, 5, 2, 30, 0, 999999000, time.UTC) {
			t.Errorf("times in another zone, to the nanosecond, read back as %v and %v (%v); want UTC to the microsecond", got.CreatedAt, got.ExpiresAt, err)
		}
	})
}

// TestPaymentDataCarriesNoColumn: a row's data holds only what no column
// holds, and a row written before (data with everything) reads its
// columns, not data's copies of them.
func TestPaymentDataCarriesNoColumn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pool := db.Pool()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		p := filled[payment.Payment]()
		p.Refunded = p.Amount / 2
		if err := pool.MerchantInsert(ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: p.MerchantID, Name: "shop"}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		a, r := filled[payment.Attempt](), filled[payment.Refund]()
		a.PaymentID, r.PaymentID = p.ID, p.ID
		if err := errors.Join(pool.PaymentInsert(ctx, p), pool.AttemptInsert(ctx, a),
			pool.RefundSave(ctx, store.RefundSaveParams{Refund: r, MerchantID: p.MerchantID, Insert: true})); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			table string
			keys  []string
		}{
			{"payments", []string{"auto_confirm_at", "buyer", "checkout_url", "commission", "currency", "description", "fee", "fee_returned", "items",
				"late_paid", "metadata", "next_action", "paid_attempt", "payer", "profit_share_order", "return_url"}},
			{"payment_attempts", []string{"next_action", "payer", "session"}},
			{"refunds", []string{"after_release", "attempt", "cancel_reason", "fee_back", "reason"}},
		} {
			var data string
			if err := db.QueryRowContext(ctx, `SELECT data FROM `+c.table).Scan(&data); err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Fatal(err)
			}
			if keys := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, c.keys) {
				t.Errorf("%s' data holds %v; want only %v", c.table, keys, c.keys)
			}
			buyer, payer := `{"name":"`+p.Buyer.Name+`"}`, `{"is_buyer":true,"pay_for_me":"`+p.Payer.PayForMe+`"}`
			if c.table == "payments" && (string(m["buyer"]) != buyer || string(m["payer"]) != payer) {
				t.Errorf("payments' data holds buyer %s and payer %s; want only the name, and the payer without its wallet id", m["buyer"], m["payer"])
			}
		}

		// Rows written before: data with everything, the columns as the
		// store wrote them; the columns win where the two disagree.
		old := p
		old.ID, old.MerchantOrderID, old.Status, old.Refunded, old.PaidAt = "pay_old", "o-old", payment.StatusRequiresAction, 0, time.Time{}
		full, err := json.Marshal(old)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO payments (id, merchant_id, merchant_order_id, created_at, status, method, amount, refunded, updated_at, data,
				channel, paid_method, buyer_id, region_code, platform, payer_wallet, share_code, paid_at, released_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
			old.ID, old.MerchantID, old.MerchantOrderID, store.Micros(p.CreatedAt), p.Status, p.Method, p.Amount, p.Refunded, store.Micros(p.UpdatedAt), string(full),
			p.Channel, p.PaidMethod, p.Buyer.ID, p.Buyer.RegionCode, p.Buyer.Platform, p.Payer.Wallet, p.ShareCode, store.Micros(p.PaidAt), store.Micros(p.ReleasedAt)); err != nil {
			t.Fatal(err)
		}
		want := p
		want.ID, want.MerchantOrderID = old.ID, old.MerchantOrderID
		want.Rollout = payment.Rollout{} // rows written before had no cohort
		// nor an expiry column: data's copy of it is read.
		if got, err := pool.PaymentGet(ctx, store.PaymentGetParams{ID: old.ID}); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("a payment stored whole in data = %+v, %v;\nwant %+v", got, err, want)
		}
		oldAttempt := a
		oldAttempt.ID, oldAttempt.Status, oldAttempt.Channel = "att_old", "pending", "alipay"
		full, err = json.Marshal(oldAttempt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO payment_attempts (id, payment_id, status, created_at, data, channel, method, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			oldAttempt.ID, a.PaymentID, a.Status, store.Micros(a.CreatedAt), string(full), a.Channel, a.Method, store.Micros(a.UpdatedAt)); err != nil {
			t.Fatal(err)
		}
		wantAttempt := a
		wantAttempt.ID = oldAttempt.ID
		// Orders stored before kept their status queries as jobs, not as a
		// due time.
		wantAttempt.PollAt, wantAttempt.PollStep = time.Time{}, 0
		if got, err := pool.AttemptGet(ctx, oldAttempt.ID, false); err != nil || !reflect.DeepEqual(got, wantAttempt) {
			t.Errorf("a wallet order stored whole in data = %+v, %v;\nwant %+v", got, err, wantAttempt)
		}
		oldRefund := r
		oldRefund.ID, oldRefund.Kind, oldRefund.SucceededAt = "re_old", "", time.Time{}
		full, err = json.Marshal(oldRefund)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO refunds (id, payment_id, merchant_id, status, amount, created_at, data, kind, updated_at, succeeded_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			oldRefund.ID, r.PaymentID, p.MerchantID, r.Status, r.Amount, store.Micros(r.CreatedAt), string(full), r.Kind, store.Micros(r.UpdatedAt), store.Micros(r.SucceededAt)); err != nil {
			t.Fatal(err)
		}
		wantRefund := r
		wantRefund.ID = oldRefund.ID
		if got, _, err := pool.RefundGet(ctx, store.RefundGetParams{ID: oldRefund.ID}); err != nil || !reflect.DeepEqual(got, wantRefund) {
			t.Errorf("a refund stored whole in data = %+v, %v;\nwant %+v", got, err, wantRefund)
		}
		// A wallet order stored before orders had data of their own ('{}')
		// is its payment's, made by its buyer.
		if _, err := db.ExecContext(ctx, `INSERT INTO payment_attempts (id, payment_id, status, created_at, data, channel, method, updated_at) VALUES ('att_bare', $1, 'succeeded', 5, '{}', 'wechatpay', 'wechatpay.native', 5)`, p.ID); err != nil {
			t.Fatal(err)
		}
		bare := payment.Attempt{ID: "att_bare", PaymentID: p.ID, Status: "succeeded", Channel: "wechatpay", Method: "wechatpay.native", Payer: payment.Payer{IsBuyer: true},
			CreatedAt: store.Time(5), UpdatedAt: store.Time(5)}
		if got, err := pool.AttemptGet(ctx, bare.ID, false); err != nil || !reflect.DeepEqual(got, bare) {
			t.Errorf("a wallet order stored with data {} = %+v, %v;\nwant %+v", got, err, bare)
		}
	})
}

// rolloutExposures are one buyer's exposures at one merchant, with others
// that must not count: another method, merchant or buyer, and a buyer
// without an id.
func rolloutExposures(at time.Time) []store.Exposure {
	x := func(min int, buyer, merchant, method, cohort, tier string, version int) store.Exposure {
		return store.Exposure{At: at.Add(time.Duration(min) * time.Minute), Checkout: rollout.Checkout{BuyerID: buyer, MerchantID: merchant},
			Decision: rollout.Decision{Method: method, Cohort: cohort, Tier: tier, Version: version}}
	}
	return []store.Exposure{
		x(0, "b1", "m1", "wechatpay.jsapi", rollout.CohortHoldout, rollout.TierCounty, 1),
		x(10, "b1", "m1", "wechatpay.jsapi", rollout.CohortUntargeted, rollout.TierCounty, 1),
		x(10, "b1", "m1", "wechatpay.jsapi", rollout.CohortPercent, rollout.TierCounty, 2), // the same instant, newer rules
		x(30, "b1", "m1", "wechatpay.jsapi", rollout.CohortAllow, rollout.TierCounty, 3),
		x(20, "b1", "m1", "alipay.wap", rollout.CohortDefault, rollout.TierCounty, 2),
		x(20, "b1", "m2", "wechatpay.jsapi", rollout.CohortDeny, rollout.TierCounty, 2),
		x(20, "b2", "m1", "wechatpay.jsapi", rollout.CohortDeny, rollout.TierCity, 2),
		x(0, "", "m1", "wechatpay.jsapi", rollout.CohortOff, "", 1),
	}
}

// TestPaymentCohort: a payment's cohort is its buyer's latest exposure to
// the paid method at the merchant at or before the instant asked, the
// newest rules' at one instant; none before the first, nor for a buyer
// without an id.
func TestPaymentCohort(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		if err := db.Pool().ExposureInsert(ctx, rolloutExposures(at)); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			buyer, method string
			min           time.Duration
			want          payment.Rollout // zero: ErrNoRows
		}{
			{"b1", "wechatpay.jsapi", -1, payment.Rollout{}},
			{"b1", "wechatpay.jsapi", 0, payment.Rollout{Cohort: rollout.CohortHoldout, Tier: rollout.TierCounty}},
			{"b1", "wechatpay.jsapi", 10, payment.Rollout{Cohort: rollout.CohortPercent, Tier: rollout.TierCounty}},
			{"b1", "wechatpay.jsapi", 29, payment.Rollout{Cohort: rollout.CohortPercent, Tier: rollout.TierCounty}},
			{"b1", "wechatpay.jsapi", 60, payment.Rollout{Cohort: rollout.CohortAllow, Tier: rollout.TierCounty}},
			{"b1", "alipay.wap", 60, payment.Rollout{Cohort: rollout.CohortDefault, Tier: rollout.TierCounty}},
			{"b2", "wechatpay.jsapi", 60, payment.Rollout{Cohort: rollout.CohortDeny, Tier: rollout.TierCity}},
			{"b3", "wechatpay.jsapi", 60, payment.Rollout{}},
			{"", "wechatpay.jsapi", 60, payment.Rollout{}},
		} {
			got, err := db.Pool().PaymentCohort(ctx, store.PaymentCohortParams{MerchantID: "m1", BuyerID: c.buyer, Method: c.method, At: at.Add(c.min * time.Minute)})
			if c.want == (payment.Rollout{}) {
				if !errors.Is(err, store.ErrNoRows) {
					t.Errorf("PaymentCohort(%s, %s, +%d min) = %+v, %v; want ErrNoRows", c.buyer, c.method, c.min, got, err)
				}
				continue
			}
			if err != nil || got != c.want {
				t.Errorf("PaymentCohort(%s, %s, +%d min) = %+v, %v; want %+v", c.buyer, c.method, c.min, got, err, c.want)
			}
		}
	})
}
