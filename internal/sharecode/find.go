package sharecode

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Find locates a token inside a whole pasted message: chat text with emoji,
// links and Chinese around it, as one person copied it out of one app and
// pasted it into another.
//
// A wrapped token (a currency sign on each side, see the package comment) is
// preferred to a bare one, because the wrappers are the sender's statement
// of where the code is; among wrapped tokens, and then among bare ones, the
// first whose check character holds wins, so a mistyped code earlier in the
// text does not hide a good one after it. A bare token is a run of exactly 11
// letters and digits with no Latin letter or digit touching either end, and
// outside any link: a link's path and query are random-looking, and one run
// in 31 of the right length would pass the check by chance.
//
// When nothing passes, Find returns ErrMistyped if the text holds something
// that can only have been meant as a code — 10 to 12 letters and digits
// between two currency signs, or a bare run of 11 that mixes letters and
// digits — and ErrNoToken otherwise, so that an 11-letter word or an
// 11-digit number in the message is not reported as a typo.
func Find(text string) (Token, error) {
	var buf [512]rune // a chat message, without a heap allocation
	rs := normalize(text, buf[:0])
	mistyped := false

	for i := 0; i < len(rs); i++ {
		if !isWrapper(rs[i]) {
			continue
		}
		j := i + 1
		for j < len(rs) && isAlnum(rs[j]) {
			j++
		}
		if j == len(rs) || !isWrapper(rs[j]) {
			continue
		}
		if body := rs[i+1 : j]; valid(body) {
			return tokenOf(body), nil
		} else if len(body) >= Len-1 && len(body) <= Len+1 {
			mistyped = true
		}
		i = j - 1 // this closing sign may open the next code
	}

	for i := 0; i < len(rs); {
		if !isAlnum(rs[i]) {
			i++
			continue
		}
		j := i
		for j < len(rs) && isAlnum(rs[j]) {
			j++
		}
		if j-i == Len && standsAlone(rs, i, j) {
			if run := rs[i:j]; valid(run) {
				return tokenOf(run), nil
			} else if mixesLettersAndDigits(run) {
				mistyped = true
			}
		}
		i = j
	}

	if mistyped {
		return Token{}, ErrMistyped
	}
	return Token{}, ErrNoToken
}

// normalize appends text to buf as runes, with full-width forms folded to
// ASCII (an input method in Chinese mode types ＡＢ１２ and ￥), ASCII letters
// folded to upper case, and format characters dropped (zero-width spaces,
// joiners and byte-order marks that apps insert to break up words or links).
func normalize(text string, buf []rune) []rune {
	for _, r := range text {
		if r >= utf8.RuneSelf {
			if unicode.Is(unicode.Cf, r) {
				continue
			}
			if p := width.LookupRune(r); p.Kind() == width.EastAsianFullwidth {
				if n := p.Narrow(); n != 0 {
					r = n
				}
			}
		}
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		buf = append(buf, r)
	}
	return buf
}

// isAlnum reports an ASCII digit or (folded) capital letter: the characters a
// code, or a mistyped one, is made of.
func isAlnum(r rune) bool { return '0' <= r && r <= '9' || 'A' <= r && r <= 'Z' }

// isWrapper reports a currency sign, the wrappers accepted on input.
func isWrapper(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '$'
	}
	return unicode.Is(unicode.Sc, r)
}

// standsAlone reports whether the run rs[i:j] is a bare token's place: not
// the middle of a longer word (a Latin letter, a digit of any script, or a
// combining mark touching it) and not inside a link.
func standsAlone(rs []rune, i, j int) bool {
	joins := func(r rune) bool {
		return unicode.IsDigit(r) || unicode.Is(unicode.Latin, r) || unicode.IsMark(r)
	}
	if i > 0 && joins(rs[i-1]) || j < len(rs) && joins(rs[j]) {
		return false
	}
	// A link is a run of printable ASCII; find the one around the code.
	graphic := func(r rune) bool { return '!' <= r && r <= '~' }
	for i > 0 && graphic(rs[i-1]) {
		i--
	}
	for j < len(rs) && graphic(rs[j]) {
		j++
	}
	return !isLink(string(rs[i:j]))
}

// isLink reports a word that reads as a URL: it has a scheme, starts with
// www., or has a dot somewhere before a slash (m.tb.cn/h.XXXX). Letters are
// already folded to upper case.
func isLink(word string) bool {
	if strings.Contains(word, "://") || strings.HasPrefix(word, "WWW.") {
		return true
	}
	dot := strings.IndexByte(word, '.')
	return dot >= 0 && strings.IndexByte(word[dot:], '/') > 0
}

// mixesLettersAndDigits reports a run that looks like a code rather than a
// word or a number.
func mixesLettersAndDigits(rs []rune) bool {
	letter, digit := false, false
	for _, r := range rs {
		if r <= '9' {
			digit = true
		} else {
			letter = true
		}
	}
	return letter && digit
}
