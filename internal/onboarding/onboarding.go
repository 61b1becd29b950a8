// Package onboarding signs merchants up for a wallet channel: the
// platform's agreement for each channel (versioned; a version may require
// every merchant to sign again), one contract per merchant and channel,
// taken by package contract's state machine from invited through signed
// (on a page whose link carries the contract's secret token) and submitted
// to the wallet's own onboarding, which the service polls, to active; and
// campaigns that invite many merchants at once, remind them, and measure
// their progress (package campaign).
//
// A contract that becomes active records the wallet merchant it names as
// the merchant's wallet (store.MerchantWalletSet) in the same transaction:
// from then on the merchant's payments on that channel are made under it.
// Payable is what payments ask before taking a merchant's money on a
// channel that requires contracts. Every change of a contract is recorded
// as a transition and published as an event to its merchant, in the
// transaction of the change.
package onboarding

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/clock"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// Service keeps agreements, contracts and campaigns in DB.
type Service struct {
	DB  *store.DB
	Now func() time.Time
	// Wallets are the channels merchants sign contracts for, each with its
	// connector's onboarding, or nil where the connector has none (such a
	// contract is signed but never submitted). A channel absent here has
	// no agreements, contracts or campaigns.
	Wallets map[string]channel.Onboarder
	// ContractsRequired names the channels that take a merchant's payments
	// only under an active contract (the new wallet being opened); the
	// others take every merchant's (Payable).
	ContractsRequired map[string]bool
	// Poll is how often a submitted contract's review is asked about at
	// its wallet; 0 means 30 s.
	Poll time.Duration
	// BaseURL is where merchants reach the signing pages (/sign/…).
	BaseURL string
	// Events publishes contract events to merchants, in the transaction
	// of the change they report. Required.
	Events Publisher
	// Wake, when set, is called after a change that queued jobs, to tell
	// the job worker to look now.
	Wake func()
}

// Publisher is all onboarding asks of the events service: to store an
// event, with its deliveries, in the transaction of the change it reports
// (webhooks.Service.Publish).
type Publisher interface {
	Publish(ctx context.Context, tx *sql.Tx, merchantID, typ, objectID string, object any) error
}

// Contract events published to the merchant. The strings are part of the
// API: merchants subscribe to them.
const (
	EventContractInvited  = "contract.invited"
	EventContractReminder = "contract.reminder"
	EventContractChanged  = "contract.updated"
)

// Job kinds of onboarding, whose handlers are PollContract and
// RemindCampaign. The strings are stored with every queued job, so they
// never change.
const (
	KindContractPoll   = "contract.poll"
	KindCampaignRemind = "campaign.remind"
)

// Errors the API maps to answers.
var (
	// ErrBadSignToken is a signing link whose token does not match.
	ErrBadSignToken = errors.New("the signing link is not valid")
	// ErrNoOnboarding is a submission to a wallet whose connector cannot
	// sign merchants up.
	ErrNoOnboarding = errors.New("no wallet account is configured for this method")
	// ErrWalletRefused is a submission the wallet refused, or did not
	// answer.
	ErrWalletRefused = errors.New("the wallet refused")
)

func (s *Service) now() time.Time { return clock.Func(s.Now).Now() }

// wake tells the job worker that jobs were queued.
func (s *Service) wake() {
	if s.Wake != nil {
		s.Wake()
	}
}

// PollBackoff is how long a contract.poll job waits before asking again
// (its retry backoff: a review still under way is an error, retried).
func (s *Service) PollBackoff(int) time.Duration {
	if s.Poll > 0 {
		return s.Poll
	}
	return 30 * time.Second
}

func (s *Service) channelKnown(ch string) error {
	if _, ok := s.Wallets[ch]; !ok {
		return &payment.FieldError{Param: "channel", Message: fmt.Sprintf("%q is not a wallet channel of this gateway", ch)}
	}
	return nil
}

// ref names the object a job works on.
type ref struct {
	ID string `json:"id"`
}
