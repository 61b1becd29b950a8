package recon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	alipaysdk "github.com/smartwalle/alipay/v3"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/recon"
	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

// These tests parse bills the real sandbox serves and reconcile them
// against what the test itself did: its own books.

var seq atomic.Int64

func outTradeNo(prefix string) string {
	return fmt.Sprintf("%s%d%06d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// books is the test's record of what it paid and refunded: "ours".
type books struct {
	channel, merchant string
	fee               func(int64) int64
	rows              []recon.Row
}

func (b *books) pay(no, txn string, amount int64) {
	b.rows = append(b.rows, recon.Row{Channel: b.channel, Kind: recon.KindPayment, OutTradeNo: no, TransactionID: txn,
		Status: recon.StatusSuccess, Amount: amount, Fee: b.fee(amount), Merchant: b.merchant})
}

func (b *books) refund(no, txn, outRefundNo string, amount int64) {
	b.rows = append(b.rows, recon.Row{Channel: b.channel, Kind: recon.KindRefund, OutTradeNo: no, TransactionID: txn,
		OutRefundNo: outRefundNo, Status: recon.StatusSuccess, Amount: amount, Fee: -b.fee(amount), Merchant: b.merchant})
}

func (b *books) only(kind string) []recon.Row {
	var out []recon.Row
	for _, r := range b.rows {
		if kind == "" || r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// reconcile sorts both sides and matches them, returning the results by
// kind, each as the row keys.
func reconcile(t *testing.T, bill recon.RowSource, ours []recon.Row) (recon.Summary, map[recon.ResultKind][]string, []recon.Result) {
	t.Helper()
	got := map[recon.ResultKind][]string{}
	var all []recon.Result
	sum, err := recon.Reconcile(context.Background(), bill, recon.Rows(ours), recon.SortOptions{}, func(r recon.Result) error {
		row := r.Bill
		if r.Kind == recon.MissingWallet {
			row = r.Ours
		}
		got[r.Kind] = append(got[r.Kind], row.Key())
		all = append(all, r)
		return nil
	})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return sum, got, all
}

// --- WeChat Pay ---

type wechatEnv struct {
	t      *testing.T
	e      *sandboxtest.Env
	client *core.Client
	books  books
}

func newWeChat(t *testing.T) *wechatEnv {
	t.Helper()
	e := sandboxtest.Start(t)
	c := e.Credentials()
	key, err := utils.LoadPrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := utils.LoadPublicKey(c.PlatformPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := core.NewClient(context.Background(),
		option.WithHTTPClient(e.HTTPClient()),
		option.WithWechatPayPublicKeyAuthCipher(c.MchID, c.MerchantSerialNo, key, c.PlatformPublicKeyID, pub),
	)
	if err != nil {
		t.Fatal(err)
	}
	return &wechatEnv{t: t, e: e, client: client, books: books{channel: recon.ChannelWeChatPay, merchant: c.MchID, fee: wechatpay.Fee}}
}

// pay opens a Native order and has the default buyer pay it.
func (w *wechatEnv) pay(total int64) (no, txn string) {
	w.t.Helper()
	c := w.e.Credentials()
	no = outTradeNo("N")
	resp, _, err := (&native.NativeApiService{Client: w.client}).Prepay(context.Background(), native.PrepayRequest{
		Appid: core.String(c.AppID), Mchid: core.String(c.MchID), Description: core.String("hutong 对账测试, 含逗号"),
		OutTradeNo: core.String(no), NotifyUrl: core.String("https://merchant.example/notify"),
		Amount: &native.Amount{Total: core.Int64(total), Currency: core.String("CNY")},
	})
	if err != nil {
		w.t.Fatalf("prepay: %v", err)
	}
	res := w.e.Pay(*resp.CodeUrl, "")
	w.books.pay(no, res.TransactionID, total)
	return no, res.TransactionID
}

// refund refunds part of an order and waits for it to succeed.
func (w *wechatEnv) refund(no, txn string, amount, total int64) string {
	w.t.Helper()
	svc := refunddomestic.RefundsApiService{Client: w.client}
	orn := no + "-R" + fmt.Sprint(seq.Add(1))
	if _, _, err := svc.Create(context.Background(), refunddomestic.CreateRequest{
		OutTradeNo: core.String(no), OutRefundNo: core.String(orn),
		Amount: &refunddomestic.AmountReq{Refund: core.Int64(amount), Total: core.Int64(total), Currency: core.String("CNY")},
	}); err != nil {
		w.t.Fatalf("refund: %v", err)
	}
	sandboxtest.Eventually(w.t, 5*time.Second, "refund succeeds", func() bool {
		r, _, err := svc.QueryByOutRefundNo(context.Background(), refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String(orn)})
		return err == nil && *r.Status == refunddomestic.STATUS_SUCCESS
	})
	w.books.refund(no, txn, orn, amount)
	return orn
}

// bill applies for today's bill and downloads it.
func (w *wechatEnv) bill(typ string, gz bool) []byte {
	w.t.Helper()
	q := "bill_date=" + chinatime.Date(time.Now()) + "&bill_type=" + typ
	if gz {
		q += "&tar_type=GZIP"
	}
	res, err := w.client.Get(context.Background(), "https://api.mch.weixin.qq.com/v3/bill/tradebill?"+q)
	if err != nil {
		w.t.Fatalf("bill application: %v", err)
	}
	var a struct {
		DownloadURL string `json:"download_url"`
	}
	if err := json.NewDecoder(res.Response.Body).Decode(&a); err != nil {
		w.t.Fatal(err)
	}
	// The file's answer is unsigned, as WeChat Pay's is: no validator.
	res, err = core.NewClientWithValidator(w.client, &validators.NullValidator{}).Get(context.Background(), a.DownloadURL)
	if err != nil {
		w.t.Fatalf("bill download: %v", err)
	}
	body, _ := io.ReadAll(res.Response.Body)
	return body
}

func (w *wechatEnv) parse(bill []byte) *recon.WeChatBillReader {
	w.t.Helper()
	r, err := recon.NewWeChatTradeBill(bytes.NewReader(bill))
	if err != nil {
		w.t.Fatalf("parse: %v\n%s", err, bill)
	}
	return r
}

func TestWeChatBillsFromSandbox(t *testing.T) {
	t.Parallel()
	w := newWeChat(t)
	start := time.Now().Truncate(time.Second)
	no1, txn1 := w.pay(12345)
	w.pay(100)
	w.pay(1)
	no4, txn4 := w.pay(99999)
	w.refund(no1, txn1, 2345, 12345)
	w.refund(no4, txn4, 1, 99999)
	w.refund(no4, txn4, 50000, 99999)

	for _, c := range []struct {
		typ  string
		gz   bool
		kind string
	}{{"ALL", false, ""}, {"ALL", true, ""}, {"SUCCESS", false, recon.KindPayment}, {"REFUND", true, recon.KindRefund}} {
		t.Run(fmt.Sprintf("%s gzip=%v", c.typ, c.gz), func(t *testing.T) {
			raw := w.bill(c.typ, c.gz)
			if gz := len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b; gz != c.gz {
				t.Fatalf("gzip %v, asked %v", gz, c.gz)
			}
			rows, err := recon.ReadAll(w.parse(raw))
			if err != nil {
				t.Fatal(err)
			}
			want := w.books.only(c.kind)
			if len(rows) != len(want) {
				t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
			}
			for _, r := range rows {
				if r.At.Before(start) || r.At.After(time.Now()) || r.At.Location() != time.UTC {
					t.Errorf("%s: time %v outside the test", r.Key(), r.At)
				}
				if r.Kind == recon.KindRefund && !strings.HasPrefix(r.RefundID, "50") {
					t.Errorf("%s: refund id %q", r.Key(), r.RefundID)
				}
			}
			sum, got, all := reconcile(t, recon.Rows(rows), want)
			if sum.Matched != int64(len(want)) || sum.Discrepancies() != 0 {
				t.Fatalf("summary %+v: %v", sum, got)
			}
			for _, r := range all { // what is not compared agrees too
				if r.Bill.TransactionID != r.Ours.TransactionID || r.Bill.Merchant != r.Ours.Merchant || r.Bill.Channel != recon.ChannelWeChatPay {
					t.Errorf("%s: bill %+v, ours %+v", r.Bill.Key(), r.Bill, r.Ours)
				}
			}
		})
	}
}

// --- Alipay ---

type alipayEnv struct {
	t      *testing.T
	e      *sandboxtest.Env
	client *alipaysdk.Client
	books  books
}

func newAlipay(t *testing.T) *alipayEnv {
	t.Helper()
	e := sandboxtest.Start(t)
	c := e.Sandbox().Credentials().Alipay
	client, err := alipaysdk.New(c.AppID, c.AppPrivateKey, true,
		alipaysdk.WithProductionGateway(e.URL+"/gateway.do"), alipaysdk.WithTimeLocation(chinatime.Location))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.LoadAliPayPublicKey(c.AlipayPublicKey); err != nil {
		t.Fatal(err)
	}
	pid := e.Sandbox().Alipay().Merchants()[0].PID
	return &alipayEnv{t: t, e: e, client: client, books: books{channel: recon.ChannelAlipay, merchant: pid, fee: alipay.Fee}}
}

func (a *alipayEnv) pay(total int64) (no, tradeNo string) {
	a.t.Helper()
	no = outTradeNo("A")
	p := alipaysdk.TradePreCreate{}
	p.OutTradeNo, p.Subject, p.TotalAmount = no, "hutong 对账测试 · 豆浆, 油条", fmt.Sprintf("%d.%02d", total/100, total%100)
	res, err := a.client.TradePreCreate(p)
	if err != nil || !res.IsSuccess() {
		a.t.Fatalf("precreate: %v %+v", err, res)
	}
	var paid alipay.PayResult
	if st := a.e.Helper("POST", "/sandbox/v1/pay", map[string]string{"wallet": "alipay", "code": res.QRCode}, &paid); st != http.StatusOK {
		a.t.Fatalf("pay: status %d", st)
	}
	a.books.pay(no, paid.TradeNo, total)
	return no, paid.TradeNo
}

func (a *alipayEnv) refund(no, tradeNo, requestNo string, amount int64) {
	a.t.Helper()
	r, err := a.client.TradeRefund(alipaysdk.TradeRefund{OutTradeNo: no, RefundAmount: fmt.Sprintf("%d.%02d", amount/100, amount%100), OutRequestNo: requestNo})
	if err != nil || !r.IsSuccess() {
		a.t.Fatalf("refund: %v %+v", err, r)
	}
	a.books.refund(no, tradeNo, requestNo, amount)
}

func (a *alipayEnv) bill() []byte {
	a.t.Helper()
	res, err := a.client.BillDownloadURLQuery(alipaysdk.BillDownloadURLQuery{BillType: "trade", BillDate: chinatime.Date(time.Now())})
	if err != nil || !res.IsSuccess() {
		a.t.Fatalf("bill url: %v %+v", err, res)
	}
	resp, err := http.Get(res.BillDownloadURL)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("bill download: %d %s", resp.StatusCode, raw)
	}
	return raw
}

func (a *alipayEnv) parse(zip []byte) *recon.AlipayBillReader {
	a.t.Helper()
	r, err := recon.NewAlipayBill(bytes.NewReader(zip), int64(len(zip)))
	if err != nil {
		a.t.Fatalf("parse: %v", err)
	}
	return r
}

func TestAlipayBillFromSandbox(t *testing.T) {
	t.Parallel()
	a := newAlipay(t)
	start := time.Now().Truncate(time.Second)
	no1, tn1 := a.pay(10000)
	a.pay(50)
	no3, tn3 := a.pay(12345)
	a.refund(no1, tn1, "RB1", 2500)
	a.refund(no3, tn3, "RB1", 1) // the same request number, another trade
	a.refund(no3, tn3, "RB2", 12344)

	var calls []int64
	raw := a.bill()
	r, err := recon.NewAlipayBill(bytes.NewReader(raw), int64(len(raw)), recon.WithProgress(func(rows, done, total int64) {
		calls = append(calls, rows, done, total)
	}, 0))
	if err != nil {
		t.Fatal(err)
	}
	if r.Merchant() != a.books.merchant {
		t.Fatalf("merchant %q, want %q", r.Merchant(), a.books.merchant)
	}
	rows, err := recon.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 3 || calls[0] != 6 || calls[1] != calls[2] || calls[1] <= 0 || calls[2] >= int64(len(raw)) {
		t.Fatalf("progress calls %v for a %d-byte zip", calls, len(raw))
	}
	for _, r := range rows {
		if r.At.Before(start) || r.At.After(time.Now()) {
			t.Errorf("%s: time %v outside the test", r.Key(), r.At)
		}
	}
	sum, got, all := reconcile(t, recon.Rows(rows), a.books.rows)
	if sum.Matched != 6 || sum.Discrepancies() != 0 || sum.BillNet != 10000+50+12345-2500-1-12344 || sum.BillFees != sum.OurFees {
		t.Fatalf("summary %+v: %v", sum, got)
	}
	for _, r := range all {
		if r.Bill.TransactionID != r.Ours.TransactionID || r.Bill.Merchant != r.Ours.Merchant {
			t.Errorf("%s: bill %+v, ours %+v", r.Bill.Key(), r.Bill, r.Ours)
		}
	}
}

// --- Discrepancy injection, end to end ---

func setBillFaults(t *testing.T, e *sandboxtest.Env, body map[string]any) {
	t.Helper()
	var out map[string]any
	if st := e.Helper("POST", "/sandbox/v1/bill_faults", body, &out); st != http.StatusOK {
		t.Fatalf("bill faults %v: status %d %v", body, st, out)
	}
}

// checkFound asserts that each planted discrepancy was found exactly once
// and everything else matched.
func checkFound(t *testing.T, sum recon.Summary, got map[recon.ResultKind][]string, want map[recon.ResultKind][]string, total int) {
	t.Helper()
	for _, k := range []recon.ResultKind{recon.MissingOurs, recon.MissingWallet, recon.AmountDiffers, recon.StatusDiffers, recon.FeeDiffers} {
		g, w := slices.Sorted(slices.Values(got[k])), slices.Sorted(slices.Values(want[k]))
		if !slices.Equal(g, w) {
			t.Errorf("%s: found %v, planted %v", k, g, w)
		}
	}
	var planted int64
	for _, w := range want {
		planted += int64(len(w))
	}
	if sum.Discrepancies() != planted || sum.Matched+sum.Discrepancies()-sum.MissingOurs != int64(total) {
		t.Errorf("summary %+v with %d planted over %d rows of ours", sum, planted, total)
	}
}

func TestWeChatBillFaultsFound(t *testing.T) {
	t.Parallel()
	w := newWeChat(t)
	noA, txnA := w.pay(10000)
	noB, _ := w.pay(2000)
	noC, _ := w.pay(3000)
	noD, txnD := w.pay(40000)
	w.pay(500)
	ornA := w.refund(noA, txnA, 1000, 10000)
	ornD := w.refund(noD, txnD, 4000, 40000)

	// A true bill matches.
	sum, got, _ := reconcile(t, w.parse(w.bill("ALL", false)), w.books.rows)
	if sum.Matched != 7 || sum.Discrepancies() != 0 {
		t.Fatalf("true bill: %+v %v", sum, got)
	}

	setBillFaults(t, w.e, map[string]any{
		"wallet": "wechatpay",
		"drop":   []string{noB, noA + "/" + ornA},
		"extra": []map[string]any{
			{"out_trade_no": "GHOST-1", "amount": 777},
			{"kind": "refund", "out_trade_no": noC, "out_refund_no": "GHOST-R", "amount": 100},
		},
		"amount_delta": map[string]int64{noC: 1},
		"status":       map[string]string{noD: "REVOKED", noD + "/" + ornD: "PROCESSING"},
		"fee_delta":    map[string]int64{noA: 1},
	})
	for _, gz := range []bool{false, true} {
		sum, got, all := reconcile(t, w.parse(w.bill("ALL", gz)), w.books.rows)
		checkFound(t, sum, got, map[recon.ResultKind][]string{
			recon.MissingOurs:   {"payment/GHOST-1", "refund/" + noC + "/GHOST-R"},
			recon.MissingWallet: {"payment/" + noB, "refund/" + noA + "/" + ornA},
			recon.AmountDiffers: {"payment/" + noC},
			recon.StatusDiffers: {"payment/" + noD, "refund/" + noD + "/" + ornD},
			recon.FeeDiffers:    {"payment/" + noA},
		}, len(w.books.rows))
		for _, r := range all {
			switch r.Kind {
			case recon.AmountDiffers:
				if r.Bill.Amount != r.Ours.Amount+1 {
					t.Errorf("amount: bill %d, ours %d", r.Bill.Amount, r.Ours.Amount)
				}
			case recon.FeeDiffers:
				if r.Bill.Fee != r.Ours.Fee+1 {
					t.Errorf("fee: bill %d, ours %d", r.Bill.Fee, r.Ours.Fee)
				}
			case recon.StatusDiffers:
				if r.Bill.Status != "REVOKED" && r.Bill.Status != "PROCESSING" {
					t.Errorf("status: bill %s", r.Bill.Status)
				}
			}
		}
	}
	// Faults are per bill type too: the SUCCESS bill has no refunds.
	sum, got, _ = reconcile(t, w.parse(w.bill("SUCCESS", false)), w.books.only(recon.KindPayment))
	if sum.MissingOurs != 1 || sum.MissingWallet != 1 || sum.AmountDiffers != 1 || sum.StatusDiffers != 1 || sum.FeeDiffers != 1 {
		t.Fatalf("SUCCESS bill: %+v %v", sum, got)
	}

	// Clearing them makes the bills true again.
	setBillFaults(t, w.e, map[string]any{"wallet": "wechatpay"})
	if sum, got, _ := reconcile(t, w.parse(w.bill("ALL", false)), w.books.rows); sum.Discrepancies() != 0 {
		t.Fatalf("cleared: %+v %v", sum, got)
	}
}

func TestAlipayBillFaultsFound(t *testing.T) {
	t.Parallel()
	a := newAlipay(t)
	noA, tnA := a.pay(10000)
	noB, _ := a.pay(2000)
	noC, tnC := a.pay(3000)
	noD, tnD := a.pay(40000)
	a.refund(noA, tnA, "R1", 1000)
	a.refund(noC, tnC, "R1", 300)
	a.refund(noD, tnD, "R1", 4000)

	sum, got, _ := reconcile(t, a.parse(a.bill()), a.books.rows)
	if sum.Matched != 7 || sum.Discrepancies() != 0 {
		t.Fatalf("true bill: %+v %v", sum, got)
	}
	setBillFaults(t, a.e, map[string]any{
		"wallet": "alipay",
		"drop":   []string{noB, noC + "/R1"},
		"extra": []map[string]any{
			{"out_trade_no": "GHOST1", "amount": 777},
			{"kind": "refund", "out_trade_no": noB, "out_refund_no": "R9", "amount": 5},
		},
		"amount_delta": map[string]int64{noA + "/R1": -1},
		"fee_delta":    map[string]int64{noD: 2, noD + "/R1": 1},
	})
	sum, got, all := reconcile(t, a.parse(a.bill()), a.books.rows)
	checkFound(t, sum, got, map[recon.ResultKind][]string{
		recon.MissingOurs:   {"payment/GHOST1", "refund/" + noB + "/R9"},
		recon.MissingWallet: {"payment/" + noB, "refund/" + noC + "/R1"},
		recon.AmountDiffers: {"refund/" + noA + "/R1"},
		recon.FeeDiffers:    {"payment/" + noD, "refund/" + noD + "/R1"},
	}, len(a.books.rows))
	for _, r := range all {
		if r.Kind == recon.FeeDiffers && r.Bill.Kind == recon.KindRefund && r.Bill.Fee != r.Ours.Fee-1 {
			t.Errorf("refund fee: bill %d, ours %d (more given back)", r.Bill.Fee, r.Ours.Fee)
		}
	}

	// The Alipay bill has no status column: a status fault is refused.
	var e map[string]string
	if st := a.e.Helper("POST", "/sandbox/v1/bill_faults", map[string]any{"wallet": "alipay", "status": map[string]string{noA: "CLOSED"}}, &e); st != http.StatusBadRequest || e["code"] != "invalid_bill_faults" {
		t.Fatalf("status fault on alipay: %d %v", st, e)
	}
	setBillFaults(t, a.e, map[string]any{"wallet": "alipay"})
	if sum, got, _ := reconcile(t, a.parse(a.bill()), a.books.rows); sum.Discrepancies() != 0 {
		t.Fatalf("cleared: %+v %v", sum, got)
	}
}

func TestBillFaultsHelperAPI(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	for _, body := range []map[string]any{
		{"wallet": "nopay"},
		{},
		{"wallet": "wechatpay", "drop": []string{""}},
		{"wallet": "wechatpay", "drop": []string{"a/b/c"}},
		{"wallet": "wechatpay", "amount_delta": map[string]int64{"a": 0}},
		{"wallet": "wechatpay", "extra": []map[string]any{{"out_trade_no": "x", "amount": 0}}},
		{"wallet": "wechatpay", "extra": []map[string]any{{"kind": "refund", "out_trade_no": "x", "amount": 1}}},
		{"wallet": "wechatpay", "extra": []map[string]any{{"kind": "chargeback", "out_trade_no": "x", "amount": 1}}},
		{"wallet": "wechatpay", "status": map[string]string{"x": ""}},
		{"wallet": "wechatpay", "bogus": 1},
	} {
		if st := e.Helper("POST", "/sandbox/v1/bill_faults", body, nil); st != http.StatusBadRequest {
			t.Errorf("%v: status %d", body, st)
		}
	}
	setBillFaults(t, e, map[string]any{"wallet": "wechatpay", "drop": []string{"N1"}})
	var list struct {
		Data []struct {
			Wallet string   `json:"wallet"`
			Drop   []string `json:"drop"`
		} `json:"data"`
	}
	if st := e.Helper("GET", "/sandbox/v1/bill_faults", nil, &list); st != http.StatusOK || len(list.Data) != 2 ||
		list.Data[0].Wallet != "wechatpay" || !slices.Equal(list.Data[0].Drop, []string{"N1"}) || list.Data[1].Wallet != "alipay" {
		t.Fatalf("GET bill_faults: %d %+v", st, list)
	}
}
