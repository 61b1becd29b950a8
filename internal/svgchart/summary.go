package svgchart

import (
	"strconv"
	"strings"
)

// summary is the chart in words, for the <desc> a screen reader speaks in
// place of the drawing. A small chart is read out in full; a long series
// (a year of weeks) is summed up by its first and last value and its
// extremes, which is what a sighted reader takes from the line.
func (r *renderer) summary() string {
	var parts []string
	if r.c.Desc != "" {
		parts = append(parts, r.c.Desc)
	}
	kind := "折线图"
	switch r.c.Kind {
	case StackedBar:
		kind = "堆叠柱状图"
	case GroupedBar:
		kind = "分组柱状图"
	}
	switch {
	case r.n == 0:
		return strings.Join(append(parts, kind+"，暂无数据"), "。") + "。"
	case r.n <= 12:
		parts = append(parts, kind+"，"+strconv.Itoa(r.n)+" 个类别："+strings.Join(r.c.Categories, "、"))
	default:
		parts = append(parts, kind+"，"+strconv.Itoa(r.n)+" 个类别，从 "+r.c.Categories[0]+" 到 "+r.c.Categories[r.n-1])
	}
	full := r.n*len(r.c.Series) <= 48
	for si, s := range r.c.Series {
		var vals []string
		first, last, lo, hi := -1, -1, -1, -1
		for i, p := range r.pts[si] {
			if !p.ok {
				if full {
					vals = append(vals, r.c.Categories[i]+" 无数据")
				}
				continue
			}
			if full {
				vals = append(vals, r.c.Categories[i]+" "+r.valueText(si, i))
			}
			if first < 0 {
				first = i
			}
			last = i
			if lo < 0 || p.v < r.pts[si][lo].v {
				lo = i
			}
			if hi < 0 || p.v > r.pts[si][hi].v {
				hi = i
			}
		}
		switch {
		case full:
			parts = append(parts, s.Name+"："+strings.Join(vals, "，"))
		case first < 0:
			parts = append(parts, s.Name+"：暂无数据")
		default:
			parts = append(parts, s.Name+"：从 "+r.valueText(si, first)+"（"+r.c.Categories[first]+"）到 "+
				r.valueText(si, last)+"（"+r.c.Categories[last]+"），最高 "+r.valueText(si, hi)+"（"+
				r.c.Categories[hi]+"），最低 "+r.valueText(si, lo)+"（"+r.c.Categories[lo]+"）")
		}
	}
	return strings.Join(parts, "。") + "。"
}

func (r *renderer) valueText(si, i int) string {
	p := r.pts[si][i]
	s := r.format(p.v)
	if p.ciOK {
		s += "（95% 置信区间 " + r.format(p.lo) + " – " + r.format(p.hi) + "）"
	}
	return s
}
