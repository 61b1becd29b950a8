// Package sharecodes keeps merchants' share codes: tokens that survive
// being pasted into any chat (the links between the wallets' apps are
// blocked) and resolve back to a product, a store, a payment or a
// pay-for-me request, counting every resolve and every sale they bring.
// The token format itself is package sharecode's.
package sharecodes

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/sharecode"
	"github.com/hutong-pay/hutong/internal/store"
)

// Service keeps share codes.
type Service struct {
	DB *store.DB
	// BaseURL is where the gateway's pages are: a store's, a payment's.
	BaseURL string
	Now     clock.Func
	// Payments and PayForMe read what a code is made for, among the
	// merchant's own.
	Payments Payments
	PayForMe PayForMe
}

// Payments reads a merchant's payment.
type Payments interface {
	GetPayment(ctx context.Context, merchantID, id string) (payment.Payment, error)
}

// PayForMe reads a merchant's pay-for-me request.
type PayForMe interface {
	OfMerchant(ctx context.Context, merchantID, id string) (payment.PayForMe, error)
}

// ShareCode is a share code: a token that survives being pasted into any
// chat and resolves back to what it was made for.
type ShareCode = sharecode.Code

// Stat is the counts of one share code or one source.
type Stat = sharecode.Stat

// Request asks for a share code.
type Request struct {
	Target    string     `json:"target"`
	TargetID  string     `json:"target_id"`
	Source    string     `json:"source"`
	URL       string     `json:"url,omitempty"`   // product: the product's page; store: overrides the store code page
	Title     string     `json:"title,omitempty"` // shown in the message
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	MaxUses   *int64     `json:"max_uses,omitempty"`
}

// Why a share code does not resolve; sharecode.ErrNoToken and
// sharecode.ErrMistyped come from the text itself.
var (
	ErrUnknown = errors.New("no share code has this token")
	ErrExpired = errors.New("the share code has expired")
	ErrRevoked = errors.New("the share code was revoked")
	ErrUsedUp  = errors.New("the share code has been used as many times as it allows")
)

var sourcePattern = regexp.MustCompile(`^[a-z0-9_]{1,32}(:[0-9A-Za-z_\-.]{1,64})?$`)

// Validate refuses a request that names no valid target, source, link,
// title, expiry or use limit, with a payment.FieldError naming the field;
// Create runs it first, and a caller that stores something the code is
// made for runs it before, so a refused code leaves nothing behind.
func (r Request) Validate(now time.Time) error {
	bad := func(param, msg string) error { return &payment.FieldError{Param: param, Message: msg} }
	switch r.Target {
	case "product", "store", "payment", "pay_for_me":
	default:
		return bad("target", fmt.Sprintf("must be product, store, payment or pay_for_me, got %q", r.Target))
	}
	switch {
	case r.TargetID == "" || len(r.TargetID) > 64:
		return bad("target_id", "is required, at most 64 bytes")
	case !sourcePattern.MatchString(r.Source):
		return bad("source", `must be a lower-case name like wechat_moments or wechat_group, optionally with ":detail", like "ad:spring_sale"`)
	case r.Target == "product" && r.URL == "":
		return bad("url", "is required for a product: the page a person who pastes the code is taken to")
	case utf8.RuneCountInString(r.Title) > 40 || !utf8.ValidString(r.Title):
		return bad("title", "must be at most 40 characters")
	case r.ExpiresAt != nil && !r.ExpiresAt.After(now):
		return bad("expires_at", "must be in the future")
	case r.MaxUses != nil && (*r.MaxUses < 1 || *r.MaxUses > 1_000_000_000):
		return bad("max_uses", "must be 1 to 1000000000")
	}
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(r.URL) > 1024 {
			return bad("url", "must be an absolute http(s) URL of at most 1024 bytes")
		}
	}
	return nil
}

// CreateShareCode makes a share code for something of merchantID's.
func (s *Service) Create(ctx context.Context, merchantID string, req Request) (ShareCode, error) {
	now := s.Now.Now()
	if err := req.Validate(now); err != nil {
		return ShareCode{}, err
	}
	target := req.URL
	title := req.Title
	switch req.Target {
	case "store":
		if req.TargetID != merchantID {
			return ShareCode{}, &payment.FieldError{Param: "target_id", Message: "a store code's target_id is the merchant's own id"}
		}
		if target == "" {
			target = s.BaseURL + "/m/" + merchantID
		}
		if title == "" {
			if m, err := merchants.Get(ctx, s.DB.Pool(), merchantID); err == nil {
				title = m.Name
			}
		}
	case "payment":
		p, err := s.Payments.GetPayment(ctx, merchantID, req.TargetID)
		if errors.Is(err, notfound.Err) {
			return ShareCode{}, &notfound.Error{Param: "target_id", Object: "payment", ID: req.TargetID, Scoped: true}
		}
		if err != nil {
			return ShareCode{}, err
		}
		target = s.BaseURL + "/pay/" + p.ID
		if title == "" {
			title = p.Description
		}
	case "pay_for_me":
		r, err := s.PayForMe.OfMerchant(ctx, merchantID, req.TargetID)
		if errors.Is(err, notfound.Err) {
			return ShareCode{}, &notfound.Error{Param: "target_id", Object: "pay-for-me request", ID: req.TargetID, Scoped: true}
		}
		if err != nil {
			return ShareCode{}, err
		}
		target = r.URL
	}
	sc := ShareCode{ID: payment.NewID("sc"), MerchantID: merchantID, Target: req.Target, TargetID: req.TargetID, URL: target,
		Title: title, Source: req.Source, ExpiresAt: req.ExpiresAt, MaxUses: req.MaxUses, Created: now}
	// A token collides with one in use about once in 2^49/N draws; draw
	// again rather than fail.
	for range 5 {
		sc.Token = sharecode.New().String()
		err := s.DB.Pool().ShareCodeInsert(ctx, sc)
		if err == nil {
			return sc.Decorated(), nil
		}
		if !store.IsUniqueViolation(err) {
			return ShareCode{}, fmt.Errorf("storing a share code: %w", err)
		}
	}
	return ShareCode{}, errors.New("could not draw an unused share code token")
}

// GetShareCode reads a merchant's share code.
func (s *Service) Get(ctx context.Context, merchantID, id string) (ShareCode, error) {
	sc, err := s.DB.Pool().ShareCodeGet(ctx, merchantID, id)
	if errors.Is(err, store.ErrNoRows) {
		return sc, notfound.ByID("share code", id, merchantID)
	}
	return sc, err
}

// RevokeShareCode stops a merchant's share code from resolving.
func (s *Service) Revoke(ctx context.Context, merchantID, id string) (ShareCode, error) {
	if err := s.DB.Pool().ShareCodeRevoke(ctx, store.ShareCodeRevokeParams{MerchantID: merchantID, ID: id, At: s.Now.Now()}); err != nil {
		return ShareCode{}, err
	}
	return s.Get(ctx, merchantID, id)
}

// ResolveShareCode finds the share code inside pasted text and counts the
// resolve. merchantID "" resolves any merchant's code (the public /s/ page
// and platform keys); otherwise another merchant's code is unknown. The
// error says why a code does not resolve.
func (s *Service) Resolve(ctx context.Context, merchantID, text string) (ShareCode, error) {
	tok, err := sharecode.Find(text)
	if err != nil {
		return ShareCode{}, err
	}
	sc, err := s.DB.Pool().ShareCodeByToken(ctx, merchantID, tok.String())
	if errors.Is(err, store.ErrNoRows) {
		return ShareCode{}, ErrUnknown
	}
	if err != nil {
		return ShareCode{}, err
	}
	now := s.Now.Now()
	switch {
	case sc.Revoked:
		return sc, ErrRevoked
	case sc.ExpiresAt != nil && !now.Before(*sc.ExpiresAt):
		return sc, ErrExpired
	}
	counted, err := s.DB.Pool().ShareCodeCountResolve(ctx, sc.ID, now)
	if err != nil {
		return sc, err
	}
	if !counted {
		return sc, ErrUsedUp
	}
	sc.Resolves++
	return sc, nil
}

// Stats counts a merchant's share codes' resolves and paid orders, by
// "source" (each source as given, "ad:spring_sale" apart from "ad") or by
// "code".
func (s *Service) Stats(ctx context.Context, merchantID, by string) ([]Stat, error) {
	return s.DB.Pool().ShareCodeStats(ctx, merchantID, by == "code")
}

// ShareCodeByID reads any merchant's share code (the cashier credits a
// payment to it).
func (s *Service) ByID(ctx context.Context, id string) (ShareCode, error) {
	sc, err := s.DB.Pool().ShareCodeGet(ctx, "", id)
	if errors.Is(err, store.ErrNoRows) {
		return sc, notfound.Err
	}
	return sc, err
}
