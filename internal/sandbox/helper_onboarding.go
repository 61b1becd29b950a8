package sandbox

import (
	"errors"
	"net/http"
	"strings"

	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

// onboardingRoutes are the helper API's knobs of merchant onboarding: how
// WeChat Pay reviews sub-merchant applications, how Alipay reviews a
// merchant's authorization of the app, and the merchant's own steps
// (confirming an application, authorizing without a browser).
func (sb *Sandbox) onboardingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /sandbox/v1/wechatpay/applyment_outcome", sb.handleGetApplymentOutcome)
	mux.HandleFunc("POST /sandbox/v1/wechatpay/applyment_outcome", sb.handleSetApplymentOutcome)
	mux.HandleFunc("GET /sandbox/v1/wechatpay/applyments", sb.handleApplyments)
	mux.HandleFunc("POST /sandbox/v1/wechatpay/applyments/confirm", sb.handleConfirmApplyment)
	mux.HandleFunc("GET /sandbox/v1/alipay/authorization_outcome", sb.handleGetAuthOutcome)
	mux.HandleFunc("POST /sandbox/v1/alipay/authorization_outcome", sb.handleSetAuthOutcome)
}

func (sb *Sandbox) handleGetApplymentOutcome(w http.ResponseWriter, r *http.Request) {
	def, byCode := sb.wechatpay.ApplymentOutcomes()
	if byCode == nil {
		byCode = []wechatpay.ApplymentOutcome{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"default": def, "business_codes": byCode})
}

// handleSetApplymentOutcome sets how the review of sub-merchant
// applications ends and how long it takes: {"outcome": "approved" |
// "rejected" | "needs_info", "reason", "field", "delay_ms", "business_code"
// (optional: else the default for applications without their own)}.
func (sb *Sandbox) handleSetApplymentOutcome(w http.ResponseWriter, r *http.Request) {
	var o wechatpay.ApplymentOutcome
	if !decode(w, r, &o) {
		return
	}
	o.Outcome = strings.TrimSpace(o.Outcome)
	set, err := sb.wechatpay.SetApplymentOutcome(o)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_outcome", err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, set)
}

func (sb *Sandbox) handleApplyments(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": sb.wechatpay.Applyments()})
}

// handleConfirmApplyment is the merchant's super administrator finishing
// account verification and signing (what sign_url's page does):
// {"business_code"}.
func (sb *Sandbox) handleConfirmApplyment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		BusinessCode string `json:"business_code"`
	}
	if !decode(w, r, &req) {
		return
	}
	v, err := sb.wechatpay.ConfirmApplyment(req.BusinessCode)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, v)
	case errors.Is(err, wechatpay.ErrUnknownApplyment):
		writeJSON(w, http.StatusNotFound, helperError{"unknown_applyment", err.Error()})
	case errors.Is(err, wechatpay.ErrNotConfirmable):
		writeJSON(w, http.StatusConflict, helperError{"not_confirmable", err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, helperError{"internal", err.Error()})
	}
}

func (sb *Sandbox) handleGetAuthOutcome(w http.ResponseWriter, r *http.Request) {
	def, byMerchant := sb.alipay.AuthOutcomes()
	if byMerchant == nil {
		byMerchant = []alipay.AuthOutcome{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"default": def, "merchants": byMerchant})
}

// handleSetAuthOutcome sets how Alipay reviews a merchant's authorization
// of the app: {"outcome": "approved" | "rejected", "reason", "delay_ms",
// "merchant" (optional PID, app_id or name: else the default)}. It binds
// to each app_auth_code when issued.
func (sb *Sandbox) handleSetAuthOutcome(w http.ResponseWriter, r *http.Request) {
	var o alipay.AuthOutcome
	if !decode(w, r, &o) {
		return
	}
	o.Outcome = strings.TrimSpace(o.Outcome)
	if o.Merchant != "" {
		pid, ok := sb.alipay.MerchantPID(o.Merchant)
		if !ok {
			writeJSON(w, http.StatusBadRequest, helperError{"invalid_merchant", "merchant " + o.Merchant + " is not a sandbox merchant"})
			return
		}
		o.Merchant = pid
	}
	set, err := sb.alipay.SetAuthOutcome(o)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_outcome", err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, set)
}
