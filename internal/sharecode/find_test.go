package sharecode

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFind(t *testing.T) {
	t.Parallel()
	a, b := code("K7MPQ2WX9R"), code("HTZ3N8VC5E")
	bad := a[:10] + string(Alphabet[(strings.IndexByte(Alphabet, a[10])+1)%modulus]) // a with a wrong check
	mixed := "K7mPq2Wx9R" + strings.ToLower(a[10:])
	for _, word := range []string{"TRANSPARENT", "23456789234", "13812345678"} {
		if valid([]rune(word)) {
			t.Fatalf("%s passes the check; pick another example", word)
		}
	}
	for _, c := range []struct {
		name, text string
		want       string // the token, or "" when err
		err        error
	}{
		// Width and case.
		{"full-width wrapped", "￥" + fullWidth(a) + "￥", a, nil},
		{"full-width wrappers and letters", fullWidth("$" + a + "$"), a, nil},
		{"lower case", "复制 ￥" + strings.ToLower(a) + "￥ 打开", a, nil},
		{"mixed case", "复制" + mixed + "打开", a, nil},
		{"full-width lower case, bare", "口令：" + fullWidth(strings.ToLower(a)) + "，快来", a, nil},
		{"zero-width space inside", "￥" + a[:5] + "\u200B" + a[5:] + "￥", a, nil},
		{"ideographic spaces", "口令\u3000" + a + "\u3000打开", a, nil},

		// Realistic messages.
		{"our own message", Message(mustParse(t, a), "年货大礼包 🧧 限时"), a, nil},
		{"Taobao style with a link first",
			"【淘宝】假一赔四 https://m.tb.cn/h.gT5kz8W2YnR?tk=" + b + " CZ3457 「新款连衣裙」\n点击链接直接打开 或者 淘宝搜索直接打开\n复制这条消息₰" + a + "₰", a, nil},
		{"other currency signs", "哈哈哈 看看这个 👉 €" + a + "€ 👈 快去买", a, nil},
		{"mismatched signs", "$" + a + "￥", a, nil},
		{"emoji touching", "🎁" + a + "🎁", a, nil},
		{"Chinese touching", "复制口令" + a + "打开付款页", a, nil},
		{"full-width brackets", "口令（" + strings.ToLower(a) + "）", a, nil},
		{"lenticular brackets", "【" + a + "】", a, nil},
		{"quotes", `code "` + a + `", thanks`, a, nil},
		{"at the end of a sentence", "the code is " + a + ".", a, nil},
		{"over two lines", "复制这条消息\n" + a + "\n打开付款页", a, nil},
		{"a code inside a link is not the code",
			"打开 https://pay.example.com/s/" + b + "?from=" + b + " 然后复制 " + a, a, nil},
		{"a code in a bare domain link is not the code",
			"m.tb.cn/h." + b + " 口令 " + a, a, nil},

		// Two codes.
		{"first wrapped wins", "￥" + a + "￥ 和 ￥" + b + "￥", a, nil},
		{"first valid wrapped wins", "￥" + bad + "￥ 不对，是 ￥" + b + "￥", b, nil},
		{"wrapped beats an earlier bare one", b + " 还是 ￥" + a + "￥", a, nil},
		{"first bare wins", b + " " + a, b, nil},
		{"a closing sign opens the next", "￥" + bad + "￥" + b + "￥", b, nil},

		// Typos.
		{"wrapped, check fails", "复制这条消息 ￥" + bad + "￥ 打开", "", ErrMistyped},
		{"wrapped, one short", "￥" + a[1:] + "￥", "", ErrMistyped},
		{"wrapped, one long", "￥" + a + "A￥", "", ErrMistyped},
		{"wrapped, an O", "￥O" + a[1:] + "￥", "", ErrMistyped},
		{"wrapped, a lower-case l", "￥" + a[:4] + "l" + a[5:] + "￥", "", ErrMistyped},
		{"bare, check fails", "口令 " + bad + " 打开", "", ErrMistyped},
		{"bare, a 1", "口令 1" + a[1:], "", ErrMistyped},

		// Nothing.
		{"empty", "", "", ErrNoToken},
		{"Chinese only", "你好，在吗？", "", ErrNoToken},
		{"emoji only", "😀😂👍🏻👨\u200D👩\u200D👧", "", ErrNoToken},
		{"an 11-letter word", "this is TRANSPARENT pricing", "", ErrNoToken},
		{"an 11-digit number", "订单号 23456789234", "", ErrNoToken},
		{"a phone number", "电话 13812345678", "", ErrNoToken},
		{"only inside a link", "https://pay.example.com/s/" + b, "", ErrNoToken},
		{"part of a longer run", "X" + a, "", ErrNoToken},
		{"part of a word with an accent", "é" + a, "", ErrNoToken},
		{"followed by a combining mark", a + "\u0301", "", ErrNoToken},
		{"wrapped, far too short", "￥ABCD￥", "", ErrNoToken},
		{"prices", "原价￥199 现价$99 €5", "", ErrNoToken},
		{"invalid UTF-8", "\xff\xfe" + a[:5], "", ErrNoToken},
	} {
		got, err := Find(c.text)
		if c.err != nil {
			if !errors.Is(err, c.err) || got != (Token{}) {
				t.Errorf("%s: Find(%q) = %q %v, want %v", c.name, c.text, got, err, c.err)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("%s: Find(%q) = %q %v, want %s", c.name, c.text, got, err, c.want)
		}
	}
}

func FuzzFind(f *testing.F) {
	a, b := code("K7MPQ2WX9R"), code("HTZ3N8VC5E")
	for _, s := range []string{
		"", a, "￥" + a + "￥", fullWidth(strings.ToLower(a)), Message(mustParse(f, b), "标题"),
		"https://m.tb.cn/h." + a + " " + b, "￥" + a[1:] + "￥", "O" + a[1:], "\xff" + a, "€€€$$",
		"😀" + a + "😀", "é" + a, a + "\u0301", "口令\u200B" + a,
	} {
		f.Add(s)
	}
	first := mustParse(f, a)
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Find(s)
		if err != nil {
			if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrMistyped) {
				t.Fatalf("Find(%q): unexpected error %v", s, err)
			}
			if tok != (Token{}) {
				t.Fatalf("Find(%q) failed with a token %q", s, tok)
			}
		} else {
			canonical(t, tok)
			if back, err := Parse(tok.String()); err != nil || back != tok {
				t.Fatalf("Find(%q) = %s, which reparses as %v %v", s, tok, back, err)
			}
		}
		// A wrapped code in front wins, whatever follows it.
		if got, err := Find(Wrap(first) + " " + s); err != nil || got != first {
			t.Fatalf("Find(Wrap + %q) = %v %v", s, got, err)
		}
		if got, err := Find(Message(first, s)); err != nil || got != first {
			t.Fatalf("Find(Message(title %q)) = %v %v", s, got, err)
		}
		title := sanitizeTitle(s)
		if strings.ContainsAny(title, "\r\n\u2028\u2029") || utf8.RuneCountInString(title) > maxTitle || !utf8.ValidString(title) {
			t.Fatalf("sanitizeTitle(%q) = %q", s, title)
		}
	})
}

// BenchmarkFind looks through a 500-byte chat message whose code is near its
// end, behind a link, emoji and Chinese text.
func BenchmarkFind(b *testing.B) {
	tok := New()
	msg := "【限时活动】好友帮你砍了一刀🔪！还差一点点就成功啦～ 👉 https://m.example.cn/h.gT5kz8W2YnR?sm=a1b2c3&tk=Q9XZ 👈 " +
		"链接打不开的话也没关系，Copy the message below and open the payment page 😊😊 " +
		"活动截止到今晚十二点，先到先得，数量有限，卖完即止。"
	msg += strings.Repeat("🎉", (500-len(msg)-len(Wrap(tok))-len(" 复制这条消息  打开付款页"))/4)
	msg += " 复制这条消息 " + Wrap(tok) + " 打开付款页"
	if n := len(msg); n < 490 || n > 510 {
		b.Fatalf("message of %d bytes, want about 500", n)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if got, err := Find(msg); err != nil || got != tok {
			b.Fatalf("Find = %v %v", got, err)
		}
	}
}
