package api

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/payforme"
	"github.com/hutong-pay/hutong/internal/ratelimit"
	"github.com/hutong-pay/hutong/internal/sharecode"
	"github.com/hutong-pay/hutong/internal/sharecodes"
)

func (s *Server) listAttempts(w http.ResponseWriter, r *http.Request, c caller) {
	p, err := s.Svc.PaymentService().GetPayment(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	list, err := s.Svc.PaymentService().Attempts(r.Context(), p.ID)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

// listMismatches lists the wallet messages refused for the payment because
// something they named was not what hutong sent.
func (s *Server) listMismatches(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := s.Svc.PaymentService().Mismatches(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Server) createPayForMe(w http.ResponseWriter, r *http.Request, c caller) {
	var req payforme.Request
	if !decodeOptional(w, r, &req) {
		return
	}
	pfm, err := s.Svc.PayForMeService().Create(r.Context(), c.merchant.ID, r.PathValue("id"), req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, pfm)
}

func (s *Server) getPayForMe(w http.ResponseWriter, r *http.Request, c caller) {
	pfm, err := s.Svc.PayForMeService().OfMerchant(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pfm)
}

func (s *Server) revokePayForMe(w http.ResponseWriter, r *http.Request, c caller) {
	pfm, err := s.Svc.PayForMeService().Revoke(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pfm)
}

func (s *Server) createShareCode(w http.ResponseWriter, r *http.Request, c caller) {
	var req sharecodes.Request
	if !decode(w, r, &req) {
		return
	}
	sc, err := s.Svc.ShareCodeService().Create(r.Context(), c.merchant.ID, req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, sc)
}

func (s *Server) getShareCode(w http.ResponseWriter, r *http.Request, c caller) {
	sc, err := s.Svc.ShareCodeService().Get(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

func (s *Server) revokeShareCode(w http.ResponseWriter, r *http.Request, c caller) {
	sc, err := s.Svc.ShareCodeService().Revoke(r.Context(), c.merchant.ID, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

// ResolveLimit bounds share code resolves per API key (and, on the public
// /s/ page, per address): each resolve is a guess at a token.
var ResolveLimit = &ratelimit.Limiter{Rate: 5, Burst: 30}

func (s *Server) resolveShareCode(w http.ResponseWriter, r *http.Request, c caller) {
	if ok, wait := ResolveLimit.Allow("key:"+c.key.ID, time.Now()); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, "rate_limit_error", "too_many_resolves", "too many share code resolves; retry after "+retryAfter(wait)+" s", "")
		return
	}
	var req struct {
		Text string `json:"text"`
	}
	if !decode(w, r, &req) {
		return
	}
	if len(req.Text) > 8<<10 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "text must be at most 8 KiB", "text")
		return
	}
	// A merchant key resolves only its own codes (another merchant's is
	// unknown to it), and so does a platform key naming a merchant; a
	// platform key naming none resolves any merchant's.
	sc, err := s.Svc.ShareCodeService().Resolve(r.Context(), scope(c), req.Text)
	if err != nil {
		failShare(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

// retryAfter is a wait in whole seconds, rounded up, as Retry-After wants.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// failShare says why a share code did not resolve.
func failShare(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, sharecode.ErrNoToken):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "share_code_absent", "the text holds no share code", "text")
	case errors.Is(err, sharecode.ErrMistyped):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "share_code_mistyped", "the text holds a share code with a typo: its check character does not match", "text")
	case errors.Is(err, gateway.ErrShareUnknown):
		writeError(w, http.StatusNotFound, "invalid_request_error", "share_code_unknown", err.Error(), "text")
	case errors.Is(err, gateway.ErrShareExpired):
		writeError(w, http.StatusGone, "invalid_request_error", "share_code_expired", err.Error(), "text")
	case errors.Is(err, gateway.ErrShareRevoked):
		writeError(w, http.StatusGone, "invalid_request_error", "share_code_revoked", err.Error(), "text")
	case errors.Is(err, gateway.ErrShareUsedUp):
		writeError(w, http.StatusGone, "invalid_request_error", "share_code_used_up", err.Error(), "text")
	default:
		fail(w, err)
	}
}

func (s *Server) shareStats(w http.ResponseWriter, r *http.Request, c caller) {
	by := r.URL.Query().Get("by")
	if by != "" && by != "source" && by != "code" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter", "by must be source or code", "by")
		return
	}
	list, err := s.Svc.ShareCodeService().Stats(r.Context(), c.merchant.ID, by)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

// returnKey publishes the key that signs returns to merchants' return_url.
func (s *Server) returnKey(w http.ResponseWriter, r *http.Request, c caller) {
	key, err := s.Svc.PaymentService().ReturnKey(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"algorithm": "ed25519", "public_key": base64.StdEncoding.EncodeToString([]byte(key.Public().(ed25519.PublicKey)))})
}
