package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// User is a console user's row (package accounts gives it meaning). Its
// password hash is read only by UserByEmail, the one method that signs in.
type User struct {
	ID         string
	Email      string
	Name       string
	Role       string
	MerchantID string // "" for a platform user
	Disabled   bool
	CreatedAt  time.Time
}

// UserInsertParams is a new console user with its password's hash.
type UserInsertParams struct {
	User         User
	PasswordHash string
}

// UserInsert stores a new console user; a taken email is a unique
// violation (IsUniqueViolation).
func (e Executor) UserInsert(ctx context.Context, p UserInsertParams) error {
	u := p.User
	var mid any
	if u.MerchantID != "" {
		mid = u.MerchantID
	}
	_, err := e.q.ExecContext(ctx, `INSERT INTO users (id, email, name, role, merchant_id, password_hash, disabled, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
		u.ID, u.Email, u.Name, u.Role, mid, p.PasswordHash, boolInt(u.Disabled), Micros(u.CreatedAt))
	return err
}

const userColumns = `u.id, u.email, u.name, u.role, u.merchant_id, u.disabled, u.created_at`

// scanUser reads userColumns, then extra.
func scanUser(row interface{ Scan(...any) error }, extra ...any) (User, error) {
	var u User
	var mid sql.NullString
	var disabled int
	var created int64
	if err := row.Scan(append([]any{&u.ID, &u.Email, &u.Name, &u.Role, &mid, &disabled, &created}, extra...)...); err != nil {
		return User{}, err
	}
	u.MerchantID, u.Disabled, u.CreatedAt = mid.String, disabled != 0, Time(created)
	return u, nil
}

// UserGet reads a console user.
func (e Executor) UserGet(ctx context.Context, id string) (User, error) {
	return scanUser(e.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
}

// UserByEmail reads the console user of an email, with its password's
// hash, to sign it in.
func (e Executor) UserByEmail(ctx context.Context, email string) (User, string, error) {
	var hash string
	u, err := scanUser(e.q.QueryRowContext(ctx, `SELECT `+userColumns+`, u.password_hash FROM users u WHERE u.email = $1`, email), &hash)
	return u, hash, err
}

// UserList lists every console user, by email.
func (e Executor) UserList(ctx context.Context) ([]User, error) {
	return QueryAll(ctx, e.q, func(rows *sql.Rows) (User, error) { return scanUser(rows) },
		`SELECT `+userColumns+` FROM users u ORDER BY u.email`)
}

// UserPasswordSetParams is a console user's new password hash.
type UserPasswordSetParams struct {
	UserID       string
	PasswordHash string
	At           time.Time
}

// UserPasswordSet replaces a console user's password hash.
func (e Executor) UserPasswordSet(ctx context.Context, p UserPasswordSetParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1`,
		p.UserID, p.PasswordHash, Micros(p.At)))
}

// UserDisabledSetParams disables or enables a console user.
type UserDisabledSetParams struct {
	UserID   string
	Disabled bool
	At       time.Time
}

// UserDisabledSet disables or enables a console user.
func (e Executor) UserDisabledSet(ctx context.Context, p UserDisabledSetParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1`,
		p.UserID, boolInt(p.Disabled), Micros(p.At)))
}

// Session is a signed-in browser's row. ID is the SHA-256 of the cookie
// token, hex: the store never sees the token itself.
type Session struct {
	ID        string
	UserID    string
	CSRF      string
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
	IP        string
	UserAgent string
}

const sessionColumns = `s.id, s.user_id, s.csrf, s.created_at, s.last_seen, s.expires_at, s.ip, s.user_agent`

func scanSession(row interface{ Scan(...any) error }, extra ...any) (Session, error) {
	var s Session
	var created, seen, expires int64
	if err := row.Scan(append([]any{&s.ID, &s.UserID, &s.CSRF, &created, &seen, &expires, &s.IP, &s.UserAgent}, extra...)...); err != nil {
		return Session{}, err
	}
	s.CreatedAt, s.LastSeen, s.ExpiresAt = Time(created), Time(seen), Time(expires)
	return s, nil
}

// SessionInsert stores a new session.
func (e Executor) SessionInsert(ctx context.Context, s Session) error {
	_, err := e.q.ExecContext(ctx, `INSERT INTO sessions (id, user_id, csrf, created_at, last_seen, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		s.ID, s.UserID, s.CSRF, Micros(s.CreatedAt), Micros(s.LastSeen), Micros(s.ExpiresAt), s.IP, s.UserAgent)
	return err
}

// SessionWithUser reads a session and its user in one round trip: what
// every page view of the console asks first.
func (e Executor) SessionWithUser(ctx context.Context, id string) (Session, User, error) {
	row := e.q.QueryRowContext(ctx, `SELECT `+sessionColumns+`, `+userColumns+` FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`, id)
	var s Session
	var created, seen, expires int64
	u, err := scanUser(rowAfter{row: row, first: []any{&s.ID, &s.UserID, &s.CSRF, &created, &seen, &expires, &s.IP, &s.UserAgent}})
	if err != nil {
		return Session{}, User{}, err
	}
	s.CreatedAt, s.LastSeen, s.ExpiresAt = Time(created), Time(seen), Time(expires)
	return s, u, nil
}

// rowAfter scans first, then whatever its caller scans, from one row.
type rowAfter struct {
	row   *sql.Row
	first []any
}

func (r rowAfter) Scan(dest ...any) error { return r.row.Scan(append(r.first, dest...)...) }

// SessionTouchParams is a session seen again: when, and its new expiry.
type SessionTouchParams struct {
	ID        string
	LastSeen  time.Time
	ExpiresAt time.Time
}

// SessionTouch records that a session was seen again.
func (e Executor) SessionTouch(ctx context.Context, p SessionTouchParams) error {
	return affected(e.q.ExecContext(ctx, `UPDATE sessions SET last_seen = $2, expires_at = $3 WHERE id = $1`,
		p.ID, Micros(p.LastSeen), Micros(p.ExpiresAt)))
}

// SessionDelete ends one session.
func (e Executor) SessionDelete(ctx context.Context, id string) error {
	return affected(e.q.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, id))
}

// SessionsDeleteParams ends a user's sessions: all of them, or with
// ExpiredBy set only those expired by then.
type SessionsDeleteParams struct {
	UserID    string
	ExpiredBy time.Time
}

// SessionsDelete ends a user's sessions and says how many it ended.
func (e Executor) SessionsDelete(ctx context.Context, p SessionsDeleteParams) (int, error) {
	query, args := `DELETE FROM sessions WHERE user_id = $1`, []any{p.UserID}
	if !p.ExpiredBy.IsZero() {
		query += ` AND expires_at <= $2`
		args = append(args, Micros(p.ExpiredBy))
	}
	res, err := e.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SessionListParams lists a user's sessions not yet expired at Now.
type SessionListParams struct {
	UserID string
	Now    time.Time
}

// SessionList lists a user's live sessions, the most recently seen first.
func (e Executor) SessionList(ctx context.Context, p SessionListParams) ([]Session, error) {
	return QueryAll(ctx, e.q, func(rows *sql.Rows) (Session, error) { return scanSession(rows) },
		`SELECT `+sessionColumns+` FROM sessions s WHERE s.user_id = $1 AND s.expires_at > $2 ORDER BY s.last_seen DESC, s.id`,
		p.UserID, Micros(p.Now))
}

// LoginFailure is one refused sign-in: the email tried, from where, when.
type LoginFailure struct {
	Email string
	IP    string
	At    time.Time
}

// LoginFailureInsert records a refused sign-in.
func (e Executor) LoginFailureInsert(ctx context.Context, f LoginFailure) error {
	_, err := e.q.ExecContext(ctx, `INSERT INTO login_failures (email, ip, at) VALUES ($1, $2, $3)`, f.Email, f.IP, Micros(f.At))
	return err
}

// LoginFailureNthParams asks for the Nth most recent failure (1 the
// latest) after Since, of one Email or, when Email is "", of one IP.
type LoginFailureNthParams struct {
	Email string
	IP    string
	Since time.Time
	N     int
}

// LoginFailureNth answers when the Nth most recent failure happened, or
// ErrNoRows when there were fewer than N: a throttle of N failures in a
// window lifts once that one leaves the window.
func (e Executor) LoginFailureNth(ctx context.Context, p LoginFailureNthParams) (time.Time, error) {
	if p.N < 1 {
		return time.Time{}, fmt.Errorf("store: LoginFailureNth: N is %d, must be at least 1", p.N)
	}
	column, key := "email", p.Email
	if p.Email == "" {
		column, key = "ip", p.IP
	}
	var at int64
	err := e.q.QueryRowContext(ctx, `SELECT at FROM login_failures WHERE `+column+` = $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET $3`,
		key, Micros(p.Since), p.N-1).Scan(&at)
	return Time(at), err
}

// LoginFailuresClear forgets an email's failures: it signed in.
func (e Executor) LoginFailuresClear(ctx context.Context, email string) error {
	_, err := e.q.ExecContext(ctx, `DELETE FROM login_failures WHERE email = $1`, email)
	return err
}

// LoginFailuresPurge forgets every failure at or before a time, one no
// throttle window reaches back to any more.
func (e Executor) LoginFailuresPurge(ctx context.Context, before time.Time) error {
	_, err := e.q.ExecContext(ctx, `DELETE FROM login_failures WHERE at <= $1`, Micros(before))
	return err
}

// AuditEntry is a row of the audit log. Before and After are JSON text,
// "" when there is none.
type AuditEntry struct {
	ID         int64
	At         time.Time
	ActorID    string
	ActorEmail string
	Action     string
	Object     string
	MerchantID string
	Before     string
	After      string
	IP         string
}

// AuditInsert appends an entry to the audit log and answers its id.
func (e Executor) AuditInsert(ctx context.Context, a AuditEntry) (int64, error) {
	var id int64
	err := e.q.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor_id, actor_email, action, object, merchant_id, before_data, after_data, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		Micros(a.At), a.ActorID, a.ActorEmail, a.Action, a.Object, a.MerchantID, a.Before, a.After, a.IP).Scan(&id)
	return id, err
}

// AuditListParams pages the audit log newest first: entries older than
// the entry Before (0: from the newest), matching every field given.
type AuditListParams struct {
	MerchantID string
	ActorID    string
	Action     string
	Object     string
	Before     int64
	Limit      int
}

// AuditList lists a page of the audit log.
func (e Executor) AuditList(ctx context.Context, p AuditListParams) ([]AuditEntry, error) {
	query := `SELECT id, at, actor_id, actor_email, action, object, merchant_id, before_data, after_data, ip FROM audit_log WHERE 1 = 1`
	var args []any
	for _, c := range []struct {
		column string
		value  any
		given  bool
	}{
		{"merchant_id = ", p.MerchantID, p.MerchantID != ""},
		{"actor_id = ", p.ActorID, p.ActorID != ""},
		{"action = ", p.Action, p.Action != ""},
		{"object = ", p.Object, p.Object != ""},
		{"id < ", p.Before, p.Before > 0},
	} {
		if c.given {
			args = append(args, c.value)
			query += fmt.Sprintf(` AND %s$%d`, c.column, len(args))
		}
	}
	args = append(args, p.Limit)
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	return QueryAll(ctx, e.q, func(rows *sql.Rows) (AuditEntry, error) {
		var a AuditEntry
		var at int64
		err := rows.Scan(&a.ID, &at, &a.ActorID, &a.ActorEmail, &a.Action, &a.Object, &a.MerchantID, &a.Before, &a.After, &a.IP)
		a.At = Time(at)
		return a, err
	}, query, args...)
}
