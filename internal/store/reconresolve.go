package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ReconItemResolveParams marks one discrepancy of a run resolved: the item
// is named by its place in the run (Seq) and, as a check that the person
// saw the item they resolve, by its object (ItemKey).
type ReconItemResolveParams struct {
	RunID   string
	Seq     int
	ItemKey string
	Note    string
	By      string // who: a console user's email
	At      time.Time
}

// ReconItemResolve records a discrepancy's resolution. It reports false
// when the item was resolved before (the first resolution stands), and
// ErrNoRows when the run has no such item under that key.
func (e Executor) ReconItemResolve(ctx context.Context, p ReconItemResolveParams) (bool, error) {
	// Inserting from the item itself refuses an item that does not exist in
	// the same statement that records the resolution. The WHERE is also
	// what lets SQLite read ON CONFLICT after INSERT … SELECT; the casts
	// type the parameters PostgreSQL would otherwise read as text.
	res, err := e.q.ExecContext(ctx, `INSERT INTO recon_resolutions (run_id, seq, item_key, note, resolved_by, resolved_at)
		SELECT run_id, seq, object_id, CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS BIGINT) FROM recon_items WHERE run_id = $1 AND seq = $2 AND object_id = $3
		ON CONFLICT (run_id, seq) DO NOTHING`, p.RunID, p.Seq, p.ItemKey, p.Note, p.By, Micros(p.At))
	if err != nil {
		return false, fmt.Errorf("resolving reconciliation run %s, item %d: %w", p.RunID, p.Seq, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("resolving reconciliation run %s, item %d: %w", p.RunID, p.Seq, err)
	}
	if n > 0 {
		return true, nil
	}
	var one int
	err = e.q.QueryRowContext(ctx, `SELECT 1 FROM recon_items WHERE run_id = $1 AND seq = $2 AND object_id = $3`, p.RunID, p.Seq, p.ItemKey).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("reconciliation run %s has no item %d about %s: %w", p.RunID, p.Seq, p.ItemKey, ErrNoRows)
	}
	if err != nil {
		return false, fmt.Errorf("resolving reconciliation run %s, item %d: %w", p.RunID, p.Seq, err)
	}
	return false, nil
}

// ReconResolution is a discrepancy's resolution: the note, who, when.
type ReconResolution struct {
	Note string
	By   string
	At   time.Time
}

// ReconItemRow is one discrepancy of a run as stored, with its resolution
// (nil while open).
type ReconItemRow struct {
	Seq        int
	Kind       string
	ObjectID   string
	Data       json.RawMessage
	Resolution *ReconResolution
}

// ReconItemsResolved lists a run's discrepancies in the run's order, each
// with its resolution if it has one; none is an empty slice.
func (e Executor) ReconItemsResolved(ctx context.Context, runID string) ([]ReconItemRow, error) {
	out, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (r ReconItemRow, err error) {
		var data string
		var note, by sql.NullString
		var at sql.NullInt64
		if err := rows.Scan(&r.Seq, &r.Kind, &r.ObjectID, &data, &note, &by, &at); err != nil {
			return r, err
		}
		r.Data = json.RawMessage(data)
		if by.Valid {
			r.Resolution = &ReconResolution{Note: note.String, By: by.String, At: Time(at.Int64)}
		}
		return r, nil
	}, `SELECT i.seq, i.kind, i.object_id, i.data, r.note, r.resolved_by, r.resolved_at
		FROM recon_items i LEFT JOIN recon_resolutions r ON r.run_id = i.run_id AND r.seq = i.seq
		WHERE i.run_id = $1 ORDER BY i.seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("reconciliation run %s's items: %w", runID, err)
	}
	if out == nil {
		out = []ReconItemRow{}
	}
	return out, nil
}

// ReconResolvedCount is how many of a run's discrepancies are resolved.
type ReconResolvedCount struct {
	RunID    string
	Resolved int
}

// ReconResolvedCounts counts the resolved discrepancies of each of runIDs
// (a page of runs); a run with none resolved is absent.
func (e Executor) ReconResolvedCounts(ctx context.Context, runIDs ...string) (map[string]int, error) {
	out := map[string]int{}
	if len(runIDs) == 0 {
		return out, nil
	}
	ph := make([]string, len(runIDs))
	args := make([]any, len(runIDs))
	for i, id := range runIDs {
		ph[i], args[i] = fmt.Sprintf("$%d", i+1), id
	}
	counts, err := QueryAll(ctx, e.q, func(rows *sql.Rows) (c ReconResolvedCount, err error) {
		return c, rows.Scan(&c.RunID, &c.Resolved)
	}, `SELECT run_id, COUNT(*) FROM recon_resolutions WHERE run_id IN (`+strings.Join(ph, ", ")+`) GROUP BY run_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("resolved reconciliation items: %w", err)
	}
	for _, c := range counts {
		out[c.RunID] = c.Resolved
	}
	return out, nil
}
