package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hutong-pay/hutong/internal/campaign"
	"github.com/hutong-pay/hutong/internal/contract"
)

// Onboarding's tables: agreements (every version of each channel's),
// contracts (one per merchant and channel, the object as JSON in data with
// what queries filter on beside it), contract_transitions (each contract's
// changes, numbered from 1) and campaigns (as JSON in data).

// AgreementInsertParams is a new version of a channel's agreement; its
// Version is the store's to assign.
type AgreementInsertParams struct {
	Agreement contract.Agreement
}

// AgreementInsert stores a channel's next agreement version, numbered one
// past the newest, and answers its number. Two inserts racing for one
// number: the second is a unique violation (IsUniqueViolation).
func (e Executor) AgreementInsert(ctx context.Context, p AgreementInsertParams) (int, error) {
	a := p.Agreement
	var version int
	if err := e.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM agreements WHERE channel = $1`, a.Channel).Scan(&version); err != nil {
		return 0, fmt.Errorf("numbering %s's next agreement: %w", a.Channel, err)
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO agreements (channel, version, title, body, text_sha256, require_resign, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.Channel, version, a.Title, a.Body, a.TextSHA256, boolInt(a.RequireResign), a.CreatedBy, Micros(a.Created)); err != nil {
		return 0, fmt.Errorf("storing %s's agreement version %d: %w", a.Channel, version, err)
	}
	return version, nil
}

const agreementColumns = `channel, version, title, body, text_sha256, require_resign, created_by, created_at`

func scanAgreement(row interface{ Scan(...any) error }) (contract.Agreement, error) {
	var a contract.Agreement
	var req int
	var created int64
	err := row.Scan(&a.Channel, &a.Version, &a.Title, &a.Body, &a.TextSHA256, &req, &a.CreatedBy, &created)
	a.RequireResign, a.Created = req == 1, Time(created)
	return a, err
}

// AgreementCurrent reads a channel's newest agreement; ErrNoRows when the
// channel has none yet.
func (e Executor) AgreementCurrent(ctx context.Context, channel string) (contract.Agreement, error) {
	a, err := scanAgreement(e.q.QueryRowContext(ctx, `SELECT `+agreementColumns+` FROM agreements WHERE channel = $1 ORDER BY version DESC LIMIT 1`, channel))
	if err != nil {
		return contract.Agreement{}, fmt.Errorf("reading %s's current agreement: %w", channel, err)
	}
	return a, nil
}

// AgreementList reads every version of every channel's agreement, by
// channel and version.
func (e Executor) AgreementList(ctx context.Context) ([]contract.Agreement, error) {
	list, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (contract.Agreement, error) { return scanAgreement(rows) },
		`SELECT `+agreementColumns+` FROM agreements ORDER BY channel, version`)
	if err != nil {
		return nil, fmt.Errorf("listing agreements: %w", err)
	}
	return list, nil
}

// StoredContract is a contract with what is kept beside it: the campaign
// that last invited its merchant ("" for none), and the secret token of
// its signing link.
type StoredContract struct {
	Contract   contract.Contract
	CampaignID string
	SignToken  string
}

// ContractInsertParams is a new contract of a merchant for a channel.
type ContractInsertParams struct {
	Contract   contract.Contract
	CampaignID string
	SignToken  string
}

// ContractInsert stores a new contract. A second one for the same merchant
// and channel is a unique violation (IsUniqueViolation).
func (e Executor) ContractInsert(ctx context.Context, p ContractInsertParams) error {
	c := p.Contract
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("contract %s: %w", c.ID, err)
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO contracts (id, merchant_id, channel, state, campaign_id, sign_token, updated_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.ID, c.MerchantID, c.Channel, c.State, p.CampaignID, p.SignToken, Micros(c.Updated), string(data)); err != nil {
		return fmt.Errorf("storing contract %s: %w", c.ID, err)
	}
	return nil
}

const storedContractColumns = `data, campaign_id, sign_token`

func scanStoredContract(row interface{ Scan(...any) error }) (StoredContract, error) {
	var sc StoredContract
	var data string
	if err := row.Scan(&data, &sc.CampaignID, &sc.SignToken); err != nil {
		return sc, err
	}
	if err := json.Unmarshal([]byte(data), &sc.Contract); err != nil {
		return sc, fmt.Errorf("a stored contract does not decode: %w", err)
	}
	return sc, nil
}

// ContractGetParams names a contract: by its id, among one merchant's
// unless MerchantID is "", and locked for the rest of the transaction when
// Lock.
type ContractGetParams struct {
	ID         string
	MerchantID string
	Lock       bool
}

// ContractGet reads a contract; ErrNoRows when there is none (or it is
// another merchant's).
func (e Executor) ContractGet(ctx context.Context, p ContractGetParams) (StoredContract, error) {
	sc, err := scanStoredContract(e.q.QueryRowContext(ctx, `SELECT `+storedContractColumns+` FROM contracts WHERE id = $1 AND ($2 = '' OR merchant_id = $2)`+e.forUpdate(p.Lock),
		p.ID, p.MerchantID))
	if err != nil {
		return sc, fmt.Errorf("reading contract %s: %w", p.ID, err)
	}
	return sc, nil
}

// ContractByMerchant reads a merchant's contract for a channel; ErrNoRows
// when it has none.
func (e Executor) ContractByMerchant(ctx context.Context, merchantID, channel string) (StoredContract, error) {
	sc, err := scanStoredContract(e.q.QueryRowContext(ctx, `SELECT `+storedContractColumns+` FROM contracts WHERE merchant_id = $1 AND channel = $2`, merchantID, channel))
	if err != nil {
		return sc, fmt.Errorf("reading merchant %s's %s contract: %w", merchantID, channel, err)
	}
	return sc, nil
}

// ContractUpdate replaces a contract's state and data, and its time of
// last change with c.Updated; ErrNoRows when there is no such contract.
func (e Executor) ContractUpdate(ctx context.Context, c contract.Contract) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("contract %s: %w", c.ID, err)
	}
	if err := affected(e.q.ExecContext(ctx, `UPDATE contracts SET state = $2, updated_at = $3, data = $4 WHERE id = $1`, c.ID, c.State, Micros(c.Updated), string(data))); err != nil {
		return fmt.Errorf("updating contract %s: %w", c.ID, err)
	}
	return nil
}

// ContractCampaignSet records campaignID as the campaign that invited a
// contract's merchant; ErrNoRows when there is no such contract.
func (e Executor) ContractCampaignSet(ctx context.Context, id, campaignID string) error {
	if err := affected(e.q.ExecContext(ctx, `UPDATE contracts SET campaign_id = $2 WHERE id = $1`, id, campaignID)); err != nil {
		return fmt.Errorf("setting contract %s's campaign: %w", id, err)
	}
	return nil
}

// ContractFilter selects contracts; an empty field selects any, and
// States any of those it lists.
type ContractFilter struct {
	MerchantID string
	Channel    string
	CampaignID string
	States     []string
}

// ContractList reads the contracts f selects, the latest changed first.
func (e Executor) ContractList(ctx context.Context, f ContractFilter) ([]StoredContract, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, c := range []struct{ col, v string }{{"merchant_id", f.MerchantID}, {"channel", f.Channel}, {"campaign_id", f.CampaignID}} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(c.v))
		}
	}
	if len(f.States) > 0 {
		in := make([]string, len(f.States))
		for i, s := range f.States {
			in[i] = arg(s)
		}
		where = append(where, "state IN ("+strings.Join(in, ", ")+")")
	}
	query := `SELECT ` + storedContractColumns + ` FROM contracts`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	list, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (StoredContract, error) { return scanStoredContract(rows) }, query+` ORDER BY updated_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing contracts: %w", err)
	}
	return list, nil
}

// ContractTransitionInsert records a contract's change as the one after
// its latest.
func (e Executor) ContractTransitionInsert(ctx context.Context, t contract.Transition) error {
	var seq int
	if err := e.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM contract_transitions WHERE contract_id = $1`, t.ContractID).Scan(&seq); err != nil {
		return fmt.Errorf("numbering contract %s's next transition: %w", t.ContractID, err)
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO contract_transitions (contract_id, seq, from_state, to_state, action, actor, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.ContractID, seq, t.From, t.To, t.Action, t.Actor, t.Reason, Micros(t.At)); err != nil {
		return fmt.Errorf("storing contract %s's transition %d: %w", t.ContractID, seq, err)
	}
	return nil
}

// ContractTransitionList reads a contract's changes, oldest first.
func (e Executor) ContractTransitionList(ctx context.Context, contractID string) ([]contract.Transition, error) {
	list, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (contract.Transition, error) {
		t := contract.Transition{ContractID: contractID}
		var at int64
		err := rows.Scan(&t.From, &t.To, &t.Action, &t.Actor, &t.Reason, &at)
		t.At = Time(at)
		return t, err
	}, `SELECT from_state, to_state, action, actor, reason, at FROM contract_transitions WHERE contract_id = $1 ORDER BY seq`, contractID)
	if err != nil {
		return nil, fmt.Errorf("listing contract %s's transitions: %w", contractID, err)
	}
	return list, nil
}

// CampaignInsert stores a new campaign.
func (e Executor) CampaignInsert(ctx context.Context, c campaign.Campaign) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("campaign %s: %w", c.ID, err)
	}
	if _, err := e.q.ExecContext(ctx, `INSERT INTO campaigns (id, channel, deadline, created_at, data) VALUES ($1, $2, $3, $4, $5)`,
		c.ID, c.Channel, Micros(c.Deadline), Micros(c.Created), string(data)); err != nil {
		return fmt.Errorf("storing campaign %s: %w", c.ID, err)
	}
	return nil
}

// CampaignGet reads a campaign; ErrNoRows when there is none.
func (e Executor) CampaignGet(ctx context.Context, id string) (campaign.Campaign, error) {
	var c campaign.Campaign
	var data string
	if err := e.q.QueryRowContext(ctx, `SELECT data FROM campaigns WHERE id = $1`, id).Scan(&data); err != nil {
		return c, fmt.Errorf("reading campaign %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return c, fmt.Errorf("stored campaign %s does not decode: %w", id, err)
	}
	return c, nil
}

// CampaignList reads every campaign, newest first.
func (e Executor) CampaignList(ctx context.Context) ([]campaign.Campaign, error) {
	list, err := QueryJSON[campaign.Campaign](ctx, e.q, `SELECT data FROM campaigns ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("listing campaigns: %w", err)
	}
	return list, nil
}

// CampaignMemberList reads the contracts a campaign invited, each with its
// merchant's name and profile, by merchant id; their Transitions are left
// for the caller to read.
func (e Executor) CampaignMemberList(ctx context.Context, campaignID string) ([]campaign.Member, error) {
	list, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (m campaign.Member, err error) {
		return m, rows.Scan(&m.ContractID, &m.MerchantID, &m.State, &m.MerchantName, &m.Category, &m.RegionCode)
	}, `SELECT c.id, c.merchant_id, c.state, m.name, m.category, m.region_code FROM contracts c JOIN merchants m ON m.id = c.merchant_id
		WHERE c.campaign_id = $1 ORDER BY c.merchant_id`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("listing campaign %s's merchants: %w", campaignID, err)
	}
	return list, nil
}
