// Package netguard decides which addresses hutong may call on a merchant's
// behalf, so that a webhook endpoint cannot turn the gateway into a probe of
// the network it runs in (server-side request forgery).
//
// A merchant chooses the URL hutong posts its events to. Without a policy a
// merchant could name http://169.254.169.254/ (the cloud metadata service,
// which hands out the host's credentials), http://127.0.0.1:5432/, or any
// address of the private network behind the gateway, and read the answers
// from the delivery log. So only public addresses are called, and the check
// is made twice:
//
//   - CheckURL, when the endpoint is registered: the scheme is http or https,
//     the URL carries no user name or password, and the host is neither a
//     non-public IP literal nor a name reserved for the local machine
//     (localhost, *.localhost). Hosts written in the numeric shapes that
//     inet_aton and browsers accept but net.ParseIP does not
//     (http://2130706433/, http://0177.0.0.1/, http://0x7f.1/,
//     http://127.1/) are decoded the way inet_aton decodes them and refused:
//     a resolver or proxy further down may read them as 127.0.0.1.
//     CheckResolved also looks the name up and refuses one that resolves to
//     a non-public address today.
//   - Control, when a delivery connects: a name that resolved to a public
//     address at registration may resolve to 127.0.0.1 at delivery (DNS
//     rebinding), so the address actually being connected to is checked in
//     the dialer, after resolution and before the connection is made. Only
//     this second check is a guarantee; the first one gives the merchant an
//     early, clear error.
//
// Redirects are never followed (NewClient): a public endpoint answering
// 307 Location: http://10.0.0.5/ would otherwise lead the client around the
// registration check (the dial check would still refuse it, but a redirect
// is a failed delivery in any case: the event was not received).
//
// Non-public means: unspecified, loopback, private (RFC 1918, IPv6 unique
// local fc00::/7 and the deprecated site-local fec0::/10), link-local
// (which holds the cloud metadata address 169.254.169.254), shared address
// space 100.64.0.0/10 (carrier-grade NAT, and Alibaba Cloud's metadata
// service 100.100.100.200), multicast, broadcast, and the other special
// purpose blocks of the IANA registries (documentation, benchmarking,
// "this network", reserved). IPv6 forms that carry an IPv4 address
// (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64
// 64:ff9b::/96, 6to4 2002::/16) are judged by the IPv4 address they carry.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotPublic is wrapped by every refusal of an address or a host name
// that points at a non-public place (as opposed to a malformed URL).
var ErrNotPublic = errors.New("not a public address")

// AddrError is a refused address: what it is and why.
type AddrError struct {
	Host string     // as written, or the name that resolved to Addr
	Addr netip.Addr // the address it means (invalid for names like localhost)
	Kind string     // "a private address", "the cloud metadata address", …
}

func (e *AddrError) Error() string {
	switch {
	case !e.Addr.IsValid():
		return fmt.Sprintf("url points to %s (%s)", e.Kind, e.Host)
	case e.Host != "" && e.Host != e.Addr.String():
		return fmt.Sprintf("url points to %s (%s is %s)", e.Kind, e.Host, e.Addr)
	}
	return fmt.Sprintf("url points to %s (%s)", e.Kind, e.Addr)
}

func (e *AddrError) Unwrap() error { return ErrNotPublic }

// special is one special-purpose block; embedded, when set, is where an
// IPv4 address sits inside an IPv6 one (its byte offset), the verdict then
// being that of the IPv4 address.
type special struct {
	prefix   netip.Prefix
	kind     string
	embedded int
}

// metadata are the cloud metadata services, named in refusals because they
// are what an attacker is after.
var metadata = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, Tencent Cloud, …
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS over IPv6
}

// The blocks below come from the IANA IPv4 and IPv6 Special-Purpose Address
// Registries; the more specific come first.
var specials = func() []special {
	b := func(p, kind string) special { return special{prefix: netip.MustParsePrefix(p), kind: kind} }
	e := func(p string, off int) special { return special{prefix: netip.MustParsePrefix(p), embedded: off} }
	return []special{
		// IPv4
		b("0.0.0.0/8", "an unspecified address"),
		b("10.0.0.0/8", "a private address"),
		b("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
		b("127.0.0.0/8", "a loopback address"),
		b("169.254.0.0/16", "a link-local address"),
		b("172.16.0.0/12", "a private address"),
		b("192.0.0.0/24", "a reserved address"),
		b("192.0.2.0/24", "a documentation address"),
		b("192.88.99.0/24", "a reserved address"),
		b("192.168.0.0/16", "a private address"),
		b("198.18.0.0/15", "a benchmarking address"),
		b("198.51.100.0/24", "a documentation address"),
		b("203.0.113.0/24", "a documentation address"),
		b("224.0.0.0/4", "a multicast address"),
		b("255.255.255.255/32", "a broadcast address"),
		b("240.0.0.0/4", "a reserved address"),
		// IPv6
		b("::/128", "an unspecified address"),
		b("::1/128", "a loopback address"),
		e("::ffff:0:0/96", 12), // IPv4-mapped
		e("::/96", 12),         // IPv4-compatible (deprecated)
		e("64:ff9b::/96", 12),  // NAT64, well-known prefix
		b("64:ff9b:1::/48", "a local NAT64 address"),
		b("100::/64", "a discard-only address"),
		b("2001:db8::/32", "a documentation address"),
		b("2001::/23", "a reserved address"), // Teredo, benchmarking, ORCHID, …
		e("2002::/16", 2),                    // 6to4
		b("3fff::/20", "a documentation address"),
		b("fc00::/7", "a private address"),
		b("fe80::/10", "a link-local address"),
		b("fec0::/10", "a private address"),
		b("ff00::/8", "a multicast address"),
	}
}()

// Classify says what kind of non-public address ip is, or "" when it is
// public. The answer for an IPv6 address carrying an IPv4 one is that of
// the IPv4 address (IPv4-compatible addresses are refused anyway: no
// network routes them any more).
func Classify(ip netip.Addr) string {
	if !ip.IsValid() {
		return "an invalid address"
	}
	if ip.Zone() != "" {
		return "a scoped (zoned) address"
	}
	if metadata[ip] || metadata[ip.Unmap()] {
		return "the cloud metadata address"
	}
	for _, s := range specials {
		if !s.prefix.Contains(ip) {
			continue
		}
		if s.kind != "" {
			return s.kind
		}
		b := ip.As16()
		v4 := netip.AddrFrom4([4]byte(b[s.embedded : s.embedded+4]))
		if k := Classify(v4); k != "" {
			return k
		}
		if s.prefix.Bits() == 96 && s.prefix.Addr() == netip.IPv6Unspecified() {
			return "a deprecated IPv4-compatible address"
		}
		return ""
	}
	if !ip.IsGlobalUnicast() {
		return "a non-public address"
	}
	return ""
}

// CheckAddr refuses a non-public address; host is how it was written (or
// the name it was found under), for the message.
func CheckAddr(host string, ip netip.Addr) error {
	if k := Classify(ip); k != "" {
		return &AddrError{Host: host, Addr: ip, Kind: k}
	}
	return nil
}

// CheckURL checks what can be checked without the network: an absolute
// http or https URL, no user information, a host that is not a non-public
// IP address in any notation, nor localhost. A host name is not looked up
// (see CheckResolved).
func CheckURL(raw string) error {
	_, err := checkURL(raw)
	return err
}

// checkURL returns the host name to look up, "" when the host is an IP
// address (already checked).
func checkURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("url does not parse: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("url must use http or https, not %q", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", errors.New("url must be absolute, with a host (https://example.com/hooks)")
	}
	if u.User != nil {
		return "", errors.New("url must not carry a user name or password; authenticate deliveries with the endpoint's signing secret")
	}
	host := u.Hostname()
	if host == "" {
		return "", errors.New("url has an empty host")
	}
	if strings.HasPrefix(u.Host, "[") {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return "", fmt.Errorf("url host %s is not an IPv6 address", u.Host)
		}
		return "", CheckAddr(host, ip)
	}
	for _, c := range host {
		if c > 0x7e || c <= ' ' {
			// The HTTP client maps internationalised names to ASCII (UTS 46),
			// which turns full-width digits into digits: judge the ASCII form.
			return "", fmt.Errorf("url host %q must be plain ASCII; write an internationalised name in its xn-- form", host)
		}
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "" {
		return "", errors.New("url has an empty host")
	}
	if ip, numeric, ok := parseIPv4(name); numeric {
		if !ok {
			return "", fmt.Errorf("url host %s looks like an IPv4 address but is not one", host)
		}
		if err := CheckAddr(host, ip); err != nil {
			return "", err
		}
		if host != ip.String() {
			return "", fmt.Errorf("url host %s must be written in dotted-decimal form (%s)", host, ip)
		}
		return "", nil
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return "", &AddrError{Host: host, Kind: "the local machine"}
	}
	return name, nil
}

// Lookup resolves a host name to its addresses; (*net.Resolver).LookupNetIP
// with network "ip" is one.
type Lookup func(ctx context.Context, host string) ([]netip.Addr, error)

// CheckResolved is CheckURL followed, for a host name, by a look-up
// (lookup, or the system resolver when nil): a name that resolves to any
// non-public address is refused. A name that does not resolve is accepted:
// it may be set up later, and every delivery is checked again when it
// connects (Control).
func CheckResolved(ctx context.Context, raw string, lookup Lookup) error {
	name, err := checkURL(raw)
	if err != nil || name == "" {
		return err
	}
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, name)
	if err != nil {
		return nil
	}
	for _, ip := range addrs {
		if err := CheckAddr(name, ip); err != nil {
			return err
		}
	}
	return nil
}

// parseIPv4 reads s as inet_aton(3) and the WHATWG URL standard do: one to
// four parts separated by dots, each decimal, octal (a leading 0) or
// hexadecimal (0x), the last part filling the remaining bytes ("127.1" is
// 127.0.0.1, "2130706433" is 127.0.0.1). numeric says whether s has that
// shape at all, as the URL standard decides it: a host whose last label is
// a number is an IPv4 address or invalid, never a name (no top-level domain
// is numeric). ok says whether it is a valid one.
func parseIPv4(s string) (ip netip.Addr, numeric, ok bool) {
	parts := strings.Split(s, ".")
	if !isNumberShape(parts[len(parts)-1]) {
		return netip.Addr{}, false, false
	}
	if len(parts) > 4 {
		return netip.Addr{}, true, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, good := parseNumber(p)
		if !good {
			return netip.Addr{}, true, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, true, false
		}
		n |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, true, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true, true
}

// isNumberShape is the URL standard's "ends in a number" test for one label.
func isNumberShape(p string) bool {
	if p == "" {
		return false
	}
	if strings.HasPrefix(p, "0x") {
		for _, c := range p[2:] {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseNumber reads one part: 0x… hexadecimal, 0… octal, else decimal.
func parseNumber(p string) (uint64, bool) {
	base := 10
	switch {
	case p == "":
		return 0, false
	case strings.HasPrefix(p, "0x"):
		p, base = p[2:], 16
		if p == "" {
			return 0, true // "0x" is zero, as in the URL standard
		}
	case len(p) > 1 && p[0] == '0':
		p, base = p[1:], 8
	}
	v, err := strconv.ParseUint(p, base, 32)
	return v, err == nil
}

// Control refuses a connection to a non-public address. Used as
// net.Dialer.Control it runs after the name is resolved and before the
// socket connects, on the address really dialled, so it holds against DNS
// rebinding and against every notation the resolver may accept.
func Control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("netguard: refusing to dial %s", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: refusing to dial %q: %w", address, err)
	}
	if k := Classify(ap.Addr()); k != "" {
		return fmt.Errorf("netguard: %s is %s, %w", ap.Addr(), k, ErrNotPublic)
	}
	return nil
}

// Dialer is a net.Dialer that connects only to public addresses.
func Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: Control}
}

// NewClient is the HTTP client for calls on a merchant's behalf: it
// connects only to public addresses (unless allowPrivate, for local
// development), never through an HTTP proxy from the environment (the
// proxy would be the one connecting, beyond Control's reach), and never
// follows a redirect (the 3xx is the answer).
func NewClient(timeout time.Duration, allowPrivate bool) *http.Client {
	d := Dialer()
	if allowPrivate {
		d.Control = nil
	}
	t := &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Timeout: timeout, Transport: t, CheckRedirect: NoRedirects}
}

// NoRedirects is an http.Client CheckRedirect that answers with the
// redirect itself instead of following it.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
