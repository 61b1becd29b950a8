package console

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hutong-pay/hutong/internal/accounts"
	"github.com/hutong-pay/hutong/internal/analytics"
	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/csvsafe"
	"github.com/hutong-pay/hutong/internal/rollout"
	"github.com/hutong-pay/hutong/internal/store"
	"github.com/hutong-pay/hutong/internal/svgchart"
)

// The analytics answer the question the marketplace asked when it opened
// its checkout to a second wallet: did it reach new buyers, where, and at
// what cost? Each report is a server-drawn chart with its table beside it
// and a CSV of the same rows.

func (h *Handler) analyticsRoutes() {
	h.route("GET /console/analytics", allRoles, h.analytics)
	h.route("GET /console/analytics.csv", allRoles, h.analyticsCSV)
}

// tiers are the market tiers in the order people read them, "" (unknown
// region) last.
var tiers = []string{rollout.TierFirst, rollout.TierCity, rollout.TierCountyCity, rollout.TierCounty, ""}

// analyticsQuery is a report's span (Beijing days, both included), its
// merchant ("" for the marketplace), the merchants' category and province
// (first two digits of their region code), the buyers' market tier, and
// the method whose rollout is read.
type analyticsQuery struct {
	From, To, Merchant, Method string
	Category, Province, Tier   string
	from, to                   time.Time
}

// CSVLink is the link to report's CSV under the same query.
func (aq analyticsQuery) CSVLink(report string) template.URL {
	v := url.Values{"report": {report}}
	for k, x := range map[string]string{"from": aq.From, "to": aq.To, "merchant": aq.Merchant, "method": aq.Method,
		"category": aq.Category, "province": aq.Province, "tier": aq.Tier} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return template.URL("/console/analytics.csv?" + v.Encode()) // #nosec G203 -- built by url.Values, every value encoded
}

// readAnalyticsQuery reads the query; the default span is the last 28
// days. A merchant user's reports are always its own.
func readAnalyticsQuery(r *http.Request, v *visit, now time.Time) (analyticsQuery, error) {
	q := r.URL.Query()
	aq := analyticsQuery{From: q.Get("from"), To: q.Get("to"), Merchant: strings.TrimSpace(q.Get("merchant")), Method: q.Get("method"),
		Category: strings.TrimSpace(q.Get("category")), Province: strings.TrimSpace(q.Get("province")), Tier: q.Get("tier")}
	if v.scope != "" {
		aq.Merchant = v.scope
	}
	if aq.Method == "" {
		aq.Method = "wechatpay.native"
	}
	today := now.In(beijing)
	if aq.To == "" {
		aq.To = today.Format("2006-01-02")
	}
	if aq.From == "" {
		aq.From = today.AddDate(0, 0, -27).Format("2006-01-02")
	}
	from, err := time.ParseInLocation("2006-01-02", aq.From, beijing)
	if err != nil {
		return aq, fmt.Errorf("起始日期 %q 应写成 2024-09-05", aq.From)
	}
	to, err := time.ParseInLocation("2006-01-02", aq.To, beijing)
	if err != nil {
		return aq, fmt.Errorf("截止日期 %q 应写成 2024-09-05", aq.To)
	}
	if to.Before(from) || to.Sub(from) > 366*24*time.Hour {
		return aq, fmt.Errorf("日期范围应从早到晚，至多一年")
	}
	if len(aq.Merchant) > 64 || len(aq.Method) > 64 || len(aq.Category) > 32 {
		return aq, fmt.Errorf("商户、类目或方式太长")
	}
	if aq.Province != "" && (len(aq.Province) != 2 || strings.Trim(aq.Province, "0123456789") != "") {
		return aq, fmt.Errorf("省份 %q 应是地区代码的前两位数字，如 13", aq.Province)
	}
	if aq.Tier != "" && !slices.Contains(rollout.Tiers, aq.Tier) {
		return aq, fmt.Errorf("市场层级 %q 不认识", aq.Tier)
	}
	aq.from, aq.to = from.UTC(), to.AddDate(0, 0, 1).UTC()
	return aq, nil
}

// report is one section: a chart, its table and its CSV name.
type report struct {
	Title, Note, CSV string
	Chart            template.HTML
	Head             []string
	Rows             [][]string
}

// rampRow is one market tier's rollout effect.
type rampRow struct {
	Tier                    string
	ShownPaid, ShownExposed int64
	NotPaid, NotExposed     int64
	ShownRate, NotRate      string
	Diff, Lift, Verdict     string
	Reasons                 []string
}

type analyticsPage struct {
	Query   analyticsQuery
	Reports []report
	Ramp    []rampRow
	RampFor string
	Portal  bool
	Tiers   []tierOption
	// AsOf is when the reports' rollup was last refreshed (Beijing
	// time), "" when they read the payments themselves.
	AsOf string
}

// tierOption is a market tier the filter offers.
type tierOption struct{ Value, Name string }

func (h *Handler) analytics(w http.ResponseWriter, r *http.Request, v *visit) {
	aq, err := readAnalyticsQuery(r, v, time.Now())
	if err != nil {
		h.render(w, http.StatusBadRequest, "analytics.html", v, page{Title: "分析", Nav: "analytics", Error: err.Error(), Data: analyticsPage{Query: aq}})
		return
	}
	p, err := h.analyticsData(r, v, aq)
	if err != nil {
		h.cfg.Logger.Error("console: analytics", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法计算，请稍后再试。")
		return
	}
	h.render(w, http.StatusOK, "analytics.html", v, page{Title: "分析", Nav: "analytics", Data: p})
}

// analyticsData runs every report of the page.
func (h *Handler) analyticsData(r *http.Request, v *visit, aq analyticsQuery) (analyticsPage, error) {
	ctx := r.Context()
	db := h.cfg.Gateway.DB.Pool()
	p := analyticsPage{Query: aq, Portal: v.user.Role == accounts.RoleMerchant}
	for _, t := range rollout.Tiers {
		p.Tiers = append(p.Tiers, tierOption{t, tierName(t)})
	}
	ap := store.AnalyticsParams{From: aq.from, To: aq.to, MerchantID: aq.Merchant, Category: aq.Category, Province: aq.Province, Tier: aq.Tier}
	st, err := db.AnalyticsStateGet(ctx)
	if err != nil {
		return p, err
	}
	if !st.RefreshedAt.IsZero() {
		p.AsOf = st.RefreshedAt.In(beijing).Format("2006-01-02 15:04:05")
	}

	share, err := db.MethodShare(ctx, ap)
	if err != nil {
		return p, err
	}
	p.Reports = append(p.Reports, shareReport(share))
	buyers, err := db.NewBuyers(ctx, ap)
	if err != nil {
		return p, err
	}
	p.Reports = append(p.Reports, newBuyersReport(buyers))
	aov, err := db.WalletAOV(ctx, ap)
	if err != nil {
		return p, err
	}
	p.Reports = append(p.Reports, aovReport(aov))
	refunds, err := db.RefundRates(ctx, ap)
	if err != nil {
		return p, err
	}
	p.Reports = append(p.Reports, refundReport(refunds))
	funnels, err := h.funnelReports(ctx, ap)
	if err != nil {
		return p, err
	}
	p.Reports = append(p.Reports, funnels...)
	if p.Portal {
		return p, nil // a rollout is the marketplace's, read across merchants
	}
	conv, err := db.RolloutConversion(ctx, store.RolloutParams{Method: aq.Method, From: aq.from, To: aq.to})
	if err != nil {
		return p, err
	}
	rep, ramp := rampReport(conv, refunds, aq)
	p.Reports = append(p.Reports, rep)
	p.Ramp, p.RampFor = ramp, aq.Method
	return p, nil
}

// wallets lists the channels present in rows, the registered wallets in
// their rank first, then any other in the order met.
func wallets(chs []string) []string {
	var order []string
	for _, w := range channel.Wallets() {
		order = append(order, w.Name)
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range append(order, chs...) {
		if !seen[c] && slices.Contains(chs, c) {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

func shareReport(rows []store.ShareRow) report {
	orders := map[[2]string]int64{}
	gmv := map[[2]string]int64{}
	var chs []string
	for _, r := range rows {
		orders[[2]string{r.Tier, r.Channel}] += r.Orders
		gmv[[2]string{r.Tier, r.Channel}] += r.GMV
		chs = append(chs, r.Channel)
	}
	ws := wallets(chs)
	rep := report{Title: "各市场层级的钱包占比（已支付订单）", CSV: "share", Head: []string{"市场层级", "钱包", "订单数", "成交额", "订单占比", "成交额占比"},
		Note: "每个层级里各钱包的已支付订单数占比；表中另列成交额。"}
	chart := svgchart.Chart{Kind: svgchart.StackedBar, Title: rep.Title, Format: svgchart.Percent}
	series := make([]svgchart.Series, len(ws))
	for i, w := range ws {
		series[i].Name = channelName(w)
	}
	for _, t := range tiers {
		var tierOrders, tierGMV int64
		for _, w := range ws {
			tierOrders += orders[[2]string{t, w}]
			tierGMV += gmv[[2]string{t, w}]
		}
		if tierOrders == 0 {
			continue
		}
		chart.Categories = append(chart.Categories, tierName(t))
		for i, w := range ws {
			o, g := orders[[2]string{t, w}], gmv[[2]string{t, w}]
			series[i].Values = append(series[i].Values, float64(o)/float64(tierOrders))
			rep.Rows = append(rep.Rows, []string{tierName(t), channelName(w), fmt.Sprint(o), yuan(g), share(o, tierOrders), share(g, tierGMV)})
		}
	}
	chart.Series = series
	rep.Chart = chart.SVG()
	return rep
}

func newBuyersReport(rows []store.NewBuyerRow) report {
	rep := report{Title: "新买家：首单用哪个钱包付", CSV: "new_buyers", Head: []string{"周（北京时间）", "市场层级", "钱包", "新买家"},
		Note: "买家在整个平台上的第一笔已支付订单落在这一周，按那笔订单的钱包与地区计。"}
	var weeks []time.Time
	perWeek := map[time.Time]map[string]int64{}
	var chs []string
	for _, r := range rows {
		if perWeek[r.Week] == nil {
			perWeek[r.Week] = map[string]int64{}
			weeks = append(weeks, r.Week)
		}
		perWeek[r.Week][r.Channel] += r.Buyers
		chs = append(chs, r.Channel)
		rep.Rows = append(rep.Rows, []string{r.Week.In(beijing).Format("2006-01-02"), tierName(r.Tier), channelName(r.Channel), fmt.Sprint(r.Buyers)})
	}
	slices.SortFunc(weeks, func(a, b time.Time) int { return a.Compare(b) })
	chart := svgchart.Chart{Kind: svgchart.Line, Title: rep.Title, Format: svgchart.Count}
	ws := wallets(chs)
	for _, wk := range weeks {
		chart.Categories = append(chart.Categories, wk.In(beijing).Format("01-02"))
	}
	for _, w := range ws {
		s := svgchart.Series{Name: channelName(w)}
		for _, wk := range weeks {
			s.Values = append(s.Values, float64(perWeek[wk][w]))
		}
		chart.Series = append(chart.Series, s)
	}
	rep.Chart = chart.SVG()
	return rep
}

func aovReport(rows []store.AOVRow) report {
	rep := report{Title: "客单价：各钱包在各层级", CSV: "order_value", Head: []string{"钱包", "市场层级", "订单数", "成交额", "客单价"}}
	var chs []string
	avg := map[[2]string]float64{}
	for _, r := range rows {
		chs = append(chs, r.Channel)
		a := "无数据"
		if r.Orders > 0 {
			avg[[2]string{r.Tier, r.Channel}] = float64(r.GMV) / float64(r.Orders)
			a = yuan(r.GMV / r.Orders)
		}
		rep.Rows = append(rep.Rows, []string{channelName(r.Channel), tierName(r.Tier), fmt.Sprint(r.Orders), yuan(r.GMV), a})
	}
	chart := svgchart.Chart{Kind: svgchart.GroupedBar, Title: rep.Title, Format: svgchart.Yuan}
	ws := wallets(chs)
	for _, t := range tiers {
		any := false
		for _, w := range ws {
			_, ok := avg[[2]string{t, w}]
			any = any || ok
		}
		if any {
			chart.Categories = append(chart.Categories, tierName(t))
		}
	}
	for _, w := range ws {
		s := svgchart.Series{Name: channelName(w)}
		for _, t := range tiers {
			if slices.Contains(chart.Categories, tierName(t)) {
				s.Values = append(s.Values, avg[[2]string{t, w}])
			}
		}
		chart.Series = append(chart.Series, s)
	}
	rep.Chart = chart.SVG()
	return rep
}

func refundReport(rows []store.RefundRow) report {
	rep := report{Title: "退款率：各钱包", CSV: "refunds", Head: []string{"钱包", "已支付订单", "有退款的订单", "退款率", "仅退款订单", "仅退款占比"},
		Note: "按订单的支付时间计；仅退款即买家未退货。重复支付的退款不计。"}
	chart := svgchart.Chart{Kind: svgchart.GroupedBar, Title: rep.Title, Format: svgchart.Percent}
	rate := svgchart.Series{Name: "退款率"}
	only := svgchart.Series{Name: "仅退款"}
	for _, r := range rows {
		chart.Categories = append(chart.Categories, channelName(r.Channel))
		rate.Values = append(rate.Values, ratio(r.Refunded, r.Orders))
		only.Values = append(only.Values, ratio(r.RefundOnly, r.Orders))
		rep.Rows = append(rep.Rows, []string{channelName(r.Channel), fmt.Sprint(r.Orders), fmt.Sprint(r.Refunded), share(r.Refunded, r.Orders), fmt.Sprint(r.RefundOnly), share(r.RefundOnly, r.Orders)})
	}
	chart.Series = []svgchart.Series{rate, only}
	rep.Chart = chart.SVG()
	return rep
}

// rampReport reads the rollout of aq.Method per market tier and over all:
// conversion (exposed buyers who then paid) of those shown the method
// against those not shown it, each with its Wilson 95% interval, the
// difference with Newcombe's hybrid score interval, the lift, and the
// reading of the ramp with the refund guardrail (the method's wallet
// against the other wallets).
func rampReport(rows []store.ConversionRow, refunds []store.RefundRow, aq analyticsQuery) (report, []rampRow) {
	rep := report{Title: "灰度效果：看到 " + aq.Method + " 的买家是否更多地付了款", CSV: "rollout",
		Head: []string{"市场层级", "看到的买家", "其中付款", "转化率", "未看到的买家", "其中付款", "转化率", "差（95% 区间）", "相对提升", "结论"},
		Note: "转化 = 在此期间首次进入某一组（看到或未看到该方式）的买家中，此后截止日前付了任一笔订单（任一钱包、任一商户）的比例。差的 95% 区间用 Newcombe（1998）混合得分法（方法 10）；单组比例的区间用 Wilson 得分法。"}
	ch, _, _ := strings.Cut(aq.Method, ".")
	var newRef, baseRef analytics.Proportion
	for _, r := range refunds {
		if r.Channel == ch {
			newRef = analytics.Proportion{Successes: r.Refunded, Trials: r.Orders}
		} else {
			baseRef.Successes += r.Refunded
			baseRef.Trials += r.Orders
		}
	}
	arms := map[string][2]analytics.Proportion{} // tier → [shown, not shown]
	var all [2]analytics.Proportion
	for _, r := range rows {
		a := arms[r.Tier]
		i := 1
		if r.Shown {
			i = 0
		}
		a[i].Successes += r.Paid
		a[i].Trials += r.Exposed
		all[i].Successes += r.Paid
		all[i].Trials += r.Exposed
		arms[r.Tier] = a
	}
	chart := svgchart.Chart{Kind: svgchart.GroupedBar, Title: rep.Title, Format: svgchart.Percent}
	shownS := svgchart.Series{Name: "看到"}
	notS := svgchart.Series{Name: "未看到"}
	var out []rampRow
	add := func(label string, a [2]analytics.Proportion) {
		reading := analytics.Read(analytics.RampInput{Shown: a[0], NotShown: a[1], RefundNew: newRef, RefundBase: baseRef})
		row := rampRow{Tier: label, ShownPaid: a[0].Successes, ShownExposed: a[0].Trials, NotPaid: a[1].Successes, NotExposed: a[1].Trials,
			ShownRate: rateText(a[0]), NotRate: rateText(a[1]), Verdict: verdictName(reading.Verdict), Reasons: reading.Reasons}
		if reading.NoData {
			row.Diff, row.Lift = "无数据", "无数据"
		} else {
			row.Diff = fmt.Sprintf("%+.1f 个百分点（%+.1f ～ %+.1f）", reading.Diff*100, reading.Lower*100, reading.Upper*100)
			if lift, lo, hi, ok, ciOK := analytics.Lift(a[0], a[1]); ok && ciOK {
				row.Lift = fmt.Sprintf("%+.1f%%（%+.1f%% ～ %+.1f%%）", lift*100, lo*100, hi*100)
			} else if ok {
				row.Lift = fmt.Sprintf("%+.1f%%", lift*100)
			} else {
				row.Lift = "无数据"
			}
		}
		out = append(out, row)
		rep.Rows = append(rep.Rows, []string{label, fmt.Sprint(row.ShownExposed), fmt.Sprint(row.ShownPaid), row.ShownRate,
			fmt.Sprint(row.NotExposed), fmt.Sprint(row.NotPaid), row.NotRate, row.Diff, row.Lift, row.Verdict})
		chart.Categories = append(chart.Categories, label)
		for i, s := range []*svgchart.Series{&shownS, &notS} {
			lo, hi, _ := a[i].Wilson()
			s.Values = append(s.Values, a[i].Rate())
			s.Lower = append(s.Lower, lo)
			s.Upper = append(s.Upper, hi)
		}
	}
	for _, t := range tiers {
		if a, ok := arms[t]; ok {
			add(tierName(t), a)
		}
	}
	add("全部", all)
	chart.Series = []svgchart.Series{shownS, notS}
	rep.Chart = chart.SVG()
	return rep, out
}

func verdictName(v analytics.Verdict) string {
	switch v {
	case analytics.Ramp:
		return "可以继续放量"
	case analytics.Hold:
		return "保持，继续观察"
	case analytics.RollBack:
		return "回退"
	}
	return string(v)
}

func rateText(p analytics.Proportion) string {
	if !p.HasData() {
		return "无数据"
	}
	lo, hi, _ := p.Wilson()
	return fmt.Sprintf("%.1f%%（%.1f%% ～ %.1f%%）", p.Rate()*100, lo*100, hi*100)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func share(a, b int64) string {
	if b == 0 {
		return "无数据"
	}
	return fmt.Sprintf("%.1f%%", float64(a)*100/float64(b))
}

// analyticsCSV is one report's rows as CSV, the same rows as its table.
func (h *Handler) analyticsCSV(w http.ResponseWriter, r *http.Request, v *visit) {
	aq, err := readAnalyticsQuery(r, v, time.Now())
	if err != nil {
		h.fail(w, r, v, http.StatusBadRequest, err.Error())
		return
	}
	p, err := h.analyticsData(r, v, aq)
	if err != nil {
		h.cfg.Logger.Error("console: analytics", "err", err)
		h.fail(w, r, v, http.StatusInternalServerError, "暂时无法计算，请稍后再试。")
		return
	}
	name := r.URL.Query().Get("report")
	i := slices.IndexFunc(p.Reports, func(rep report) bool { return rep.CSV == name })
	if i < 0 {
		h.fail(w, r, v, http.StatusNotFound, "没有这份报表。")
		return
	}
	rep := p.Reports[i]
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="hutong-%s-%s-%s.csv"`, rep.CSV, aq.From, aq.To))
	_, _ = w.Write([]byte("\ufeff")) // so that spreadsheet programs read the Chinese as UTF-8
	cw := csvsafe.NewWriter(w)
	if err := cw.Header(rep.Head...); err != nil {
		h.cfg.Logger.Error("console: analytics csv", "err", err)
		return
	}
	for _, row := range rep.Rows {
		cells := make([]csvsafe.Cell, len(row))
		for i, c := range row {
			cells[i] = csvsafe.Text(c)
		}
		if err := cw.Write(cells...); err != nil {
			h.cfg.Logger.Error("console: analytics csv", "err", err)
			return
		}
	}
	if err := cw.Flush(); err != nil {
		h.cfg.Logger.Error("console: analytics csv", "err", err)
	}
}
