package accounts_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/store/storetest"
)

const password = "correct horse battery"

// fixture is a Service on a test database whose clock the test moves,
// with the merchant m_county stored, and a context acting as the CLI.
type fixture struct {
	svc *accounts.Service
	db  *store.DB
	now time.Time
	ctx context.Context
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	f := &fixture{db: db, now: time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)}
	f.svc = &accounts.Service{DB: db, Now: func() time.Time { return f.now }}
	f.ctx = accounts.WithActor(context.Background(), accounts.User{Email: "cli:test"})
	if err := db.Pool().MerchantInsert(f.ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: "m_county", Name: "县城超市"}, CreatedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) addUser(t *testing.T, email string, role accounts.Role, merchantID string) accounts.User {
	t.Helper()
	u, err := f.svc.AddUser(f.ctx, accounts.AddUserParams{Email: email, Name: "Test " + email, Role: role, MerchantID: merchantID, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) login(t *testing.T, email, pw, ip string) (accounts.Session, string, error) {
	t.Helper()
	_, s, token, err := f.svc.Login(context.Background(), accounts.LoginParams{Email: email, Password: pw, IP: ip, UserAgent: "Firefox/130"})
	return s, token, err
}

// audit is the audit log's newest entry of an action, or fails the test.
func (f *fixture) audit(t *testing.T, action string) accounts.AuditEntry {
	t.Helper()
	es, err := f.svc.AuditLog(f.ctx, accounts.AuditQuery{Action: action, Limit: 1})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit of %s: %v, %v", action, es, err)
	}
	return es[0]
}

func TestAddUserValidationNamesTheField(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ok := accounts.AddUserParams{Email: "ops@hutong.example", Name: "运营", Role: accounts.RoleOperations, Password: password}
		for _, c := range []struct {
			name  string
			edit  func(*accounts.AddUserParams)
			param string
		}{
			{"no email", func(p *accounts.AddUserParams) { p.Email = " " }, "email"},
			{"no at", func(p *accounts.AddUserParams) { p.Email = "ops.hutong.example" }, "email"},
			{"undotted domain", func(p *accounts.AddUserParams) { p.Email = "ops@localhost" }, "email"},
			{"space inside", func(p *accounts.AddUserParams) { p.Email = "o ps@hutong.example" }, "email"},
			{"two ats", func(p *accounts.AddUserParams) { p.Email = "a@b@hutong.example" }, "email"},
			{"long email", func(p *accounts.AddUserParams) { p.Email = strings.Repeat("a", 250) + "@x.cn" }, "email"},
			{"no name", func(p *accounts.AddUserParams) { p.Name = "  " }, "name"},
			{"long name", func(p *accounts.AddUserParams) { p.Name = strings.Repeat("名", 101) }, "name"},
			{"control in name", func(p *accounts.AddUserParams) { p.Name = "a\x00b" }, "name"},
			{"unknown role", func(p *accounts.AddUserParams) { p.Role = "root" }, "role"},
			{"merchant for a platform role", func(p *accounts.AddUserParams) { p.MerchantID = "m_county" }, "merchant_id"},
			{"merchant role without one", func(p *accounts.AddUserParams) { p.Role = accounts.RoleMerchant }, "merchant_id"},
			{"merchant that does not exist", func(p *accounts.AddUserParams) { p.Role, p.MerchantID = accounts.RoleMerchant, "m_nobody" }, "merchant_id"},
			{"short password", func(p *accounts.AddUserParams) { p.Password = "elevenchars" }, "password"},
			{"twelve bytes but six characters", func(p *accounts.AddUserParams) { p.Password = "密码密码密码" }, "password"},
			{"long password", func(p *accounts.AddUserParams) { p.Password = strings.Repeat("x", 257) }, "password"},
		} {
			p := ok
			c.edit(&p)
			_, err := f.svc.AddUser(f.ctx, p)
			var fe *payment.FieldError
			if !errors.As(err, &fe) || fe.Param != c.param {
				t.Errorf("%s: %v, want a field error on %s", c.name, err, c.param)
			}
		}
		if us, err := f.svc.Users(f.ctx); err != nil || len(us) != 0 {
			t.Fatalf("refused users were stored: %v, %v", us, err)
		}

		p := ok
		p.Email = "  OPS@Hutong.Example "
		u, err := f.svc.AddUser(f.ctx, p)
		if err != nil || u.Email != "ops@hutong.example" || !strings.HasPrefix(u.ID, "usr_") || !u.CreatedAt.Equal(f.now) {
			t.Fatalf("AddUser = %+v, %v; want the email trimmed and lower-cased", u, err)
		}
		if got, err := f.svc.User(f.ctx, u.ID); err != nil || got != u {
			t.Errorf("User = %+v, %v; want %+v", got, err, u)
		}
		_, err = f.svc.AddUser(f.ctx, ok)
		var fe *payment.FieldError
		if !errors.Is(err, accounts.ErrEmailTaken) || !errors.As(err, &fe) || fe.Param != "email" {
			t.Errorf("a second user with one email: %v, want ErrEmailTaken on email", err)
		}
		portal, err := f.svc.AddUser(f.ctx, accounts.AddUserParams{Email: "shop@county.example", Name: "县城超市", Role: accounts.RoleMerchant, MerchantID: "m_county", Password: password})
		if err != nil || portal.MerchantID != "m_county" {
			t.Fatalf("a portal user: %+v, %v", portal, err)
		}

		e := f.audit(t, "user.add")
		var after accounts.User
		if err := json.Unmarshal(e.After, &after); err != nil || after != portal || e.Object != "user:"+portal.ID || e.MerchantID != "m_county" ||
			e.ActorEmail != "cli:test" || e.ActorID != "" || len(e.Before) != 0 {
			t.Errorf("audit of user.add: %+v (after %s, %v)", e, e.After, err)
		}
		if strings.Contains(string(e.After), "argon2") {
			t.Errorf("the audit log shows a password hash: %s", e.After)
		}
	})
}

func TestParseRoleNamesTheAllowed(t *testing.T) {
	t.Parallel()
	for _, r := range accounts.Roles {
		if got, err := accounts.ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	if _, err := accounts.ParseRole("Admin"); err == nil || !strings.Contains(err.Error(), "admin, operations, finance, support, merchant") {
		t.Errorf("ParseRole of an unknown role: %v", err)
	}
}

func TestLoginOpensASessionTheStoreCannotReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		u := f.addUser(t, "fin@hutong.example", accounts.RoleFinance, "")
		user, s, token, err := f.svc.Login(context.Background(), accounts.LoginParams{Email: " FIN@hutong.example", Password: password, IP: "203.0.113.7", UserAgent: "Firefox/130"})
		if err != nil || user != u || s.UserID != u.ID || token == "" || s.CSRF == "" || s.CSRF == token {
			t.Fatalf("Login = %+v, %+v, %q, %v", user, s, token, err)
		}
		sum := sha256.Sum256([]byte(token))
		if s.ID != hex.EncodeToString(sum[:]) || !s.ExpiresAt.Equal(f.now.Add(accounts.DefaultSessionTTL)) || s.IP != "203.0.113.7" {
			t.Errorf("session %+v: want the token's SHA-256 as id, 12 h to live", s)
		}
		var held int
		if err := db.QueryRow(`SELECT COUNT(*) FROM sessions WHERE id = $1 OR csrf = $1 OR user_agent = $1 OR ip = $1`, token).Scan(&held); err != nil || held != 0 {
			t.Errorf("the sessions table holds the token in clear (%d rows, %v)", held, err)
		}
		gotU, gotS, err := f.svc.Session(context.Background(), token)
		if err != nil || gotU != u || gotS != s {
			t.Errorf("Session = %+v, %+v, %v; want %+v, %+v", gotU, gotS, err, u, s)
		}
		if !gotS.CheckCSRF(s.CSRF) || gotS.CheckCSRF("") || gotS.CheckCSRF(token) {
			t.Error("CheckCSRF does not accept exactly the session's token")
		}
		for _, bad := range []string{"", s.ID, token + "x", strings.Repeat("a", 4096)} {
			if _, _, err := f.svc.Session(context.Background(), bad); !errors.Is(err, accounts.ErrNoSession) {
				t.Errorf("Session(%.20q…) = %v, want ErrNoSession", bad, err)
			}
		}
		if e := f.audit(t, "session.login"); e.ActorID != u.ID || e.ActorEmail != u.Email || e.Object != "user:"+u.ID || e.IP != "203.0.113.7" || !strings.Contains(string(e.After), s.ID) {
			t.Errorf("audit of session.login: %+v %s", e, e.After)
		}

		for _, c := range []struct{ email, pw string }{{"fin@hutong.example", password + "!"}, {"nobody@hutong.example", password}, {"fin@hutong.example", strings.Repeat("x", 300)}} {
			if _, _, err := f.login(t, c.email, c.pw, "203.0.113.8"); !errors.Is(err, accounts.ErrBadCredentials) {
				t.Errorf("Login(%s, wrong) = %v, want ErrBadCredentials", c.email, err)
			}
		}
		if e := f.audit(t, "session.login_failed"); e.Object != "user:"+u.ID || e.ActorID != u.ID || e.IP != "203.0.113.8" {
			t.Errorf("audit of a failed login of a user: %+v", e)
		}
		if es, err := f.svc.AuditLog(f.ctx, accounts.AuditQuery{Object: "email:nobody@hutong.example"}); err != nil || len(es) != 1 || es[0].ActorID != "" {
			t.Errorf("audit of a failed login of an unknown email: %+v, %v", es, err)
		}
	})
}

func TestLoginThrottlesAnEmailThenAnAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.addUser(t, "sup@hutong.example", accounts.RoleSupport, "")
		start := f.now
		for i := range accounts.MaxFailuresPerEmail {
			f.now = start.Add(time.Duration(i) * time.Minute)
			if _, _, err := f.login(t, "sup@hutong.example", "guess-"+fmt.Sprint(i), fmt.Sprintf("198.51.100.%d", i)); !errors.Is(err, accounts.ErrBadCredentials) {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		// The right password, from an address of its own, is refused too,
		// unchecked, until the first failure leaves the window.
		f.now = start.Add(10 * time.Minute)
		_, _, err := f.login(t, "SUP@hutong.example", password, "192.0.2.1")
		var te *accounts.ThrottledError
		if !errors.Is(err, accounts.ErrThrottled) || !errors.As(err, &te) || te.RetryAfter != 5*time.Minute {
			t.Fatalf("sixth try: %v, want ErrThrottled for 5 minutes", err)
		}
		f.now = start.Add(accounts.FailureWindow)
		if _, _, err := f.login(t, "sup@hutong.example", password, "192.0.2.1"); err != nil {
			t.Fatalf("once the first failure has left the window: %v", err)
		}
		// A success forgets the email's failures.
		for i := range accounts.MaxFailuresPerEmail - 1 {
			if _, _, err := f.login(t, "sup@hutong.example", "guess-"+fmt.Sprint(i), "192.0.2.1"); !errors.Is(err, accounts.ErrBadCredentials) {
				t.Fatalf("failure %d after a success: %v", i+1, err)
			}
		}
		if _, _, err := f.login(t, "sup@hutong.example", password, "192.0.2.1"); err != nil {
			t.Fatalf("four failures after a success throttled: %v", err)
		}

		// One address trying many emails: 20 failures (those of the email
		// that signed in are forgotten with it) and it is refused, for any
		// email, while another address is not.
		f.now = f.now.Add(time.Minute)
		for i := range accounts.MaxFailuresPerIP {
			if _, _, err := f.login(t, fmt.Sprintf("u%d@hutong.example", i), password, "192.0.2.1"); !errors.Is(err, accounts.ErrBadCredentials) {
				t.Fatalf("address failure %d: %v", i+1, err)
			}
		}
		if _, _, err := f.login(t, "sup@hutong.example", password, "192.0.2.1"); !errors.Is(err, accounts.ErrThrottled) {
			t.Fatalf("the address's 21st try: %v, want ErrThrottled", err)
		}
		if _, _, err := f.login(t, "sup@hutong.example", password, "192.0.2.2"); err != nil {
			t.Fatalf("another address: %v", err)
		}
	})
}

func TestLogoutEndsOneSessionAndLogoutEverywhereAll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		u := f.addUser(t, "shop@county.example", accounts.RoleMerchant, "m_county")
		laptop, laptopToken, err := f.login(t, u.Email, password, "203.0.113.7")
		if err != nil {
			t.Fatal(err)
		}
		_, phoneToken, err := f.login(t, u.Email, password, "203.0.113.9")
		if err != nil {
			t.Fatal(err)
		}
		_, tabletToken, err := f.login(t, u.Email, password, "203.0.113.10")
		if err != nil {
			t.Fatal(err)
		}
		if ss, err := f.svc.Sessions(f.ctx, u.ID); err != nil || len(ss) != 3 {
			t.Fatalf("Sessions = %d, %v; want 3", len(ss), err)
		}
		if err := f.svc.Logout(context.Background(), laptopToken); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Session(f.ctx, laptopToken); !errors.Is(err, accounts.ErrNoSession) {
			t.Errorf("a logged-out session: %v, want ErrNoSession", err)
		}
		if err := f.svc.Logout(context.Background(), laptopToken); !errors.Is(err, accounts.ErrNoSession) {
			t.Errorf("logging out twice: %v, want ErrNoSession", err)
		}
		if e := f.audit(t, "session.logout"); e.ActorID != u.ID || e.MerchantID != "m_county" || !strings.Contains(string(e.Before), laptop.ID) {
			t.Errorf("audit of session.logout: %+v %s", e, e.Before)
		}
		if _, _, err := f.svc.Session(f.ctx, phoneToken); err != nil {
			t.Fatalf("another session after a logout: %v", err)
		}
		n, err := f.svc.LogoutEverywhere(f.ctx, u.ID)
		if err != nil || n != 2 {
			t.Fatalf("LogoutEverywhere = %d, %v; want 2", n, err)
		}
		for _, token := range []string{phoneToken, tabletToken} {
			if _, _, err := f.svc.Session(f.ctx, token); !errors.Is(err, accounts.ErrNoSession) {
				t.Errorf("a session after LogoutEverywhere: %v", err)
			}
		}
		if e := f.audit(t, "session.logout_everywhere"); e.ActorEmail != "cli:test" || e.Object != "user:"+u.ID || string(e.After) != `{"sessions_ended":2}` {
			t.Errorf("audit of session.logout_everywhere: %+v %s", e, e.After)
		}
		if _, err := f.svc.LogoutEverywhere(f.ctx, "usr_nobody"); !errors.Is(err, notfound.Err) {
			t.Errorf("LogoutEverywhere of an unknown user: %v, want notfound", err)
		}
	})
}

func TestDisablingOrANewPasswordEndsSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		u := f.addUser(t, "ops@hutong.example", accounts.RoleOperations, "")
		_, token, err := f.login(t, u.Email, password, "203.0.113.7")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SetDisabled(f.ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Session(f.ctx, token); !errors.Is(err, accounts.ErrNoSession) {
			t.Errorf("a disabled user's session: %v", err)
		}
		if _, _, err := f.login(t, u.Email, password, "203.0.113.7"); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Errorf("a disabled user signing in: %v, want ErrBadCredentials", err)
		}
		e := f.audit(t, "user.disable")
		if string(e.Before) == string(e.After) || !strings.Contains(string(e.After), `"disabled":true`) || !strings.Contains(string(e.Before), `"disabled":false`) {
			t.Errorf("audit of user.disable: before %s after %s", e.Before, e.After)
		}
		if err := f.svc.SetDisabled(f.ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Session(f.ctx, token); !errors.Is(err, accounts.ErrNoSession) {
			t.Errorf("enabling the user again revived the old session: %v", err)
		}
		_, token, err = f.login(t, u.Email, password, "203.0.113.7")
		if err != nil {
			t.Fatalf("signing in once enabled: %v", err)
		}

		const newPassword = "a whole new passphrase"
		if err := f.svc.SetPassword(f.ctx, u.ID, "short"); !isField(err, "password") {
			t.Errorf("a short new password: %v", err)
		}
		if err := f.svc.SetPassword(f.ctx, u.ID, newPassword); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Session(f.ctx, token); !errors.Is(err, accounts.ErrNoSession) {
			t.Errorf("a session after a new password: %v", err)
		}
		if _, _, err := f.login(t, u.Email, password, "203.0.113.7"); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Errorf("the old password: %v", err)
		}
		if _, _, err := f.login(t, u.Email, newPassword, "203.0.113.7"); err != nil {
			t.Errorf("the new password: %v", err)
		}
		if e := f.audit(t, "user.password"); e.Object != "user:"+u.ID || string(e.After) != `{"sessions_ended":1}` {
			t.Errorf("audit of user.password: %+v %s", e, e.After)
		}
		for name, err := range map[string]error{
			"SetPassword": f.svc.SetPassword(f.ctx, "usr_nobody", newPassword),
			"SetDisabled": f.svc.SetDisabled(f.ctx, "usr_nobody", true),
		} {
			if !errors.Is(err, notfound.Err) {
				t.Errorf("%s of an unknown user: %v, want notfound", name, err)
			}
		}
		if _, err := f.svc.User(f.ctx, "usr_nobody"); !errors.Is(err, notfound.Err) {
			t.Errorf("User of an unknown id: %v", err)
		}
	})
}

func isField(err error, param string) bool {
	var fe *payment.FieldError
	return errors.As(err, &fe) && fe.Param == param
}

func TestSessionsExpireIdleAndAtTheirMaxAge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.svc.SessionTTL, f.svc.SessionMaxAge = time.Hour, 3*time.Hour
		u := f.addUser(t, "ops@hutong.example", accounts.RoleOperations, "")
		start := f.now
		s, token, err := f.login(t, u.Email, password, "")
		if err != nil || !s.ExpiresAt.Equal(start.Add(time.Hour)) {
			t.Fatalf("Login: %+v, %v", s, err)
		}
		// Within a minute of the last write, a use writes nothing.
		f.now = start.Add(59 * time.Second)
		if _, s2, err := f.svc.Session(f.ctx, token); err != nil || s2 != s {
			t.Fatalf("a use within the minute: %+v, %v; want the session unchanged", s2, err)
		}
		// Used every 50 minutes it lives, up to its max age.
		for f.now = start.Add(50 * time.Minute); f.now.Before(start.Add(3 * time.Hour)); f.now = f.now.Add(50 * time.Minute) {
			_, s2, err := f.svc.Session(f.ctx, token)
			want := f.now.Add(time.Hour)
			if capped := start.Add(3 * time.Hour); capped.Before(want) {
				want = capped
			}
			if err != nil || !s2.LastSeen.Equal(f.now) || !s2.ExpiresAt.Equal(want) {
				t.Fatalf("at %v: %+v, %v; want it seen now and expiring at %v", f.now.Sub(start), s2, err, want)
			}
		}
		f.now = start.Add(3 * time.Hour)
		if _, _, err := f.svc.Session(f.ctx, token); !errors.Is(err, accounts.ErrNoSession) {
			t.Errorf("past the max age: %v, want ErrNoSession", err)
		}
		_, token, err = f.login(t, u.Email, password, "")
		if err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Hour)
		if _, _, err := f.svc.Session(f.ctx, token); !errors.Is(err, accounts.ErrNoSession) {
			t.Errorf("idle for the TTL: %v, want ErrNoSession", err)
		}
		if ss, err := f.svc.Sessions(f.ctx, u.ID); err != nil || len(ss) != 0 {
			t.Errorf("Sessions lists expired ones: %+v, %v", ss, err)
		}
	})
}

func TestAuditLogFiltersByMerchantAndPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		admin := accounts.User{ID: "usr_admin", Email: "admin@hutong.example"}
		ctx := accounts.WithClientIP(accounts.WithActor(context.Background(), admin), "203.0.113.7")
		if got, ok := accounts.ActorFrom(ctx); !ok || got != admin {
			t.Fatalf("ActorFrom = %+v, %v", got, ok)
		}
		for i := range 5 {
			mid := "m_county"
			if i%2 == 1 {
				mid = "m_city"
			}
			f.now = f.now.Add(time.Second)
			e := accounts.AuditEntry{Action: "payment.refund", Object: fmt.Sprintf("payment:pay_%d", i), MerchantID: mid,
				Before: json.RawMessage(`{"refunded":0}`), After: json.RawMessage(fmt.Sprintf(`{"refunded":%d}`, 100*i))}
			var err error
			if i == 0 {
				err = f.svc.Record(ctx, nil, e)
			} else {
				err = db.Tx(ctx, func(tx *sql.Tx) error { return f.svc.Record(ctx, tx, e) })
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		// Rolled back with its change, an entry is not kept.
		rollback := errors.New("refund refused")
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if err := f.svc.Record(ctx, tx, accounts.AuditEntry{Action: "payment.refund", Object: "payment:pay_lost", MerchantID: "m_county"}); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if err := f.svc.Record(ctx, nil, accounts.AuditEntry{Action: "payment.refund", After: json.RawMessage(`{`)}); err == nil {
			t.Error("an entry with a snapshot that is not JSON was recorded")
		}
		if err := f.svc.Record(ctx, nil, accounts.AuditEntry{Object: "payment:pay_1"}); err == nil {
			t.Error("an entry without an action was recorded")
		}

		page1, err := f.svc.AuditLog(ctx, accounts.AuditQuery{MerchantID: "m_county", Limit: 2})
		if err != nil || len(page1) != 2 || page1[0].Object != "payment:pay_4" || page1[1].Object != "payment:pay_2" {
			t.Fatalf("the county's first page: %+v, %v", page1, err)
		}
		e := page1[0]
		if e.ActorID != admin.ID || e.ActorEmail != admin.Email || e.IP != "203.0.113.7" || !e.At.Equal(f.now) || string(e.After) != `{"refunded":400}` || string(e.Before) != `{"refunded":0}` {
			t.Errorf("entry %+v (before %s, after %s)", e, e.Before, e.After)
		}
		page2, err := f.svc.AuditLog(ctx, accounts.AuditQuery{MerchantID: "m_county", Limit: 2, Before: page1[1].Cursor()})
		if err != nil || len(page2) != 1 || page2[0].Object != "payment:pay_0" {
			t.Fatalf("the county's second page: %+v, %v", page2, err)
		}
		if all, err := f.svc.AuditLog(ctx, accounts.AuditQuery{ActorID: admin.ID}); err != nil || len(all) != 5 {
			t.Errorf("the admin's entries: %d, %v; want 5", len(all), err)
		}
		for _, q := range []accounts.AuditQuery{{Before: "x"}, {Before: "-3"}, {Limit: -1}, {Limit: accounts.MaxAuditLimit + 1}} {
			if _, err := f.svc.AuditLog(ctx, q); !isField(err, "before") && !isField(err, "limit") {
				t.Errorf("AuditLog(%+v): %v, want a field error", q, err)
			}
		}
	})
}

// TestLoginRehashesAtTheCurrentCosts: a hash stored at older costs still
// signs in, and is replaced by one at PasswordParams.
func TestLoginRehashesAtTheCurrentCosts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		u := f.addUser(t, "ops@hutong.example", accounts.RoleOperations, "")
		salt := []byte("sixteen byte salt")
		old := fmt.Sprintf("$argon2id$v=19$m=8192,t=1,p=1$%s$%s", base64.RawStdEncoding.EncodeToString(salt),
			base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte(password), salt, 1, 8192, 1, 32)))
		if err := db.Pool().UserPasswordSet(f.ctx, store.UserPasswordSetParams{UserID: u.ID, PasswordHash: old, At: f.now}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.login(t, u.Email, password, ""); err != nil {
			t.Fatalf("signing in with a hash at older costs: %v", err)
		}
		if _, stored, err := db.Pool().UserByEmail(f.ctx, u.Email); err != nil || !strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("stored after signing in: %q, %v; want a hash at PasswordParams", stored, err)
		}
		if _, _, err := f.login(t, u.Email, password, ""); err != nil {
			t.Fatalf("signing in with the new hash: %v", err)
		}
	})
}

// TestAuditRecordCommitsWithItsChange: an entry recorded in a change's
// transaction is kept exactly when the change is. A change that fails
// after its entry is written leaves neither; an entry that cannot be
// written (here, a snapshot that is not JSON) fails the transaction, so
// the change is not kept either; both together commit.
func TestAuditRecordCommitsWithItsChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		failed := errors.New("the change failed")
		change := func(id string, entry accounts.AuditEntry, after error) error {
			return db.Tx(f.ctx, func(tx *sql.Tx) error {
				if err := db.In(tx).MerchantInsert(f.ctx, store.MerchantInsertParams{Merchant: merchant.Merchant{ID: id, Name: "城市服饰"}, CreatedAt: f.now}); err != nil {
					return err
				}
				if err := f.svc.Record(f.ctx, tx, entry); err != nil {
					return err
				}
				return after
			})
		}
		kept := func(id string) (merchantKept bool, entries int) {
			_, err := db.Pool().MerchantGet(f.ctx, id)
			log, lerr := f.svc.AuditLog(f.ctx, accounts.AuditQuery{Object: "merchant:" + id})
			if lerr != nil || (err != nil && !errors.Is(err, store.ErrNoRows)) {
				t.Fatal(lerr, err)
			}
			return err == nil, len(log)
		}
		entry := func(id string) accounts.AuditEntry {
			return accounts.AuditEntry{Action: "merchant.add", Object: "merchant:" + id, After: json.RawMessage(`{"id":"` + id + `"}`)}
		}

		if err := change("m_rolled_back", entry("m_rolled_back"), failed); !errors.Is(err, failed) {
			t.Fatalf("a failing change: %v", err)
		}
		if m, n := kept("m_rolled_back"); m || n != 0 {
			t.Fatalf("a change that failed after its entry: merchant kept %v, %d entries", m, n)
		}
		bad := entry("m_unrecorded")
		bad.Before = json.RawMessage(`{not json`)
		if err := change("m_unrecorded", bad, nil); err == nil {
			t.Fatal("an entry that cannot be written did not fail its transaction")
		}
		if m, n := kept("m_unrecorded"); m || n != 0 {
			t.Fatalf("a change whose entry failed: merchant kept %v, %d entries", m, n)
		}
		if err := change("m_kept", entry("m_kept"), nil); err != nil {
			t.Fatal(err)
		}
		if m, n := kept("m_kept"); !m || n != 1 {
			t.Fatalf("a change with its entry: merchant kept %v, %d entries", m, n)
		}
	})
}
