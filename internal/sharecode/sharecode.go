// Package sharecode is the text form of share codes, hutong's "Taobao
// passwords": a short random token a person copies out of one app and pastes
// into any chat, from which the payer's side must find it again. It has no
// I/O; whether a well-formed code is known, expired or revoked is the
// database's question, not this package's.
//
// A code travels through chat apps, input methods and retyping by hand, so
// its text is chosen for that trip:
//
//   - The alphabet is the 31 digits and capital letters that cannot be
//     misread: 2–9 and A–Z without I, L and O, since people confuse 0 with
//     O and 1 with I and L. No 32nd character is equally safe — the only
//     candidates left are those five or punctuation that chat apps rewrite
//     or link — and 31 being prime is what the check character below needs.
//   - A token is 10 random characters from crypto/rand, 31^10 ≈ 2^49.5
//     (49.5 bits), followed by one check character from the same alphabet.
//     The check adds no entropy; it turns typos into ErrMistyped rather than
//     "unknown code", and lets a caller refuse 30 in 31 guessed codes before
//     asking its database.
//   - The check: with the token's 11 characters as values v1…v11 (their
//     index in Alphabet), the weighted sum 1·v1 + 2·v2 + … + 11·v11 is 0
//     modulo 31. Changing one character by d changes the sum by i·d, and
//     swapping two different characters a, b at positions i < j changes it
//     by (j−i)(a−b); in the field of integers modulo the prime 31 neither is
//     0, because i, j−i and d, a−b all lie between 1 and 30. So every single
//     substitution and every transposition — adjacent or not — is caught.
//     This is ISBN-10's scheme with a prime equal to the alphabet's size, so
//     the check needs no extra symbol.
//   - The wrapped form, what Wrap writes, is ￥TOKEN￥ with the full-width yen
//     sign U+FFE5 on both sides: the Taobao convention Chinese users already
//     recognise, the sign a Chinese input method types, and one no chat app
//     turns into a link. On input any currency sign is accepted on either
//     side (￥ ¥ $ ＄ € £ ₤ ₰ …), because Taobao-style messages rotate them
//     and input methods swap $ for ￥. A code in brackets ( ) （ ） 【 】 or
//     quotes, or standing alone between spaces or Chinese text, is found as
//     a bare token.
//
// Before looking, Find and Parse fold full-width letters, digits and signs
// to their ASCII forms, fold letters to upper case, and drop invisible
// format characters (zero-width spaces and joiners, which some apps insert).
// They do not map look-alikes: 0, 1, I, L and O never occur in a code, so
// there is nothing unambiguous to map them to, and a code containing one is
// reported as mistyped.
package sharecode

import (
	"crypto/rand"
	"errors"
	"unicode"
)

// Alphabet is the characters of a share code, in value order.
const Alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// Len is a token's length in characters: 10 random, 1 check.
const Len = 11

const (
	bodyLen = Len - 1
	modulus = len(Alphabet) // prime: see the package comment
	// invLen is the inverse of Len's weight (11) modulo 31: 11·17 = 187 = 6·31+1.
	invLen = 17
	// wrapper is what Wrap puts on both sides: FULLWIDTH YEN SIGN.
	wrapper = "\uFFE5"
)

// Errors from Find and Parse, for errors.Is. A caller tells the person "no
// share code in that text" for the first and "the code has a typo" for the
// second; "unknown, expired or revoked" is for the caller's database to say.
var (
	// ErrNoToken means nothing in the text looks like a share code.
	ErrNoToken = errors.New("sharecode: no share code in the text")
	// ErrMistyped means something in the text has a share code's shape but
	// is not one: its check character fails, it holds a character that is
	// never in a code, or, where the text is plainly meant as a code (see
	// Parse and Find), it is one character short or long.
	ErrMistyped = errors.New("sharecode: share code mistyped")
)

// Token is a share code whose check character holds. The zero Token is not a
// code (its String is ""); every other Token comes from New, Parse or Find.
type Token struct{ s string }

// String is the token's canonical text: 11 characters of Alphabet.
func (t Token) String() string { return t.s }

// value maps a byte to its index in Alphabet, or -1.
var value = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := range len(Alphabet) {
		v[Alphabet[i]] = int8(i)
	}
	return v
}()

// New returns a random token.
func New() Token {
	var b [Len]byte
	var buf [16]byte
	n := 0
	for n < bodyLen {
		rand.Read(buf[:]) // never fails since Go 1.24
		for _, x := range buf {
			// 248 = 8·31: rejecting the top 8 byte values keeps every
			// character equally likely.
			if int(x) < 8*modulus && n < bodyLen {
				b[n] = Alphabet[int(x)%modulus]
				n++
			}
		}
	}
	b[bodyLen] = Alphabet[checkValue(b[:bodyLen])]
	return Token{string(b[:])}
}

// checkValue is the value c that makes 1·v1 + … + 10·v10 + 11·c ≡ 0 (mod 31)
// for a body of Alphabet characters.
func checkValue(body []byte) int {
	sum := 0
	for i, c := range body {
		sum += (i + 1) * int(value[c])
	}
	return (modulus - sum%modulus) % modulus * invLen % modulus
}

// valid reports whether rs, already folded, is a token: Len characters of
// Alphabet whose weighted sum is 0 modulo 31.
func valid(rs []rune) bool {
	if len(rs) != Len {
		return false
	}
	sum := 0
	for i, r := range rs {
		if r >= 0x80 || value[r] < 0 {
			return false
		}
		sum += (i + 1) * int(value[r])
	}
	return sum%modulus == 0
}

// tokenOf makes a Token of rs, which valid has accepted.
func tokenOf(rs []rune) Token {
	var b [Len]byte
	for i, r := range rs {
		b[i] = byte(r)
	}
	return Token{string(b[:])}
}

// Wrap is the token as pasted: ￥TOKEN￥ with full-width yen signs.
func Wrap(t Token) string { return wrapper + t.s + wrapper }

// Parse reads a text that is meant to be exactly one token, as typed into a
// form or carried in a link: surrounding spaces and one pair of wrappers are
// allowed, width and case are folded. It returns ErrMistyped when the text is
// 10 to 12 letters and digits but not a token, and ErrNoToken otherwise. To
// look for a token inside a longer message, use Find.
func Parse(s string) (Token, error) {
	rs := normalize(s, nil)
	for len(rs) > 0 && unicode.IsSpace(rs[0]) {
		rs = rs[1:]
	}
	for len(rs) > 0 && unicode.IsSpace(rs[len(rs)-1]) {
		rs = rs[:len(rs)-1]
	}
	if len(rs) >= 2 && isWrapper(rs[0]) && isWrapper(rs[len(rs)-1]) {
		rs = rs[1 : len(rs)-1]
	}
	if valid(rs) {
		return tokenOf(rs), nil
	}
	if len(rs) < Len-1 || len(rs) > Len+1 {
		return Token{}, ErrNoToken
	}
	for _, r := range rs {
		if !isAlnum(r) {
			return Token{}, ErrNoToken
		}
	}
	return Token{}, ErrMistyped
}
