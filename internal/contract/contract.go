// Package contract is the state machine of a merchant's contract for one
// wallet channel: invited to the new wallet, signed the platform's
// agreement, submitted to the wallet's onboarding, active (payable), or
// rejected by the wallet with its reason and resubmitted, and suspended.
// It does no I/O: package onboarding loads a contract, asks Apply what an
// action does, and stores the contract and the transition in one
// transaction. Agreement is the text a signature covers.
//
// The rule that matters: a contract is active only while its merchant has
// signed the current version of the channel's agreement. A new version
// that requires re-signing sends signed, submitted and active contracts
// back to invited (an active one stops being payable until re-signed).
package contract

import (
	"errors"
	"fmt"
	"time"
)

// States.
const (
	NotInvited = "not_invited"
	Invited    = "invited"
	Signed     = "signed"
	Submitted  = "submitted" // at the wallet's onboarding, under review
	Active     = "active"    // payable
	Rejected   = "rejected"  // the wallet said no (or needs more information), with its reason
	Suspended  = "suspended" // hidden from checkouts; payments under way complete
)

// Actions.
const (
	ActInvite    = "invite"
	ActSign      = "sign"
	ActSubmit    = "submit"
	ActApprove   = "approve" // the wallet's review passed
	ActReject    = "reject"  // the wallet's review failed
	ActResubmit  = "resubmit"
	ActSuspend   = "suspend"
	ActResume    = "resume"
	ActNewTerms  = "new_terms" // a new agreement version that requires re-signing
	ActTerminate = "terminate"
)

// Contract is one merchant × channel.
type Contract struct {
	ID         string `json:"id"`
	MerchantID string `json:"merchant_id"`
	Channel    string `json:"channel"`
	State      string `json:"state"`
	// Signature is the merchant's latest signature; SignedVersion is the
	// agreement version it covers.
	Signature *Signature `json:"signature,omitempty"`
	// Reason is the wallet's word on a rejection, or why it was suspended.
	Reason string `json:"reason,omitempty"`
	// Onboarding is the wallet's reference (business_code) and, once
	// active, the wallet merchant it names (sub_mchid, app_auth_token).
	OnboardingRef string    `json:"onboarding_ref,omitempty"`
	SubMerchant   string    `json:"sub_merchant,omitempty"`
	Seller        string    `json:"seller,omitempty"` // Alipay: the authorizing merchant's user id
	WalletState   string    `json:"wallet_state,omitempty"`
	Updated       time.Time `json:"updated"`
	Created       time.Time `json:"created"`
}

// Signature records who signed which text, when and from where.
type Signature struct {
	Version  int       `json:"agreement_version"`
	TextHash string    `json:"text_sha256"`
	Signer   string    `json:"signer"`
	IP       string    `json:"ip"`
	At       time.Time `json:"at"`
}

// Action is something that happens to a contract.
type Action struct {
	Kind   string
	Actor  string // who: an operator, the merchant's signer, "wallet", "system"
	Reason string
	// Sign carries the signature; Current is the channel's current
	// agreement version, which a signature must cover to count.
	Sign    *Signature
	Current int
}

// Transition is one recorded change.
type Transition struct {
	ContractID string    `json:"contract_id"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Action     string    `json:"action"`
	Actor      string    `json:"actor"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
}

// ErrNotAllowed is an action the contract's state does not allow.
var ErrNotAllowed = errors.New("contract: not allowed in this state")

// ErrUnsigned is a step that needs a signature of the current agreement.
var ErrUnsigned = errors.New("contract: the merchant has not signed the current agreement")

// StateError is a refused action, said in a merchant's and an operator's
// words: the contract, its state, and which state the action needs
// ("contract ct_… is active; only a signed contract can be submitted").
// It is ErrNotAllowed or ErrUnsigned to errors.Is.
type StateError struct {
	Contract, State, Action string
	Message                 string
	Err                     error
}

func (e *StateError) Error() string { return e.Message }
func (e *StateError) Unwrap() error { return e.Err }

// allowedFrom says, for each action, the state it needs, as a sentence.
var allowedFrom = map[string]string{
	ActInvite:    "a merchant is invited once; this contract exists already",
	ActSign:      "only an invited contract can be signed",
	ActSubmit:    "only a signed contract (or a rejected one, to resubmit) can be submitted",
	ActResubmit:  "only a rejected contract can be resubmitted",
	ActApprove:   "only a submitted contract can be approved",
	ActReject:    "only a submitted contract can be rejected",
	ActSuspend:   "only an active contract can be suspended",
	ActResume:    "only a suspended contract can be resumed",
	ActNewTerms:  "only a signed, submitted, active, suspended or rejected contract is sent back to sign new terms",
	ActTerminate: "there is nothing to terminate",
}

// refusal builds the StateError of an action next refused with err.
func refusal(c Contract, a Action, err error) error {
	name := "contract"
	if c.ID != "" {
		name += " " + c.ID
	}
	e := &StateError{Contract: c.ID, State: c.State, Action: a.Kind, Err: err}
	switch {
	case errors.Is(err, ErrNotAllowed):
		e.Message = fmt.Sprintf("%s is %s; %s", name, c.State, allowedFrom[a.Kind])
	case a.Kind == ActSign:
		e.Message = fmt.Sprintf("%s: a signature must cover agreement version %d (the current one), name its signer and carry the SHA-256 of the text signed", name, a.Current)
	case c.Signature == nil:
		e.Message = fmt.Sprintf("%s is %s but has no signature; the merchant must sign agreement version %d (its sign_url) before it can %s", name, c.State, a.Current, verb(a.Kind))
	default:
		e.Message = fmt.Sprintf("%s is %s, signed under agreement version %d, but version %d is current; the merchant must sign version %d (its sign_url) before it can %s",
			name, c.State, c.Signature.Version, a.Current, a.Current, verb(a.Kind))
	}
	return e
}

// verb says what an action does to a contract, after "it can".
func verb(action string) string {
	switch action {
	case ActSubmit, ActResubmit:
		return "be submitted"
	case ActApprove:
		return "be approved"
	case ActResume:
		return "be resumed"
	}
	return action
}

// SignedCurrent reports whether c's signature covers agreement version
// current.
func (c Contract) SignedCurrent(current int) bool {
	return c.Signature != nil && current > 0 && c.Signature.Version == current
}

// Payable reports whether the channel may take c's merchant's payments.
func (c Contract) Payable(current int) bool {
	return c.State == Active && c.SignedCurrent(current)
}

// Apply returns c after a, and the transition to record.
func Apply(c Contract, a Action, now time.Time) (Contract, Transition, error) {
	to, err := next(c, a)
	if errors.Is(err, ErrNotAllowed) || errors.Is(err, ErrUnsigned) {
		return c, Transition{}, refusal(c, a, err)
	}
	if err != nil {
		return c, Transition{}, err
	}
	n := c
	n.State = to
	n.Updated = now
	switch a.Kind {
	case ActSign:
		s := *a.Sign
		n.Signature = &s
		n.Reason = ""
	case ActReject, ActSuspend, ActTerminate:
		n.Reason = a.Reason
	case ActApprove, ActResume, ActSubmit, ActResubmit:
		n.Reason = ""
	case ActNewTerms:
		n.Reason = a.Reason
	}
	return n, Transition{ContractID: c.ID, From: c.State, To: to, Action: a.Kind, Actor: a.Actor, Reason: a.Reason, At: now}, nil
}

func next(c Contract, a Action) (string, error) {
	signed := c.SignedCurrent(a.Current)
	switch a.Kind {
	case ActInvite:
		if c.State == NotInvited {
			return Invited, nil
		}
	case ActSign:
		if a.Sign == nil || a.Sign.Version != a.Current || a.Sign.Signer == "" || len(a.Sign.TextHash) != 64 {
			return "", ErrUnsigned
		}
		if c.State == Invited {
			return Signed, nil
		}
	case ActSubmit:
		if c.State == Signed {
			if !signed {
				return "", ErrUnsigned
			}
			return Submitted, nil
		}
	case ActResubmit:
		if c.State == Rejected {
			if !signed {
				return "", ErrUnsigned
			}
			return Submitted, nil
		}
	case ActApprove:
		if c.State == Submitted {
			if !signed {
				return "", ErrUnsigned
			}
			return Active, nil
		}
	case ActReject:
		if c.State == Submitted {
			return Rejected, nil
		}
	case ActSuspend:
		if c.State == Active {
			return Suspended, nil
		}
	case ActResume:
		if c.State == Suspended {
			if !signed {
				return "", ErrUnsigned
			}
			return Active, nil
		}
	case ActNewTerms:
		switch c.State {
		case Signed, Submitted, Active, Suspended, Rejected:
			return Invited, nil
		}
	case ActTerminate:
		if c.State != NotInvited {
			return NotInvited, nil
		}
	default:
		return "", fmt.Errorf("contract: unknown action %q", a.Kind)
	}
	return "", ErrNotAllowed
}
