package phone

import (
	"fmt"
	"net/url"
	"strings"
)

// HTTPURL parses an absolute http(s) URL: the only kind of address the
// sandbox sends a browser to on a page's say-so (redirect_uri, return_url).
func HTTPURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// AppendQuery adds parameters (name, value, name, value…) after u's own
// query, which stays exactly as the page wrote it.
func AppendQuery(u *url.URL, kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	cp := *u
	if cp.RawQuery == "" {
		cp.RawQuery = b.String()
	} else {
		cp.RawQuery += "&" + b.String()
	}
	return cp.String()
}

// WithFragment is u with its fragment replaced by frag: how a bridge call's
// result (wechatpay=ok, alipay=9000) reaches the page that made it.
func WithFragment(u *url.URL, frag string) string {
	cp := *u
	cp.Fragment, cp.RawFragment = frag, ""
	return cp.String()
}

// Refusal is an error whose text is shown to the person as it is, and which
// errors.Is matches to its kind (ErrBadCall, ErrUnknownCode).
type Refusal struct {
	Kind error
	Msg  string
}

func (r *Refusal) Error() string { return r.Msg }
func (r *Refusal) Unwrap() error { return r.Kind }

// Refuse returns a Refusal of kind with a formatted message.
func Refuse(kind error, format string, args ...any) error {
	return &Refusal{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
