package api

import (
	"net/http"
	"time"

	"github.com/hutong-pay/hutong/internal/csvsafe"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/rollouts"
)

func (s *Server) getRules(w http.ResponseWriter, r *http.Request, c caller) {
	_, raw, err := s.rollouts().Rules(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, raw)
}

type ruleRequest struct {
	Rule   rollout.Rule `json:"rule" required:"the rule as an object; to remove a method's rule, DELETE /v1/rollout/rules/{method}"`
	Reason string       `json:"reason"`
	Days   int          `json:"days,omitempty"` // dry run: buyers seen in the last N days (default 7)
}

func (s *Server) setRule(w http.ResponseWriter, r *http.Request, c caller) {
	var req ruleRequest
	if !decode(w, r, &req) {
		return
	}
	rc, err := s.rollouts().SetRule(r.Context(), r.PathValue("method"), req.Rule, actor(r, c), req.Reason)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rc)
}

// removeRule removes a method's rule, so it is shown to everyone again:
// a new version of the rule set, attributed and with a reason, like any
// other change (the reason in a JSON body {"reason"} or ?reason=).
func (s *Server) removeRule(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		Reason string `json:"reason"`
	}
	if !decodeOptional(w, r, &req) {
		return
	}
	if q := r.URL.Query().Get("reason"); q != "" {
		if req.Reason != "" && req.Reason != q {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "give the reason once: in the body or in ?reason=, not two different ones", "reason")
			return
		}
		req.Reason = q
	}
	rc, err := s.rollouts().RemoveRule(r.Context(), r.PathValue("method"), actor(r, c), req.Reason)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

func (s *Server) dryRunRule(w http.ResponseWriter, r *http.Request, c caller) {
	var req ruleRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Days == 0 {
		req.Days = 7
	}
	if req.Days < 1 || req.Days > 90 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "days must be 1 to 90", "days")
		return
	}
	added, removed, seen, err := s.rollouts().DryRun(r.Context(), r.PathValue("method"), req.Rule, req.Days)
	if err != nil {
		fail(w, err)
		return
	}
	if added == nil {
		added = []string{}
	}
	if removed == nil {
		removed = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"method": r.PathValue("method"), "days": req.Days, "buyers_seen": seen,
		"would_add": len(added), "would_remove": len(removed), "added": added, "removed": removed})
}

func (s *Server) revertRule(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		Version int    `json:"version"`
		Reason  string `json:"reason"`
	}
	if !decode(w, r, &req) {
		return
	}
	rc, err := s.rollouts().RevertRule(r.Context(), r.PathValue("method"), req.Version, actor(r, c), req.Reason)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rc)
}

func (s *Server) ruleHistory(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.rollouts().RuleHistory(r.Context(), r.URL.Query().Get("method"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

// explainAny is explain for a platform key naming no merchant: the
// merchant comes from ?merchant_id.
func (s *Server) explainAny(w http.ResponseWriter, r *http.Request, c caller) {
	if c.merchant.ID == "" {
		m, err := s.Svc.MerchantService().Get(r.Context(), r.URL.Query().Get("merchant_id"))
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "merchant_required", "name the merchant in Hutong-Merchant or ?merchant_id", "merchant_id")
			return
		}
		c.merchant = m
	}
	s.explain(w, r, c)
}

func (s *Server) createFeedback(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		PaymentID string `json:"payment_id,omitempty"`
		BuyerID   string `json:"buyer_id,omitempty"`
		Method    string `json:"method,omitempty"`
		Rating    int    `json:"rating"`
		Text      string `json:"text"`
	}
	if !decode(w, r, &req) {
		return
	}
	fb, err := s.rollouts().CreateFeedback(r.Context(), rollouts.Feedback{MerchantID: c.merchant.ID, PaymentID: req.PaymentID, BuyerID: req.BuyerID,
		Method: req.Method, Rating: req.Rating, Text: req.Text})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, fb)
}

func (s *Server) feedbackFilter(w http.ResponseWriter, r *http.Request, c caller) (rollouts.FeedbackFilter, bool) {
	q := r.URL.Query()
	f := rollouts.FeedbackFilter{MerchantID: scope(c), Method: q.Get("method"), Cohort: q.Get("cohort"), Tier: q.Get("tier")}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", name+" must be an RFC 3339 time", name)
				return f, false
			}
			*dst = t
		}
	}
	return f, true
}

// listFeedback pages feedback newest first: ?limit=1..1000 (100)&starting_after=<id>
// and the filters; feedback.csv exports every row the filters select.
func (s *Server) listFeedback(w http.ResponseWriter, r *http.Request, c caller) {
	f, ok := s.feedbackFilter(w, r, c)
	if !ok {
		return
	}
	pg, ok := readPage(w, r, 100, 1000)
	if !ok {
		return
	}
	f.After, f.Limit = pg.after, pg.limit+1
	list, err := s.rollouts().ListFeedback(r.Context(), f)
	if err != nil {
		fail(w, err)
		return
	}
	writePage(w, list, pg.limit)
}

func (s *Server) exportFeedback(w http.ResponseWriter, r *http.Request, c caller) {
	f, ok := s.feedbackFilter(w, r, c)
	if !ok {
		return
	}
	list, err := s.rollouts().ListFeedback(r.Context(), f)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="feedback.csv"`)
	// Every text column is neutralised, not only the buyer's text: ids and
	// methods came from outside too.
	cw := csvsafe.NewWriter(w)
	cw.Header("id", "created", "merchant_id", "payment_id", "buyer_id", "method", "rating", "cohort", "tier", "text")
	for _, fb := range list {
		if cw.Write(csvsafe.Text(fb.ID), csvsafe.Time(fb.Created), csvsafe.Text(fb.MerchantID), csvsafe.Text(fb.PaymentID), csvsafe.Text(fb.BuyerID),
			csvsafe.Text(fb.Method), csvsafe.Int(int64(fb.Rating)), csvsafe.Text(fb.Cohort), csvsafe.Text(fb.Tier), csvsafe.Text(fb.Text)) != nil {
			return // the client is gone
		}
	}
	cw.Flush()
}
