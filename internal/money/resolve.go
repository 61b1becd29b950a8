package money

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/audit"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/store"
)

// ErrAlreadyResolved is a resolution of a discrepancy someone resolved
// before; the first resolution stands.
var ErrAlreadyResolved = errors.New("this discrepancy was resolved already")

// MaxResolutionNote bounds a resolution's note, in characters.
const MaxResolutionNote = 500

// Resolution is how a person closed a discrepancy: what they found or
// did (Note), who, and when.
type Resolution struct {
	Note string    `json:"note"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// ReconItemState is a discrepancy with its place in the run (Seq, which
// names it when resolving) and its resolution, nil while it is open.
type ReconItemState struct {
	ReconItem
	Seq        int         `json:"seq"`
	Resolution *Resolution `json:"resolution,omitempty"`
}

// ReconRunItemsResolved reads a run and its discrepancies, each with its
// resolution if it has one.
func (s *Service) ReconRunItemsResolved(ctx context.Context, id string) (ReconRun, []ReconItemState, error) {
	run, err := s.reconRun(ctx, id)
	if err != nil {
		return run, nil, err
	}
	rows, err := s.DB.Pool().ReconItemsResolved(ctx, id)
	if err != nil {
		return run, nil, err
	}
	out := make([]ReconItemState, len(rows))
	for i, r := range rows {
		out[i].Seq = r.Seq
		if err := json.Unmarshal(r.Data, &out[i].ReconItem); err != nil {
			return run, nil, fmt.Errorf("reconciliation run %s, item %d: %w", id, r.Seq, err)
		}
		if r.Resolution != nil {
			out[i].Resolution = &Resolution{Note: r.Resolution.Note, By: r.Resolution.By, At: r.Resolution.At}
		}
	}
	return run, out, nil
}

// ReconResolvedCounts counts the resolved discrepancies of each of a page
// of runs; a run with none is absent.
func (s *Service) ReconResolvedCounts(ctx context.Context, runIDs ...string) (map[string]int, error) {
	return s.DB.Pool().ReconResolvedCounts(ctx, runIDs...)
}

// ResolveParams names a discrepancy (its run, its Seq, and its Key as the
// person saw it) and how it was resolved.
type ResolveParams struct {
	RunID string
	Seq   int
	Key   string
	Note  string
	By    string
}

// ResolveReconItem marks a discrepancy resolved now with a note, which is
// required: a resolution nobody can read the reason of closes nothing.
// An unknown item is a notfound.Error; one resolved before is
// ErrAlreadyResolved.
func (s *Service) ResolveReconItem(ctx context.Context, p ResolveParams) (ReconItemState, error) {
	p.Note = strings.TrimSpace(p.Note)
	switch {
	case p.Note == "":
		return ReconItemState{}, &payment.FieldError{Param: "note", Message: "is required: say what was found or done"}
	case utf8.RuneCountInString(p.Note) > MaxResolutionNote:
		return ReconItemState{}, &payment.FieldError{Param: "note", Message: fmt.Sprintf("must be at most %d characters", MaxResolutionNote)}
	case p.By == "":
		return ReconItemState{}, errors.New("resolve a discrepancy: who resolved it is required")
	}
	var stored bool
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		stored, err = s.DB.In(tx).ReconItemResolve(ctx, store.ReconItemResolveParams{RunID: p.RunID, Seq: p.Seq, ItemKey: p.Key, Note: p.Note, By: p.By, At: s.now()})
		if err != nil || !stored {
			return err // resolved before: nothing changes, nothing to audit
		}
		return audit.Record(ctx, tx, p) // an operator's resolution commits with its audit record
	})
	if errors.Is(err, store.ErrNoRows) {
		return ReconItemState{}, notfound.ByID("reconciliation item", fmt.Sprintf("%s/%d", p.RunID, p.Seq), "")
	}
	if err != nil {
		return ReconItemState{}, err
	}
	_, items, err := s.ReconRunItemsResolved(ctx, p.RunID)
	if err != nil {
		return ReconItemState{}, err
	}
	for _, it := range items {
		if it.Seq == p.Seq {
			if !stored {
				return it, ErrAlreadyResolved
			}
			return it, nil
		}
	}
	return ReconItemState{}, fmt.Errorf("reconciliation run %s, item %d: resolved but not read back", p.RunID, p.Seq)
}

// EscrowHeld lists the payments held in escrow (paid, not yet released),
// of one merchant unless merchantID is "", the first due for release
// first, at most limit; each carries its AutoConfirmAt.
func (s *Service) EscrowHeld(ctx context.Context, merchantID string, limit int) ([]payment.Payment, error) {
	return s.DB.Pool().PaymentsInEscrow(ctx, store.PaymentsInEscrowParams{MerchantID: merchantID, Limit: limit})
}

// Settlements lists settlement batches, the latest day first, of one
// merchant unless merchantID is "", at most limit.
func (s *Service) Settlements(ctx context.Context, merchantID string, limit int) ([]Batch, error) {
	raw, err := s.DB.Pool().SettlementList(ctx, store.SettlementListParams{MerchantID: merchantID, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]Batch, len(raw))
	for i, b := range raw {
		out[i] = Batch{ID: b.ID, MerchantID: b.MerchantID, Day: b.Day, Amount: b.Amount, Created: b.CreatedAt}
	}
	return out, nil
}
