package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/store"
)

// Session is a signed-in browser. Its token, the cookie's value, is given
// only once, by Login: the store keeps its SHA-256, so neither a copy of
// the database nor the audit log can sign anyone in.
type Session struct {
	ID     string // the stored hash of the token, hex: safe to show and log
	UserID string
	// CSRF is the session's anti-CSRF token: every page puts it in its
	// forms, and every state-changing request must send it back (see
	// CheckCSRF). A cross-site form can send the cookie but cannot read
	// this.
	CSRF                           string
	CreatedAt, LastSeen, ExpiresAt time.Time
	IP, UserAgent                  string // where it signed in from
}

// CheckCSRF reports whether token is the session's anti-CSRF token,
// comparing in constant time.
func (s Session) CheckCSRF(token string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// LoginParams is a sign-in attempt: what the form sent, and the client's
// address and browser as the gateway sees them.
type LoginParams struct {
	Email, Password string
	IP, UserAgent   string
}

// The throttle: more failures than this within FailureWindow and Login
// refuses unchecked until the oldest of them leaves the window. The email
// limit stops guessing one user's password; the address limit stops one
// client trying a few passwords on many users.
const (
	MaxFailuresPerEmail = 5
	MaxFailuresPerIP    = 20
	FailureWindow       = 15 * time.Minute
)

// touchEvery is how stale LastSeen may get: Session writes at most once
// this often per session rather than once per page view.
const touchEvery = time.Minute

// Bounds of what a browser sends that a session keeps.
const (
	maxIPBytes        = 64
	maxUserAgentBytes = 512
	maxTokenBytes     = 128
)

// Login checks an email and password and opens a session, returning its
// token for the cookie. Refusals: ErrThrottled (a *ThrottledError) after
// MaxFailuresPerEmail failures of the email or MaxFailuresPerIP of the
// address within FailureWindow, without looking at the password;
// ErrBadCredentials for an unknown email, a wrong password or a disabled
// user alike, all taking one password hash's time. A failure counts in
// the database, so every gateway process agrees (an empty IP is counted
// by email only); a success forgets the email's failures. Both are audited (session.login,
// session.login_failed); throttled refusals are not, so that a flood of
// them cannot flood the audit log.
func (s *Service) Login(ctx context.Context, p LoginParams) (User, Session, string, error) {
	email := clip(NormalizeEmail(p.Email), MaxEmailBytes)
	ip := clip(p.IP, maxIPBytes)
	now := s.Now.Now()
	if err := s.throttle(ctx, email, ip, now); err != nil {
		return User{}, Session{}, "", err
	}
	su, hash, err := s.DB.Pool().UserByEmail(ctx, email)
	known := err == nil
	if errors.Is(err, store.ErrNoRows) {
		hash, err = dummyHash()
	}
	if err != nil {
		return User{}, Session{}, "", fmt.Errorf("accounts: signing in %s: %w", email, err)
	}
	// Stored passwords are at most MaxPasswordBytes, so a longer one is
	// wrong: its hash is still computed, on a prefix, to take the same time.
	password := p.Password
	tooLong := len(password) > MaxPasswordBytes
	if tooLong {
		password = password[:MaxPasswordBytes]
	}
	ok, err := verifyPassword(ctx, hash, password)
	if err != nil {
		return User{}, Session{}, "", fmt.Errorf("accounts: signing in %s: %w", email, err)
	}
	user := fromStoreUser(su)
	if !known || !ok || tooLong || user.Disabled {
		if err := s.recordFailure(ctx, email, ip, user, known, now); err != nil {
			return User{}, Session{}, "", err
		}
		return User{}, Session{}, "", ErrBadCredentials
	}
	rehash, err := s.rehashIfOutdated(ctx, hash, password)
	if err != nil {
		return User{}, Session{}, "", err
	}
	token, id, err := newToken()
	if err != nil {
		return User{}, Session{}, "", err
	}
	csrf, _, err := newToken()
	if err != nil {
		return User{}, Session{}, "", err
	}
	sess := Session{ID: id, UserID: user.ID, CSRF: csrf, CreatedAt: now, LastSeen: now, ExpiresAt: s.expiry(now, now),
		IP: ip, UserAgent: clip(p.UserAgent, maxUserAgentBytes)}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		ex := s.DB.In(tx)
		if err := ex.LoginFailuresClear(ctx, email); err != nil {
			return err
		}
		// The user's expired sessions go here, where they are bounded by
		// how often the user signs in, rather than in a sweeping job.
		if _, err := ex.SessionsDelete(ctx, store.SessionsDeleteParams{UserID: user.ID, ExpiredBy: now}); err != nil {
			return err
		}
		if err := ex.SessionInsert(ctx, toStoreSession(sess)); err != nil {
			return err
		}
		if rehash != "" {
			if err := ex.UserPasswordSet(ctx, store.UserPasswordSetParams{UserID: user.ID, PasswordHash: rehash, At: now}); err != nil {
				return err
			}
		}
		return s.Record(ctx, tx, AuditEntry{At: now, ActorID: user.ID, ActorEmail: user.Email, Action: "session.login", Object: userObject(user.ID),
			MerchantID: user.MerchantID, After: jsonObject(map[string]any{"session": sess.ID, "user_agent": sess.UserAgent}), IP: ip})
	})
	if err != nil {
		return User{}, Session{}, "", fmt.Errorf("accounts: signing in %s: %w", email, err)
	}
	return user, sess, token, nil
}

// throttle is a *ThrottledError when the email or the address has had its
// most failures within the window; the wait is until enough of them have
// left it.
func (s *Service) throttle(ctx context.Context, email, ip string, now time.Time) error {
	since := now.Add(-FailureWindow)
	checks := []store.LoginFailureNthParams{{Email: email, Since: since, N: MaxFailuresPerEmail}}
	if ip != "" {
		checks = append(checks, store.LoginFailureNthParams{IP: ip, Since: since, N: MaxFailuresPerIP})
	}
	var wait time.Duration
	for _, c := range checks {
		at, err := s.DB.Pool().LoginFailureNth(ctx, c)
		if errors.Is(err, store.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("accounts: counting failed sign-ins: %w", err)
		}
		wait = max(wait, at.Add(FailureWindow).Sub(now))
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// recordFailure counts a refused sign-in, forgets those no window reaches
// any more, and audits it: against the user when the email is one's.
func (s *Service) recordFailure(ctx context.Context, email, ip string, user User, known bool, now time.Time) error {
	entry := AuditEntry{At: now, ActorEmail: email, Action: "session.login_failed", Object: "email:" + email, IP: ip}
	if known {
		entry.ActorID, entry.Object, entry.MerchantID = user.ID, userObject(user.ID), user.MerchantID
		if user.Disabled {
			entry.After = jsonObject(map[string]any{"disabled": true})
		}
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		ex := s.DB.In(tx)
		if err := ex.LoginFailureInsert(ctx, store.LoginFailure{Email: email, IP: ip, At: now}); err != nil {
			return err
		}
		if err := ex.LoginFailuresPurge(ctx, now.Add(-FailureWindow)); err != nil {
			return err
		}
		return s.Record(ctx, tx, entry)
	})
	if err != nil {
		return fmt.Errorf("accounts: recording a failed sign-in of %s: %w", email, err)
	}
	return nil
}

// rehashIfOutdated is a new hash of the password when the stored one was
// made at other costs than PasswordParams, "" otherwise: raising the costs
// reaches every user at their next sign-in.
func (s *Service) rehashIfOutdated(ctx context.Context, stored, password string) (string, error) {
	h, err := parsePHC(stored)
	if err != nil {
		return "", err
	}
	if h.Argon2Params == PasswordParams {
		return "", nil
	}
	return hashPassword(ctx, password)
}

// expiry is when a session made at created and seen at seen ends.
func (s *Service) expiry(created, seen time.Time) time.Time {
	idle, absolute := seen.Add(s.sessionTTL()), created.Add(s.sessionMaxAge())
	if idle.Before(absolute) {
		return idle
	}
	return absolute
}

// Session finds the user signed in by a cookie token. An unknown,
// expired or logged-out token, or one whose user is disabled, is
// ErrNoSession. Each use keeps the session alive for SessionTTL more (up
// to SessionMaxAge from sign-in), written at most once a minute so that
// page views do not each cost a write.
func (s *Service) Session(ctx context.Context, token string) (User, Session, error) {
	if token == "" || len(token) > maxTokenBytes {
		return User{}, Session{}, ErrNoSession
	}
	ss, su, err := s.DB.Pool().SessionWithUser(ctx, tokenID(token))
	if errors.Is(err, store.ErrNoRows) {
		return User{}, Session{}, ErrNoSession
	}
	if err != nil {
		return User{}, Session{}, fmt.Errorf("accounts: reading a session: %w", err)
	}
	sess, user := fromStoreSession(ss), fromStoreUser(su)
	now := s.Now.Now()
	if !now.Before(sess.ExpiresAt) {
		if err := s.DB.Pool().SessionDelete(ctx, sess.ID); err != nil && !errors.Is(err, store.ErrNoRows) {
			return User{}, Session{}, fmt.Errorf("accounts: ending expired session %s: %w", sess.ID, err)
		}
		return User{}, Session{}, ErrNoSession
	}
	if user.Disabled {
		return User{}, Session{}, ErrNoSession
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		sess.LastSeen, sess.ExpiresAt = now, s.expiry(sess.CreatedAt, now)
		err := s.DB.Pool().SessionTouch(ctx, store.SessionTouchParams{ID: sess.ID, LastSeen: sess.LastSeen, ExpiresAt: sess.ExpiresAt})
		if errors.Is(err, store.ErrNoRows) {
			return User{}, Session{}, ErrNoSession // logged out meanwhile
		}
		if err != nil {
			return User{}, Session{}, fmt.Errorf("accounts: touching session %s: %w", sess.ID, err)
		}
	}
	return user, sess, nil
}

// Logout ends the session of a token; ErrNoSession when there is none.
// The actor is ActorFrom(ctx), or else the session's user.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" || len(token) > maxTokenBytes {
		return ErrNoSession
	}
	ss, su, err := s.DB.Pool().SessionWithUser(ctx, tokenID(token))
	if errors.Is(err, store.ErrNoRows) {
		return ErrNoSession
	}
	if err != nil {
		return fmt.Errorf("accounts: reading a session: %w", err)
	}
	entry := AuditEntry{Action: "session.logout", Object: userObject(su.ID), MerchantID: su.MerchantID,
		Before: jsonObject(map[string]any{"session": ss.ID})}
	if _, ok := ActorFrom(ctx); !ok {
		entry.ActorID, entry.ActorEmail = su.ID, su.Email
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.In(tx).SessionDelete(ctx, ss.ID); err != nil {
			return err
		}
		return s.Record(ctx, tx, entry)
	})
	if errors.Is(err, store.ErrNoRows) {
		return ErrNoSession // another request logged it out first
	}
	if err != nil {
		return fmt.Errorf("accounts: logging out session %s: %w", ss.ID, err)
	}
	return nil
}

// LogoutEverywhere ends every session of a user, answering how many were
// live: for a lost laptop, or a password someone saw.
func (s *Service) LogoutEverywhere(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		ex := s.DB.In(tx)
		u, err := s.userIn(ctx, ex, userID)
		if err != nil {
			return err
		}
		now := s.Now.Now()
		if _, err := ex.SessionsDelete(ctx, store.SessionsDeleteParams{UserID: userID, ExpiredBy: now}); err != nil {
			return err
		}
		if n, err = ex.SessionsDelete(ctx, store.SessionsDeleteParams{UserID: userID}); err != nil {
			return err
		}
		return s.Record(ctx, tx, AuditEntry{At: now, Action: "session.logout_everywhere", Object: userObject(userID), MerchantID: u.MerchantID,
			After: jsonObject(map[string]any{"sessions_ended": n})})
	})
	if err != nil {
		return 0, fmt.Errorf("accounts: logging %s out everywhere: %w", userID, err)
	}
	return n, nil
}

// Sessions lists a user's live sessions, the most recently seen first.
func (s *Service) Sessions(ctx context.Context, userID string) ([]Session, error) {
	rows, err := s.DB.Pool().SessionList(ctx, store.SessionListParams{UserID: userID, Now: s.Now.Now()})
	if err != nil {
		return nil, fmt.Errorf("accounts: listing the sessions of %s: %w", userID, err)
	}
	out := make([]Session, len(rows))
	for i, r := range rows {
		out[i] = fromStoreSession(r)
	}
	return out, nil
}

// newToken is 32 random bytes as unpadded base64url, fit for a cookie,
// with the id the store knows it by.
func newToken() (token, id string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("accounts: making a token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, tokenID(token), nil
}

func tokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// clip cuts s to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func toStoreSession(s Session) store.Session {
	return store.Session{ID: s.ID, UserID: s.UserID, CSRF: s.CSRF, CreatedAt: s.CreatedAt, LastSeen: s.LastSeen, ExpiresAt: s.ExpiresAt, IP: s.IP, UserAgent: s.UserAgent}
}

func fromStoreSession(s store.Session) Session {
	return Session{ID: s.ID, UserID: s.UserID, CSRF: s.CSRF, CreatedAt: s.CreatedAt, LastSeen: s.LastSeen, ExpiresAt: s.ExpiresAt, IP: s.IP, UserAgent: s.UserAgent}
}
