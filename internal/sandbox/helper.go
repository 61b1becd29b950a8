package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/hutong-pay/hutong/internal/jsonbody"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/sandbox/users"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

// helperError is the helper API's error body.
type helperError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (sb *Sandbox) helperRoutes(outer *http.ServeMux) {
	mux := http.NewServeMux()
	outer.Handle("/sandbox/v1/", helperGuard(mux))
	mux.HandleFunc("POST /sandbox/v1/pay", sb.handlePay)
	mux.HandleFunc("GET /sandbox/v1/notifications", sb.handleNotifications)
	mux.HandleFunc("GET /sandbox/v1/notifications/{id}", sb.handleNotification)
	mux.HandleFunc("POST /sandbox/v1/notifications/redeliver", sb.handleRedeliver)
	mux.HandleFunc("GET /sandbox/v1/faults", sb.handleGetFaults)
	mux.HandleFunc("POST /sandbox/v1/faults", sb.handleSetFaults)
	mux.HandleFunc("GET /sandbox/v1/bill_faults", sb.handleGetBillFaults)
	mux.HandleFunc("POST /sandbox/v1/bill_faults", sb.handleSetBillFaults)
	mux.HandleFunc("GET /sandbox/v1/users", sb.handleUsers)
	mux.HandleFunc("GET /sandbox/v1/orders", sb.handleOrders)
	mux.HandleFunc("GET /sandbox/v1/credentials", sb.handleCredentials)
	mux.HandleFunc("GET /sandbox/v1/wechatpay/sub_merchants", sb.handleSubMerchants)
	mux.HandleFunc("GET /sandbox/v1/wechatpay/settings", sb.handleGetSettings)
	mux.HandleFunc("POST /sandbox/v1/wechatpay/settings", sb.handleSetSettings)
	mux.HandleFunc("GET /sandbox/v1/alipay/merchants", sb.handleAlipayMerchants)
	mux.HandleFunc("POST /sandbox/v1/alipay/app_auth_codes", sb.handleAlipayAuthCode)
	mux.HandleFunc("POST /sandbox/v1/alipay/finish", sb.handleAlipayFinish)
	sb.onboardingRoutes(mux)
	sb.profitSharingRoutes(mux)
	mux.HandleFunc("/sandbox/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, helperError{"not_found", fmt.Sprintf("%s %s is not part of the sandbox helper API", r.Method, r.URL.Path)})
	})
}

// helperOrigins refuses a helper request sent by another site's page.
var helperOrigins = http.NewCrossOriginProtection()

// helperGuard lets a state-changing helper request through only when it
// is JSON (Content-Type application/json) and comes from no other site
// (no Sec-Fetch-Site: cross-site or same-site, no Origin but the
// sandbox's own). The helper API has no authentication and usually
// listens on loopback, where any web page the developer opens can reach
// it: a page may send a cross-site text/plain or form POST without asking
// (no CORS preflight), but not an application/json one, and the browser
// names the page in Origin and Sec-Fetch-Site. Programs (SDK tests, curl
// with -H 'Content-Type: application/json') send no Origin and pass.
// Reads are not guarded: a page cannot read another origin's answers.
func helperGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if err := helperOrigins.Check(r); err != nil {
			from := r.Header.Get("Origin")
			if from == "" {
				from = "Sec-Fetch-Site: " + r.Header.Get("Sec-Fetch-Site")
			}
			writeJSON(w, http.StatusForbidden, helperError{"cross_origin", fmt.Sprintf("the helper API accepts no request from another site (%s); call it from a program, not a web page", from)})
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeJSON(w, http.StatusUnsupportedMediaType, helperError{"unsupported_media_type",
				fmt.Sprintf("the helper API takes Content-Type: application/json, not %q", r.Header.Get("Content-Type"))})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		slog.Error("sandbox helper: an answer did not encode", "err", err)
	}
}

// decode reads a small JSON body with the gateway's strict decoder
// (internal/jsonbody): unknown fields are refused, so a misspelt knob is an
// error and not a silent no-op, and so are duplicate keys and trailing data.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := jsonbody.ReadAll(w, r, 64<<10)
	if err == nil {
		err = jsonbody.Decode(body, v)
	}
	if err != nil {
		status := http.StatusBadRequest
		if e, ok := errors.AsType[*jsonbody.Error](err); ok {
			status = e.Status
		}
		writeJSON(w, status, helperError{"invalid_body", "the body is not the expected JSON: " + err.Error()})
		return false
	}
	return true
}

type payRequest struct {
	Wallet string `json:"wallet"`
	Code   string `json:"code"`
	User   string `json:"user,omitempty"`
}

func (sb *Sandbox) handlePay(w http.ResponseWriter, r *http.Request) {
	var req payRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Code == "" {
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_body", "code is required: a WeChat code_url, prepay_id or h5_url, or an Alipay qr_code, trade_no or order string"})
		return
	}
	var res any
	var err error
	switch req.Wallet {
	case wechatpay.Wallet:
		res, err = sb.wechatpay.Pay(req.Code, req.User)
	case alipay.Wallet:
		res, err = sb.alipay.Pay(req.Code, req.User)
	case "":
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_body", `wallet is required: "wechatpay" or "alipay"`})
		return
	default:
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_body", fmt.Sprintf("wallet %q is unknown; use \"wechatpay\" or \"alipay\"", req.Wallet)})
		return
	}
	writePayResult(w, res, err)
}

func writePayResult(w http.ResponseWriter, res any, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case errors.Is(err, wechatpay.ErrUnknownCode), errors.Is(err, alipay.ErrUnknownCode):
		writeJSON(w, http.StatusNotFound, helperError{"unknown_code", err.Error()})
	case errors.Is(err, users.ErrNoSuchUser):
		writeJSON(w, http.StatusNotFound, helperError{"unknown_user", err.Error()})
	case errors.Is(err, users.ErrInsufficientBalance):
		writeJSON(w, http.StatusPaymentRequired, helperError{"insufficient_balance", err.Error()})
	case errors.Is(err, wechatpay.ErrOrderPaid), errors.Is(err, alipay.ErrTradePaid):
		writeJSON(w, http.StatusConflict, helperError{"order_paid", err.Error()})
	case errors.Is(err, wechatpay.ErrOrderClosed), errors.Is(err, alipay.ErrTradeClosed):
		writeJSON(w, http.StatusConflict, helperError{"order_closed", err.Error()})
	case errors.Is(err, wechatpay.ErrWrongPayer), errors.Is(err, alipay.ErrWrongPayer):
		writeJSON(w, http.StatusConflict, helperError{"wrong_payer", err.Error()})
	default:
		writeJSON(w, http.StatusBadRequest, helperError{"refused", err.Error()})
	}
}

func (sb *Sandbox) handleNotifications(w http.ResponseWriter, r *http.Request) {
	list := sb.notifier.List(r.URL.Query().Get("wallet"))
	if st := r.URL.Query().Get("status"); st != "" {
		kept := list[:0]
		for _, n := range list {
			if n.Status == st {
				kept = append(kept, n)
			}
		}
		list = kept
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (sb *Sandbox) handleNotification(w http.ResponseWriter, r *http.Request) {
	n, ok := sb.notifier.Get(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, helperError{"unknown_notification", fmt.Sprintf("notification %q does not exist", r.PathValue("id"))})
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (sb *Sandbox) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !decode(w, r, &req) {
		return
	}
	n, err := sb.notifier.Redeliver(req.ID)
	if err != nil {
		writeJSON(w, http.StatusNotFound, helperError{"unknown_notification", err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (sb *Sandbox) handleGetFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": sb.faults.All()})
}

func (sb *Sandbox) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	var f faults.Faults
	if !decode(w, r, &f) {
		return
	}
	if err := sb.faults.Set(f); err != nil {
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_faults", err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, sb.faults.Get(f.Wallet))
}

// userView adds each user's wallet identities: WeChat openids per appid,
// the Alipay buyer id and open ids per app.
type userView struct {
	users.User
	WeChatOpenIDs map[string]string `json:"wechat_openids"`
	AlipayBuyerID string            `json:"alipay_buyer_id"`
	AlipayLogonID string            `json:"alipay_logon_id"`
	AlipayOpenIDs map[string]string `json:"alipay_open_ids"`
}

func (sb *Sandbox) handleUsers(w http.ResponseWriter, r *http.Request) {
	appids := []string{sb.wechatpay.Credentials().AppID}
	for _, sm := range sb.wechatpay.SubMerchants() {
		if sm.SubAppID != "" { // an onboarded sub-merchant has no appid of its own
			appids = append(appids, sm.SubAppID)
		}
	}
	var out []userView
	for _, u := range sb.users.List() {
		v := userView{User: u, WeChatOpenIDs: map[string]string{}, AlipayBuyerID: alipay.BuyerID(u.ID), AlipayLogonID: alipay.LogonID(u.ID), AlipayOpenIDs: map[string]string{}}
		for _, a := range appids {
			v.WeChatOpenIDs[a] = users.OpenID(u.ID, a)
		}
		for _, m := range sb.alipay.Merchants() {
			v.AlipayOpenIDs[m.AppID] = alipay.BuyerOpenID(u.ID, m.AppID)
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (sb *Sandbox) handleCredentials(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, sb.Credentials())
}

func (sb *Sandbox) handleSubMerchants(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": sb.wechatpay.SubMerchants()})
}

type wechatSettings struct {
	Signing string `json:"signing"`
}

func (sb *Sandbox) handleGetSettings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wechatSettings{Signing: sb.wechatpay.Signing()})
}

func (sb *Sandbox) handleSetSettings(w http.ResponseWriter, r *http.Request) {
	var s wechatSettings
	if !decode(w, r, &s) {
		return
	}
	if err := sb.wechatpay.SetSigning(strings.TrimSpace(s.Signing)); err != nil {
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_settings", err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, wechatSettings{Signing: sb.wechatpay.Signing()})
}

func (sb *Sandbox) handleAlipayMerchants(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": sb.alipay.Merchants()})
}

// handleAlipayAuthCode is a sandbox merchant authorizing the app, without
// the browser page (/oauth2/appToAppAuth.htm) a person would use.
func (sb *Sandbox) handleAlipayAuthCode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Merchant string `json:"merchant"`
	}
	if !decode(w, r, &req) {
		return
	}
	// A merchant may be named by its PID, app_id or name.
	pid, ok := sb.alipay.MerchantPID(req.Merchant)
	if !ok {
		pid = req.Merchant
	}
	code, err := sb.alipay.IssueAuthCode(pid)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_merchant", err.Error()})
		return
	}
	// The code's review (authorization_outcome) comes with it.
	v, _ := sb.alipay.AuthCodeInfo(code)
	writeJSON(w, http.StatusOK, v)
}

// handleAlipayFinish ends a paid trade's refundable period now.
func (sb *Sandbox) handleAlipayFinish(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TradeNo string `json:"trade_no"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := sb.alipay.Finish(req.TradeNo); err != nil {
		writePayResult(w, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"trade_no": req.TradeNo, "trade_status": alipay.StatusTradeFinished})
}
