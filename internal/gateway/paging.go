package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// keyset pages a list past a cursor: the id of the last row of the
// previous page. Rows are ordered by a time column, ties broken by id, so
// a page starts right after the cursor row whatever was inserted since.
type keyset struct {
	table  string // the listed table, as the list's query names it ("ledger_entries e")
	time   string // its time column ("created_at", "e.at")
	id     string // its id column ("id", "e.id")
	desc   bool   // newest first
	idDesc bool   // ties newest id first (else ascending)
	object string // what a cursor names, for the error ("payment")
	// scope holds the caller's conditions on the cursor row, beyond its
	// id, with placeholders from $2 (scopeArgs): a cursor outside them
	// (another merchant's id) reads as one that does not exist.
	scope     string
	scopeArgs []any
}

// page adds to query, after joiner (" AND ", " WHERE "), the condition
// that selects the rows following cursor in the list's order, with its two
// arguments appended to args; an empty cursor adds nothing. A cursor that
// names no row in scope is a NotFoundError on starting_after.
func (k keyset) page(ctx context.Context, q queryer, cursor, query, joiner string, args []any) (string, []any, error) {
	if cursor == "" {
		return query, args, nil
	}
	lookup := `SELECT ` + k.time + ` FROM ` + k.table + ` WHERE ` + k.id + ` = $1`
	if k.scope != "" {
		lookup += ` AND ` + k.scope
	}
	var at int64
	err := q.QueryRowContext(ctx, lookup, append([]any{cursor}, k.scopeArgs...)...).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, &NotFoundError{Param: "starting_after", Object: k.object, ID: cursor, Text: fmt.Sprintf("starting_after names no %s in this list: %s", k.object, cursor)}
	}
	if err != nil {
		return "", nil, err
	}
	timeOp, idOp := ">", ">"
	if k.desc {
		timeOp = "<"
	}
	if k.idDesc {
		idOp = "<"
	}
	args = append(args, at, cursor)
	t, i := len(args)-1, len(args)
	return query + joiner + fmt.Sprintf("(%s %s $%d OR (%s = $%d AND %s %s $%d))", k.time, timeOp, t, k.time, t, k.id, idOp, i), args, nil
}
