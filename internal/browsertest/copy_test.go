package browsertest

import (
	"regexp"
	"testing"
)

// TestCopyProblems: the check of shopper pages' wording can fail, and
// lets through what a Chinese page rightly holds.
func TestCopyProblems(t *testing.T) {
	for _, c := range []struct {
		page string
		bad  int
	}{
		{`<h1>你觉得用支付宝付款怎么样？</h1><p>¥12.50 · 订单号 20261202</p>`, 0},
		{`<p>县城超市 · 订单号 shop-0a1b-XY · 请在 12月2日 20:30 前付款</p>`, 0},
		{`<p>口令 ￥AB23CD45EF6￥，链接 <a href="https://x.example/a">https://x.example/pfm/pfm_1</a></p>`, 0},
		{`<code>3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1c</code> 协议指纹（SHA-256）`, 0},
		{`<script>var a = "English"; if (x) {}</script><style>.a{color:red}</style><p class="English" data-x="y">中文</p>`, 0},
		{`<button>加入购物车 <small>add to cart</small></button>`, 1},
		{`<p>状态 invited</p>`, 1},
		{`<h1>你觉得用打开支付宝付款怎么样?</h1>`, 1},
		{`<p>已有其他人完成付款, 你无需再付</p>`, 1},
		{`<p>备注 (可选)</p>`, 2},
		{`<img alt="pay-for-me QR code">`, 1},
		{`<input placeholder="帮我付一下, 谢谢!">`, 2},
		{`<title>收银台 · hutong</title>`, 1},
	} {
		got := CopyProblems(c.page)
		if len(got) != c.bad {
			t.Errorf("%s: %d problems %q, want %d", c.page, len(got), got, c.bad)
		}
	}
	if got := CopyProblems(`<p>纯棉T恤</p>`, regexp.MustCompile(`T恤`)); len(got) != 0 {
		t.Errorf("an allowed token: %q", got)
	}
}
