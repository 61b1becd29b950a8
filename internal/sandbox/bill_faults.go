package sandbox

import (
	"fmt"
	"net/http"

	"github.com/hutong-pay/hutong/internal/sandbox/alipay"
	"github.com/hutong-pay/hutong/internal/sandbox/faults"
	"github.com/hutong-pay/hutong/internal/sandbox/wechatpay"
)

// handleGetBillFaults lists each wallet's bill faults.
func (sb *Sandbox) handleGetBillFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": []faults.Bill{sb.wechatpay.BillFaults(), sb.alipay.BillFaults()}})
}

// handleSetBillFaults replaces a wallet's bill faults (faults.Bill): the
// bills built from then on leave out, add or change the rows it names. A
// body with only the wallet makes its bills true again.
func (sb *Sandbox) handleSetBillFaults(w http.ResponseWriter, r *http.Request) {
	var f faults.Bill
	if !decode(w, r, &f) {
		return
	}
	var err error
	switch f.Wallet {
	case wechatpay.Wallet:
		err = sb.wechatpay.SetBillFaults(f)
	case alipay.Wallet:
		err = sb.alipay.SetBillFaults(f)
	default:
		err = fmt.Errorf("wallet %q is unknown; use \"wechatpay\" or \"alipay\"", f.Wallet)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, helperError{"invalid_bill_faults", err.Error()})
		return
	}
	if f.Wallet == wechatpay.Wallet {
		writeJSON(w, http.StatusOK, sb.wechatpay.BillFaults())
	} else {
		writeJSON(w, http.StatusOK, sb.alipay.BillFaults())
	}
}
