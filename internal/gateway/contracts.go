package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/merchants"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Agreement is one version of the platform's agreement for a channel,
// which a merchant signs before the channel takes its payments.
type Agreement struct {
	Channel       string    `json:"channel"`
	Version       int       `json:"version"`
	Title         string    `json:"title"`
	Body          string    `json:"body"`
	TextSHA256    string    `json:"text_sha256"`
	RequireResign bool      `json:"require_resign"`
	CreatedBy     string    `json:"created_by"`
	Created       time.Time `json:"created"`
}

// AgreementText is what a signature covers: the title and the body, as
// shown on the signing page.
func AgreementText(title, body string) string { return title + "\n\n" + body }

func textHash(title, body string) string {
	sum := sha256.Sum256([]byte(AgreementText(title, body)))
	return hex.EncodeToString(sum[:])
}

// Contract events published to the merchant.
const (
	EventContractInvited  = "contract.invited"
	EventContractReminder = "contract.reminder"
	EventContractChanged  = "contract.updated"
)

// Job kinds of onboarding.
const (
	KindContractPoll   = "contract.poll"
	KindCampaignRemind = "campaign.remind"
)

func (s *Service) channelKnown(ch string) error {
	if _, ok := s.Accounts[ch]; !ok {
		return &payment.FieldError{Param: "channel", Message: fmt.Sprintf("%q is not a wallet channel of this gateway", ch)}
	}
	return nil
}

// CreateAgreement publishes a new version of a channel's agreement. With
// requireResign, every contract signed under an earlier version goes back
// to invited (and stops being payable) until its merchant signs again.
func (s *Service) CreateAgreement(ctx context.Context, ch, title, body, actor string, requireResign bool) (Agreement, error) {
	if err := s.channelKnown(ch); err != nil {
		return Agreement{}, err
	}
	switch {
	case strings.TrimSpace(title) == "" || utf8.RuneCountInString(title) > 100:
		return Agreement{}, &payment.FieldError{Param: "title", Message: "is required, at most 100 characters"}
	case strings.TrimSpace(body) == "" || len(body) > 100<<10 || !utf8.ValidString(body):
		return Agreement{}, &payment.FieldError{Param: "body", Message: "is required, valid UTF-8 of at most 100 KiB"}
	}
	now := s.now()
	a := Agreement{Channel: ch, Title: title, Body: body, TextSHA256: textHash(title, body), RequireResign: requireResign, CreatedBy: actor, Created: now}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM agreements WHERE channel = $1`, ch).Scan(&a.Version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO agreements (channel, version, title, body, text_sha256, require_resign, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			ch, a.Version, title, body, a.TextSHA256, boolInt(requireResign), actor, store.Micros(now)); err != nil {
			return err
		}
		if !requireResign || a.Version == 1 {
			return nil
		}
		ids, err := store.QueryStrings(ctx, tx, `SELECT id FROM contracts WHERE channel = $1 AND state IN ('signed', 'submitted', 'active', 'suspended', 'rejected')`, ch)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := s.act(ctx, tx, id, contract.Action{Kind: contract.ActNewTerms, Actor: actor, Reason: fmt.Sprintf("agreement version %d requires signing again", a.Version)}); err != nil {
				return err
			}
		}
		return nil
	})
	return a, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CurrentAgreement is a channel's newest agreement; ErrNotFound if none.
func (s *Service) CurrentAgreement(ctx context.Context, q queryer, ch string) (Agreement, error) {
	var a Agreement
	var req int
	var created int64
	err := q.QueryRowContext(ctx, `SELECT channel, version, title, body, text_sha256, require_resign, created_by, created_at FROM agreements
		WHERE channel = $1 ORDER BY version DESC LIMIT 1`, ch).Scan(&a.Channel, &a.Version, &a.Title, &a.Body, &a.TextSHA256, &req, &a.CreatedBy, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return a, &NotFoundError{Param: "channel", Object: "agreement", Text: fmt.Sprintf("no agreement is published for %s yet; the platform publishes one with POST /v1/agreements", ch)}
	}
	a.RequireResign, a.Created = req == 1, store.Time(created)
	return a, err
}

// ListAgreements lists every version of every channel's agreement.
func (s *Service) ListAgreements(ctx context.Context) ([]Agreement, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT channel, version, title, body, text_sha256, require_resign, created_by, created_at FROM agreements ORDER BY channel, version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Agreement{}
	for rows.Next() {
		var a Agreement
		var req int
		var created int64
		if err := rows.Scan(&a.Channel, &a.Version, &a.Title, &a.Body, &a.TextSHA256, &req, &a.CreatedBy, &created); err != nil {
			return nil, err
		}
		a.RequireResign, a.Created = req == 1, store.Time(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ContractView is a contract as the API shows it.
type ContractView struct {
	contract.Contract
	CampaignID string `json:"campaign_id,omitempty"`
	// SignURL is the merchant-facing signing page; it carries a secret
	// token, so it is shown to the platform and the merchant only.
	SignURL string `json:"sign_url,omitempty"`
	Payable bool   `json:"payable"`
}

func (s *Service) loadContract(ctx context.Context, q queryer, id string, lock bool) (contract.Contract, string, string, error) {
	var data, campaign, token string
	err := q.QueryRowContext(ctx, `SELECT data, campaign_id, sign_token FROM contracts WHERE id = $1`+s.lockClause(lock), id).Scan(&data, &campaign, &token)
	if errors.Is(err, sql.ErrNoRows) {
		return contract.Contract{}, "", "", notFound("contract", id, "")
	}
	if err != nil {
		return contract.Contract{}, "", "", err
	}
	var c contract.Contract
	err = json.Unmarshal([]byte(data), &c)
	return c, campaign, token, err
}

func (s *Service) saveContract(ctx context.Context, tx *sql.Tx, c contract.Contract) error {
	data, _ := json.Marshal(c)
	_, err := tx.ExecContext(ctx, `UPDATE contracts SET state = $2, updated_at = $3, data = $4 WHERE id = $1`, c.ID, c.State, store.Micros(c.Updated), string(data))
	return err
}

// ensureContract returns the contract of a merchant and channel, making a
// not-invited one if there is none.
func (s *Service) ensureContract(ctx context.Context, tx *sql.Tx, merchantID, ch, campaign string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM contracts WHERE merchant_id = $1 AND channel = $2`, merchantID, ch).Scan(&id)
	if err == nil {
		if campaign != "" {
			_, err = tx.ExecContext(ctx, `UPDATE contracts SET campaign_id = $2 WHERE id = $1`, id, campaign)
		}
		return id, err
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	now := s.now()
	c := contract.Contract{ID: payment.NewID("ct"), MerchantID: merchantID, Channel: ch, State: contract.NotInvited, Created: now, Updated: now}
	tok := make([]byte, 20)
	rand.Read(tok)
	data, _ := json.Marshal(c)
	_, err = tx.ExecContext(ctx, `INSERT INTO contracts (id, merchant_id, channel, state, campaign_id, sign_token, updated_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.ID, merchantID, ch, c.State, campaign, hex.EncodeToString(tok), store.Micros(now), string(data))
	return c.ID, err
}

// act applies an action to a contract under its row lock, recording the
// transition and telling the merchant, in tx.
func (s *Service) act(ctx context.Context, tx *sql.Tx, id string, a contract.Action) (contract.Contract, error) {
	c, _, _, err := s.loadContract(ctx, tx, id, true)
	if err != nil {
		return c, err
	}
	if a.Current == 0 {
		if ag, err := s.CurrentAgreement(ctx, tx, c.Channel); err == nil {
			a.Current = ag.Version
		}
	}
	n, tr, err := contract.Apply(c, a, s.now())
	if err != nil {
		return c, err
	}
	if err := s.saveContract(ctx, tx, n); err != nil {
		return c, err
	}
	var seq int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM contract_transitions WHERE contract_id = $1`, id).Scan(&seq); err != nil {
		return c, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO contract_transitions (contract_id, seq, from_state, to_state, action, actor, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, seq, tr.From, tr.To, tr.Action, tr.Actor, tr.Reason, store.Micros(tr.At)); err != nil {
		return c, err
	}
	// The wallet merchant an active contract names is where the merchant's
	// payments go from now on.
	if n.State == contract.Active && n.SubMerchant != "" {
		if err := s.DB.In(tx).MerchantWalletSet(ctx, store.MerchantWalletSetParams{MerchantID: n.MerchantID, Channel: n.Channel, Wallet: merchant.Wallet{SubMerchant: n.SubMerchant, Seller: n.Seller}}); err != nil {
			return c, err
		}
	}
	typ := EventContractChanged
	if a.Kind == contract.ActInvite {
		typ = EventContractInvited
	}
	view := ContractView{Contract: n}
	if a.Kind == contract.ActInvite {
		view.SignURL = s.signURLOf(ctx, tx, id)
	}
	return n, s.events().Publish(ctx, tx, n.MerchantID, typ, id, view)
}

// signURL is a contract's merchant-facing signing page, token included.
func (s *Service) signURL(id, token string) string {
	return s.BaseURL + "/sign/" + id + "?token=" + token
}

// signURLOf reads a contract's token for its signing link.
func (s *Service) signURLOf(ctx context.Context, q queryer, id string) string {
	var tok string
	if err := q.QueryRowContext(ctx, `SELECT sign_token FROM contracts WHERE id = $1`, id).Scan(&tok); err != nil {
		// A link without its token is refused when opened; say why here.
		s.log().Error("reading a contract's signing token", "contract", id, "error", err.Error())
	}
	return s.signURL(id, tok)
}

// Act applies an operator's or the system's action to a contract.
func (s *Service) Act(ctx context.Context, id string, a contract.Action) (ContractView, error) {
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		_, err := s.act(ctx, tx, id, a)
		return err
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
		if id, err = s.ensureContract(ctx, tx, merchantID, ch, ""); err != nil {
			return err
		}
		_, err = s.act(ctx, tx, id, contract.Action{Kind: contract.ActInvite, Actor: actor})
		return err
	})
	if err != nil {
		return ContractView{}, err
	}
	return s.GetContract(ctx, "", id)
}

// GetContract reads a contract (of merchantID, unless ""): another
// merchant's is ErrNotFound, as a missing one.
func (s *Service) GetContract(ctx context.Context, merchantID, id string) (ContractView, error) {
	var data, campaign, token string
	err := s.DB.QueryRowContext(ctx, `SELECT data, campaign_id, sign_token FROM contracts WHERE id = $1 AND ($2 = '' OR merchant_id = $2)`, id, merchantID).
		Scan(&data, &campaign, &token)
	if errors.Is(err, sql.ErrNoRows) {
		return ContractView{}, notFound("contract", id, merchantID)
	}
	if err != nil {
		return ContractView{}, err
	}
	var c contract.Contract
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return ContractView{}, fmt.Errorf("contract %s: %w", id, err)
	}
	v := ContractView{Contract: c, CampaignID: campaign, SignURL: s.signURL(id, token)}
	if ag, err := s.CurrentAgreement(ctx, s.DB, c.Channel); err == nil {
		v.Payable = c.Payable(ag.Version)
	}
	return v, nil
}

// ContractFilter narrows a contract list.
type ContractFilter struct {
	MerchantID, Channel, State, CampaignID string
}

// ListContracts lists contracts, newest change first.
func (s *Service) ListContracts(ctx context.Context, f ContractFilter) ([]ContractView, error) {
	query := `SELECT id FROM contracts WHERE 1 = 1`
	var args []any
	for col, v := range map[string]string{"merchant_id": f.MerchantID, "channel": f.Channel, "state": f.State, "campaign_id": f.CampaignID} {
		if v != "" {
			args = append(args, v)
			query += fmt.Sprintf(` AND %s = $%d`, col, len(args))
		}
	}
	ids, err := store.QueryStrings(ctx, s.DB, query+` ORDER BY updated_at DESC, id`, args...)
	if err != nil {
		return nil, err
	}
	out := []ContractView{}
	for _, id := range ids {
		v, err := s.GetContract(ctx, "", id)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Transitions lists a contract's recorded changes, oldest first.
func (s *Service) Transitions(ctx context.Context, id string) ([]contract.Transition, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT from_state, to_state, action, actor, reason, at FROM contract_transitions WHERE contract_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []contract.Transition{}
	for rows.Next() {
		t := contract.Transition{ContractID: id}
		var at int64
		if err := rows.Scan(&t.From, &t.To, &t.Action, &t.Actor, &t.Reason, &at); err != nil {
			return nil, err
		}
		t.At = store.Time(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// ErrBadSignToken is a signing link whose token does not match.
var ErrBadSignToken = errors.New("the signing link is not valid")

// SigningPage is what the merchant-facing signing page shows.
type SigningPage struct {
	Contract  ContractView
	Merchant  merchant.Merchant
	Agreement Agreement
}

// ForSigning reads a contract for its signing page, checking the link's
// token.
func (s *Service) ForSigning(ctx context.Context, id, token string) (SigningPage, error) {
	c, _, tok, err := s.loadContract(ctx, s.DB, id, false)
	if err != nil || subtle.ConstantTimeCompare([]byte(token), []byte(tok)) != 1 {
		return SigningPage{}, ErrBadSignToken
	}
	m, err := merchants.Get(ctx, s.DB.Pool(), c.MerchantID)
	if err != nil {
		return SigningPage{}, err
	}
	ag, err := s.CurrentAgreement(ctx, s.DB, c.Channel)
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
	c, _, _, err := s.loadContract(ctx, s.DB, id, false)
	if err != nil {
		return ContractView{}, err
	}
	kind := contract.ActSubmit
	if c.State == contract.Rejected {
		kind = contract.ActResubmit
	}
	// Check the state first: the wallet hears only of what may go.
	ag, err := s.CurrentAgreement(ctx, s.DB, c.Channel)
	if err != nil {
		return ContractView{}, err
	}
	if _, _, err := contract.Apply(c, contract.Action{Kind: kind, Current: ag.Version}, s.now()); err != nil {
		return ContractView{}, err
	}
	ob, ok := s.Accounts[c.Channel].Connector.(channel.Onboarder)
	if !ok {
		return ContractView{}, fmt.Errorf("%w: the %s connector has no onboarding", ErrMethodNotOpen, c.Channel)
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
	res, err := atWallet(ctx, c.Channel, "submit_merchant", func() (channel.Onboarding, error) { return ob.SubmitMerchant(ctx, app) })
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
		if err := s.saveContract(ctx, tx, cur); err != nil {
			return err
		}
		_, err = jobs.Enqueue(ctx, tx, jobs.New{Kind: KindContractPoll, Payload: ref{id}, RunAt: s.now().Add(s.onboardingPoll()), MaxAttempts: 1000}, s.now())
		return err
	})
	if err != nil {
		return ContractView{}, err
	}
	s.kick()
	return s.GetContract(ctx, "", id)
}

// OnboardingPoll is how often a submitted contract is asked about; 0
// means 30 s (tests and the demo set it lower).
func (s *Service) onboardingPoll() time.Duration {
	if s.OnboardingPoll > 0 {
		return s.OnboardingPoll
	}
	return 30 * time.Second
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
	c, _, _, err := s.loadContract(ctx, s.DB, r.ID, false)
	if isNotFound(err) {
		return nil
	}
	if err != nil || c.State != contract.Submitted {
		return err
	}
	ob, ok := s.Accounts[c.Channel].Connector.(channel.Onboarder)
	if !ok {
		return nil
	}
	res, err := atWallet(ctx, c.Channel, "query_merchant", func() (channel.Onboarding, error) { return ob.QueryMerchant(ctx, c.OnboardingRef) })
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
				cur, _, _, err := s.loadContract(ctx, tx, c.ID, true)
				if err != nil {
					return err
				}
				cur.WalletState = res.WalletState
				return s.saveContract(ctx, tx, cur)
			}); err != nil {
				return fmt.Errorf("recording the wallet's review state %s: %w", res.WalletState, err)
			}
		}
		return errStillReviewing
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		cur, _, _, err := s.loadContract(ctx, tx, c.ID, true)
		if err != nil || cur.State != contract.Submitted {
			return err
		}
		cur.WalletState, cur.SubMerchant, cur.Seller = res.WalletState, res.SubMerchant, res.Seller
		if err := s.saveContract(ctx, tx, cur); err != nil {
			return err
		}
		_, err = s.act(ctx, tx, c.ID, a)
		return err
	})
}

// Payable reports whether a channel takes a merchant's payments: always,
// unless the channel requires contracts; then only with an active contract
// signed under the current agreement.
func (s *Service) Payable(ctx context.Context, merchantID, ch string) bool {
	if !s.ContractsRequired[ch] {
		return true
	}
	var data string
	if err := s.DB.QueryRowContext(ctx, `SELECT data FROM contracts WHERE merchant_id = $1 AND channel = $2`, merchantID, ch).Scan(&data); err != nil {
		return false
	}
	var c contract.Contract
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		s.log().Error("a stored contract does not decode: the merchant is not payable", "merchant", merchantID, "channel", ch, "error", err.Error())
		return false
	}
	ag, err := s.CurrentAgreement(ctx, s.DB, ch)
	return err == nil && c.Payable(ag.Version)
}

// RefreshContract asks the wallet about a submitted contract now, as its
// poll job would.
func (s *Service) RefreshContract(ctx context.Context, id string) error {
	payload, _ := json.Marshal(ref{id})
	err := s.PollContract(ctx, jobs.Job{Payload: payload})
	if errors.Is(err, errStillReviewing) {
		return nil
	}
	return err
}
