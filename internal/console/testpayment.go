package console

// The portal's test payment: a merchant (or an administrator or operations
// person helping one) makes a small real payment for the merchant through
// hutong's own payment service, exactly as the API's create does, sees its
// wallet code and cashier link, and, when the gateway's wallets are a
// sandbox, has the sandbox's test buyer pay it. It proves a merchant's
// wallets, contracts and webhooks work end to end before real buyers
// arrive.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/notfound"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/payments"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/web"
)

// testPaymentRoles may make test payments: the merchant itself, and the
// platform's administrators and operations, who help a merchant go live
// and name the merchant. Finance and support do not start payments.
var testPaymentRoles = []accounts.Role{accounts.RoleAdmin, accounts.RoleOperations, accounts.RoleMerchant}

const (
	// testPaymentMax caps a test payment at ¥100.00: with real wallets it
	// is real money, refunded from the payment's page.
	testPaymentMax = 10000
	// testPaymentBuyer is the buyer id every test payment names, so that
	// the portal finds them (and analytics can leave them out).
	testPaymentBuyer = "hutong-console-test"
	// testPaymentMark and testPaymentBy are the metadata that mark a
	// payment as a console test and say who made it; the merchant sees
	// them through the API and in its webhooks too.
	testPaymentMark = "hutong_test_payment"
	testPaymentBy   = "hutong_test_payment_by"
	// testPaymentExpiry closes a forgotten test payment after 30 minutes.
	testPaymentExpiry = 30 * 60
	// testPaymentRecent is how many of the merchant's latest test
	// payments the form lists.
	testPaymentRecent = 10
	// testPaymentReloads bounds how many times the page of a payment the
	// sandbox was asked to pay reloads itself, waiting for the wallet's
	// word (every 2 s: about a minute).
	testPaymentReloads = 30
)

// testOrderPattern is the merchant order number the form carries: made by
// the form's page, so that a form sent twice (a double click, a reload)
// asks for the same payment, which the payment service then answers with
// the payment already made instead of a second one.
var testOrderPattern = regexp.MustCompile(`^test-[A-Z2-7]{26}$`)

func newTestOrder() string { return "test-" + rand.Text() }

func (h *Handler) testPaymentRoutes() {
	h.route("GET /console/test-payments", testPaymentRoles, h.testPayments)
	h.route("POST /console/test-payments", testPaymentRoles, h.testPaymentCreate)
	h.route("GET /console/test-payments/{id}", testPaymentRoles, h.testPayment)
	h.route("POST /console/test-payments/{id}/sandbox-pay", testPaymentRoles, h.testPaymentSandboxPay)
}

// testMethod is a method a test payment may use: the code-scanning method
// of a wallet the merchant can be paid through.
type testMethod struct {
	Name, Title, Wallet string
}

// testMethods lists, in the channel registry's order, the QR-code method
// of every wallet that the gateway has an account with and that takes the
// merchant's payments (onboarding's Payable: an active contract where the
// wallet requires one). unpayable names the wallets the gateway has but
// the merchant cannot use yet. A QR-code method is what both a real
// wallet's app and the sandbox's test buyer can pay from a console page.
func (h *Handler) testMethods(r *http.Request, merchantID string) (methods []testMethod, unpayable []string, err error) {
	for _, w := range channel.Wallets() {
		if _, ok := h.cfg.Gateway.Accounts[w.Name]; !ok {
			continue
		}
		i := slices.IndexFunc(w.Methods, func(m channel.Method) bool { return m.Flow == channel.FlowQR })
		if i < 0 {
			continue
		}
		payable, err := h.cfg.Gateway.OnboardingService().Payable(r.Context(), merchantID, w.Name)
		if err != nil {
			return nil, nil, err
		}
		if !payable {
			unpayable = append(unpayable, w.Title)
			continue
		}
		methods = append(methods, testMethod{Name: w.Methods[i].Name, Title: w.Methods[i].Title, Wallet: w.Title})
	}
	return methods, unpayable, nil
}

// isTestPayment reports whether p was made by this page.
func isTestPayment(p payment.Payment) bool {
	return p.Metadata[testPaymentMark] == "console" && p.Buyer.ID == testPaymentBuyer
}

// testPaymentsPage is the form and the merchant's latest test payments.
type testPaymentsPage struct {
	portalPage
	Methods   []testMethod
	Unpayable []string
	Sandbox   bool
	Form      testPaymentForm
	Recent    []payment.Payment
	Max       int64
}

// testPaymentForm is the form as sent, kept when it is refused.
type testPaymentForm struct {
	Order, Method, Amount string
}

func (h *Handler) testPayments(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "test-payments", "测试支付")
	if !ok {
		return
	}
	h.renderTestPayments(w, r, v, http.StatusOK, pp, testPaymentForm{Amount: "0.01"}, "")
}

// renderTestPayments draws the form (with a new order number when the
// form has none) and the merchant's latest test payments, under errMsg.
func (h *Handler) renderTestPayments(w http.ResponseWriter, r *http.Request, v *visit, status int, pp portalPage, f testPaymentForm, errMsg string) {
	tp := testPaymentsPage{portalPage: pp, Sandbox: h.cfg.Sandbox != nil, Form: f, Max: testPaymentMax}
	if !testOrderPattern.MatchString(tp.Form.Order) {
		tp.Form.Order = newTestOrder()
	}
	var err error
	if tp.Methods, tp.Unpayable, err = h.testMethods(r, pp.Merchant.ID); err == nil {
		var found []payment.Payment
		found, err = h.cfg.Gateway.DB.Pool().PaymentSearch(r.Context(), store.PaymentSearchParams{MerchantID: pp.Merchant.ID, BuyerID: testPaymentBuyer, Limit: testPaymentRecent})
		for _, p := range found {
			if isTestPayment(p) {
				tp.Recent = append(tp.Recent, p)
			}
		}
	}
	if err != nil {
		h.cfg.Logger.Error("console: the test payment page", "merchant", pp.Merchant.ID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取这个商户的钱包，请稍后再试。")
		return
	}
	h.render(w, status, "testpayments.html", v, page{Title: "测试支付", Nav: "test-payments", Data: tp, Error: errMsg, Info: r.URL.Query().Get("done")})
}

// testPaymentCreate makes the test payment through the payment service's
// CreatePayment, the path of the API's POST /v1/payments: the wallet's
// prepay, then the payment and its wallet order in one transaction. The
// merchant is the visitor's own (a merchant user cannot name another), or
// the one a platform role names. Every refusal names what to fix and
// makes nothing.
func (h *Handler) testPaymentCreate(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "test-payments", "测试支付")
	if !ok {
		return
	}
	f := testPaymentForm{Order: r.PostFormValue("order"), Method: strings.TrimSpace(r.PostFormValue("method")), Amount: strings.TrimSpace(r.PostFormValue("amount"))}
	refuse := func(status int, msg string) { h.renderTestPayments(w, r, v, status, pp, f, msg) }
	methods, _, err := h.testMethods(r, pp.Merchant.ID)
	if err != nil {
		h.cfg.Logger.Error("console: a merchant's wallets", "merchant", pp.Merchant.ID, "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取这个商户的钱包，请稍后再试。")
		return
	}
	if !testOrderPattern.MatchString(f.Order) {
		f.Order = ""
		refuse(http.StatusBadRequest, "表单已过期（测试单号不对），请在这一页重新填写后再提交。")
		return
	}
	method := slices.IndexFunc(methods, func(m testMethod) bool { return m.Name == f.Method })
	switch {
	case len(methods) == 0:
		refuse(http.StatusConflict, "这个商户还没有可以收款的钱包，无法测试支付。")
		return
	case f.Method == "":
		refuse(http.StatusBadRequest, "请选择支付方式。")
		return
	case method < 0:
		names := make([]string, len(methods))
		for i, m := range methods {
			names[i] = m.Title + "（" + m.Name + "）"
		}
		refuse(http.StatusBadRequest, fmt.Sprintf("支付方式 %q 不能用于这个商户的测试支付；可选：%s。", f.Method, strings.Join(names, "、")))
		return
	}
	amount, err := parseYuan(f.Amount)
	switch {
	case err != nil:
		refuse(http.StatusBadRequest, fmt.Sprintf("金额 %q %s。", f.Amount, err.Error()))
		return
	case amount > testPaymentMax:
		refuse(http.StatusBadRequest, fmt.Sprintf("金额 %s 太大：测试支付至多 %s。", yuan(amount), yuan(testPaymentMax)))
		return
	}
	// A form sent again (a double click, a reload) opens the payment it
	// made, without asking the wallet for a second order.
	if id, err := h.cfg.Gateway.DB.Pool().PaymentIDByOrder(r.Context(), pp.Merchant.ID, f.Order); err == nil {
		http.Redirect(w, r, testPaymentPath(pp, id, ""), http.StatusSeeOther)
		return
	} else if !errors.Is(err, store.ErrNoRows) {
		h.cfg.Logger.Error("console: finding a test payment's order", "merchant", pp.Merchant.ID, "err", err)
		refuse(http.StatusInternalServerError, "暂时无法创建测试支付，请稍后再试。")
		return
	}
	ctx, rec := h.audited(r, v, "test_payment.create", "", pp.Merchant.ID, nil, func(made any) any {
		p, _ := made.(payment.Payment)
		return auditTestPayment(p)
	})
	rec.objectOf = func(made any) string { p, _ := made.(payment.Payment); return "payment:" + p.ID }
	p, err := h.cfg.Gateway.PaymentService().CreatePayment(ctx, pp.Merchant, payment.Request{
		MerchantOrderID: f.Order, Amount: amount, Currency: "CNY", Description: "互通测试支付", Method: f.Method,
		Buyer: payment.Buyer{ID: testPaymentBuyer}, ExpiresIn: testPaymentExpiry,
		Metadata: map[string]string{testPaymentMark: "console", testPaymentBy: v.user.Email},
	})
	if err != nil {
		fe, badField := errors.AsType[*payment.FieldError](err)
		switch {
		case errors.Is(err, payments.ErrDuplicateOrder):
			f.Order = ""
			refuse(http.StatusConflict, "这张表单已经用过了，请在这一页重新填写后再提交。")
		case errors.Is(err, payments.ErrNoContract), errors.Is(err, payments.ErrMethodNotOpen):
			refuse(http.StatusConflict, "这个商户现在不能用 "+f.Method+" 收款（签约未生效或钱包账户未配置）。")
		case errors.Is(err, payments.ErrWalletRefused):
			h.cfg.Logger.Warn("console: a test payment's prepay", "merchant", pp.Merchant.ID, "err", err)
			refuse(http.StatusBadGateway, "钱包拒绝了下单："+err.Error())
		case badField:
			refuse(http.StatusBadRequest, "测试支付未受理："+fe.Error())
		default:
			h.cfg.Logger.Error("console: a test payment", "merchant", pp.Merchant.ID, "err", err)
			refuse(http.StatusInternalServerError, "暂时无法创建测试支付，请稍后再试。")
		}
		return
	}
	rec.done(ctx, p)
	http.Redirect(w, r, testPaymentPath(pp, p.ID, "")+"done="+url.QueryEscape("已创建测试支付 "+yuan(p.Amount)+"，请用钱包扫码付款。"), http.StatusSeeOther)
}

// testPaymentPath is a test payment's page for the merchant of pp,
// followed by extra (query parameters ending in "&") and ready for more.
func testPaymentPath(pp portalPage, id, extra string) string {
	return "/console/test-payments/" + url.PathEscape(id) + "?" + pp.Query() + extra
}

// testPaymentAudit is a test payment as the audit log keeps it.
type testPaymentAudit struct {
	ID       string            `json:"id"`
	Order    string            `json:"merchant_order_id"`
	Amount   int64             `json:"amount"`
	Method   string            `json:"method"`
	Status   string            `json:"status"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func auditTestPayment(p payment.Payment) testPaymentAudit {
	return testPaymentAudit{ID: p.ID, Order: p.MerchantOrderID, Amount: p.Amount, Method: p.Method, Status: p.Status, Metadata: p.Metadata}
}

// testPaymentView is one test payment: its code while it waits, and
// whether the sandbox can pay it.
type testPaymentView struct {
	portalPage
	Payment payment.Payment
	// QR is the wallet's code drawn as SVG, Code its text; empty once
	// the payment no longer waits.
	QR      template.HTML
	Code    string
	Sandbox bool
	// Paying: the sandbox was asked to pay and the wallet's word is
	// awaited.
	Paying bool
}

// loadTestPayment is the test payment the path names, looked up within
// pp's merchant: another merchant's payment, or one this page did not
// make, is answered as missing.
func (h *Handler) loadTestPayment(w http.ResponseWriter, r *http.Request, v *visit, pp portalPage) (payment.Payment, bool) {
	p, err := h.cfg.Gateway.PaymentService().GetPayment(r.Context(), pp.Merchant.ID, r.PathValue("id"))
	switch {
	case errors.Is(err, notfound.Err) || (err == nil && !isTestPayment(p)):
		h.fail(w, r, v, http.StatusNotFound, "这个商户没有这笔测试支付。")
		return p, false
	case err != nil:
		h.cfg.Logger.Error("console: reading a test payment", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法读取这笔测试支付，请稍后再试。")
		return p, false
	}
	return p, true
}

func (h *Handler) testPayment(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "test-payments", "测试支付")
	if !ok {
		return
	}
	p, ok := h.loadTestPayment(w, r, v, pp)
	if !ok {
		return
	}
	pg := page{Info: r.URL.Query().Get("done")}
	// While the wallet's word is awaited the page reloads itself every two
	// seconds, a bounded number of times: no script needed.
	if n, err := strconv.Atoi(r.URL.Query().Get("paying")); err == nil && n > 0 && p.Status == payment.StatusRequiresAction {
		if n < testPaymentReloads {
			pg.Refresh = "2; url=" + testPaymentPath(pp, p.ID, "paying="+strconv.Itoa(n+1))
		}
	}
	h.renderTestPayment(w, r, v, http.StatusOK, pp, p, pg)
}

// renderTestPayment draws p's page with pg's messages.
func (h *Handler) renderTestPayment(w http.ResponseWriter, r *http.Request, v *visit, status int, pp portalPage, p payment.Payment, pg page) {
	tv := testPaymentView{portalPage: pp, Payment: p, Sandbox: h.cfg.Sandbox != nil, Paying: pg.Refresh != ""}
	if tv.Code = waitingCode(p); tv.Code != "" {
		svg, err := web.QRSVG(tv.Code)
		if err != nil {
			h.cfg.Logger.Error("console: drawing a test payment's code", "payment", p.ID, "err", err)
		}
		// QRSVG draws only rectangles from the code's bits: no text of the
		// code reaches the markup.
		tv.QR = template.HTML(svg) //nolint:gosec // generated SVG, no input text in it
	}
	pg.Title, pg.Nav, pg.Data = "测试支付 "+p.ID, "test-payments", tv
	h.render(w, status, "testpayment.html", v, pg)
}

// waitingCode is the wallet's code of a payment still waiting to be paid,
// "" otherwise.
func waitingCode(p payment.Payment) string {
	if p.Status != payment.StatusRequiresAction || p.NextAction == nil {
		return ""
	}
	return p.NextAction.QRCode
}

// testPaymentSandboxPay has the sandbox's test buyer pay a waiting test
// payment, then asks the wallet at once, as the payment page's "ask the
// wallet" does, so that the wallet's signed answer is applied without
// waiting for its notification (which still comes, and is applied once).
//
// The sandbox's payment is the sandbox's state, not the gateway's: it
// cannot share a transaction with the audit log. So the request is
// audited before the sandbox is asked, and its outcome after.
func (h *Handler) testPaymentSandboxPay(w http.ResponseWriter, r *http.Request, v *visit) {
	pp, ok := h.portalMerchant(w, r, v, "test-payments", "测试支付")
	if !ok {
		return
	}
	p, ok := h.loadTestPayment(w, r, v, pp)
	if !ok {
		return
	}
	refuse := func(status int, msg string) { h.renderTestPayment(w, r, v, status, pp, p, page{Error: msg}) }
	code := waitingCode(p)
	switch {
	case h.cfg.Sandbox == nil:
		refuse(http.StatusConflict, "这个互通连接的是真实的钱包，没有钱包沙箱：请用钱包 App 扫码付款。")
		return
	case p.Status != payment.StatusRequiresAction:
		refuse(http.StatusConflict, "这笔测试支付"+statusName(p.Status)+"，不能再付。")
		return
	case code == "":
		refuse(http.StatusConflict, "这笔测试支付没有可供扫描的码。")
		return
	}
	object := "payment:" + p.ID
	if !h.recordAttempt(w, r, v, "test_payment.sandbox_pay_requested", object, p.MerchantID, auditTestPayment(p), nil) {
		return
	}
	if err := h.cfg.Sandbox.Pay(r.Context(), p.Channel, code); err != nil {
		h.cfg.Logger.Warn("console: the sandbox did not pay a test payment", "payment", p.ID, "err", err)
		h.record(r, v, "test_payment.sandbox_pay_failed", object, p.MerchantID, auditTestPayment(p), map[string]string{"error": err.Error()})
		status := http.StatusBadGateway
		if _, refused := errors.AsType[*SandboxRefusal](err); refused {
			status = http.StatusConflict
		}
		refuse(status, sandboxRefusalText(err))
		return
	}
	after, err := h.cfg.Gateway.PaymentService().QueryNow(r.Context(), p.MerchantID, p.ID)
	if err != nil {
		// The sandbox's notification will bring the news; the page waits
		// for it.
		h.cfg.Logger.Warn("console: asking the wallet about a test payment", "payment", p.ID, "err", err)
		after = p
	}
	h.record(r, v, "test_payment.sandbox_paid", object, p.MerchantID, auditTestPayment(p), auditTestPayment(after))
	if after.Status == payment.StatusSucceeded {
		http.Redirect(w, r, testPaymentPath(pp, p.ID, "done="+url.QueryEscape("沙箱测试买家已付款，支付成功。")), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, testPaymentPath(pp, p.ID, "paying=1&done="+url.QueryEscape("沙箱测试买家已付款，正在等钱包通知……")), http.StatusSeeOther)
}
