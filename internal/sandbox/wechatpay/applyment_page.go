package wechatpay

import (
	"crypto/subtle"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
)

// PagesHandler serves the sandbox's stand-in for the platform's pages a
// sub-merchant's super administrator opens (sign_url): the application's
// state and, when it awaits them, account verification and signing.
// A POST from another site is refused.
func (s *Simulator) PagesHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(signPath, s.signPage)
	return http.NewCrossOriginProtection().Handler(mux)
}

var signPage = template.Must(template.New("sign").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>微信支付 · 特约商户签约（沙箱）</title>
<style>body{font-family:system-ui,sans-serif;max-width:420px;margin:0 auto;padding:16px;background:#f5f6f8}
header{background:#07C160;color:#fff;padding:14px 16px;border-radius:8px;margin-bottom:16px}
section,form{background:#fff;border-radius:8px;padding:14px;margin:10px 0}button{background:#07C160;color:#fff;border:0;border-radius:6px;padding:10px 14px;font-size:15px}
.err{color:#c00}dt{color:#666;font-size:13px}dd{margin:0 0 8px}</style></head><body>
<header><b>微信支付</b> · 特约商户申请单（hutong 沙箱）</header>
{{if .Error}}<p class="err">{{.Error}}</p>{{else}}{{with .A}}
<section><dl><dt>商户名称</dt><dd>{{.MerchantName}}</dd><dt>业务申请编号</dt><dd>{{.BusinessCode}}</dd>
<dt>申请单号</dt><dd>{{.ApplymentID}}</dd><dt>状态</dt><dd>{{.ApplymentStateMsg}}（{{.ApplymentState}}）</dd>
{{if .SubMchID}}<dt>特约商户号</dt><dd>{{.SubMchID}}</dd>{{end}}
{{range .AuditDetail}}<dt>驳回：{{.FieldName}}</dt><dd>{{.RejectReason}}</dd>{{end}}</dl></section>{{end}}
{{if .Confirmable}}<form method="post"><p>以超级管理员身份核对联系信息、完成账户验证并签约。</p><button type="submit">完成验证并签约</button></form>{{end}}
{{end}}</body></html>`))

func (s *Simulator) signPage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	var data struct {
		Error       string
		A           *ApplymentView
		Confirmable bool
	}
	id, _ := strconv.ParseInt(r.URL.Query().Get("applymentId"), 10, 64)
	sign := r.URL.Query().Get("sign")
	s.mu.Lock()
	a := s.applymentIDs[id]
	if a == nil || subtle.ConstantTimeCompare([]byte(a.SignToken), []byte(sign)) != 1 {
		s.mu.Unlock()
		data.Error = "链接无效或已过期"
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		renderSignPage(w, data)
		return
	}
	var err error
	var v ApplymentView
	if r.Method == http.MethodPost {
		v, err = s.confirm(a)
	} else {
		s.advanceApplyment(a)
		v = s.view(a)
	}
	s.mu.Unlock()
	if err == nil && r.Method == http.MethodPost { // a reload must not post again
		http.Redirect(w, r, r.URL.String(), http.StatusSeeOther)
		return
	}
	data.A = &v
	data.Confirmable = v.ApplymentState == ApplymentToBeConfirmed || v.ApplymentState == ApplymentToBeSigned
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err != nil {
		data.Error = err.Error()
		w.WriteHeader(http.StatusConflict)
	}
	renderSignPage(w, data)
}

// renderSignPage writes the signing page; a template that fails is a bug
// of the sandbox, logged.
func renderSignPage(w http.ResponseWriter, data any) {
	if err := signPage.Execute(w, data); err != nil {
		slog.Error("wechatpay sandbox: the signing page did not render", "err", err)
	}
}
