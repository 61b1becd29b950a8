package api

import (
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/campaign"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/contract"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/onboarding"
)

// PlatformOnly are the routes only a platform key may call (the operator's
// side of onboarding and rollout); they name no merchant.
var PlatformOnly = map[string]bool{
	"POST /v1/merchants":                      true,
	"POST /v1/merchants/{id}":                 true,
	"POST /v1/agreements":                     true,
	"POST /v1/contracts":                      true,
	"POST /v1/contracts/{id}/submit":          true,
	"POST /v1/contracts/{id}/suspend":         true,
	"POST /v1/contracts/{id}/resume":          true,
	"POST /v1/campaigns":                      true,
	"GET /v1/campaigns":                       true,
	"GET /v1/campaigns/{id}":                  true,
	"GET /v1/rollout/rules":                   true,
	"POST /v1/rollout/rules/{method}":         true,
	"DELETE /v1/rollout/rules/{method}":       true,
	"POST /v1/rollout/rules/{method}/dry_run": true,
	"POST /v1/rollout/rules/{method}/revert":  true,
	"GET /v1/rollout/history":                 true,
	"POST /v1/settlements":                    true,
	"POST /v1/reconciliations":                true,
	"GET /v1/reconciliations":                 true,
	"GET /v1/reconciliations/{id}":            true,
	"GET /v1/reconciliations/{id}/items.csv":  true,
}

// actor is who acts, for the audit trail: the key, and the operator's own
// name when the caller gives one in Hutong-Actor.
func actor(r *http.Request, c caller) string {
	a := "key:" + c.key.ID
	if name := strings.TrimSpace(r.Header.Get("Hutong-Actor")); name != "" && utf8.RuneCountInString(name) <= 64 {
		a += "/" + name
	}
	return a
}

type merchantRequest struct {
	ID         string `json:"id,omitempty"`
	Name       string `json:"name"`
	Category   string `json:"category,omitempty"`
	RegionCode string `json:"region_code,omitempty"`
	Size       string `json:"size,omitempty"`
	// CommissionBPS and AllowNegativePayable are the merchant's money
	// policy; absent leaves it (creating: the category's rate, no).
	CommissionBPS        *int  `json:"commission_bps,omitempty"`
	AllowNegativePayable *bool `json:"allow_negative_payable,omitempty"`
}

// applyPolicy sets the money policy fields a request names.
func (s *Server) applyPolicy(r *http.Request, id string, req merchantRequest) error {
	if req.CommissionBPS == nil && req.AllowNegativePayable == nil {
		return nil
	}
	p := merchant.MoneyPolicy{CommissionBPS: -1}
	if req.CommissionBPS != nil {
		p.CommissionBPS = *req.CommissionBPS
	}
	if req.AllowNegativePayable != nil {
		p.AllowNegativePayable = *req.AllowNegativePayable
	}
	return s.Svc.MerchantService().SetMoneyPolicy(r.Context(), id, p)
}

func (s *Server) createMerchant(w http.ResponseWriter, r *http.Request, c caller) {
	var req merchantRequest
	if !decode(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Name) == "" || utf8.RuneCountInString(req.Name) > 64 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "name is required, at most 64 characters", "name")
		return
	}
	if req.ID != "" && !idPattern.MatchString(req.ID) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "id must be 1 to 64 letters, digits, _ or -", "id")
		return
	}
	if _, err := s.Svc.MerchantService().Get(r.Context(), req.ID); req.ID != "" && err == nil {
		writeError(w, http.StatusConflict, "invalid_request_error", "merchant_exists", "a merchant with this id exists", "id")
		return
	}
	// Check the profile before anything is made.
	if err := merchant.CheckProfile(req.RegionCode, req.Size); err != nil {
		fail(w, err)
		return
	}
	if req.CommissionBPS != nil && (*req.CommissionBPS < -1 || *req.CommissionBPS > 10000) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "commission_bps must be 0 to 10000, or -1 for the category's rate", "commission_bps")
		return
	}
	m, err := s.Svc.MerchantService().Create(r.Context(), merchant.Merchant{ID: req.ID, Name: req.Name})
	if err == nil {
		err = s.Svc.MerchantService().SetProfile(r.Context(), m.ID, merchant.Profile{Category: req.Category, RegionCode: req.RegionCode, Size: req.Size})
	}
	if err == nil {
		err = s.applyPolicy(r, m.ID, req)
	}
	if err != nil {
		fail(w, err)
		return
	}
	m, _ = s.Svc.MerchantService().Get(r.Context(), m.ID)
	writeJSON(w, http.StatusCreated, m)
}

func (s *Server) updateMerchant(w http.ResponseWriter, r *http.Request, c caller) {
	var req merchantRequest
	if !decode(w, r, &req) {
		return
	}
	if err := s.Svc.MerchantService().SetProfile(r.Context(), r.PathValue("id"), merchant.Profile{Category: req.Category, RegionCode: req.RegionCode, Size: req.Size}); err != nil {
		fail(w, err)
		return
	}
	if err := s.applyPolicy(r, r.PathValue("id"), req); err != nil {
		fail(w, err)
		return
	}
	m, _ := s.Svc.MerchantService().Get(r.Context(), r.PathValue("id"))
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) createAgreement(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		Channel       string `json:"channel"`
		Title         string `json:"title"`
		Body          string `json:"body"`
		RequireResign bool   `json:"require_resign"`
	}
	if !decode(w, r, &req) {
		return
	}
	a, err := s.onboarding().CreateAgreement(r.Context(), req.Channel, req.Title, req.Body, actor(r, c), req.RequireResign)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

func (s *Server) listAgreements(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.onboarding().ListAgreements(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

// scope is the merchant a caller's reads are limited to: its own, or for
// a platform key the one it names (or all).
func scope(c caller) string {
	if c.key.Platform() {
		return c.merchant.ID
	}
	return c.key.MerchantID
}

func (s *Server) listContracts(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	f := onboarding.ContractFilter{MerchantID: scope(c), Channel: q.Get("channel"), State: q.Get("state"), CampaignID: q.Get("campaign_id")}
	if f.MerchantID == "" {
		f.MerchantID = q.Get("merchant_id")
	}
	list, err := s.onboarding().ListContracts(r.Context(), f)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Server) getContract(w http.ResponseWriter, r *http.Request, c caller) {
	v, err := s.onboarding().GetContract(r.Context(), scope(c), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) contractTransitions(w http.ResponseWriter, r *http.Request, c caller) {
	if _, err := s.onboarding().GetContract(r.Context(), scope(c), r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	list, err := s.onboarding().Transitions(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Server) inviteMerchant(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		MerchantID string `json:"merchant_id"`
		Channel    string `json:"channel"`
	}
	if !decode(w, r, &req) {
		return
	}
	v, err := s.onboarding().Invite(r.Context(), req.MerchantID, req.Channel, actor(r, c))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) submitContract(w http.ResponseWriter, r *http.Request, c caller) {
	var app struct {
		BusinessCode      string `json:"business_code,omitempty"`
		Name              string `json:"name,omitempty"`
		ShortName         string `json:"short_name,omitempty"`
		LicenseNumber     string `json:"license_number,omitempty"`
		LegalPerson       string `json:"legal_person,omitempty"`
		ContactName       string `json:"contact_name,omitempty"`
		ContactPhone      string `json:"contact_phone,omitempty"`
		ContactEmail      string `json:"contact_email,omitempty"`
		ServicePhone      string `json:"service_phone,omitempty"`
		BankAccountName   string `json:"bank_account_name,omitempty"`
		BankAccountNumber string `json:"bank_account_number,omitempty"`
		AuthCode          string `json:"app_auth_code,omitempty"`
	}
	if !decodeOptional(w, r, &app) {
		return
	}
	v, err := s.onboarding().Submit(r.Context(), r.PathValue("id"), actor(r, c), channel.MerchantApplication{
		Ref: app.BusinessCode, Name: app.Name, ShortName: app.ShortName, LicenseNumber: app.LicenseNumber, LegalPerson: app.LegalPerson,
		ContactName: app.ContactName, ContactPhone: app.ContactPhone, ContactEmail: app.ContactEmail, ServicePhone: app.ServicePhone,
		BankAccountName: app.BankAccountName, BankAccountNumber: app.BankAccountNumber, AuthCode: app.AuthCode,
	})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) contractAction(kind string) func(http.ResponseWriter, *http.Request, caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		var req struct {
			Reason string `json:"reason,omitempty"`
		}
		if !decodeOptional(w, r, &req) {
			return
		}
		if kind == contract.ActSuspend && strings.TrimSpace(req.Reason) == "" {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "reason is required: say why the merchant is suspended", "reason")
			return
		}
		v, err := s.onboarding().Act(r.Context(), r.PathValue("id"), contract.Action{Kind: kind, Actor: actor(r, c), Reason: req.Reason})
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request, c caller) {
	var req campaign.Campaign
	if !decode(w, r, &req) {
		return
	}
	if req.ID != "" || req.Invited != 0 || req.CreatedBy != "" || !req.Created.IsZero() {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "id, invited, created_by and created are set by the gateway", "")
		return
	}
	req.CreatedBy = actor(r, c)
	cmp, err := s.onboarding().CreateCampaign(r.Context(), req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, cmp)
}

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.onboarding().ListCampaigns(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request, c caller) {
	p, err := s.onboarding().CampaignProgress(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

var idPattern = regexp.MustCompile(`^[0-9A-Za-z_\-]{1,64}$`)
