package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/csvsafe"
	"github.com/hutong-pay/hutong/internal/money"
)

func (s *Server) confirmReceipt(w http.ResponseWriter, r *http.Request, c caller) {
	p, err := s.money().ConfirmReceipt(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) cancelReturn(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		Reason string `json:"reason,omitempty"`
	}
	if !decodeOptional(w, r, &req) {
		return
	}
	if len(req.Reason) > 500 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", fmt.Sprintf("reason is at most 500 bytes, got %d", len(req.Reason)), "reason")
		return
	}
	rf, err := s.Svc.RefundService().CancelReturn(r.Context(), c.merchant.ID, r.PathValue("id"), req.Reason)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rf)
}

func (s *Server) returnReceived(w http.ResponseWriter, r *http.Request, c caller) {
	rf, err := s.Svc.RefundService().ReturnReceived(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rf)
}

func (s *Server) balances(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.money().Balances(r.Context(), scope(c))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

// ledgerEntries pages journal entries oldest first: ?limit=1..1000 (100)&starting_after=<id>&account=&payment_id=&kind=.
func (s *Server) ledgerEntries(w http.ResponseWriter, r *http.Request, c caller) {
	pg, ok := readPage(w, r, 100, 1000)
	if !ok {
		return
	}
	q := r.URL.Query()
	list, err := s.money().Entries(r.Context(), money.EntryFilter{MerchantID: scope(c), Account: q.Get("account"), PaymentID: q.Get("payment_id"),
		Kind: q.Get("kind"), After: pg.after, Limit: pg.limit + 1})
	if err != nil {
		fail(w, err)
		return
	}
	writePage(w, list, pg.limit)
}

func (s *Server) settle(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		Day string `json:"day,omitempty"`
	}
	if !decodeOptional(w, r, &req) {
		return
	}
	if req.Day == "" {
		req.Day = chinatime.Date(time.Now())
	}
	list, err := s.money().Settle(r.Context(), req.Day)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

// statement is ?from=2024-09-01&to=2024-09-30 (Beijing dates, inclusive),
// as JSON or, with format=csv, CSV.
func (s *Server) statement(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	from, _, err1 := chinatime.ParseDate(q.Get("from"))
	_, to, err2 := chinatime.ParseDate(q.Get("to"))
	switch {
	case err1 != nil:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", fmt.Sprintf("from must be a Beijing date like 2024-09-01 (YYYY-MM-DD), got %q", q.Get("from")), "from")
		return
	case err2 != nil:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", fmt.Sprintf("to must be a Beijing date like 2024-09-30 (YYYY-MM-DD, included), got %q", q.Get("to")), "to")
		return
	case !to.After(from):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", fmt.Sprintf("to (%s) must not be before from (%s)", q.Get("to"), q.Get("from")), "to")
		return
	}
	m := c.merchant.ID
	if m == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "merchant_required", "a platform key names the merchant whose statement it reads in the Hutong-Merchant header", "Hutong-Merchant")
		return
	}
	st, err := s.money().MerchantStatement(r.Context(), m, from, to)
	if err != nil {
		fail(w, err)
		return
	}
	if q.Get("format") != "csv" {
		writeJSON(w, http.StatusOK, st)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="statement-`+m+`.csv"`)
	// Amounts are numbers (a refund is negative); memos and ids are text,
	// neutralised for spreadsheets.
	cw := csvsafe.NewWriter(w)
	cw.Header("at", "kind", "payment_id", "refund_id", "memo", "amount_fen", "balance_fen")
	e := csvsafe.Empty
	cw.Write(csvsafe.Time(from), csvsafe.Text("opening_balance"), e, e, e, e, csvsafe.Int(st.Opening))
	for _, mv := range st.Movements {
		if cw.Write(csvsafe.Time(mv.At), csvsafe.Text(mv.Kind), csvsafe.Text(mv.PaymentID), csvsafe.Text(mv.RefundID), csvsafe.Text(mv.Memo),
			csvsafe.Int(mv.Amount), csvsafe.Int(mv.Balance)) != nil {
			return // the client is gone
		}
	}
	cw.Write(csvsafe.Time(to), csvsafe.Text("closing_balance"), e, e, e, e, csvsafe.Int(st.Closing))
	cw.Flush()
}

func (s *Server) reconcile(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		Channel string `json:"channel"`
		Day     string `json:"day"`
	}
	if !decode(w, r, &req) {
		return
	}
	run, err := s.money().Reconcile(r.Context(), req.Channel, req.Day, nil)
	if err != nil && run.ID == "" {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, run)
}

// listReconciliations pages runs newest first: ?limit=1..100 (20)&starting_after=<id>.
func (s *Server) listReconciliations(w http.ResponseWriter, r *http.Request, c caller) {
	pg, ok := readPage(w, r, 20, 100)
	if !ok {
		return
	}
	list, err := s.money().ReconRuns(r.Context(), pg.after, pg.limit+1)
	if err != nil {
		fail(w, err)
		return
	}
	writePage(w, list, pg.limit)
}

func (s *Server) getReconciliation(w http.ResponseWriter, r *http.Request, c caller) {
	run, items, err := s.money().ReconRunItems(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": run, "items": items})
}

func (s *Server) exportReconciliation(w http.ResponseWriter, r *http.Request, c caller) {
	run, items, err := s.money().ReconRunItems(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="reconciliation-`+run.Channel+`-`+run.Day+`.csv"`)
	// The bill's keys, statuses and details come from the wallet's file:
	// text, neutralised; amounts and fees are numbers.
	cw := csvsafe.NewWriter(w)
	cw.Header("kind", "key", "bill_amount_fen", "books_amount_fen", "bill_status", "books_status", "bill_fee_fen", "books_fee_fen", "detail")
	for _, it := range items {
		e := csvsafe.Empty
		row := []csvsafe.Cell{csvsafe.Text(string(it.Kind)), csvsafe.Text(it.Key), e, e, e, e, e, e, csvsafe.Text(it.Detail)}
		if it.Bill != nil {
			row[2], row[4], row[6] = csvsafe.Int(it.Bill.Amount), csvsafe.Text(it.Bill.Status), csvsafe.Int(it.Bill.Fee)
		}
		if it.Ours != nil {
			row[3], row[5], row[7] = csvsafe.Int(it.Ours.Amount), csvsafe.Text(it.Ours.Status), csvsafe.Int(it.Ours.Fee)
		}
		if cw.Write(row...) != nil {
			return // the client is gone
		}
	}
	cw.Flush()
}
