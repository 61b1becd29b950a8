package web

import (
	"net/netip"
	"strings"
	"testing"
)

var testProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}

func TestForwardedFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		peer    string
		headers []string
		want    string
	}{
		{"203.0.113.1", []string{"1.1.1.1"}, "203.0.113.1"},                          // not a proxy: header ignored
		{"10.0.0.1", nil, "10.0.0.1"},                                                // a proxy that forwarded nothing
		{"10.0.0.1", []string{"198.51.100.1"}, "198.51.100.1"},                       // one proxy
		{"10.0.0.1", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},              // a forged entry left of the real one
		{"10.0.0.1", []string{"198.51.100.1, 10.0.0.7"}, "198.51.100.1"},             // two proxies
		{"10.0.0.1", []string{"6.6.6.6", "198.51.100.1 , 10.0.0.7"}, "198.51.100.1"}, // two header lines
		{"10.0.0.1", []string{"junk, 198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.1", []string{"198.51.100.1, junk"}, "10.0.0.1"}, // a malformed entry: the proxy that passed it
		{"10.0.0.1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"fd00::1", []string{"2001:db8::5"}, "2001:db8::5"},
		{"10.0.0.1", []string{"10.0.0.9, 10.0.0.8"}, "10.0.0.9"}, // only proxies: the farthest
	} {
		got := forwardedFor(netip.MustParseAddr(tc.peer), tc.headers, testProxies)
		if got.String() != tc.want {
			t.Errorf("forwardedFor(%s, %q) = %s, want %s", tc.peer, tc.headers, got, tc.want)
		}
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"203.0.113.1": "203.0.113.1", "::ffff:203.0.113.1": "203.0.113.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "junk": "junk"} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzForwardedFor: whatever the header says, the client is the peer
// unless the peer is a trusted proxy, and is always an address that
// appears in the header or is the peer.
func FuzzForwardedFor(f *testing.F) {
	f.Add("10.0.0.1", "6.6.6.6, 198.51.100.1")
	f.Add("203.0.113.1", "1.1.1.1")
	f.Add("10.0.0.1", "198.51.100.1, junk,,")
	f.Add("fd00::1", "2001:db8::5, fd00::2")
	f.Fuzz(func(t *testing.T, peer, header string) {
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		p = p.Unmap()
		got := forwardedFor(p, []string{header}, testProxies)
		trusted := false
		for _, pr := range testProxies {
			trusted = trusted || pr.Contains(p)
		}
		if !trusted && got != p {
			t.Fatalf("untrusted peer %s: client %s from %q", p, got, header)
		}
		if got == p {
			return
		}
		found := false
		for _, e := range strings.Split(header, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(e)); err == nil && a.Unmap() == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("client %s is not in %q", got, header)
		}
	})
}
