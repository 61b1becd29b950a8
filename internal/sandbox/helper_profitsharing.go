package sandbox

import (
	"net/http"

	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

// profitSharingRoutes are the helper API's knobs of WeChat Pay profit
// sharing: how long a sharing order stays PROCESSING, and a transaction's
// sharing orders.
func (sb *Sandbox) profitSharingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /sandbox/v1/wechatpay/profit_sharing", sb.handleGetSharingSettings)
	mux.HandleFunc("POST /sandbox/v1/wechatpay/profit_sharing", sb.handleSetSharingSettings)
	mux.HandleFunc("GET /sandbox/v1/wechatpay/profit_sharing/{transaction_id}", sb.handleSharings)
}

func (sb *Sandbox) handleGetSharingSettings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, sb.wechatpay.SharingSettings())
}

// handleSetSharingSettings sets {"delay_ms": n}: sharing orders created
// from now on stay PROCESSING that long (0: FINISHED at once).
func (sb *Sandbox) handleSetSharingSettings(w http.ResponseWriter, r *http.Request) {
	var st wechatpay.SharingSettings
	if !decode(w, r, &st) {
		return
	}
	if err := sb.wechatpay.SetSharingSettings(st); err != nil {
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_body", err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, sb.wechatpay.SharingSettings())
}

func (sb *Sandbox) handleSharings(w http.ResponseWriter, r *http.Request) {
	list := sb.wechatpay.Sharings(r.PathValue("transaction_id"))
	if list == nil {
		list = []wechatpay.Sharing{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sharings": list})
}
