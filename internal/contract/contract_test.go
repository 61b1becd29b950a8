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

// TestRefusalsSayWhatToDo: a refusal names the contract, its state and the
// state the action needs, in plain words.
func TestRefusalsSayWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		c    Contract
		a    Action
		want string
	}{
		{Contract{ID: "ct_1", State: Active, Signature: sig(1)}, Action{Kind: ActSubmit, Current: 1}, "contract ct_1 is active; only a signed contract (or a rejected one, to resubmit) can be submitted"},
		{Contract{ID: "ct_1", State: Invited}, Action{Kind: ActSuspend, Current: 1}, "contract ct_1 is invited; only an active contract can be suspended"},
		{Contract{ID: "ct_1", State: Active, Signature: sig(1)}, Action{Kind: ActResume, Current: 1}, "contract ct_1 is active; only a suspended contract can be resumed"},
		{Contract{ID: "ct_1", State: Signed, Signature: sig(1)}, Action{Kind: ActSubmit, Current: 2},
			"contract ct_1 is signed, signed under agreement version 1, but version 2 is current; the merchant must sign version 2 (its sign_url) before it can be submitted"},
		{Contract{ID: "ct_1", State: Suspended}, Action{Kind: ActResume, Current: 3}, "contract ct_1 is suspended but has no signature; the merchant must sign agreement version 3"},
	} {
		_, _, err := Apply(tc.c, tc.a, now)
		var se *StateError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tc.want) || se.State != tc.c.State || se.Contract != "ct_1" {
			t.Errorf("%s of a %s contract: %v, want %q", tc.a.Kind, tc.c.State, err, tc.want)
		}
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
