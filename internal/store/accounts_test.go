package store_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

// TestAccountUserMethods: console users on both backends, with a unique
// email, a merchant only when bound to one, and ErrNoRows for what does
// not exist.
func TestAccountUserMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2024, 9, 5, 2, 0, 0, 123456000, time.UTC)
		seedMerchants(t, db, now, "m_county")
		admin := store.User{ID: "usr_admin", Email: "ops@hutong.example", Name: "运营", Role: "admin", CreatedAt: now}
		portal := store.User{ID: "usr_portal", Email: "shop@county.example", Name: "县城超市", Role: "merchant", MerchantID: "m_county", CreatedAt: now}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			for _, u := range []store.User{portal, admin} {
				if err := db.In(tx).UserInsert(ctx, store.UserInsertParams{User: u, PasswordHash: "hash-of-" + u.ID}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		twin := admin
		twin.ID = "usr_twin"
		if err := db.Pool().UserInsert(ctx, store.UserInsertParams{User: twin, PasswordHash: "x"}); !store.IsUniqueViolation(err) {
			t.Errorf("a second user with one email: %v, want a unique violation", err)
		}
		stray := store.User{ID: "usr_stray", Email: "stray@x.example", Role: "merchant", MerchantID: "m_nobody", CreatedAt: now}
		if err := db.Pool().UserInsert(ctx, store.UserInsertParams{User: stray, PasswordHash: "x"}); err == nil {
			t.Error("a user bound to a merchant that does not exist was stored")
		}

		if got, err := db.Pool().UserGet(ctx, portal.ID); err != nil || got != portal {
			t.Errorf("UserGet = %+v, %v; want %+v", got, err, portal)
		}
		got, hash, err := db.Pool().UserByEmail(ctx, admin.Email)
		if err != nil || got != admin || hash != "hash-of-usr_admin" {
			t.Errorf("UserByEmail = %+v, %q, %v; want %+v with its hash", got, hash, err, admin)
		}
		if _, err := db.Pool().UserGet(ctx, "usr_nobody"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("UserGet of an unknown id: %v, want ErrNoRows", err)
		}
		if _, _, err := db.Pool().UserByEmail(ctx, "nobody@x.example"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("UserByEmail of an unknown email: %v, want ErrNoRows", err)
		}
		if list, err := db.Pool().UserList(ctx); err != nil || !reflect.DeepEqual(list, []store.User{admin, portal}) {
			t.Errorf("UserList = %+v, %v; want both, by email", list, err)
		}

		later := now.Add(time.Hour)
		if err := db.Pool().UserPasswordSet(ctx, store.UserPasswordSetParams{UserID: admin.ID, PasswordHash: "new", At: later}); err != nil {
			t.Fatal(err)
		}
		if _, hash, err := db.Pool().UserByEmail(ctx, admin.Email); err != nil || hash != "new" {
			t.Errorf("hash after UserPasswordSet: %q, %v", hash, err)
		}
		if err := db.Pool().UserDisabledSet(ctx, store.UserDisabledSetParams{UserID: portal.ID, Disabled: true, At: later}); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Pool().UserGet(ctx, portal.ID); err != nil || !got.Disabled {
			t.Errorf("after UserDisabledSet: %+v, %v", got, err)
		}
		if err := db.Pool().UserPasswordSet(ctx, store.UserPasswordSetParams{UserID: "usr_nobody", PasswordHash: "x", At: later}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("UserPasswordSet of an unknown id: %v, want ErrNoRows", err)
		}
		if err := db.Pool().UserDisabledSet(ctx, store.UserDisabledSetParams{UserID: "usr_nobody", At: later}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("UserDisabledSet of an unknown id: %v, want ErrNoRows", err)
		}
	})
}

// TestAccountSessionMethods: sessions are found by their id with their
// user, touched, listed while live, and ended one by one, all of a user's
// or only the expired.
func TestAccountSessionMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		user := store.User{ID: "usr_a", Email: "a@x.example", Name: "A", Role: "finance", CreatedAt: now}
		if err := db.Pool().UserInsert(ctx, store.UserInsertParams{User: user, PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		session := func(id string, created time.Time, ttl time.Duration) store.Session {
			return store.Session{ID: id, UserID: user.ID, CSRF: "csrf-" + id, CreatedAt: created, LastSeen: created, ExpiresAt: created.Add(ttl), IP: "203.0.113.7", UserAgent: "Firefox"}
		}
		laptop, phone, stale := session("s_laptop", now, 12*time.Hour), session("s_phone", now.Add(time.Minute), 12*time.Hour), session("s_stale", now.Add(-24*time.Hour), time.Hour)
		for _, s := range []store.Session{laptop, phone, stale} {
			if err := db.Pool().SessionInsert(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		gotS, gotU, err := db.Pool().SessionWithUser(ctx, laptop.ID)
		if err != nil || gotS != laptop || gotU != user {
			t.Errorf("SessionWithUser = %+v, %+v, %v; want %+v, %+v", gotS, gotU, err, laptop, user)
		}
		if _, _, err := db.Pool().SessionWithUser(ctx, "s_nobody"); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("SessionWithUser of an unknown id: %v, want ErrNoRows", err)
		}
		seen := now.Add(2 * time.Minute)
		if err := db.Pool().SessionTouch(ctx, store.SessionTouchParams{ID: laptop.ID, LastSeen: seen, ExpiresAt: seen.Add(12 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		laptop.LastSeen, laptop.ExpiresAt = seen, seen.Add(12*time.Hour)
		if list, err := db.Pool().SessionList(ctx, store.SessionListParams{UserID: user.ID, Now: now.Add(3 * time.Minute)}); err != nil || !reflect.DeepEqual(list, []store.Session{laptop, phone}) {
			t.Errorf("SessionList = %+v, %v; want the live two, latest seen first", list, err)
		}
		if n, err := db.Pool().SessionsDelete(ctx, store.SessionsDeleteParams{UserID: user.ID, ExpiredBy: now}); err != nil || n != 1 {
			t.Errorf("SessionsDelete of the expired = %d, %v; want 1", n, err)
		}
		if err := db.Pool().SessionDelete(ctx, phone.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.Pool().SessionDelete(ctx, phone.ID); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("SessionDelete twice: %v, want ErrNoRows", err)
		}
		if err := db.Pool().SessionTouch(ctx, store.SessionTouchParams{ID: phone.ID, LastSeen: seen, ExpiresAt: seen}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("SessionTouch of an ended session: %v, want ErrNoRows", err)
		}
		if n, err := db.Pool().SessionsDelete(ctx, store.SessionsDeleteParams{UserID: user.ID}); err != nil || n != 1 {
			t.Errorf("SessionsDelete of all = %d, %v; want the laptop's", n, err)
		}
	})
}

// TestAccountLoginFailureMethods: the throttle's memory answers the Nth
// latest failure of an email or an address within a window, and forgets.
func TestAccountLoginFailureMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
		for i := range 4 {
			ip := "203.0.113.1"
			if i == 3 {
				ip = "198.51.100.2"
			}
			if err := db.Pool().LoginFailureInsert(ctx, store.LoginFailure{Email: "a@x.example", IP: ip, At: now.Add(time.Duration(i) * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		nth := func(p store.LoginFailureNthParams) (time.Time, error) { return db.Pool().LoginFailureNth(ctx, p) }
		if at, err := nth(store.LoginFailureNthParams{Email: "a@x.example", Since: now.Add(-time.Hour), N: 2}); err != nil || !at.Equal(now.Add(2*time.Minute)) {
			t.Errorf("second latest of the email: %v, %v", at, err)
		}
		if at, err := nth(store.LoginFailureNthParams{IP: "203.0.113.1", Since: now.Add(-time.Hour), N: 3}); err != nil || !at.Equal(now) {
			t.Errorf("third latest of the address: %v, %v", at, err)
		}
		if _, err := nth(store.LoginFailureNthParams{Email: "a@x.example", Since: now, N: 4}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("fourth after the first: %v, want ErrNoRows (the window leaves the first out)", err)
		}
		if _, err := nth(store.LoginFailureNthParams{Email: "a@x.example", N: 0}); err == nil {
			t.Error("N 0 was accepted")
		}
		if err := db.Pool().LoginFailuresPurge(ctx, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if at, err := nth(store.LoginFailureNthParams{Email: "a@x.example", N: 2}); err != nil || !at.Equal(now.Add(2*time.Minute)) {
			t.Errorf("after purging the first two, the second latest: %v, %v", at, err)
		}
		if _, err := nth(store.LoginFailureNthParams{Email: "a@x.example", N: 3}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("purged failures still count: %v", err)
		}
		if err := db.Pool().LoginFailuresClear(ctx, "a@x.example"); err != nil {
			t.Fatal(err)
		}
		if _, err := nth(store.LoginFailureNthParams{IP: "198.51.100.2", N: 1}); !errors.Is(err, store.ErrNoRows) {
			t.Errorf("a cleared email's failures still count for its address: %v", err)
		}
	})
}

// TestAccountAuditMethods: the audit log answers newest first, filtered by
// any of merchant, actor, action and object, paged by id, and keeps its
// JSON text and times exactly.
func TestAccountAuditMethods(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2024, 9, 5, 2, 0, 0, 654321000, time.UTC)
		entries := []store.AuditEntry{
			{At: now, ActorID: "usr_a", ActorEmail: "a@x.example", Action: "user.add", Object: "user:usr_b", After: `{"email":"b@x.example"}`, IP: "203.0.113.7"},
			{At: now, ActorID: "usr_a", ActorEmail: "a@x.example", Action: "payment.refund", Object: "payment:pay_1", MerchantID: "m_1", Before: `{"refunded":0}`, After: `{"refunded":100}`},
			{At: now, ActorEmail: "cli", Action: "webhook.resend", Object: "event:evt_1", MerchantID: "m_2"},
			{At: now, ActorID: "usr_b", ActorEmail: "b@x.example", Action: "payment.refund", Object: "payment:pay_1", MerchantID: "m_1"},
		}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			for i := range entries {
				id, err := db.In(tx).AuditInsert(ctx, entries[i])
				if err != nil {
					return err
				}
				entries[i].ID = id
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		list := func(p store.AuditListParams) []store.AuditEntry {
			t.Helper()
			if p.Limit == 0 {
				p.Limit = 10
			}
			got, err := db.Pool().AuditList(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		e0, e1, e2, e3 := entries[0], entries[1], entries[2], entries[3]
		for _, c := range []struct {
			name string
			p    store.AuditListParams
			want []store.AuditEntry
		}{
			{"all", store.AuditListParams{}, []store.AuditEntry{e3, e2, e1, e0}},
			{"a merchant's", store.AuditListParams{MerchantID: "m_1"}, []store.AuditEntry{e3, e1}},
			{"an actor's", store.AuditListParams{ActorID: "usr_a"}, []store.AuditEntry{e1, e0}},
			{"an action", store.AuditListParams{Action: "payment.refund", ActorID: "usr_b"}, []store.AuditEntry{e3}},
			{"an object", store.AuditListParams{Object: "payment:pay_1"}, []store.AuditEntry{e3, e1}},
			{"first page", store.AuditListParams{Limit: 2}, []store.AuditEntry{e3, e2}},
			{"next page", store.AuditListParams{Limit: 2, Before: e2.ID}, []store.AuditEntry{e1, e0}},
			{"a merchant's next page", store.AuditListParams{MerchantID: "m_1", Before: e3.ID}, []store.AuditEntry{e1}},
		} {
			if got := list(c.p); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: got %+v\nwant %+v", c.name, got, c.want)
			}
		}
	})
}
