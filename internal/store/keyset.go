package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hutong-pay/hutong/internal/notfound"
)

// RowQuerier is what reads one row: the database or a transaction.
type RowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Keyset pages a list past a cursor: the id of the last row of the
// previous page. Rows are ordered by a time column, ties broken by id, so
// a page starts right after the cursor row whatever was inserted since
// (an offset would skip or repeat rows as they arrive).
type Keyset struct {
	Table  string // the listed table, as the list's query names it ("ledger_entries e")
	Time   string // its time column ("created_at", "e.at")
	ID     string // its id column ("id", "e.id")
	Desc   bool   // newest first
	IDDesc bool   // ties newest id first (else ascending)
	Object string // what a cursor names, for the error ("payment")
	// Scope holds the caller's conditions on the cursor row, beyond its
	// id, with placeholders from $2 (ScopeArgs): a cursor outside them
	// (another merchant's id) reads as one that does not exist.
	Scope     string
	ScopeArgs []any
}

// Page adds to query, after joiner (" AND ", " WHERE "), the condition
// that selects the rows following cursor in the list's order, with its two
// arguments appended to args; an empty cursor adds nothing. A cursor that
// names no row in scope is a *notfound.Error on starting_after.
func (k Keyset) Page(ctx context.Context, q RowQuerier, cursor, query, joiner string, args []any) (string, []any, error) {
	if cursor == "" {
		return query, args, nil
	}
	lookup := `SELECT ` + k.Time + ` FROM ` + k.Table + ` WHERE ` + k.ID + ` = $1`
	if k.Scope != "" {
		lookup += ` AND ` + k.Scope
	}
	var at int64
	err := q.QueryRowContext(ctx, lookup, append([]any{cursor}, k.ScopeArgs...)...).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, &notfound.Error{Param: "starting_after", Object: k.Object, ID: cursor, Text: fmt.Sprintf("starting_after names no %s in this list: %s", k.Object, cursor)}
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading the %s that starting_after names: %w", k.Object, err)
	}
	timeOp, idOp := ">", ">"
	if k.Desc {
		timeOp = "<"
	}
	if k.IDDesc {
		idOp = "<"
	}
	args = append(args, at, cursor)
	t, i := len(args)-1, len(args)
	return query + joiner + fmt.Sprintf("(%s %s $%d OR (%s = $%d AND %s %s $%d))", k.Time, timeOp, t, k.Time, t, k.ID, idOp, i), args, nil
}
