// Package csvsafe writes CSV files that are safe to open in a spreadsheet.
//
// A finance team opens hutong's exports (statements, reconciliations,
// buyer feedback) in Excel, WPS or LibreOffice. Those programs read a cell
// that starts with =, +, -, @, a tab or a carriage return as a formula, so
// a buyer's comment =HYPERLINK("http://x","click") or a merchant order id
// +cmd|'/c calc'!A1 becomes live content on the finance team's machine
// (CSV or formula injection). Following OWASP's guidance, every text cell
// that starts with one of those characters is written with a leading
// single quote, which the spreadsheet shows as text and does not evaluate.
//
// Only text that came from outside needs this; numbers that hutong formats
// itself must stay numbers (a refund of -100 fen is a negative amount, not
// text), so a row is made of typed cells: Text is neutralised, Int and
// Time are written as they are formatted.
package csvsafe

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// Cell is one field of a row: Text, Int or Time.
type Cell struct {
	s    string
	text bool
}

// Text is a cell of text from outside (names, ids, comments, statuses):
// written with a leading ' when a spreadsheet would take it for a formula.
func Text(s string) Cell { return Cell{s: s, text: true} }

// Int is a number hutong formats itself (fen, counts), written as is.
func Int(n int64) Cell { return Cell{s: strconv.FormatInt(n, 10)} }

// Time is an instant written in RFC 3339 (it starts with a digit).
func Time(t time.Time) Cell { return Cell{s: t.Format(time.RFC3339)} }

// Empty is an empty cell.
var Empty = Cell{}

// Dangerous says whether a spreadsheet would read a cell starting with b
// as a formula.
func Dangerous(b byte) bool {
	switch b {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// Neutralise returns s as it is written in a Text cell.
func Neutralise(s string) string {
	if s != "" && Dangerous(s[0]) {
		return "'" + s
	}
	return s
}

// Writer writes rows of cells; the first error sticks and is returned by
// every later call and by Flush.
type Writer struct {
	cw  *csv.Writer
	row []string
	err error
}

// NewWriter writes CSV to w.
func NewWriter(w io.Writer) *Writer { return &Writer{cw: csv.NewWriter(w)} }

// Header writes a row of column names.
func (w *Writer) Header(names ...string) error {
	cells := make([]Cell, len(names))
	for i, n := range names {
		cells[i] = Text(n)
	}
	return w.Write(cells...)
}

// Write writes one row.
func (w *Writer) Write(cells ...Cell) error {
	if w.err != nil {
		return w.err
	}
	w.row = w.row[:0]
	for _, c := range cells {
		if c.text {
			w.row = append(w.row, Neutralise(c.s))
		} else {
			w.row = append(w.row, c.s)
		}
	}
	w.err = w.cw.Write(w.row)
	return w.err
}

// Flush writes what is buffered and returns the first error of the file.
func (w *Writer) Flush() error {
	w.cw.Flush()
	if w.err == nil {
		w.err = w.cw.Error()
	}
	return w.err
}
