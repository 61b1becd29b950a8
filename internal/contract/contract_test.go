package contract

import (
	"errors"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var now = time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)

func sig(v int) *Signature {
	return &Signature{Version: v, TextHash: strings.Repeat("a", 64), Signer: "王经理", IP: "203.0.113.7", At: now}
}

func TestHappyPath(t *testing.T) {
	c := Contract{ID: "ct_1", State: NotInvited}
	steps := []Action{
		{Kind: ActInvite, Current: 1},
		{Kind: ActSign, Sign: sig(1), Current: 1},
		{Kind: ActSubmit, Current: 1},
		{Kind: ActReject, Reason: "营业执照照片不清晰", Current: 1},
		{Kind: ActResubmit, Current: 1},
		{Kind: ActApprove, Current: 1},
		{Kind: ActSuspend, Reason: "风控", Current: 1},
		{Kind: ActResume, Current: 1},
	}
	want := []string{Invited, Signed, Submitted, Rejected, Submitted, Active, Suspended, Active}
	for i, a := range steps {
		var tr Transition
		var err error
		c, tr, err = Apply(c, a, now)
		if err != nil || c.State != want[i] || tr.To != want[i] || tr.Action != a.Kind {
			t.Fatalf("step %d %s: %v, state %s", i, a.Kind, err, c.State)
		}
	}
	if !c.Payable(1) || c.Payable(2) {
		t.Fatal("payable under the signed version only")
	}
	// New terms: back to invited, not payable until signed again.
	c, _, _ = Apply(c, Action{Kind: ActNewTerms, Current: 2}, now)
	if c.State != Invited || c.Payable(2) {
		t.Fatalf("after new terms: %s", c.State)
	}
}

func TestRefusals(t *testing.T) {
	signedOld := Contract{State: Signed, Signature: sig(1)}
	if _, _, err := Apply(signedOld, Action{Kind: ActSubmit, Current: 2}, now); !errors.Is(err, ErrUnsigned) {
		t.Errorf("submitting under an old signature: %v", err)
	}
	if _, _, err := Apply(Contract{State: Invited}, Action{Kind: ActSign, Sign: sig(1), Current: 2}, now); !errors.Is(err, ErrUnsigned) {
		t.Errorf("signing an old version: %v", err)
	}
	if _, _, err := Apply(Contract{State: Invited}, Action{Kind: ActApprove, Current: 1}, now); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("approving an invitation: %v", err)
	}
	if _, _, err := Apply(Contract{State: Invited}, Action{Kind: "dance"}, now); err == nil {
		t.Error("an unknown action passed")
	}
}

// TestNoActiveWithoutCurrentSignature: whatever happens, in whatever order,
// a contract is active only with a signature of the current agreement.
func TestNoActiveWithoutCurrentSignature(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := Contract{State: NotInvited}
		current := 1
		kinds := []string{ActInvite, ActSign, ActSubmit, ActApprove, ActReject, ActResubmit, ActSuspend, ActResume, ActNewTerms, ActTerminate}
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			a := Action{Kind: rapid.SampledFrom(kinds).Draw(t, "kind"), Current: current}
			if a.Kind == ActNewTerms {
				current++
				a.Current = current
			}
			if a.Kind == ActSign {
				a.Sign = sig(rapid.IntRange(1, current).Draw(t, "version"))
			}
			n, tr, err := Apply(c, a, now)
			if err != nil {
				if n.State != c.State {
					t.Fatalf("a refused %s changed the state", a.Kind)
				}
				continue
			}
			if tr.From != c.State || tr.To != n.State {
				t.Fatalf("transition %+v does not record %s → %s", tr, c.State, n.State)
			}
			c = n
			if c.State == Active && !c.SignedCurrent(current) {
				t.Fatalf("active without a signature of version %d: %+v", current, c.Signature)
			}
		}
	})
}
