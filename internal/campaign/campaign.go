// Package campaign is a signing campaign's data and arithmetic, with no
// I/O: which merchants a campaign invites to a channel (Filter), by when,
// how often those not yet active are reminded, and where it stands
// (Measure): merchants by state, category and province, the pace so far,
// and who will miss the deadline at that pace. Package onboarding runs
// campaigns; the store keeps them.
package campaign

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/payment"
)

// Campaign invites merchants (all, or those a filter picks) to a channel
// with a deadline, reminds those not yet active, and reports progress.
type Campaign struct {
	ID       string    `json:"id"`
	Channel  string    `json:"channel"`
	Name     string    `json:"name"`
	Filter   Filter    `json:"filter"`
	Deadline time.Time `json:"deadline"`
	// RemindEvery is how often merchants not yet active are reminded
	// (event contract.reminder, delivered as a webhook); 0 for never.
	RemindEvery Duration  `json:"remind_every,omitempty"`
	Invited     int       `json:"invited"`
	CreatedBy   string    `json:"created_by"`
	Created     time.Time `json:"created"`
}

// Check refuses what a new campaign must not be, as of now: a deadline
// passed, a long name, reminders more often than a minute, a region that
// is no prefix of a region code.
func (c Campaign) Check(now time.Time) error {
	switch {
	case !c.Deadline.After(now):
		return &payment.FieldError{Param: "deadline", Message: "must be in the future"}
	case len(c.Name) > 100:
		return &payment.FieldError{Param: "name", Message: "must be at most 100 bytes"}
	case c.RemindEvery != 0 && time.Duration(c.RemindEvery) < time.Minute:
		return &payment.FieldError{Param: "remind_every", Message: "must be at least 1m"}
	case strings.Trim(c.Filter.Region, "0123456789") != "" || len(c.Filter.Region) > 6:
		return &payment.FieldError{Param: "filter.region", Message: "must be a prefix of a 6-digit region code"}
	}
	return nil
}

// Duration is a time.Duration written as "72h" in JSON.
type Duration time.Duration

// MarshalJSON writes d as time.Duration's String does ("72h0m0s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a non-negative duration as time.ParseDuration does
// ("72h", "90m").
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

// Filter picks merchants; empty fields match all.
type Filter struct {
	Category string `json:"category,omitempty"`
	// Region matches a merchant's region code by prefix: "13" a province,
	// "1306" a prefecture, a full code one county.
	Region string `json:"region,omitempty"`
	Size   string `json:"size,omitempty"` // small, medium, large
}

// Member is one contract a campaign invited, with what progress groups
// its merchant by.
type Member struct {
	ContractID   string
	MerchantID   string
	State        string // the contract's
	MerchantName string
	Category     string
	RegionCode   string
	// Transitions are the contract's recorded changes, oldest first.
	Transitions []contract.Transition
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

// Measure reports, at now, the progress of campaign c over its members
// (in the order given) and who among them is at risk, latest first.
func Measure(c Campaign, members []Member, now time.Time) Progress {
	p := Progress{Campaign: c, ByState: map[string]int{}, ByCategory: map[string]map[string]int{}, ByRegion: map[string]map[string]int{}, AtRisk: []AtRisk{}}
	// Observed time per step: from the contract's previous change to the
	// transition that completed it, averaged over the campaign.
	stepTotal, stepCount := map[string]time.Duration{}, map[string]int{}
	for _, m := range members {
		prev := c.Created
		for _, t := range m.Transitions {
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
	for _, m := range members {
		p.Total++
		p.ByState[m.State]++
		cat := m.Category
		if cat == "" {
			cat = "(none)"
		}
		reg := "(none)"
		if len(m.RegionCode) >= 2 {
			reg = m.RegionCode[:2]
		}
		for by, k := range map[*map[string]map[string]int]string{&p.ByCategory: cat, &p.ByRegion: reg} {
			if (*by)[k] == nil {
				(*by)[k] = map[string]int{}
			}
			(*by)[k][m.State]++
		}
		if m.State == contract.Active {
			p.Active++
			continue
		}
		var left time.Duration
		for _, st := range stepsFrom[m.State] {
			left += perStep(st)
		}
		if exp := now.Add(left); exp.After(c.Deadline) {
			p.AtRisk = append(p.AtRisk, AtRisk{MerchantID: m.MerchantID, Name: m.MerchantName, ContractID: m.ContractID, State: m.State, Expected: exp})
		}
	}
	sort.SliceStable(p.AtRisk, func(i, j int) bool { return p.AtRisk[i].Expected.After(p.AtRisk[j].Expected) })
	if days := elapsed.Hours() / 24; p.Active > 0 && days > 0 {
		p.PacePerDay = float64(p.Active) / days
		p.ProjectedDone = now.Add(time.Duration(float64(p.Total-p.Active) / p.PacePerDay * float64(24*time.Hour)))
	}
	return p
}
