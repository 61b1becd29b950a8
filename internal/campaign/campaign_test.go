package campaign

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/payment"
)

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	var d Duration
	if err := json.Unmarshal([]byte(`"72h"`), &d); err != nil || time.Duration(d) != 72*time.Hour {
		t.Fatalf(`"72h" = %v, %v`, time.Duration(d), err)
	}
	if b, err := json.Marshal(d); err != nil || string(b) != `"72h0m0s"` {
		t.Errorf("72h marshals as %s, %v", b, err)
	}
	for _, bad := range []string{`72`, `"-1h"`, `"three days"`, `null`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s read as %v, want refused", bad, time.Duration(d))
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC)
	ok := Campaign{Channel: "wechatpay", Name: "开通微信支付", Deadline: now.Add(time.Hour), RemindEvery: Duration(time.Minute), Filter: Filter{Region: "3413"}}
	if err := ok.Check(now); err != nil {
		t.Fatal(err)
	}
	for param, change := range map[string]func(*Campaign){
		"deadline":      func(c *Campaign) { c.Deadline = now },
		"name":          func(c *Campaign) { c.Name = string(make([]byte, 101)) },
		"remind_every":  func(c *Campaign) { c.RemindEvery = Duration(59 * time.Second) },
		"filter.region": func(c *Campaign) { c.Filter.Region = "34a" },
	} {
		c := ok
		change(&c)
		var fe *payment.FieldError
		if err := c.Check(now); !errors.As(err, &fe) || fe.Param != param {
			t.Errorf("%s: %v, want a field error on it", param, err)
		}
	}
}

// TestMeasure: a campaign ten days in, with one merchant made active in
// two days of steps: the pace, the projection, and who is at risk at the
// observed time per step.
func TestMeasure(t *testing.T) {
	t.Parallel()
	created := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	c := Campaign{ID: "cmp_1", Created: created, Deadline: created.Add(12 * day)}
	tr := func(action string, at time.Duration) contract.Transition {
		return contract.Transition{Action: action, At: created.Add(at)}
	}
	members := []Member{
		{ContractID: "ct_a", MerchantID: "m_a", State: contract.Active, Category: "grocery", RegionCode: "341322",
			Transitions: []contract.Transition{tr(contract.ActInvite, 0), tr(contract.ActSign, day/2), tr(contract.ActSubmit, day), tr(contract.ActApprove, 2*day)}},
		{ContractID: "ct_b", MerchantID: "m_b", State: contract.Invited, RegionCode: "3",
			Transitions: []contract.Transition{tr(contract.ActInvite, 0)}},
		{ContractID: "ct_c", MerchantID: "m_c", State: contract.Submitted, Category: "grocery", RegionCode: "310101",
			Transitions: []contract.Transition{tr(contract.ActInvite, 0), tr(contract.ActSign, day), tr(contract.ActSubmit, 9*day)}},
	}
	now := created.Add(10 * day)
	p := Measure(c, members, now)
	if p.Total != 3 || p.Active != 1 || p.ByState[contract.Invited] != 1 || p.ByCategory["(none)"][contract.Invited] != 1 ||
		p.ByCategory["grocery"][contract.Active] != 1 || p.ByRegion["(none)"][contract.Invited] != 1 || p.ByRegion["34"][contract.Active] != 1 {
		t.Errorf("counts %+v", p)
	}
	if p.PacePerDay != 0.1 || !p.ProjectedDone.Equal(now.Add(20*day)) {
		t.Errorf("pace %v, projected %v; want 0.1 a day, done in 20 days", p.PacePerDay, p.ProjectedDone)
	}
	// Observed: sign (0.5 d + 1 d)/2 = 0.75 d, submit (0.5 d + 8 d)/2 =
	// 4.25 d, review 1 d. m_b needs 6 days and misses the deadline in two;
	// m_c needs one and makes it.
	if len(p.AtRisk) != 1 || p.AtRisk[0].MerchantID != "m_b" || !p.AtRisk[0].Expected.Equal(now.Add(6*day)) {
		t.Errorf("at risk %+v; want m_b, expected in 6 days", p.AtRisk)
	}
}
