package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Bounds of a user's fields.
const (
	MinPasswordChars = 12
	// MaxPasswordBytes keeps a password a passphrase, not a payload.
	MaxPasswordBytes = 256
	MaxNameChars     = 100
	// MaxEmailBytes is what SMTP allows of an address.
	MaxEmailBytes = 254
)

// AddUserParams is a new console user. Email is compared and stored
// lower-cased and trimmed.
type AddUserParams struct {
	Email      string
	Name       string
	Role       Role
	MerchantID string // required for RoleMerchant, refused for the others
	Password   string
}

// AddUser creates a console user. A field that is wrong is a
// *payment.FieldError naming it (email, name, role, merchant_id,
// password); an email another user has is also ErrEmailTaken.
func (s *Service) AddUser(ctx context.Context, p AddUserParams) (User, error) {
	email := NormalizeEmail(p.Email)
	if err := checkEmail(email); err != nil {
		return User{}, err
	}
	name := strings.TrimSpace(p.Name)
	if err := checkName(name); err != nil {
		return User{}, err
	}
	if _, err := ParseRole(string(p.Role)); err != nil {
		return User{}, &payment.FieldError{Param: "role", Message: strings.TrimPrefix(err.Error(), "accounts: ")}
	}
	if err := s.checkMerchant(ctx, p.Role, p.MerchantID); err != nil {
		return User{}, err
	}
	if err := checkPassword(p.Password); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(ctx, p.Password)
	if err != nil {
		return User{}, err
	}
	u := User{ID: payment.NewID("usr"), Email: email, Name: name, Role: p.Role, MerchantID: p.MerchantID, CreatedAt: s.Now.Now()}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.In(tx).UserInsert(ctx, store.UserInsertParams{User: toStoreUser(u), PasswordHash: hash}); err != nil {
			if store.IsUniqueViolation(err) {
				return emailTakenError{&payment.FieldError{Param: "email", Message: "a user with this email exists: " + email}}
			}
			return err
		}
		return s.Record(ctx, tx, AuditEntry{Action: "user.add", Object: userObject(u.ID), MerchantID: u.MerchantID, After: snapshot(u)})
	})
	if err != nil {
		return User{}, fmt.Errorf("accounts: adding user %s: %w", email, err)
	}
	return u, nil
}

// emailTakenError is both the field error a form shows next to the email
// and ErrEmailTaken.
type emailTakenError struct{ field *payment.FieldError }

func (e emailTakenError) Error() string   { return e.field.Error() }
func (e emailTakenError) Unwrap() []error { return []error{e.field, ErrEmailTaken} }

// NormalizeEmail is an email as users are stored and looked up by.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// checkEmail asks only for the shape a typo breaks (one @, a dotted
// domain, no spaces): whether mail arrives there is not hutong's to know.
func checkEmail(email string) error {
	bad := func(msg string) error { return &payment.FieldError{Param: "email", Message: msg} }
	if email == "" {
		return bad("required")
	}
	if len(email) > MaxEmailBytes {
		return bad(fmt.Sprintf("at most %d bytes", MaxEmailBytes))
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || strings.Contains(domain, "@") || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") ||
		strings.ContainsFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) || !utf8.ValidString(email) {
		return bad("not an email address, as name@example.com")
	}
	return nil
}

func checkName(name string) error {
	bad := func(msg string) error { return &payment.FieldError{Param: "name", Message: msg} }
	if name == "" {
		return bad("required")
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return bad("must be printable text")
	}
	if utf8.RuneCountInString(name) > MaxNameChars {
		return bad(fmt.Sprintf("at most %d characters", MaxNameChars))
	}
	return nil
}

func checkPassword(password string) error {
	bad := func(msg string) error { return &payment.FieldError{Param: "password", Message: msg} }
	if utf8.RuneCountInString(password) < MinPasswordChars {
		return bad(fmt.Sprintf("at least %d characters", MinPasswordChars))
	}
	if len(password) > MaxPasswordBytes {
		return bad(fmt.Sprintf("at most %d bytes", MaxPasswordBytes))
	}
	return nil
}

// checkMerchant: a portal user must name a merchant that exists, and a
// platform user none, so that no role reads as both.
func (s *Service) checkMerchant(ctx context.Context, role Role, merchantID string) error {
	bad := func(msg string) error { return &payment.FieldError{Param: "merchant_id", Message: msg} }
	if role != RoleMerchant {
		if merchantID != "" {
			return bad(fmt.Sprintf("only a %s user is bound to a merchant; a %s user acts for the platform", RoleMerchant, role))
		}
		return nil
	}
	if merchantID == "" {
		return bad(fmt.Sprintf("required for a %s user", RoleMerchant))
	}
	if _, err := s.DB.Pool().MerchantGet(ctx, merchantID); errors.Is(err, store.ErrNoRows) {
		return bad("no merchant " + merchantID)
	} else if err != nil {
		return fmt.Errorf("accounts: reading merchant %s: %w", merchantID, err)
	}
	return nil
}

// SetPassword replaces a user's password and ends all their sessions:
// whoever knew the old one is signed out.
func (s *Service) SetPassword(ctx context.Context, userID, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := hashPassword(ctx, password)
	if err != nil {
		return err
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		u, err := s.userIn(ctx, s.DB.In(tx), userID)
		if err != nil {
			return err
		}
		if err := s.DB.In(tx).UserPasswordSet(ctx, store.UserPasswordSetParams{UserID: userID, PasswordHash: hash, At: s.Now.Now()}); err != nil {
			return err
		}
		n, err := s.DB.In(tx).SessionsDelete(ctx, store.SessionsDeleteParams{UserID: userID})
		if err != nil {
			return err
		}
		return s.Record(ctx, tx, AuditEntry{Action: "user.password", Object: userObject(userID), MerchantID: u.MerchantID,
			After: jsonObject(map[string]any{"sessions_ended": n})})
	})
	if err != nil {
		return fmt.Errorf("accounts: setting the password of %s: %w", userID, err)
	}
	return nil
}

// SetDisabled disables a user, ending all their sessions, or enables them
// again.
func (s *Service) SetDisabled(ctx context.Context, userID string, disabled bool) error {
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		ex := s.DB.In(tx)
		before, err := s.userIn(ctx, ex, userID)
		if err != nil {
			return err
		}
		if err := ex.UserDisabledSet(ctx, store.UserDisabledSetParams{UserID: userID, Disabled: disabled, At: s.Now.Now()}); err != nil {
			return err
		}
		after := before
		after.Disabled = disabled
		action := "user.enable"
		if disabled {
			action = "user.disable"
			// Session refuses a disabled user's sessions anyway; deleting
			// them keeps enabling the user again from reviving them.
			if _, err := ex.SessionsDelete(ctx, store.SessionsDeleteParams{UserID: userID}); err != nil {
				return err
			}
		}
		return s.Record(ctx, tx, AuditEntry{Action: action, Object: userObject(userID), MerchantID: before.MerchantID,
			Before: snapshot(before), After: snapshot(after)})
	})
	if err != nil {
		return fmt.Errorf("accounts: setting %s disabled=%t: %w", userID, disabled, err)
	}
	return nil
}

// User reads a user; a *notfound.Error when there is none.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	u, err := s.userIn(ctx, s.DB.Pool(), id)
	if err != nil {
		return User{}, fmt.Errorf("accounts: %w", err)
	}
	return u, nil
}

func (s *Service) userIn(ctx context.Context, ex store.Executor, id string) (User, error) {
	su, err := ex.UserGet(ctx, id)
	if errors.Is(err, store.ErrNoRows) {
		return User{}, notfound.ByID("user", id, "")
	}
	if err != nil {
		return User{}, fmt.Errorf("reading user %s: %w", id, err)
	}
	return fromStoreUser(su), nil
}

// UserByEmail reads the user of an email (normalized as AddUser does); a
// *notfound.Error on "email" when there is none.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	email = NormalizeEmail(email)
	su, _, err := s.DB.Pool().UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNoRows) {
		return User{}, &notfound.Error{Param: "email", Object: "user with email", ID: email}
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: reading the user of %s: %w", email, err)
	}
	return fromStoreUser(su), nil
}

// Users lists every user, by email.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	rows, err := s.DB.Pool().UserList(ctx)
	if err != nil {
		return nil, fmt.Errorf("accounts: listing users: %w", err)
	}
	out := make([]User, len(rows))
	for i, r := range rows {
		out[i] = fromStoreUser(r)
	}
	return out, nil
}

func toStoreUser(u User) store.User {
	return store.User{ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), MerchantID: u.MerchantID, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

func fromStoreUser(u store.User) User {
	return User{ID: u.ID, Email: u.Email, Name: u.Name, Role: Role(u.Role), MerchantID: u.MerchantID, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

func userObject(id string) string { return "user:" + id }
