package onboarding

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// resignStates are the states a contract is sent back to invited from
// when an agreement version requires signing again (contract.ActNewTerms).
var resignStates = []string{contract.Signed, contract.Submitted, contract.Active, contract.Suspended, contract.Rejected}

// CreateAgreement publishes a new version of a channel's agreement. With
// requireResign, every contract signed under an earlier version goes back
// to invited (and stops being payable) until its merchant signs again.
func (s *Service) CreateAgreement(ctx context.Context, ch, title, body, actor string, requireResign bool) (contract.Agreement, error) {
	if err := s.channelKnown(ch); err != nil {
		return contract.Agreement{}, err
	}
	switch {
	case strings.TrimSpace(title) == "" || utf8.RuneCountInString(title) > 100:
		return contract.Agreement{}, &payment.FieldError{Param: "title", Message: "is required, at most 100 characters"}
	case strings.TrimSpace(body) == "" || len(body) > 100<<10 || !utf8.ValidString(body):
		return contract.Agreement{}, &payment.FieldError{Param: "body", Message: "is required, valid UTF-8 of at most 100 KiB"}
	}
	a := contract.Agreement{Channel: ch, Title: title, Body: body, TextSHA256: contract.TextHash(title, body), RequireResign: requireResign, CreatedBy: actor, Created: s.now()}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		e := s.DB.In(tx)
		var err error
		if a.Version, err = e.AgreementInsert(ctx, store.AgreementInsertParams{Agreement: a}); err != nil {
			return err
		}
		if !requireResign || a.Version == 1 {
			return nil
		}
		signed, err := e.ContractList(ctx, store.ContractFilter{Channel: ch, States: resignStates})
		if err != nil {
			return err
		}
		for _, sc := range signed {
			if _, err := s.act(ctx, tx, sc.Contract.ID, contract.Action{Kind: contract.ActNewTerms, Actor: actor, Reason: fmt.Sprintf("agreement version %d requires signing again", a.Version)}); err != nil {
				return err
			}
		}
		return nil
	})
	return a, err
}

// CurrentAgreement is a channel's newest agreement; a notfound.Error on
// channel if none is published yet.
func (s *Service) CurrentAgreement(ctx context.Context, ch string) (contract.Agreement, error) {
	return currentAgreement(ctx, s.DB.Pool(), ch)
}

// currentAgreement is CurrentAgreement through e, which may be the
// transaction of a change.
func currentAgreement(ctx context.Context, e store.Executor, ch string) (contract.Agreement, error) {
	a, err := e.AgreementCurrent(ctx, ch)
	if errors.Is(err, store.ErrNoRows) {
		return a, &notfound.Error{Param: "channel", Object: "agreement", Text: fmt.Sprintf("no agreement is published for %s yet; the platform publishes one with POST /v1/agreements", ch)}
	}
	return a, err
}

// ListAgreements lists every version of every channel's agreement, by
// channel and version.
func (s *Service) ListAgreements(ctx context.Context) ([]contract.Agreement, error) {
	list, err := s.DB.Pool().AgreementList(ctx)
	if list == nil && err == nil {
		list = []contract.Agreement{} // [] in JSON
	}
	return list, err
}
