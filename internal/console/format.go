package console

import (
	"fmt"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/payment"
	"github.com/hutong-pay/hutong/internal/rollout"
)

// yuan is an amount in fen as people read it.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s¥%d.%02d", sign, fen/100, fen%100)
}

// beijing is Asia/Shanghai (UTC+8 all year), for the times people read.
var beijing = time.FixedZone("CST", 8*3600)

// when is a time in Beijing time to the second; zero is a dash.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(beijing).Format("2006-01-02 15:04:05")
}

func roleName(r accounts.Role) string {
	switch r {
	case accounts.RoleAdmin:
		return "管理员"
	case accounts.RoleOperations:
		return "运营"
	case accounts.RoleFinance:
		return "财务"
	case accounts.RoleSupport:
		return "客服"
	case accounts.RoleMerchant:
		return "商户"
	}
	return string(r)
}

func statusName(s string) string {
	switch s {
	case payment.StatusRequiresAction:
		return "待支付"
	case payment.StatusSucceeded:
		return "已支付"
	case payment.StatusCanceled:
		return "已关闭"
	case payment.RefundPending:
		return "处理中"
	case payment.RefundFailed:
		return "退款失败"
	case payment.RefundAwaitingReturn:
		return "等待退货"
	case payment.AttemptClosed:
		return "已关闭"
	case payment.AttemptDuplicate:
		return "重复支付"
	}
	return s
}

// tierName is a market tier (rollout.Tier…) in words; "" is a dash.
func tierName(t string) string {
	switch t {
	case rollout.TierFirst:
		return "一线城市"
	case rollout.TierCity:
		return "城市（市辖区）"
	case rollout.TierCountyCity:
		return "县级市"
	case rollout.TierCounty:
		return "县域"
	case "":
		return "—"
	}
	return t
}
