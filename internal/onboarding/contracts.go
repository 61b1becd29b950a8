package onboarding

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/audit"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/walletcall"
)

// ContractView is a contract as the API shows it.
type ContractView struct {
	contract.Contract
	CampaignID string `json:"campaign_id,omitempty"`
	// SignURL is the merchant-facing signing page; it carries a secret
	// token, so it is shown to the platform and the merchant only.
	SignURL string `json:"sign_url,omitempty"`
	// Payable says whether the contract's merchant may be paid on its
	// channel under it: active, and signed under the current agreement.
	Payable bool `json:"payable"`
}

// loadContract reads a contract in e (locked for the rest of its
// transaction when lock); an unknown one is a notfound.Error.
func loadContract(ctx context.Context, e store.Executor, id string, lock bool) (store.StoredContract, error) {
	sc, err := e.ContractGet(ctx, store.ContractGetParams{ID: id, Lock: lock})
	if errors.Is(err, store.ErrNoRows) {
		return sc, notfound.ByID("contract", id, "")
	}
	return sc, err
}

// ensureContract returns the id of the contract of a merchant and channel,
// making a not-invited one if there is none, and records campaign (unless
// "") as the campaign that invited it.
func (s *Service) ensureContract(ctx context.Context, e store.Executor, merchantID, ch, campaign string) (string, error) {
	sc, err := e.ContractByMerchant(ctx, merchantID, ch)
	if err == nil {
		if campaign != "" {
			err = e.ContractCampaignSet(ctx, sc.Contract.ID, campaign)
		}
		return sc.Contract.ID, err
	}
	if !errors.Is(err, store.ErrNoRows) {
		return "", err
	}
	now := s.now()
	c := contract.Contract{ID: payment.NewID("ct"), MerchantID: merchantID, Channel: ch, State: contract.NotInvited, Created: now, Updated: now}
	tok := make([]byte, 20)
	rand.Read(tok)
	return c.ID, e.ContractInsert(ctx, store.ContractInsertParams{Contract: c, CampaignID: campaign, SignToken: hex.EncodeToString(tok)})
}

// act applies an action to a contract under its row lock, recording the
// transition and telling the merchant, in tx.
func (s *Service) act(ctx context.Context, tx *sql.Tx, id string, a contract.Action) (contract.Contract, error) {
	e := s.DB.In(tx)
	sc, err := loadContract(ctx, e, id, true)
	c := sc.Contract
	if err != nil {
		return c, err
	}
	if a.Current == 0 {
		ag, err := currentAgreement(ctx, e, c.Channel)
		switch {
		case err == nil:
			a.Current = ag.Version
		case !errors.Is(err, notfound.Err):
			return c, err
		}
	}
	n, tr, err := contract.Apply(c, a, s.now())
	if err != nil {
		return c, err
	}
	if err := e.ContractUpdate(ctx, n); err != nil {
		return c, err
	}
	if err := e.ContractTransitionInsert(ctx, tr); err != nil {
		return c, err
	}
	// The wallet merchant an active contract names is where the merchant's
	// payments go from now on.
	if n.State == contract.Active && n.SubMerchant != "" {
		if err := e.MerchantWalletSet(ctx, store.MerchantWalletSetParams{MerchantID: n.MerchantID, Channel: n.Channel, Wallet: merchant.Wallet{SubMerchant: n.SubMerchant, Seller: n.Seller}}); err != nil {
			return c, fmt.Errorf("recording merchant %s's %s wallet: %w", n.MerchantID, n.Channel, err)
		}
	}
	typ := EventContractChanged
	view := ContractView{Contract: n}
	if a.Kind == contract.ActInvite {
		typ = EventContractInvited
		view.SignURL = s.signURL(id, sc.SignToken)
	}
	return n, s.Events.Publish(ctx, tx, n.MerchantID, typ, id, view)
}

// signURL is a contract's merchant-facing signing page, token included.
func (s *Service) signURL(id, token string) string {
	return s.BaseURL + "/sign/" + id + "?token=" + token
}

// Act applies an operator's or the system's action to a contract.
func (s *Service) Act(ctx context.Context, id string, a contract.Action) (ContractView, error) {
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		n, err := s.act(ctx, tx, id, a)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, n) // an operator's action commits with its audit record
	})
	if err != nil {
		return ContractView{}, err
	}
	return s.GetContract(ctx, "", id)
}

// Invite invites a merchant to a channel (making its contract if new).
func (s *Service) Invite(ctx context.Context, merchantID, ch, actor string) (ContractView, error) {
	if err := s.channelKnown(ch); err != nil {
		return ContractView{}, err
	}
	if _, err := merchants.Get(ctx, s.DB.Pool(), merchantID); err != nil {
		return ContractView{}, err
	}
	var id string
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if id, err = s.ensureContract(ctx, s.DB.In(tx), merchantID, ch, ""); err != nil {
			return err
		}
		n, err := s.act(ctx, tx, id, contract.Action{Kind: contract.ActInvite, Actor: actor})
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, n) // an operator's invitation commits with its audit record
	})
	if err != nil {
		return ContractView{}, err
	}
	return s.GetContract(ctx, "", id)
}

// view is a stored contract as the API shows it, payable or not under
// current, its channel's current agreement (nil when none is published).
func (s *Service) view(sc store.StoredContract, current *contract.Agreement) ContractView {
	v := ContractView{Contract: sc.Contract, CampaignID: sc.CampaignID, SignURL: s.signURL(sc.Contract.ID, sc.SignToken)}
	if current != nil {
		v.Payable = sc.Contract.Payable(current.Version)
	}
	return v
}

// agreementOrNil is a channel's current agreement, nil when none is
// published.
func agreementOrNil(ctx context.Context, e store.Executor, ch string) (*contract.Agreement, error) {
	ag, err := currentAgreement(ctx, e, ch)
	if errors.Is(err, notfound.Err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &ag, nil
}

// GetContract reads a contract (of merchantID, unless ""): another
// merchant's is a notfound.Error, as a missing one.
func (s *Service) GetContract(ctx context.Context, merchantID, id string) (ContractView, error) {
	e := s.DB.Pool()
	sc, err := e.ContractGet(ctx, store.ContractGetParams{ID: id, MerchantID: merchantID})
	if errors.Is(err, store.ErrNoRows) {
		return ContractView{}, notfound.ByID("contract", id, merchantID)
	}
	if err != nil {
		return ContractView{}, err
	}
	ag, err := agreementOrNil(ctx, e, sc.Contract.Channel)
	if err != nil {
		return ContractView{}, err
	}
	return s.view(sc, ag), nil
}

// ContractFilter narrows a contract list; empty fields match all.
type ContractFilter struct {
	MerchantID, Channel, State, CampaignID string
}

// ListContracts lists contracts, newest change first.
func (s *Service) ListContracts(ctx context.Context, f ContractFilter) ([]ContractView, error) {
	e := s.DB.Pool()
	sf := store.ContractFilter{MerchantID: f.MerchantID, Channel: f.Channel, CampaignID: f.CampaignID}
	if f.State != "" {
		sf.States = []string{f.State}
	}
	list, err := e.ContractList(ctx, sf)
	if err != nil {
		return nil, err
	}
	out := make([]ContractView, 0, len(list))
	current := map[string]*contract.Agreement{}
	for _, sc := range list {
		ch := sc.Contract.Channel
		ag, seen := current[ch]
		if !seen {
			if ag, err = agreementOrNil(ctx, e, ch); err != nil {
				return nil, err
			}
			current[ch] = ag
		}
		out = append(out, s.view(sc, ag))
	}
	return out, nil
}

// Transitions lists a contract's recorded changes, oldest first.
func (s *Service) Transitions(ctx context.Context, id string) ([]contract.Transition, error) {
	list, err := s.DB.Pool().ContractTransitionList(ctx, id)
	if list == nil && err == nil {
		list = []contract.Transition{} // [] in JSON
	}
	return list, err
}

// SigningPage is what the merchant-facing signing page shows.
type SigningPage struct {
	Contract  ContractView
	Merchant  merchant.Merchant
	Agreement contract.Agreement
}

// ForSigning reads a contract for its signing page, checking the link's
// token: any failure to find the contract is ErrBadSignToken, so a link
// tells nothing of contracts it does not open.
func (s *Service) ForSigning(ctx context.Context, id, token string) (SigningPage, error) {
	sc, err := loadContract(ctx, s.DB.Pool(), id, false)
	if err != nil || subtle.ConstantTimeCompare([]byte(token), []byte(sc.SignToken)) != 1 {
		return SigningPage{}, ErrBadSignToken
	}
	m, err := merchants.Get(ctx, s.DB.Pool(), sc.Contract.MerchantID)
	if err != nil {
		return SigningPage{}, err
	}
	ag, err := s.CurrentAgreement(ctx, sc.Contract.Channel)
	if err != nil {
		return SigningPage{}, err
	}
	v, err := s.GetContract(ctx, "", id)
	return SigningPage{Contract: v, Merchant: m, Agreement: ag}, err
}

// Sign records the merchant's signature of the agreement version and text
// it was shown: a text that changed since (hash mismatch) is refused.
func (s *Service) Sign(ctx context.Context, id, token string, version int, textSHA256, signer, ip string) (ContractView, error) {
	page, err := s.ForSigning(ctx, id, token)
	if err != nil {
		return ContractView{}, err
	}
	signer = strings.TrimSpace(signer)
	switch {
	case signer == "" || utf8.RuneCountInString(signer) > 40:
		return ContractView{}, &payment.FieldError{Param: "signer", Message: "the signer's name is required, at most 40 characters"}
	case version != page.Agreement.Version || textSHA256 != page.Agreement.TextSHA256:
		return ContractView{}, &payment.FieldError{Param: "agreement", Message: fmt.Sprintf("the agreement changed while you read it; version %d is current", page.Agreement.Version)}
	}
	return s.Act(ctx, id, contract.Action{Kind: contract.ActSign, Actor: "merchant:" + signer, Current: version,
		Sign: &contract.Signature{Version: version, TextHash: textSHA256, Signer: signer, IP: ip, At: s.now()}})
}

// Submit sends a signed merchant's application to the wallet's onboarding
// and polls it until the wallet decides.
func (s *Service) Submit(ctx context.Context, id, actor string, app channel.MerchantApplication) (ContractView, error) {
	sc, err := loadContract(ctx, s.DB.Pool(), id, false)
	if err != nil {
		return ContractView{}, err
	}
	c := sc.Contract
	kind := contract.ActSubmit
	if c.State == contract.Rejected {
		kind = contract.ActResubmit
	}
	// Check the state first: the wallet hears only of what may go.
	ag, err := s.CurrentAgreement(ctx, c.Channel)
	if err != nil {
		return ContractView{}, err
	}
	if _, _, err := contract.Apply(c, contract.Action{Kind: kind, Current: ag.Version}, s.now()); err != nil {
		return ContractView{}, err
	}
	ob := s.Wallets[c.Channel]
	if ob == nil {
		return ContractView{}, fmt.Errorf("%w: the %s connector has no onboarding", ErrNoOnboarding, c.Channel)
	}
	if app.Ref == "" {
		app.Ref = c.OnboardingRef
	}
	if app.Ref == "" {
		app.Ref = "hutong_" + strings.TrimPrefix(c.ID, "ct_")
	}
	m, err := merchants.Get(ctx, s.DB.Pool(), c.MerchantID)
	if err != nil {
		return ContractView{}, err
	}
	if app.Name == "" {
		app.Name = m.Name
	}
	res, err := walletcall.Do(ctx, c.Channel, "submit_merchant", func() (channel.Onboarding, error) { return ob.SubmitMerchant(ctx, app) })
	if err != nil {
		return ContractView{}, fmt.Errorf("%w: %w", ErrWalletRefused, err)
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.act(ctx, tx, id, contract.Action{Kind: kind, Actor: actor, Current: ag.Version})
		if err != nil {
			return err
		}
		cur.OnboardingRef, cur.WalletState = res.Ref, res.WalletState
		if cur.OnboardingRef == "" {
			cur.OnboardingRef = app.Ref
		}
		if err := s.DB.In(tx).ContractUpdate(ctx, cur); err != nil {
			return err
		}
		now := s.now()
		_, err = jobs.Enqueue(ctx, tx, jobs.New{Kind: KindContractPoll, Payload: ref{id}, RunAt: now.Add(s.PollBackoff(0)), MaxAttempts: 1000}, now)
		return err
	})
	if err != nil {
		return ContractView{}, err
	}
	s.wake()
	return s.GetContract(ctx, "", id)
}

// errStillReviewing makes the poll job come back later.
var errStillReviewing = errors.New("the wallet is still reviewing the merchant")

// PollContract asks the wallet about a submitted contract (a job) and
// applies its decision.
func (s *Service) PollContract(ctx context.Context, j jobs.Job) error {
	var r ref
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	sc, err := loadContract(ctx, s.DB.Pool(), r.ID, false)
	if errors.Is(err, notfound.Err) {
		return nil // the contract is gone: nothing to ask about
	}
	c := sc.Contract
	if err != nil || c.State != contract.Submitted {
		return err
	}
	ob := s.Wallets[c.Channel]
	if ob == nil {
		return nil
	}
	res, err := walletcall.Do(ctx, c.Channel, "query_merchant", func() (channel.Onboarding, error) { return ob.QueryMerchant(ctx, c.OnboardingRef) })
	if err != nil {
		return err
	}
	var a contract.Action
	switch res.State {
	case channel.OnboardingActive:
		a = contract.Action{Kind: contract.ActApprove, Actor: "wallet"}
	case channel.OnboardingRejected, channel.OnboardingNeedsInfo:
		reason := res.Reason
		if res.State == channel.OnboardingNeedsInfo {
			reason = "needs more information: " + reason
		}
		a = contract.Action{Kind: contract.ActReject, Actor: "wallet", Reason: reason}
	default:
		if res.WalletState != c.WalletState {
			if err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
				cur, err := loadContract(ctx, s.DB.In(tx), c.ID, true)
				if err != nil {
					return err
				}
				cur.Contract.WalletState = res.WalletState
				return s.DB.In(tx).ContractUpdate(ctx, cur.Contract)
			}); err != nil {
				return fmt.Errorf("recording the wallet's review state %s: %w", res.WalletState, err)
			}
		}
		return errStillReviewing
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		e := s.DB.In(tx)
		cur, err := loadContract(ctx, e, c.ID, true)
		if err != nil || cur.Contract.State != contract.Submitted {
			return err
		}
		cur.Contract.WalletState, cur.Contract.SubMerchant, cur.Contract.Seller = res.WalletState, res.SubMerchant, res.Seller
		if err := e.ContractUpdate(ctx, cur.Contract); err != nil {
			return err
		}
		_, err = s.act(ctx, tx, c.ID, a)
		return err
	})
}

// RefreshContract asks the wallet about a submitted contract now, as its
// poll job would.
func (s *Service) RefreshContract(ctx context.Context, id string) error {
	payload, err := json.Marshal(ref{id})
	if err != nil {
		return fmt.Errorf("contract %s: %w", id, err)
	}
	err = s.PollContract(ctx, jobs.Job{Payload: payload})
	if errors.Is(err, errStillReviewing) {
		return nil
	}
	return err
}

// Payable reports whether a channel takes a merchant's payments: always,
// unless the channel requires contracts; then only with an active contract
// signed under the current agreement. An error is a failure to find out,
// never a no.
func (s *Service) Payable(ctx context.Context, merchantID, ch string) (bool, error) {
	if !s.ContractsRequired[ch] {
		return true, nil
	}
	e := s.DB.Pool()
	sc, err := e.ContractByMerchant(ctx, merchantID, ch)
	if errors.Is(err, store.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("whether merchant %s is payable on %s: %w", merchantID, ch, err)
	}
	ag, err := agreementOrNil(ctx, e, ch)
	if err != nil {
		return false, fmt.Errorf("whether merchant %s is payable on %s: %w", merchantID, ch, err)
	}
	return ag != nil && sc.Contract.Payable(ag.Version), nil
}
