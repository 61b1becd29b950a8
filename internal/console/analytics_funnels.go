package console

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/svgchart"
)

// funnelReports are the reports of how buyers get from the cashier to a
// paid order, and where they fail.
func (h *Handler) funnelReports(ctx context.Context, ap store.AnalyticsParams) ([]report, error) {
	db := h.cfg.Gateway.DB.Pool()
	funnel, err := db.CashierFunnel(ctx, ap)
	if err != nil {
		return nil, err
	}
	outcomes, err := db.MethodOutcomes(ctx, ap)
	if err != nil {
		return nil, err
	}
	delays, err := db.NotifyDelay(ctx, ap)
	if err != nil {
		return nil, err
	}
	shares, err := db.ShareCodeFunnel(ctx, ap)
	if err != nil {
		return nil, err
	}
	pfm, err := db.PayForMeFunnel(ctx, ap)
	if err != nil {
		return nil, err
	}
	return []report{funnelReport(funnel), outcomesReport(outcomes), delayReport(delays), shareCodesReport(shares), payForMeReport(pfm)}, nil
}

// browsers are the browsers a cashier is opened in, in the order read;
// "" (not recorded) last.
var browsers = []string{"wechatpay", "alipay", "other", ""}

func browserName(b string) string {
	switch b {
	case "other":
		return "其他浏览器"
	case "":
		return "未记录"
	}
	return channelName(b) + "内"
}

func funnelReport(rows []store.FunnelRow) report {
	rep := report{Title: "收银台漏斗：各浏览器、各钱包", CSV: "cashier_funnel",
		Head: []string{"打开收银台的浏览器", "钱包", "打开收银台", "选择方式并下单", "支付成功", "下单率", "支付率"},
		Note: "按收银台第一次被打开的日期与浏览器计（微信内、支付宝内或其他浏览器）。下单 = 买家选了该钱包的方式且钱包已建单（钱包拒绝建单的选择不留记录）；支付 = 经这样的订单付款。一笔订单试过两个钱包，两个钱包各计一次。"}
	chart := svgchart.Chart{Kind: svgchart.GroupedBar, Title: rep.Title, Format: svgchart.Count}
	steps := []svgchart.Series{{Name: "打开收银台"}, {Name: "选择方式并下单"}, {Name: "支付成功"}}
	var chs []string
	for _, r := range rows {
		if r.Channel != "" {
			chs = append(chs, r.Channel)
		}
	}
	ws := wallets(chs)
	for _, b := range browsers {
		var all store.FunnelRow
		byWallet := map[string]store.FunnelRow{}
		found := false
		for _, r := range rows {
			if r.Browser != b {
				continue
			}
			found = true
			if r.Channel == "" {
				all = r
			} else {
				byWallet[r.Channel] = r
			}
		}
		if !found {
			continue
		}
		chart.Categories = append(chart.Categories, browserName(b))
		for i, v := range []int64{all.Opened, all.Chose, all.Paid} {
			steps[i].Values = append(steps[i].Values, float64(v))
		}
		rep.Rows = append(rep.Rows, []string{browserName(b), "全部", fmt.Sprint(all.Opened), fmt.Sprint(all.Chose), fmt.Sprint(all.Paid),
			share(all.Chose, all.Opened), share(all.Paid, all.Opened)})
		for _, w := range ws {
			r, ok := byWallet[w]
			if !ok {
				continue
			}
			rep.Rows = append(rep.Rows, []string{browserName(b), channelName(w), "", fmt.Sprint(r.Chose), fmt.Sprint(r.Paid),
				share(r.Chose, all.Opened), share(r.Paid, r.Chose)})
		}
	}
	chart.Series = steps
	rep.Chart = chart.SVG()
	return rep
}

// outcomes are the ends of a wallet order, in the order read: paid
// first, then the reasons it was not.
var outcomes = []struct{ name, title string }{
	{store.OutcomePaid, "已支付"},
	{store.OutcomeOtherPaid, "改用其他方式付款"},
	{store.OutcomeClosed, "钱包关闭"},
	{store.OutcomeExpired, "超时未付"},
	{store.OutcomeCanceled, "提前取消"},
	{store.OutcomeDuplicate, "重复支付（已退）"},
	{store.OutcomeOpen, "仍待支付"},
}

// methodName is a method as people read it: its title and its wallet.
func methodName(m string) string {
	if md, ok := channel.LookupMethod(m); ok {
		if ch, ok := channel.MethodWallet(m); ok {
			return channelName(ch) + "·" + md.Title
		}
		return md.Title
	}
	return m
}

func outcomesReport(rows []store.OutcomeRow) report {
	head := []string{"支付方式", "钱包订单", "成功率"}
	for _, o := range outcomes {
		head = append(head, o.title)
	}
	rep := report{Title: "各支付方式的成功率与未付原因", CSV: "method_outcomes", Head: head,
		Note: "按钱包订单（每次选择方式在钱包建的单）的建单日期计，结局以现在为准。改用其他方式付款 = 这笔订单没付，但同一笔交易经另一张钱包订单付了；钱包关闭 = 钱包关闭了这张单而交易仍可付；超时未付 = 交易到期关闭；提前取消 = 交易在到期前被商户取消，或其唯一的钱包订单被钱包关闭。钱包拒绝建单不留记录，不在此列。"}
	counts := map[string]map[string]int64{}
	var methods []string
	for _, r := range rows {
		if counts[r.Method] == nil {
			counts[r.Method] = map[string]int64{}
			methods = append(methods, r.Method)
		}
		counts[r.Method][r.Outcome] += r.Attempts
	}
	chart := svgchart.Chart{Kind: svgchart.StackedBar, Title: rep.Title, Format: svgchart.Percent}
	series := make([]svgchart.Series, len(outcomes))
	for i, o := range outcomes {
		series[i].Name = o.title
	}
	for _, m := range methods {
		var total int64
		for _, n := range counts[m] {
			total += n
		}
		chart.Categories = append(chart.Categories, methodName(m))
		row := []string{methodName(m), fmt.Sprint(total), share(counts[m][store.OutcomePaid], total)}
		for i, o := range outcomes {
			series[i].Values = append(series[i].Values, ratio(counts[m][o.name], total))
			row = append(row, fmt.Sprint(counts[m][o.name]))
		}
		rep.Rows = append(rep.Rows, row)
	}
	chart.Series = series
	rep.Chart = chart.SVG()
	return rep
}

// seconds formats a delay given in seconds, as the delay chart's values
// are.
func seconds(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return delayText(time.Duration(v * float64(time.Second)))
}

// delayText writes a delay in the unit it is read in.
func delayText(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%.0f 毫秒", float64(d)/float64(time.Millisecond))
	case d < time.Minute:
		return fmt.Sprintf("%.1f 秒", d.Seconds())
	}
	return fmt.Sprintf("%.1f 分钟", d.Minutes())
}

func delayReport(rows []store.DelayRow) report {
	rep := report{Title: "钱包通知延迟：P50 与 P99", CSV: "notify_delay",
		Head: []string{"钱包", "已支付订单", "收到通知的订单", "P50", "P99", "未收到通知"},
		Note: "从钱包记下的支付成功时间到 hutong 收到这笔钱包订单的第一条通知。按对数分桶（1 毫秒至约 70 分钟，每桶宽 √2 倍）统计，分位数取所在桶的几何中点，误差在 −16% ～ +19% 以内；钱包的成功时间只精确到秒，延迟因此可能多算至多 1 秒。未收到通知 = 状态查询先确认了付款，之后也没有通知到达。"}
	type hist = [store.DelayBuckets]int64
	total := map[string]*hist{}
	none := map[string]int64{}
	daily := map[time.Time]map[string]*hist{}
	var days []time.Time
	var chs []string
	for _, r := range rows {
		chs = append(chs, r.Channel)
		if r.Bucket < 0 {
			none[r.Channel] += r.Orders
			continue
		}
		if total[r.Channel] == nil {
			total[r.Channel] = &hist{}
		}
		total[r.Channel][r.Bucket] += r.Orders
		if daily[r.Day] == nil {
			daily[r.Day] = map[string]*hist{}
			days = append(days, r.Day)
		}
		if daily[r.Day][r.Channel] == nil {
			daily[r.Day][r.Channel] = &hist{}
		}
		daily[r.Day][r.Channel][r.Bucket] += r.Orders
	}
	ws := wallets(chs)
	for _, w := range ws {
		var notified int64
		p50, p99 := "无数据", "无数据"
		if hs := total[w]; hs != nil {
			for _, n := range hs {
				notified += n
			}
			if d, ok := store.DelayPercentile(*hs, 0.5); ok {
				p50 = delayText(d)
			}
			if d, ok := store.DelayPercentile(*hs, 0.99); ok {
				p99 = delayText(d)
			}
		}
		rep.Rows = append(rep.Rows, []string{channelName(w), fmt.Sprint(notified + none[w]), fmt.Sprint(notified), p50, p99, fmt.Sprint(none[w])})
	}
	slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
	chart := svgchart.Chart{Kind: svgchart.Line, Title: "钱包通知延迟（每日 P50 与 P99）", Format: seconds}
	for _, d := range days {
		chart.Categories = append(chart.Categories, d.In(beijing).Format("01-02"))
	}
	for _, w := range ws {
		for _, q := range []struct {
			name string
			q    float64
		}{{"P50", 0.5}, {"P99", 0.99}} {
			s := svgchart.Series{Name: channelName(w) + " " + q.name}
			for _, d := range days {
				v := math.NaN() // no order paid that day: a gap
				if hs := daily[d][w]; hs != nil {
					if p, ok := store.DelayPercentile(*hs, q.q); ok {
						v = p.Seconds()
					}
				}
				s.Values = append(s.Values, v)
			}
			chart.Series = append(chart.Series, s)
		}
	}
	rep.Chart = chart.SVG()
	return rep
}

func shareCodesReport(rows []store.ShareCodeRow) report {
	rep := report{Title: "分享口令：生成、打开、成交（按来源）", CSV: "share_codes",
		Head: []string{"来源", "生成口令", "被打开过的口令", "打开次数", "带来成交的口令", "成交订单", "成交额", "打开率", "成交率"},
		Note: "按口令的生成日期计，打开与成交以现在为准；来源是商户生成口令时写的渠道。成交只计口令所属商户的订单。"}
	chart := svgchart.Chart{Kind: svgchart.GroupedBar, Title: rep.Title, Format: svgchart.Count}
	steps := []svgchart.Series{{Name: "生成"}, {Name: "被打开过"}, {Name: "带来成交"}}
	for _, r := range rows {
		src := r.Source
		if src == "" {
			src = "未注明"
		}
		chart.Categories = append(chart.Categories, src)
		for i, v := range []int64{r.Issued, r.Resolved, r.Paid} {
			steps[i].Values = append(steps[i].Values, float64(v))
		}
		rep.Rows = append(rep.Rows, []string{src, fmt.Sprint(r.Issued), fmt.Sprint(r.Resolved), fmt.Sprint(r.Resolves), fmt.Sprint(r.Paid),
			fmt.Sprint(r.PaidOrders), yuan(r.PaidAmount), share(r.Resolved, r.Issued), share(r.Paid, r.Issued)})
	}
	chart.Series = steps
	rep.Chart = chart.SVG()
	return rep
}

func payForMeReport(r store.PayForMeRow) report {
	rep := report{Title: "代付：发起与付款", CSV: "pay_for_me", Head: []string{"发起代付", "朋友已付款", "付款率"},
		Note: "按代付请求的发起日期计，付款以现在为准。",
		Rows: [][]string{{fmt.Sprint(r.Asked), fmt.Sprint(r.Paid), share(r.Paid, r.Asked)}}}
	chart := svgchart.Chart{Kind: svgchart.GroupedBar, Title: rep.Title, Format: svgchart.Count,
		Categories: []string{"发起代付", "朋友已付款"}, Series: []svgchart.Series{{Name: "请求数", Values: []float64{float64(r.Asked), float64(r.Paid)}}}}
	rep.Chart = chart.SVG()
	return rep
}
