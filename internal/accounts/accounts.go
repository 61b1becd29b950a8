// Package accounts is who may use hutong's operator console and merchant
// portal, and what they did there: users with roles, password sign-in
// with throttling, browser sessions with their anti-CSRF tokens, and the
// audit log. It holds no HTTP: the console's pages call a Service.
//
// A typical page view, in the console's middleware:
//
//	user, sess, err := svc.Session(ctx, cookie.Value)     // ErrNoSession: to the login page
//	ctx = accounts.WithActor(ctx, user)                   // every Record now names them
//	if r.Method == http.MethodPost && !sess.CheckCSRF(r.PostFormValue("csrf")) { … 403 … }
//
// Passwords are kept as argon2id hashes; session tokens and the failed
// logins the throttle counts live in the database, so every gateway
// process behind a load balancer agrees on them.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/store"
)

// Role is what a console user may do. The console decides which pages
// each role sees; this package only keeps it.
type Role string

const (
	RoleAdmin      Role = "admin"      // everything, including users
	RoleOperations Role = "operations" // merchants, payments, webhooks, rollouts
	RoleFinance    Role = "finance"    // refunds, ledger, settlement, reconciliation
	RoleSupport    Role = "support"    // reads, to answer buyers and merchants
	RoleMerchant   Role = "merchant"   // bound to one merchant: the portal
)

// Roles lists every role, in the order forms offer them.
var Roles = []Role{RoleAdmin, RoleOperations, RoleFinance, RoleSupport, RoleMerchant}

// ParseRole reads a role's name, refusing unknown ones with an error that
// names the allowed.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return "", fmt.Errorf("accounts: unknown role %q: want one of %s", s, strings.Join(names, ", "))
}

// User is a person who signs in to the console, or, with RoleMerchant, to
// one merchant's portal.
type User struct {
	ID         string    `json:"id"`    // "usr_…"
	Email      string    `json:"email"` // lower-cased, trimmed; unique
	Name       string    `json:"name"`
	Role       Role      `json:"role"`
	MerchantID string    `json:"merchant_id,omitempty"` // set iff Role == RoleMerchant
	Disabled   bool      `json:"disabled"`
	CreatedAt  time.Time `json:"created_at"`
}

// Service keeps users, sessions and the audit log in DB. Its zero
// durations take the defaults below.
type Service struct {
	DB  *store.DB
	Now clock.Func
	// SessionTTL is how long a session lasts without being used: each use
	// (at most once a minute, see Session) pushes its expiry to
	// last use + SessionTTL. 0 is DefaultSessionTTL.
	SessionTTL time.Duration
	// SessionMaxAge is how long a session lasts however much it is used:
	// a stolen cookie stops working by then. 0 is DefaultSessionMaxAge.
	SessionMaxAge time.Duration
}

const (
	// DefaultSessionTTL outlasts a working day's pauses but not a night:
	// a console left signed in at the office asks again next morning.
	DefaultSessionTTL = 12 * time.Hour
	// DefaultSessionMaxAge bounds a session kept alive all day and night.
	DefaultSessionMaxAge = 24 * time.Hour
)

func (s *Service) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

func (s *Service) sessionMaxAge() time.Duration {
	if s.SessionMaxAge > 0 {
		return s.SessionMaxAge
	}
	return DefaultSessionMaxAge
}

// Errors of signing in and of sessions; compare with errors.Is.
var (
	// ErrBadCredentials is a sign-in refused: unknown email, wrong
	// password or disabled user, deliberately not told apart.
	ErrBadCredentials = errors.New("accounts: wrong email or password")
	// ErrThrottled is a sign-in refused unchecked after too many
	// failures; the error is a *ThrottledError saying for how long.
	ErrThrottled = errors.New("accounts: too many failed sign-ins")
	// ErrNoSession is a cookie token that signs no one in: unknown,
	// expired, logged out, or its user disabled.
	ErrNoSession = errors.New("accounts: not signed in")
	// ErrEmailTaken is a new user whose email another user has. AddUser's
	// error is also a *payment.FieldError on "email".
	ErrEmailTaken = errors.New("accounts: a user with this email exists")
)

// ThrottledError is ErrThrottled with the wait before trying again, for a
// Retry-After header or the login page.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v; try again in %v", ErrThrottled, e.RetryAfter.Round(time.Second))
}

// Is makes a *ThrottledError match ErrThrottled.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

type actorKey struct{}
type clientIPKey struct{}

// WithActor says who acts in ctx: Record names them in every audit entry
// made with it. The CLI acts as User{Email: "cli:<os user>"}, with no ID.
func WithActor(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, actorKey{}, u)
}

// ActorFrom is the user WithActor put in ctx.
func ActorFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(actorKey{}).(User)
	return u, ok
}

// WithClientIP says from which address the actor acts: Record notes it in
// every audit entry made with ctx that does not name one.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIPFrom is the address WithClientIP put in ctx, or "".
func ClientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}
