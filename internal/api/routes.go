package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hutong-pay/hutong/internal/money"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
)

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request, c caller) {
	var req payment.Request
	if !decode(w, r, &req) {
		return
	}
	p, err := s.Svc.PaymentService().CreatePayment(r.Context(), c.merchant, req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request, c caller) {
	p, err := s.Svc.PaymentService().GetPayment(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// listPayments pages newest first: ?limit=1..100 (20)&starting_after=<id>&status=.
func (s *Server) listPayments(w http.ResponseWriter, r *http.Request, c caller) {
	pg, ok := readPage(w, r, 20, 100)
	if !ok {
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && status != payment.StatusRequiresAction && status != payment.StatusSucceeded && status != payment.StatusCanceled {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "status must be requires_action, succeeded or canceled", "status")
		return
	}
	list, err := s.Svc.PaymentService().ListPayments(r.Context(), c.merchant.ID, status, pg.after, pg.limit+1)
	if err != nil {
		fail(w, err)
		return
	}
	writePage(w, list, pg.limit)
}

// listRefunds pages a payment's refunds oldest first: ?limit=1..100 (20)&starting_after=<id>.
func (s *Server) listRefunds(w http.ResponseWriter, r *http.Request, c caller) {
	pg, ok := readPage(w, r, 20, 100)
	if !ok {
		return
	}
	list, err := s.Svc.RefundService().List(r.Context(), c.merchant.ID, r.PathValue("id"), pg.after, pg.limit+1)
	if err != nil {
		fail(w, err)
		return
	}
	writePage(w, list, pg.limit)
}

func (s *Server) cancelPayment(w http.ResponseWriter, r *http.Request, c caller) {
	p, err := s.Svc.PaymentService().CancelPayment(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

type refundRequest struct {
	Amount int64  `json:"amount" required:"the amount to refund, a whole number of fen, at least 1" unit:"fen"`
	Reason string `json:"reason,omitempty"`
	// Kind is refund_only (the default: money back at once) or
	// return_and_refund (money back once the goods are received).
	Kind string `json:"kind,omitempty"`
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request, c caller) {
	var req refundRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Amount <= 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", fmt.Sprintf("amount must be at least 1 fen, got %d", req.Amount), "amount")
		return
	}
	if len(req.Reason) > 200 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", fmt.Sprintf("reason must be at most 200 bytes, got %d", len(req.Reason)), "reason")
		return
	}
	rf, err := s.Svc.RefundService().Create(r.Context(), c.merchant.ID, r.PathValue("id"), req.Amount, req.Reason, req.Kind)
	if errors.Is(err, money.ErrPayableShort) {
		// After release the merchant's payable bears the refund: its
		// amount is what does not fit.
		writeError(w, http.StatusConflict, "invalid_request_error", "payable_insufficient", err.Error(), "amount")
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rf)
}

func (s *Server) getRefund(w http.ResponseWriter, r *http.Request, c caller) {
	rf, err := s.Svc.RefundService().Get(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rf)
}

// checkoutOf reads a checkout from the query: buyer_id, region_code,
// platform, app_version, product_ids and categories (comma-separated).
func checkoutOf(r *http.Request, merchantID string) (rollout.Checkout, error) {
	q := r.URL.Query()
	split := func(v string) []string {
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	c := rollout.Checkout{BuyerID: q.Get("buyer_id"), MerchantID: merchantID, RegionCode: q.Get("region_code"), Platform: q.Get("platform"),
		AppVersion: q.Get("app_version"), ProductIDs: split(q.Get("product_ids")), Categories: split(q.Get("categories"))}
	switch {
	case len(c.BuyerID) > 64:
		return c, &payment.FieldError{Param: "buyer_id", Message: "must be at most 64 bytes"}
	case c.Platform != "" && !payment.Platforms[c.Platform]:
		return c, &payment.FieldError{Param: "platform", Message: "must be ios, android, h5, miniprogram or pc"}
	case len(c.ProductIDs) > 100 || len(c.Categories) > 20:
		return c, &payment.FieldError{Param: "product_ids", Message: "at most 100 products and 20 categories"}
	}
	if c.RegionCode != "" {
		if _, err := rollout.Tier(c.RegionCode, nil); err != nil {
			return c, &payment.FieldError{Param: "region_code", Message: err.Error()}
		}
	}
	return c, nil
}

// methods lists what this merchant's buyer may pay with now, as the
// hosted cashier offers it (contracts and rollout rules), and records the
// exposures.
func (s *Server) methods(w http.ResponseWriter, r *http.Request, c caller) {
	ch, err := checkoutOf(r, c.merchant.ID)
	if err != nil {
		fail(w, err)
		return
	}
	ds, err := s.rollouts().Decide(r.Context(), ch)
	if err != nil {
		fail(w, err)
		return
	}
	if ch.BuyerID != "" {
		s.rollouts().RecordExposures(ch, ds, "")
	}
	out := []map[string]any{}
	for _, d := range ds {
		if d.Shown {
			ch, _ := payment.MethodChannel(d.Method)
			out = append(out, map[string]any{"method": d.Method, "channel": ch, "cohort": d.Cohort, "rule_version": d.Version})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// explain says, for each method, why it is shown or hidden to a buyer.
func (s *Server) explain(w http.ResponseWriter, r *http.Request, c caller) {
	ch, err := checkoutOf(r, c.merchant.ID)
	if err != nil {
		fail(w, err)
		return
	}
	ds, err := s.rollouts().Decide(r.Context(), ch)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"checkout": ch, "data": ds})
}

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		URL string `json:"url"`
	}
	if !decode(w, r, &req) {
		return
	}
	e, err := s.webhooks().CreateEndpoint(r.Context(), c.merchant.ID, req.URL)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.webhooks().ListEndpoints(r.Context(), c.merchant.ID)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request, c caller) {
	if err := s.webhooks().DeleteEndpoint(r.Context(), c.merchant.ID, r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "deleted": true})
}

// listEvents pages events newest first: ?limit=1..100 (100)&starting_after=<id>&type=.
// A platform key naming no merchant reads the platform's own events
// (reconciliation.discrepancy).
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, c caller) {
	pg, ok := readPage(w, r, 100, 100)
	if !ok {
		return
	}
	list, err := s.webhooks().ListEvents(r.Context(), c.merchant.ID, r.URL.Query().Get("type"), pg.after, pg.limit+1)
	if err != nil {
		fail(w, err)
		return
	}
	writePage(w, list, pg.limit)
}

func (s *Server) resendEvent(w http.ResponseWriter, r *http.Request, c caller) {
	if err := s.webhooks().ResendEvent(r.Context(), c.merchant.ID, r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": r.PathValue("id"), "resent": true})
}
