// Package faults holds the knobs that make a sandbox wallet misbehave on
// purpose, per wallet: lost, duplicated, late and reordered notifications,
// API errors and API latency. They are durable, so a restarted sandbox keeps
// misbehaving the same way.
package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hutong-pay/hutong/internal/sandbox/journal"
)

// Faults is the setting of one wallet. The zero value is a well-behaved
// wallet. Rates are probabilities in [0, 1].
type Faults struct {
	Wallet              string  `json:"wallet"`
	NotifyDropRate      float64 `json:"notify_drop_rate"`
	NotifyDuplicateRate float64 `json:"notify_duplicate_rate"`
	NotifyDelayMS       int64   `json:"notify_delay_ms"`
	NotifyReorderRate   float64 `json:"notify_reorder_rate"`
	APIErrorRate        float64 `json:"api_error_rate"`
	APILatencyMS        int64   `json:"api_latency_ms"`
}

// NotifyDelay is NotifyDelayMS as a duration.
func (f Faults) NotifyDelay() time.Duration { return time.Duration(f.NotifyDelayMS) * time.Millisecond }

// APILatency is APILatencyMS as a duration.
func (f Faults) APILatency() time.Duration { return time.Duration(f.APILatencyMS) * time.Millisecond }

// maxDelay bounds delays so a typo cannot hang a test for days.
const maxDelay = int64(time.Hour / time.Millisecond)

// Validate names the first field out of range.
func (f Faults) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"notify_drop_rate", f.NotifyDropRate},
		{"notify_duplicate_rate", f.NotifyDuplicateRate},
		{"notify_reorder_rate", f.NotifyReorderRate},
		{"api_error_rate", f.APIErrorRate},
	} {
		if !(r.v >= 0 && r.v <= 1) { // also refuses NaN
			return fmt.Errorf("%s must be between 0 and 1, got %v", r.name, r.v)
		}
	}
	for _, d := range []struct {
		name string
		v    int64
	}{{"notify_delay_ms", f.NotifyDelayMS}, {"api_latency_ms", f.APILatencyMS}} {
		if d.v < 0 || d.v > maxDelay {
			return fmt.Errorf("%s must be between 0 and %d, got %d", d.name, maxDelay, d.v)
		}
	}
	return nil
}

const journalKind = "faults"

// Store keeps the faults of every wallet.
type Store struct {
	j       *journal.Journal
	wallets map[string]bool
	mu      sync.RWMutex
	byName  map[string]Faults
}

// Open loads the faults of the named wallets.
func Open(j *journal.Journal, wallets ...string) (*Store, error) {
	s := &Store{j: j, wallets: map[string]bool{}, byName: map[string]Faults{}}
	for _, w := range wallets {
		s.wallets[w] = true
		s.byName[w] = Faults{Wallet: w}
	}
	err := j.Each(journalKind, func(key string, raw json.RawMessage) error {
		var f Faults
		if err := json.Unmarshal(raw, &f); err != nil {
			return err
		}
		if s.wallets[key] {
			s.byName[key] = f
		}
		return nil
	})
	return s, err
}

// Get returns a wallet's faults.
func (s *Store) Get(wallet string) Faults {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byName[wallet]
}

// All returns every wallet's faults.
func (s *Store) All() []Faults {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Faults, 0, len(s.byName))
	for _, w := range sortedKeys(s.wallets) {
		out = append(out, s.byName[w])
	}
	return out
}

// Set replaces a wallet's faults after validating them.
func (s *Store) Set(f Faults) error {
	if !s.wallets[f.Wallet] {
		return fmt.Errorf("wallet %q is unknown; use one of %v", f.Wallet, sortedKeys(s.wallets))
	}
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.j.Put(journalKind, f.Wallet, f); err != nil {
		return err
	}
	s.byName[f.Wallet] = f
	return nil
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// Outcome of InjectAPI: go on, fail the call, or the caller has gone.
type Outcome int

const (
	Proceed  Outcome = iota // answer normally
	Fail                    // answer with the wallet's system error
	Canceled                // the request ended while waiting
)

// InjectAPI applies a wallet's API faults to one call: it waits the
// latency, then draws against the error rate.
func (f Faults) InjectAPI(ctx context.Context) Outcome {
	if d := f.APILatency(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return Canceled
		}
	}
	if f.APIErrorRate > 0 && rand.Float64() < f.APIErrorRate {
		return Fail
	}
	return Proceed
}
