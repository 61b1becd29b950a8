package netguard

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckURL: the URL check never panics, and what it accepts is an
// http(s) URL without user information whose host is no non-public
// address under any reading: not net.ParseIP's, not netip's, not the
// inet_aton notations, not localhost.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/hooks", "http://127.0.0.1/", "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/",
		"http://127.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[64:ff9b::a00:1]/", "http://localhost/",
		"http://a.localhost./", "http://169.254.169.254/", "http://100.100.100.200/", "https://u:p@example.com/",
		"http://[fe80::1%25eth0]/", "http://%31%32%37.0.0.1/", "https://8.8.8.8/", "http://0x/", "http://1.2.3.4.5/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Host == "" {
			t.Fatalf("accepted %q (scheme %q, user %v)", raw, u.Scheme, u.User)
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); ip != nil {
			a, _ := netip.AddrFromSlice(ip)
			if Classify(a.Unmap()) != "" || Classify(a) != "" {
				t.Fatalf("accepted %q, host %s is non-public", raw, host)
			}
		}
		if a, err := netip.ParseAddr(host); err == nil && Classify(a) != "" {
			t.Fatalf("accepted %q, host %s is %s", raw, host, Classify(a))
		}
		name := strings.TrimSuffix(strings.ToLower(host), ".")
		if ip, _, ok := parseIPv4(name); ok && Classify(ip) != "" {
			t.Fatalf("accepted %q, host %s is %s", raw, host, ip)
		}
		if name == "localhost" || strings.HasSuffix(name, ".localhost") {
			t.Fatalf("accepted %q", raw)
		}
	})
}

// FuzzClassify: an IPv6 form that carries an IPv4 address is never more
// public than the IPv4 address.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{10, 0, 0, 1})
	f.Add([]byte{8, 8, 8, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 4 {
			return
		}
		v4 := netip.AddrFrom4([4]byte(b))
		if Classify(v4) == "" {
			return
		}
		for _, pre := range [][]byte{
			{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
			{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0},
		} {
			a := netip.AddrFrom16([16]byte(append(append([]byte{}, pre...), b...)))
			if Classify(a) == "" {
				t.Fatalf("%s (carrying %s) classified public", a, v4)
			}
		}
		six := [16]byte{0x20, 0x02, b[0], b[1], b[2], b[3]}
		if a := netip.AddrFrom16(six); Classify(a) == "" {
			t.Fatalf("%s (6to4 of %s) classified public", a, v4)
		}
	})
}
