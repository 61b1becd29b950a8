package sharecode

import (
	"strings"
	"unicode"
)

// maxTitle is the most runes of a title Message keeps: a chat preview shows
// about one line, and a long title only pushes the code out of it.
const maxTitle = 40

// Message is a ready-to-paste Chinese message carrying t, in the form people
// know from Taobao:
//
//	【互通】复制这条消息 ￥TOKEN￥ 打开付款页查看「title」
//
// The title is cut to one line of at most 40 runes (see sanitizeTitle); when
// nothing is left of it, the 「」 are left out. The code comes before the title so that Find
// always reaches it first, whatever the title holds.
func Message(t Token, title string) string {
	var b strings.Builder
	b.WriteString("【互通】复制这条消息 ")
	b.WriteString(Wrap(t))
	b.WriteString(" 打开付款页查看")
	if title = sanitizeTitle(title); title != "" {
		b.WriteString("「")
		b.WriteString(title)
		b.WriteString("」")
	}
	return b.String()
}

// sanitizeTitle makes a merchant's title fit one line of a chat message: line
// breaks, tabs and other spacing become single spaces, control characters are
// dropped, as are invisible format characters other than a zero-width joiner
// inside a word (emoji sequences need it) — among them the bidirectional
// overrides that could make the message display differently from what it
// says — and the result is cut to maxTitle runes, ending in "…" when cut.
// Invalid UTF-8 becomes U+FFFD.
func sanitizeTitle(title string) string {
	const zwj = '\u200D'
	var rs []rune
	space := false
	for _, r := range title {
		switch {
		case unicode.IsSpace(r) || unicode.In(r, unicode.Zl, unicode.Zp):
			space = len(rs) > 0
			continue
		case unicode.IsControl(r):
			continue
		case r == zwj && (len(rs) == 0 || space || rs[len(rs)-1] == zwj):
			continue // joins nothing
		case unicode.Is(unicode.Cf, r) && r != zwj:
			continue
		}
		if space {
			rs = append(rs, ' ')
			space = false
		}
		rs = append(rs, r)
	}
	cut := len(rs) > maxTitle
	if cut {
		rs = rs[:maxTitle-1]
	}
	for len(rs) > 0 && rs[len(rs)-1] == zwj {
		rs = rs[:len(rs)-1]
	}
	if cut {
		rs = append(rs, '…')
	}
	return string(rs)
}
