package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Campaign invites merchants (all, or those a filter picks) to a channel
// with a deadline, reminds those not yet active, and reports progress.
type Campaign struct {
	ID       string         `json:"id"`
	Channel  string         `json:"channel"`
	Name     string         `json:"name"`
	Filter   CampaignFilter `json:"filter"`
	Deadline time.Time      `json:"deadline"`
	// RemindEvery is how often merchants not yet active are reminded
	// (event contract.reminder, delivered as a webhook); 0 for never.
	RemindEvery Duration  `json:"remind_every,omitempty"`
	Invited     int       `json:"invited"`
	CreatedBy   string    `json:"created_by"`
	Created     time.Time `json:"created"`
}

// Duration is a time.Duration written as "72h" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`must be a duration like "72h"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return errors.New(`must be a duration like "72h"`)
	}
	*d = Duration(v)
	return nil
}

// CampaignFilter picks merchants; empty fields match all.
type CampaignFilter struct {
	Category string `json:"category,omitempty"`
	// Region matches a merchant's region code by prefix: "13" a province,
	// "1306" a prefecture, a full code one county.
	Region string `json:"region,omitempty"`
	Size   string `json:"size,omitempty"` // small, medium, large
}

// CreateCampaign invites every merchant the filter picks and schedules
// reminders.
func (s *Service) CreateCampaign(ctx context.Context, c Campaign) (Campaign, error) {
	if err := s.channelKnown(c.Channel); err != nil {
		return c, err
	}
	now := s.now()
	switch {
	case !c.Deadline.After(now):
		return c, &payment.FieldError{Param: "deadline", Message: "must be in the future"}
	case len(c.Name) > 100:
		return c, &payment.FieldError{Param: "name", Message: "must be at most 100 bytes"}
	case c.RemindEvery != 0 && time.Duration(c.RemindEvery) < time.Minute:
		return c, &payment.FieldError{Param: "remind_every", Message: "must be at least 1m"}
	case strings.Trim(c.Filter.Region, "0123456789") != "" || len(c.Filter.Region) > 6:
		return c, &payment.FieldError{Param: "filter.region", Message: "must be a prefix of a 6-digit region code"}
	}
	if _, err := s.CurrentAgreement(ctx, s.DB, c.Channel); err != nil {
		return c, &payment.FieldError{Param: "channel", Message: "publish the channel's agreement (POST /v1/agreements) before inviting merchants to sign it"}
	}
	c.ID, c.Created = payment.NewID("cmp"), now
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		merchants, err := store.QueryStrings(ctx, tx, `SELECT id FROM merchants WHERE ($1 = '' OR category = $1) AND ($2 = '' OR region_code LIKE $2 || '%') AND ($3 = '' OR size = $3) ORDER BY id`,
			c.Filter.Category, c.Filter.Region, c.Filter.Size)
		if err != nil {
			return err
		}
		for _, m := range merchants {
			id, err := s.ensureContract(ctx, tx, m, c.Channel, c.ID)
			if err != nil {
				return err
			}
			cur, _, _, err := s.loadContract(ctx, tx, id, false)
			if err != nil {
				return err
			}
			if cur.State == contract.NotInvited {
				if _, err := s.act(ctx, tx, id, contract.Action{Kind: contract.ActInvite, Actor: c.CreatedBy, Reason: "campaign " + c.ID}); err != nil {
					return err
				}
			}
			c.Invited++
		}
		data, _ := json.Marshal(c)
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaigns (id, channel, deadline, created_at, data) VALUES ($1, $2, $3, $4, $5)`,
			c.ID, c.Channel, store.Micros(c.Deadline), store.Micros(now), string(data)); err != nil {
			return err
		}
		if c.RemindEvery > 0 {
			_, err = jobs.Enqueue(ctx, tx, jobs.New{Kind: KindCampaignRemind, Payload: ref{c.ID}, RunAt: now.Add(time.Duration(c.RemindEvery))}, now)
		}
		return err
	})
	if err == nil {
		s.kick()
	}
	return c, err
}

// GetCampaign reads a campaign.
func (s *Service) GetCampaign(ctx context.Context, id string) (Campaign, error) {
	var data string
	err := s.DB.QueryRowContext(ctx, `SELECT data FROM campaigns WHERE id = $1`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, notFound("campaign", id, "")
	}
	var c Campaign
	if err == nil {
		err = json.Unmarshal([]byte(data), &c)
	}
	return c, err
}

// ListCampaigns lists campaigns, newest first.
func (s *Service) ListCampaigns(ctx context.Context) ([]Campaign, error) {
	ids, err := store.QueryStrings(ctx, s.DB, `SELECT id FROM campaigns ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	out := []Campaign{}
	for _, id := range ids {
		c, err := s.GetCampaign(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// RemindCampaign reminds the campaign's merchants that are not active yet
// (a job), and comes back until the deadline.
func (s *Service) RemindCampaign(ctx context.Context, j jobs.Job) error {
	var r ref
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	c, err := s.GetCampaign(ctx, r.ID)
	if err != nil {
		return nil
	}
	now := s.now()
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		type pending struct{ id, merchant, state string }
		list, err := store.QueryAll(ctx, tx, func(rows *sql.Rows) (p pending, err error) { return p, rows.Scan(&p.id, &p.merchant, &p.state) }, `SELECT id, merchant_id, state FROM contracts WHERE campaign_id = $1 AND state <> 'active'`, c.ID)
		if err != nil {
			return err
		}
		for _, p := range list {
			if err := s.events().Publish(ctx, tx, p.merchant, EventContractReminder, p.id, map[string]any{
				"contract_id": p.id, "campaign_id": c.ID, "channel": c.Channel, "state": p.state, "deadline": c.Deadline,
				"sign_url": s.signURLOf(ctx, tx, p.id),
			}); err != nil {
				return err
			}
		}
		if next := now.Add(time.Duration(c.RemindEvery)); len(list) > 0 && next.Before(c.Deadline) {
			_, err = jobs.Enqueue(ctx, tx, jobs.New{Kind: KindCampaignRemind, Payload: ref{c.ID}, RunAt: next}, now)
		}
		return err
	})
}

// Progress is where a campaign stands.
type Progress struct {
	Campaign   Campaign                  `json:"campaign"`
	ByState    map[string]int            `json:"by_state"`
	ByCategory map[string]map[string]int `json:"by_category"`
	ByRegion   map[string]map[string]int `json:"by_region"` // by province (first two digits)
	Active     int                       `json:"active"`
	Total      int                       `json:"total"`
	// Pace is merchants made active per day since the campaign began, and
	// ProjectedDone when all would be at that pace (zero if none yet).
	PacePerDay    float64   `json:"pace_per_day"`
	ProjectedDone time.Time `json:"projected_done,omitzero"`
	// AtRisk lists the merchants who will miss the deadline at the
	// current pace: each one's remaining steps at the campaign's observed
	// time per step.
	AtRisk []AtRisk `json:"at_risk"`
}

// AtRisk is a merchant expected to miss the deadline.
type AtRisk struct {
	MerchantID string    `json:"merchant_id"`
	Name       string    `json:"name"`
	ContractID string    `json:"contract_id"`
	State      string    `json:"state"`
	Expected   time.Time `json:"expected_active"`
}

// steps to active from each state, in order.
var stepsFrom = map[string][]string{
	contract.NotInvited: {"invite", "sign", "submit", "review"},
	contract.Invited:    {"sign", "submit", "review"},
	contract.Signed:     {"submit", "review"},
	contract.Submitted:  {"review"},
	contract.Rejected:   {"submit", "review"},
	contract.Suspended:  {"resume"},
}

// stepOf names the step a transition completes.
func stepOf(action string) string {
	switch action {
	case contract.ActInvite:
		return "invite"
	case contract.ActSign:
		return "sign"
	case contract.ActSubmit, contract.ActResubmit:
		return "submit"
	case contract.ActApprove, contract.ActReject:
		return "review"
	case contract.ActResume:
		return "resume"
	}
	return ""
}

// CampaignProgress reports a campaign's progress and who is at risk.
func (s *Service) CampaignProgress(ctx context.Context, id string) (Progress, error) {
	c, err := s.GetCampaign(ctx, id)
	if err != nil {
		return Progress{}, err
	}
	now := s.now()
	p := Progress{Campaign: c, ByState: map[string]int{}, ByCategory: map[string]map[string]int{}, ByRegion: map[string]map[string]int{}, AtRisk: []AtRisk{}}
	type row struct{ id, merchant, state, name, category, region string }
	all, err := store.QueryAll(ctx, s.DB, func(rows *sql.Rows) (r row, err error) {
		return r, rows.Scan(&r.id, &r.merchant, &r.state, &r.name, &r.category, &r.region)
	}, `SELECT c.id, c.merchant_id, c.state, m.name, m.category, m.region_code FROM contracts c JOIN merchants m ON m.id = c.merchant_id
		WHERE c.campaign_id = $1 ORDER BY c.merchant_id`, id)
	if err != nil {
		return Progress{}, err
	}
	// Observed time per step: from the contract's previous change to the
	// transition that completed it, averaged over the campaign.
	stepTotal, stepCount := map[string]time.Duration{}, map[string]int{}
	for _, r := range all {
		trs, err := s.Transitions(ctx, r.id)
		if err != nil {
			return p, err
		}
		prev := c.Created
		for _, t := range trs {
			if st := stepOf(t.Action); st != "" && !t.At.Before(c.Created) {
				stepTotal[st] += t.At.Sub(prev)
				stepCount[st]++
			}
			if t.At.After(prev) {
				prev = t.At
			}
		}
	}
	elapsed := now.Sub(c.Created)
	perStep := func(st string) time.Duration {
		if stepCount[st] > 0 {
			return stepTotal[st] / time.Duration(stepCount[st])
		}
		// Nobody has done this step yet: it takes at least as long as the
		// campaign has run so far (a day at the least).
		return max(elapsed, 24*time.Hour)
	}
	for _, r := range all {
		p.Total++
		p.ByState[r.state]++
		cat := r.category
		if cat == "" {
			cat = "(none)"
		}
		reg := "(none)"
		if len(r.region) >= 2 {
			reg = r.region[:2]
		}
		for m, k := range map[*map[string]map[string]int]string{&p.ByCategory: cat, &p.ByRegion: reg} {
			if (*m)[k] == nil {
				(*m)[k] = map[string]int{}
			}
			(*m)[k][r.state]++
		}
		if r.state == contract.Active {
			p.Active++
			continue
		}
		var left time.Duration
		for _, st := range stepsFrom[r.state] {
			left += perStep(st)
		}
		if exp := now.Add(left); exp.After(c.Deadline) {
			p.AtRisk = append(p.AtRisk, AtRisk{MerchantID: r.merchant, Name: r.name, ContractID: r.id, State: r.state, Expected: exp})
		}
	}
	sort.Slice(p.AtRisk, func(i, j int) bool { return p.AtRisk[i].Expected.After(p.AtRisk[j].Expected) })
	if days := elapsed.Hours() / 24; p.Active > 0 && days > 0 {
		p.PacePerDay = float64(p.Active) / days
		p.ProjectedDone = now.Add(time.Duration(float64(p.Total-p.Active) / p.PacePerDay * float64(24*time.Hour)))
	}
	return p, nil
}
