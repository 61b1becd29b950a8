package sharecode

import (
	"errors"
	"strings"
	"testing"
)

// code is body followed by its check character.
func code(body string) string {
	return body + string(Alphabet[checkValue([]byte(body))])
}

// mustParse is the token of s, which must be one.
func mustParse(t testing.TB, s string) Token {
	t.Helper()
	tok, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return tok
}

// canonical fails unless tok is a well-formed, non-zero token.
func canonical(t testing.TB, tok Token) {
	t.Helper()
	s := tok.String()
	if len(s) != Len || !valid([]rune(s)) {
		t.Fatalf("token %q is not canonical", s)
	}
	for _, c := range []byte(s) {
		if strings.IndexByte(Alphabet, c) < 0 {
			t.Fatalf("token %q has %q, outside the alphabet", s, c)
		}
	}
}

func TestAlphabet(t *testing.T) {
	t.Parallel()
	if len(Alphabet) != 31 || modulus != 31 {
		t.Fatalf("alphabet of %d, modulus %d: the check needs the prime 31", len(Alphabet), modulus)
	}
	if Len*invLen%modulus != 1 {
		t.Fatalf("invLen %d is not the inverse of %d modulo %d", invLen, Len, modulus)
	}
	if strings.ContainsAny(Alphabet, "01ILO") {
		t.Fatal("the alphabet has a character people confuse")
	}
	for i := 1; i < len(Alphabet); i++ {
		if Alphabet[i-1] >= Alphabet[i] {
			t.Fatalf("alphabet not sorted or repeats at %d", i)
		}
	}
}

// TestCheckArithmetic checks the package comment's argument over every case:
// a substitution changes the weighted sum by i·d, a swap of positions i < j
// by (j−i)(a−b), and neither is ever 0 modulo 31.
func TestCheckArithmetic(t *testing.T) {
	t.Parallel()
	for i := 1; i <= Len; i++ {
		for d := 1; d < modulus; d++ {
			if i*d%modulus == 0 {
				t.Fatalf("substitution by %d at position %d goes unnoticed", d, i)
			}
		}
	}
	for gap := 1; gap < Len; gap++ {
		for d := 1; d < modulus; d++ {
			if gap*d%modulus == 0 {
				t.Fatalf("a swap %d apart of values differing by %d goes unnoticed", gap, d)
			}
		}
	}
}

// TestKnownToken pins the format: tokens handed out stay valid across
// releases only if the check never changes.
func TestKnownToken(t *testing.T) {
	t.Parallel()
	// Values 0…9: 1·0 + 2·1 + … + 10·9 = 330 ≡ 20; 11·c ≡ 11 gives c = 1, "3".
	if got := code("23456789AB"); got != "23456789AB3" {
		t.Fatalf("check of 23456789AB = %s, want 23456789AB3", got)
	}
	tok := mustParse(t, "23456789AB3")
	if tok.String() != "23456789AB3" || Wrap(tok) != "￥23456789AB3￥" {
		t.Fatalf("String %q, Wrap %q", tok, Wrap(tok))
	}
	if (Token{}).String() != "" {
		t.Fatal("the zero Token has text")
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	const n = 31 * 1000
	seen := make(map[Token]bool, n)
	var count [Len][256]int
	for range n {
		tok := New()
		canonical(t, tok)
		if seen[tok] {
			t.Fatalf("New repeated %s", tok)
		}
		seen[tok] = true
		for i, c := range []byte(tok.String()) {
			count[i][c]++
		}
	}
	// Each character should appear about 1000 times in each random
	// position; σ ≈ 31, so 800…1200 fails only on a broken generator.
	for i := range bodyLen {
		for _, c := range []byte(Alphabet) {
			if k := count[i][c]; k < 800 || k > 1200 {
				t.Errorf("position %d: %q %d times in %d tokens", i, c, k, n)
			}
		}
	}
}

// TestTyposDetected makes every single substitution (by any other character
// of the alphabet, or by one of the confusable characters it leaves out) and
// every transposition of two different characters in many tokens, and wants
// each reported as mistyped, bare and wrapped.
func TestTyposDetected(t *testing.T) {
	t.Parallel()
	tokens := []string{"23456789AB3", code("ZZZZZZZZZZ"), code("2222222222"), code("K7MPQ2WX9R")}
	for range 300 {
		tokens = append(tokens, New().String())
	}
	mistyped := func(s string) {
		t.Helper()
		if _, err := Parse(s); !errors.Is(err, ErrMistyped) {
			t.Fatalf("Parse(%q) = %v, want ErrMistyped", s, err)
		}
		if _, err := Find("复制 ￥" + s + "￥ 打开"); !errors.Is(err, ErrMistyped) {
			t.Fatalf("Find(￥%s￥) = %v, want ErrMistyped", s, err)
		}
	}
	subs, swaps, adjacent := 0, 0, 0
	for _, tok := range tokens {
		mustParse(t, tok)
		for i := range Len {
			for _, c := range []byte(Alphabet + "01ILO") {
				if c == tok[i] {
					continue
				}
				b := []byte(tok)
				b[i] = c
				mistyped(string(b))
				subs++
			}
			for j := i + 1; j < Len; j++ {
				if tok[i] == tok[j] {
					continue
				}
				b := []byte(tok)
				b[i], b[j] = b[j], b[i]
				mistyped(string(b))
				swaps++
				if j == i+1 {
					adjacent++
				}
			}
			// A dropped or doubled character, between wrappers.
			mistyped(tok[:i] + tok[i+1:])
			mistyped(tok[:i+1] + tok[i:])
		}
	}
	t.Logf("%d tokens: %d substitutions, %d transpositions (%d adjacent), all detected", len(tokens), subs, swaps, adjacent)
}

func TestParse(t *testing.T) {
	t.Parallel()
	good := code("K7MPQ2WX9R")
	tok := mustParse(t, good)
	for _, s := range []string{
		strings.ToLower(good),
		"k7MpQ2wX9r" + strings.ToLower(good[10:]),
		fullWidth(good),
		fullWidth(strings.ToLower(good)),
		"  " + good + "\n",
		"\u3000" + good + "\u3000",
		"￥" + good + "￥",
		"$" + good + "$",
		"¥" + strings.ToLower(good) + "€",
		"K7MPQ\u200B2WX9R" + good[10:],
		"\uFEFF" + good,
	} {
		if got, err := Parse(s); err != nil || got != tok {
			t.Errorf("Parse(%q) = %v %v, want %s", s, got, err, tok)
		}
	}
	for s, want := range map[string]error{
		"":                        ErrNoToken,
		"   ":                     ErrNoToken,
		"hello":                   ErrNoToken,
		"￥￥":                      ErrNoToken,
		good + " x":               ErrNoToken,
		"(" + good + ")":          ErrNoToken, // Parse takes one code; Find looks inside text
		"$" + good:                ErrNoToken,
		good[:9]:                  ErrNoToken,
		good + "23":               ErrNoToken,
		good[:10]:                 ErrMistyped,
		good + "2":                ErrMistyped,
		"O" + good[1:]:            ErrMistyped,
		"l" + good[1:]:            ErrMistyped,
		good[:3] + "0" + good[4:]: ErrMistyped,
	} {
		if _, err := Parse(s); !errors.Is(err, want) {
			t.Errorf("Parse(%q) = %v, want %v", s, err, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for range 1000 {
		tok := New()
		for _, s := range []string{tok.String(), Wrap(tok), Message(tok, "年货大礼包🧧"), Message(tok, "")} {
			if got, err := Find(s); err != nil || got != tok {
				t.Fatalf("Find(%q) = %v %v, want %s", s, got, err, tok)
			}
		}
		if got, err := Parse(Wrap(tok)); err != nil || got != tok {
			t.Fatalf("Parse(Wrap(%s)) = %v %v", tok, got, err)
		}
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	tok := mustParse(t, "23456789AB3")
	for _, c := range []struct{ title, want string }{
		{"年货大礼包", "【互通】复制这条消息 ￥23456789AB3￥ 打开付款页查看「年货大礼包」"},
		{"", "【互通】复制这条消息 ￥23456789AB3￥ 打开付款页查看"},
		{" \n\t ", "【互通】复制这条消息 ￥23456789AB3￥ 打开付款页查看"},
		{"第一行\r\n第二行\u2028第三行", "【互通】复制这条消息 ￥23456789AB3￥ 打开付款页查看「第一行 第二行 第三行」"},
		{"bidi\u202Eevil\u202C\x00\x1b[31m", "【互通】复制这条消息 ￥23456789AB3￥ 打开付款页查看「bidievil[31m」"},
		{"全家👨\u200D👩\u200D👧福", "【互通】复制这条消息 ￥23456789AB3￥ 打开付款页查看「全家👨\u200D👩\u200D👧福」"},
	} {
		if got := Message(tok, c.title); got != c.want {
			t.Errorf("Message(%q) =\n%q, want\n%q", c.title, got, c.want)
		}
	}
	long := strings.Repeat("长", 39) + "👨\u200D👩"
	if got := sanitizeTitle(long); got != strings.Repeat("长", 39)+"…" {
		t.Errorf("cut title = %q", got)
	}
	if got := sanitizeTitle(strings.Repeat("长", 40)); got != strings.Repeat("长", 40) {
		t.Errorf("40-rune title cut: %q", got)
	}
	if got := sanitizeTitle("\u200D\u200D"); got != "" {
		t.Errorf("joiners alone = %q", got)
	}
}

// fullWidth is s as a Chinese input method in full-width mode types it.
func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if '!' <= r && r <= '~' {
			r += 0xFF01 - '!'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	good := code("K7MPQ2WX9R")
	for _, s := range []string{"", good, strings.ToLower(good), fullWidth(good), "￥" + good + "￥", " $" + good + "$ ", good[:10], good + "2", "O" + good[1:], "\xff\xfe", "￥￥"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrMistyped) {
				t.Fatalf("Parse(%q): unexpected error %v", s, err)
			}
			if tok != (Token{}) {
				t.Fatalf("Parse(%q) failed with a token %q", s, tok)
			}
			return
		}
		canonical(t, tok)
		if back, err := Parse(tok.String()); err != nil || back != tok {
			t.Fatalf("Parse(%q) = %s, which reparses as %v %v", s, tok, back, err)
		}
		// Whatever Parse accepts on its own, Find finds in itself.
		if found, err := Find(s); err != nil || found != tok {
			t.Fatalf("Parse(%q) = %s but Find = %v %v", s, tok, found, err)
		}
	})
}
