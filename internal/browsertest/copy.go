package browsertest

import (
	"fmt"
	"html"
	"regexp"
	"strings"
)

// Shopper pages are in Chinese only. CopyProblems reads the text a person
// sees on a page (its text, title, and the alt, placeholder and aria-label
// attributes; not scripts, styles or other attributes) and names what a
// Chinese reader would trip over: ASCII letters (English) outside the
// tokens that are allowed everywhere (links, SHA-256 fingerprints,
// share-code tokens such as ￥AB23CD45EF6￥, the order number after 订单号)
// or passed in allowed, and
// half-width punctuation (, : ? ! ; ( ) .) touching a Chinese character
// where full-width ，：？！；（）。 belongs.
func CopyProblems(page string, allowed ...*regexp.Regexp) []string {
	text := VisibleText(page)
	var out []string
	for _, m := range halfWidth.FindAllString(text, -1) {
		out = append(out, fmt.Sprintf("half-width punctuation in %q", m))
	}
	rest := text
	for _, re := range append(allowedEverywhere, allowed...) {
		rest = re.ReplaceAllString(rest, " ")
	}
	for _, m := range english.FindAllStringIndex(rest, -1) {
		from, to := max(0, m[0]-12), min(len(rest), m[1]+12)
		out = append(out, fmt.Sprintf("English %q in %q", rest[m[0]:m[1]], strings.ToValidUTF8(rest[from:to], "")))
	}
	return out
}

var (
	scriptOrStyle = regexp.MustCompile(`(?is)<(script|style)\b[^>]*>.*?</(script|style)>`)
	seenAttr      = regexp.MustCompile(`(?i)\s(?:alt|placeholder|aria-label)="([^"]*)"`)
	tag           = regexp.MustCompile(`(?s)<[^>]*>`)
	halfWidth     = regexp.MustCompile(`\p{Han}[ \t]*[,:?!;()]|[,:?!;()][ \t]*\p{Han}|\p{Han}\.(?:\s|$)`)
	english       = regexp.MustCompile(`[A-Za-z]+(?:[ \t\-'][A-Za-z]+)*`)

	allowedEverywhere = []*regexp.Regexp{
		regexp.MustCompile(`(?:https?|weixin|alipays?)://[^\s<>"“”（）]+`),
		regexp.MustCompile(`\bSHA-256\b`),
		regexp.MustCompile(`\b[0-9a-f]{64}\b`),
		regexp.MustCompile(`￥[0-9A-Za-z]{4,24}￥`),
		// An order number is the merchant's, in any form, and one a
		// shopper may quote to the shop.
		regexp.MustCompile(`订单号 [!-~]+`),
	}
)

// VisibleText is the text of an HTML page a person reads, unescaped, with
// each run of spacing made one space.
func VisibleText(page string) string {
	page = scriptOrStyle.ReplaceAllString(page, " ")
	var b strings.Builder
	for _, m := range seenAttr.FindAllStringSubmatch(page, -1) {
		b.WriteString(html.UnescapeString(m[1]))
		b.WriteString(" ")
	}
	b.WriteString(html.UnescapeString(tag.ReplaceAllString(page, " ")))
	return strings.Join(strings.Fields(b.String()), " ")
}
