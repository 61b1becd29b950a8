package onboarding

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/audit"
	"github.com/hutong-pay/hutong/internal/campaign"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/jobs"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// CreateCampaign invites every merchant the filter picks and schedules
// reminders.
func (s *Service) CreateCampaign(ctx context.Context, c campaign.Campaign) (campaign.Campaign, error) {
	if err := s.channelKnown(c.Channel); err != nil {
		return c, err
	}
	now := s.now()
	if err := c.Check(now); err != nil {
		return c, err
	}
	if _, err := s.CurrentAgreement(ctx, c.Channel); err != nil {
		return c, &payment.FieldError{Param: "channel", Message: "publish the channel's agreement (POST /v1/agreements) before inviting merchants to sign it"}
	}
	c.ID, c.Created = payment.NewID("cmp"), now
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		e := s.DB.In(tx)
		picked, err := e.MerchantIDsWhere(ctx, store.MerchantFilter{Category: c.Filter.Category, RegionCode: c.Filter.Region, Size: c.Filter.Size})
		if err != nil {
			return err
		}
		for _, m := range picked {
			id, err := s.ensureContract(ctx, e, m, c.Channel, c.ID)
			if err != nil {
				return err
			}
			cur, err := loadContract(ctx, e, id, false)
			if err != nil {
				return err
			}
			if cur.Contract.State == contract.NotInvited {
				if _, err := s.act(ctx, tx, id, contract.Action{Kind: contract.ActInvite, Actor: c.CreatedBy, Reason: "campaign " + c.ID}); err != nil {
					return err
				}
			}
			c.Invited++
		}
		if err := e.CampaignInsert(ctx, c); err != nil {
			return err
		}
		if c.RemindEvery > 0 {
			_, err = jobs.Enqueue(ctx, tx, jobs.New{Kind: KindCampaignRemind, Payload: ref{c.ID}, RunAt: now.Add(time.Duration(c.RemindEvery))}, now)
		}
		return err
	})
	if err == nil {
		s.wake()
	}
	return c, err
}

// GetCampaign reads a campaign; an unknown one is a notfound.Error.
func (s *Service) GetCampaign(ctx context.Context, id string) (campaign.Campaign, error) {
	c, err := s.DB.Pool().CampaignGet(ctx, id)
	if errors.Is(err, store.ErrNoRows) {
		return c, notfound.ByID("campaign", id, "")
	}
	return c, err
}

// ListCampaigns lists campaigns, newest first.
func (s *Service) ListCampaigns(ctx context.Context) ([]campaign.Campaign, error) {
	return s.DB.Pool().CampaignList(ctx)
}

// RemindCampaign reminds the campaign's merchants that are not active yet
// (a job), and comes back until the deadline.
func (s *Service) RemindCampaign(ctx context.Context, j jobs.Job) error {
	var r ref
	if err := json.Unmarshal(j.Payload, &r); err != nil {
		return fmt.Errorf("%s job payload: %w", j.Kind, err)
	}
	c, err := s.GetCampaign(ctx, r.ID)
	if errors.Is(err, notfound.Err) {
		return nil // the campaign is gone: no one to remind
	}
	if err != nil {
		return err
	}
	now := s.now()
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		reminded, err := s.remind(ctx, tx, c)
		if err != nil {
			return err
		}
		if next := now.Add(time.Duration(c.RemindEvery)); reminded > 0 && next.Before(c.Deadline) {
			_, err = jobs.Enqueue(ctx, tx, jobs.New{Kind: KindCampaignRemind, Payload: ref{c.ID}, RunAt: next}, now)
		}
		return err
	})
}

// RemindNow reminds the campaign's merchants that are not active yet, at
// once (an operator chasing the deadline), and says how many. The
// scheduled reminders carry on as they were: this one queues no next.
func (s *Service) RemindNow(ctx context.Context, id string) (int, error) {
	c, err := s.GetCampaign(ctx, id)
	if err != nil {
		return 0, err
	}
	var reminded int
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if reminded, err = s.remind(ctx, tx, c); err != nil {
			return err
		}
		return audit.Record(ctx, tx, reminded) // an operator's reminder commits with its audit record
	})
	if err == nil && reminded > 0 {
		s.wake() // the reminders' webhooks are due now
	}
	return reminded, err
}

// remind publishes contract.reminder, with the signing link, for each of
// the campaign's merchants not active yet, in tx.
func (s *Service) remind(ctx context.Context, tx *sql.Tx, c campaign.Campaign) (int, error) {
	invited, err := s.DB.In(tx).ContractList(ctx, store.ContractFilter{CampaignID: c.ID})
	if err != nil {
		return 0, err
	}
	reminded := 0
	for _, sc := range invited {
		if sc.Contract.State == contract.Active {
			continue
		}
		id := sc.Contract.ID
		if err := s.Events.Publish(ctx, tx, sc.Contract.MerchantID, EventContractReminder, id, map[string]any{
			"contract_id": id, "campaign_id": c.ID, "channel": c.Channel, "state": sc.Contract.State, "deadline": c.Deadline,
			"sign_url": s.signURL(id, sc.SignToken),
		}); err != nil {
			return reminded, err
		}
		reminded++
	}
	return reminded, nil
}

// CampaignProgress reports a campaign's progress and who is at risk
// (campaign.Measure).
func (s *Service) CampaignProgress(ctx context.Context, id string) (campaign.Progress, error) {
	c, err := s.GetCampaign(ctx, id)
	if err != nil {
		return campaign.Progress{}, err
	}
	e := s.DB.Pool()
	members, err := e.CampaignMemberList(ctx, id)
	if err != nil {
		return campaign.Progress{}, err
	}
	for i := range members {
		if members[i].Transitions, err = e.ContractTransitionList(ctx, members[i].ContractID); err != nil {
			return campaign.Progress{}, err
		}
	}
	return campaign.Measure(c, members, s.now()), nil
}
