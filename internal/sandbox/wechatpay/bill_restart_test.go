package wechatpay_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"github.com/hutong-pay/hutong/internal/chinatime"
	sbnotify "github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

type billApplication struct {
	HashType    string `json:"hash_type"`
	HashValue   string `json:"hash_value"`
	DownloadURL string `json:"download_url"`
}

func applyBill(t *testing.T, client *core.Client, query string) (billApplication, error) {
	t.Helper()
	res, err := client.Get(ctx, "https://api.mch.weixin.qq.com/v3/bill/tradebill?"+query)
	if err != nil {
		return billApplication{}, err
	}
	var a billApplication
	if err := json.NewDecoder(res.Response.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a, nil
}

// downloadBill fetches the file the way wechatpay-go's FAQ says (a signed
// GET on a client without answer validation, the file being unsigned) and
// checks its SHA1 against the application's.
func downloadBill(t *testing.T, client *core.Client, a billApplication, gz bool) [][]string {
	t.Helper()
	res, err := core.NewClientWithValidator(client, &validators.NullValidator{}).Get(ctx, a.DownloadURL)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	body, err := io.ReadAll(res.Response.Body)
	if err != nil {
		t.Fatal(err)
	}
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		body, err = io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
	}
	sum := sha1.Sum(body)
	if a.HashType != "SHA1" || hex.EncodeToString(sum[:]) != a.HashValue {
		t.Fatalf("bill hash %s %s does not match the file", a.HashType, a.HashValue)
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("bill is not CSV: %v\n%s", err, body)
	}
	return rows
}

func TestTradeBill(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	today := chinatime.Date(time.Now())

	_, err := applyBill(t, client, "bill_date="+today+"&bill_type=ALL")
	wantAPIError(t, err, 400, "NO_STATEMENT_EXIST")

	no1, code1 := nativePrepay(t, client, e, "https://merchant.example/n", 12345)
	no2, code2 := nativePrepay(t, client, e, "https://merchant.example/n", 100)
	e.Pay(code1, "")
	e.Pay(code2, "")
	rf := refunddomestic.RefundsApiService{Client: client}
	if _, _, err := rf.Create(ctx, refundRequest(no1, no1+"-R", 2345, 12345, "")); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Eventually(t, 5*time.Second, "refund succeeds", func() bool {
		r, _, err := rf.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String(no1 + "-R")})
		return err == nil && *r.Status == refunddomestic.STATUS_SUCCESS
	})

	a, err := applyBill(t, client, "bill_date="+today+"&bill_type=ALL")
	if err != nil {
		t.Fatal(err)
	}
	rows := downloadBill(t, client, a, false)
	if len(rows) != 6 { // header, 2 payments, 1 refund, summary header, summary
		t.Fatalf("ALL bill has %d lines:\n%v", len(rows), rows)
	}
	if strings.Join(rows[0], ",") != "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注" {
		t.Fatalf("header %v", rows[0])
	}
	byNo := map[string][]string{}
	for _, r := range rows[1:4] {
		if len(r) != 27 {
			t.Fatalf("row has %d fields: %v", len(r), r)
		}
		for _, f := range r {
			if !strings.HasPrefix(f, "`") {
				t.Fatalf("field %q lacks the backtick", f)
			}
		}
		byNo[strings.TrimPrefix(r[6], "`")+strings.TrimPrefix(r[9], "`")] = r
	}
	pay1 := byNo[no1+"SUCCESS"]
	if pay1 == nil || pay1[12] != "`123.45" || pay1[22] != "`0.74000" || pay1[23] != "`0.60%" || pay1[3] != "`0" {
		t.Fatalf("payment row %v", pay1)
	}
	ref1 := byNo[no1+"REFUND"]
	if ref1 == nil || ref1[16] != "`23.45" || ref1[22] != "`-0.14000" || ref1[25] != "`23.45" {
		t.Fatalf("refund row %v", ref1)
	}
	if byNo[no2+"SUCCESS"] == nil {
		t.Fatal("second payment missing")
	}
	if strings.Join(rows[5], ",") != "`3,`124.45,`23.45,`0.00,`0.61000,`124.45,`23.45" {
		t.Fatalf("summary %v", rows[5])
	}

	// The REFUND bill in gzip: one refund row with its times.
	a, err = applyBill(t, client, "bill_date="+today+"&bill_type=REFUND&tar_type=GZIP")
	if err != nil {
		t.Fatal(err)
	}
	rows = downloadBill(t, client, a, true)
	if len(rows) != 4 || len(rows[1]) != 29 {
		t.Fatalf("REFUND bill: %v", rows)
	}
	// The SUCCESS bill has 20 columns.
	a, err = applyBill(t, client, "bill_date="+today+"&bill_type=SUCCESS")
	if err != nil {
		t.Fatal(err)
	}
	if rows = downloadBill(t, client, a, false); len(rows[1]) != 20 || len(rows) != 5 {
		t.Fatalf("SUCCESS bill: %v", rows)
	}

	// A forged token is refused.
	u, err := url.Parse(a.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("token", q.Get("token")+"x")
	u.RawQuery = q.Encode()
	_, err = client.Get(ctx, u.String())
	wantAPIError(t, err, 400, "INVALID_REQUEST")

	_, err = applyBill(t, client, "bill_date=2024-13-01")
	wantAPIError(t, err, 400, "PARAM_ERROR")
	_, err = applyBill(t, client, "bill_date="+chinatime.Date(time.Now().AddDate(0, 0, 2)))
	wantAPIError(t, err, 400, "INVALID_REQUEST")
}

func TestRestartKeepsOrdersAndDeliversPendingNotifications(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	c := e.Credentials()
	m := newMerchant(t, e, nil)
	m.failFirst = 1_000_000 // the merchant is down

	no, code := nativePrepay(t, client, e, m.URL(), 321)
	e.Pay(code, "")
	unpaid, _ := nativePrepay(t, client, e, m.URL(), 5)
	sandboxtest.Eventually(t, 5*time.Second, "a first failed attempt", func() bool {
		n := e.Sandbox().Notifications()
		return len(n) == 1 && len(n[0].Attempts) >= 1
	})
	e.Stop()
	e.Restart()

	// Same keys, same orders.
	if got := e.Credentials(); got != c {
		t.Fatal("credentials changed across a restart")
	}
	client = publicKeyClient(t, e)
	tx, _, err := (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(c.MchID)})
	if err != nil || *tx.TradeState != "SUCCESS" {
		t.Fatalf("paid order after restart: %v %+v", err, tx)
	}
	tx, _, err = (&native.NativeApiService{Client: client}).QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(unpaid), Mchid: core.String(c.MchID)})
	if err != nil || *tx.TradeState != "NOTPAY" {
		t.Fatalf("unpaid order after restart: %v %+v", err, tx)
	}

	// The merchant comes back; the pending notification arrives.
	m.mu.Lock()
	m.failFirst = 0
	m.mu.Unlock()
	ev := m.waitFor(1)[0]
	if !strings.Contains(ev.Plaintext, no) {
		t.Fatalf("delivered %s", ev.Plaintext)
	}
	n := e.Sandbox().Notifications()[0]
	sandboxtest.Eventually(t, 5*time.Second, "delivered status", func() bool {
		n = e.Sandbox().Notifications()[0]
		return n.Status == sbnotify.StatusDelivered
	})
	if len(n.Attempts) < 2 {
		t.Fatalf("attempts before and after the restart: %+v", n.Attempts)
	}
}

func TestNotificationFaults(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)

	t.Run("dropped attempts are retried", func(t *testing.T) {
		m := newMerchant(t, e, nil)
		e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "notify_drop_rate": 1}, nil)
		_, code := nativePrepay(t, client, e, m.URL(), 1)
		e.Pay(code, "")
		time.Sleep(100 * time.Millisecond)
		if len(m.Events()) != 0 {
			t.Fatal("a dropped notification arrived")
		}
		e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay"}, nil)
		m.waitFor(1)
	})
	t.Run("duplicates", func(t *testing.T) {
		m := newMerchant(t, e, nil)
		e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "notify_duplicate_rate": 1}, nil)
		defer e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay"}, nil)
		_, code := nativePrepay(t, client, e, m.URL(), 1)
		e.Pay(code, "")
		evs := m.waitFor(2)
		if evs[0].ID != evs[1].ID {
			t.Fatalf("a duplicate must repeat the event id: %s %s", evs[0].ID, evs[1].ID)
		}
	})
	t.Run("delay", func(t *testing.T) {
		m := newMerchant(t, e, nil)
		// 30 s at real speed is 30 ms at the tests' time scale.
		e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "notify_delay_ms": 30000}, nil)
		defer e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay"}, nil)
		_, code := nativePrepay(t, client, e, m.URL(), 1)
		start := time.Now()
		e.Pay(code, "")
		m.waitFor(1)
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Fatalf("delivered after %v, before the delay", d)
		}
	})
	t.Run("reordering holds a notification back", func(t *testing.T) {
		m := newMerchant(t, e, nil)
		// A held-back notification waits 2 min at real speed (120 ms here),
		// so one sent after it overtakes it.
		e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "notify_reorder_rate": 1}, nil)
		_, first := nativePrepay(t, client, e, m.URL(), 1)
		e.Pay(first, "")
		e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay"}, nil)
		second, code := nativePrepay(t, client, e, m.URL(), 2)
		e.Pay(code, "")
		evs := m.waitFor(2)
		if !strings.Contains(evs[0].Plaintext, second) {
			t.Fatalf("the later notification did not overtake the held one: %s", evs[0].Plaintext)
		}
	})
	t.Run("API latency", func(t *testing.T) {
		e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay", "api_latency_ms": 200}, nil)
		defer e.Helper("POST", "/sandbox/v1/faults", map[string]any{"wallet": "wechatpay"}, nil)
		start := time.Now()
		nativePrepay(t, client, e, "https://merchant.example/n", 1)
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("answered in %v despite 200 ms of latency", d)
		}
	})
	t.Run("bad settings are refused", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"wallet": "wechatpay", "notify_drop_rate": 1.5},
			{"wallet": "nopay"},
			{"wallet": "wechatpay", "api_latency_ms": -1},
			{"wallet": "wechatpay", "drop": 1},
		} {
			if st := e.Helper("POST", "/sandbox/v1/faults", body, nil); st != http.StatusBadRequest {
				t.Errorf("%v: status %d", body, st)
			}
		}
	})
}
