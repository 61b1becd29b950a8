package api

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gateway"
)

func (s *Server) confirmReceipt(w http.ResponseWriter, r *http.Request, c caller) {
	p, err := s.Svc.ConfirmReceipt(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) returnReceived(w http.ResponseWriter, r *http.Request, c caller) {
	rf, err := s.Svc.ReturnReceived(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rf)
}

func (s *Server) balances(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.Svc.Balances(r.Context(), scope(c))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Server) ledgerEntries(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "limit must be 1 to 1000", "limit")
			return
		}
		limit = n
	}
	list, err := s.Svc.Entries(r.Context(), gateway.EntryFilter{MerchantID: scope(c), Account: q.Get("account"), PaymentID: q.Get("payment_id"),
		Kind: q.Get("kind"), After: q.Get("starting_after"), Limit: limit + 1})
	if err != nil {
		fail(w, err)
		return
	}
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list, "has_more": more})
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
	list, err := s.Svc.Settle(r.Context(), req.Day)
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
	if err1 != nil || err2 != nil || !to.After(from) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "from and to must be dates like 2024-09-01, from not after to", "from")
		return
	}
	m := c.merchant.ID
	if m == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "merchant_required", "name the merchant", "Hutong-Merchant")
		return
	}
	st, err := s.Svc.MerchantStatement(r.Context(), m, from, to)
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
	cw := csv.NewWriter(w)
	cw.Write([]string{"at", "kind", "payment_id", "refund_id", "memo", "amount_fen", "balance_fen"})
	cw.Write([]string{from.Format(time.RFC3339), "opening_balance", "", "", "", "", strconv.FormatInt(st.Opening, 10)})
	for _, mv := range st.Movements {
		cw.Write([]string{mv.At.Format(time.RFC3339), mv.Kind, mv.PaymentID, mv.RefundID, mv.Memo, strconv.FormatInt(mv.Amount, 10), strconv.FormatInt(mv.Balance, 10)})
	}
	cw.Write([]string{to.Format(time.RFC3339), "closing_balance", "", "", "", "", strconv.FormatInt(st.Closing, 10)})
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
	run, err := s.Svc.Reconcile(r.Context(), req.Channel, req.Day, nil)
	if err != nil && run.ID == "" {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, run)
}

func (s *Server) listReconciliations(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.Svc.ReconRuns(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Server) getReconciliation(w http.ResponseWriter, r *http.Request, c caller) {
	run, items, err := s.Svc.ReconRunItems(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": run, "items": items})
}

func (s *Server) exportReconciliation(w http.ResponseWriter, r *http.Request, c caller) {
	run, items, err := s.Svc.ReconRunItems(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="reconciliation-`+run.Channel+`-`+run.Day+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"kind", "key", "bill_amount_fen", "books_amount_fen", "bill_status", "books_status", "bill_fee_fen", "books_fee_fen", "detail"})
	for _, it := range items {
		row := []string{string(it.Kind), it.Key, "", "", "", "", "", "", it.Detail}
		if it.Bill != nil {
			row[2], row[4], row[6] = strconv.FormatInt(it.Bill.Amount, 10), it.Bill.Status, strconv.FormatInt(it.Bill.Fee, 10)
		}
		if it.Ours != nil {
			row[3], row[5], row[7] = strconv.FormatInt(it.Ours.Amount, 10), it.Ours.Status, strconv.FormatInt(it.Ours.Fee, 10)
		}
		cw.Write(row)
	}
	cw.Flush()
}
