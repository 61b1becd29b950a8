package api

import (
	"net/http"
	"strconv"

	"github.com/hutong-pay/hutong/internal/payment"
)

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request, c caller) {
	var req payment.Request
	if !decode(w, r, &req) {
		return
	}
	p, err := s.Svc.CreatePayment(r.Context(), c.merchant, req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request, c caller) {
	p, err := s.Svc.GetPayment(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// listPayments pages newest first: ?limit=1..100&starting_after=<id>&status=.
func (s *Server) listPayments(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "limit must be 1 to 100", "limit")
			return
		}
		limit = n
	}
	status := q.Get("status")
	if status != "" && status != payment.StatusRequiresAction && status != payment.StatusSucceeded && status != payment.StatusCanceled {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "status must be requires_action, succeeded or canceled", "status")
		return
	}
	list, err := s.Svc.ListPayments(r.Context(), c.merchant.ID, status, q.Get("starting_after"), limit+1)
	if err != nil {
		fail(w, err)
		return
	}
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	if list == nil {
		list = []payment.Payment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list, "has_more": more})
}

func (s *Server) cancelPayment(w http.ResponseWriter, r *http.Request, c caller) {
	p, err := s.Svc.CancelPayment(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

type refundRequest struct {
	Amount int64  `json:"amount"`
	Reason string `json:"reason,omitempty"`
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request, c caller) {
	var req refundRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Amount <= 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "amount must be a positive number of fen", "amount")
		return
	}
	if len(req.Reason) > 200 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "reason must be at most 200 bytes", "reason")
		return
	}
	rf, err := s.Svc.CreateRefund(r.Context(), c.merchant.ID, r.PathValue("id"), req.Amount, req.Reason)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rf)
}

func (s *Server) getRefund(w http.ResponseWriter, r *http.Request, c caller) {
	rf, err := s.Svc.GetRefund(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rf)
}

// methods lists what this merchant's buyer may pay with now, as the
// hosted cashier offers it.
func (s *Server) methods(w http.ResponseWriter, r *http.Request, c caller) {
	out := []map[string]string{}
	for _, m := range s.Svc.MethodsFor(r.Context(), c.merchant.ID, payment.Buyer{ID: r.URL.Query().Get("buyer_id")}) {
		out = append(out, map[string]string{"method": m, "channel": payment.Methods[m]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		URL string `json:"url"`
	}
	if !decode(w, r, &req) {
		return
	}
	e, err := s.Svc.CreateEndpoint(r.Context(), c.merchant.ID, req.URL)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.Svc.ListEndpoints(r.Context(), c.merchant.ID)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request, c caller) {
	if err := s.Svc.DeleteEndpoint(r.Context(), c.merchant.ID, r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "deleted": true})
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.Svc.ListEvents(r.Context(), c.merchant.ID, 100)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Server) resendEvent(w http.ResponseWriter, r *http.Request, c caller) {
	if err := s.Svc.ResendEvent(r.Context(), c.merchant.ID, r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": r.PathValue("id"), "resent": true})
}
