package recon

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestJSONNames: a summary and a row are written with the API's snake-case
// names, read back alike, and read from the Go names they were stored under
// before.
func TestJSONNames(t *testing.T) {
	t.Parallel()
	sum := Summary{BillRows: 3, OurRows: 2, Matched: 1, MissingOurs: 1, MissingWallet: 2, AmountDiffers: 3, StatusDiffers: 4, FeeDiffers: 5,
		MerchantDiffers: 6, BillNet: 700, OurNet: -8, BillFees: 9, OurFees: 10}
	row := Row{Channel: ChannelWeChatPay, OutTradeNo: "pay_1", TransactionID: "4200", OutRefundNo: "re_1", RefundID: "5030", Kind: KindRefund,
		Status: StatusSuccess, Amount: 100, Fee: -1, At: time.Date(2024, 9, 5, 2, 0, 0, 0, time.UTC), Merchant: "1900000109"}
	b, err := json.Marshal(struct {
		Summary Summary `json:"summary"`
		Row     Row     `json:"row"`
	}{sum, row})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"bill_rows":3`, `"our_rows":2`, `"missing_ours":1`, `"merchant_differs":6`, `"our_fees":10`,
		`"out_trade_no":"pay_1"`, `"transaction_id":"4200"`, `"out_refund_no":"re_1"`, `"refund_id":"5030"`, `"at":"2024-09-05T02:00:00Z"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	for _, goName := range []string{"BillRows", "OutTradeNo", "MissingOurs"} {
		if strings.Contains(string(b), goName) {
			t.Errorf("%s has the Go name %s", b, goName)
		}
	}
	var back struct {
		Summary Summary `json:"summary"`
		Row     Row     `json:"row"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Summary != sum || back.Row != row {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	// As stored before the names: Go's own.
	type legacy struct {
		Summary legacySummary
		Row     legacyRow
	}
	old, _ := json.Marshal(legacy{legacySummary(sum), legacyRow(row)})
	if !strings.Contains(string(old), `"BillRows":3`) {
		t.Fatalf("the legacy form is not the Go names: %s", old)
	}
	back.Summary, back.Row = Summary{}, Row{}
	if err := json.Unmarshal(old, &back); err != nil || back.Summary != sum || back.Row != row {
		t.Fatalf("legacy: %+v %v", back, err)
	}
}
