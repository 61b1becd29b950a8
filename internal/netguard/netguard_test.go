package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want string // substring of the error; "" accepts
	}{
		// Public, accepted.
		{"https://example.com/hooks", ""},
		{"http://example.com:8080/hooks?x=1", ""},
		{"https://8.8.8.8/", ""},
		{"https://[2001:4860:4860::8888]/", ""},
		{"https://[64:ff9b::808:808]/", ""}, // NAT64 of 8.8.8.8
		{"https://[2002:808:808::1]/", ""},  // 6to4 of 8.8.8.8
		{"https://[::ffff:8.8.8.8]/", ""},   // mapped 8.8.8.8
		{"https://xn--fiqs8s.example/", ""}, // an internationalised name, ASCII form
		{"https://1example.com/", ""},       // a name starting with a digit
		{"https://example.0a/", ""},         // last label not a number: a name
		{"https://cafe.bad/", ""},           // hex letters, no 0x: a name
		{"https://localhost.example.com/", ""},
		{"HTTPS://EXAMPLE.COM/", ""},

		// Schemes, shapes, user information.
		{"ftp://example.com/", "http or https"},
		{"file:///etc/passwd", "http or https"},
		{"gopher://example.com/", "http or https"},
		{"javascript:alert(1)", "http or https"},
		{"//example.com/", "http or https"},
		{"/hooks", "http or https"},
		{"http:example.com", "absolute"},
		{"http:///hooks", "absolute"},
		{"https://user:pw@example.com/", "user name or password"},
		{"https://user@example.com/", "user name or password"},
		{"https://%zz/", "does not parse"},
		{"https://bücher.example/", "plain ASCII"},
		{"https://１２７.０.０.１/", "plain ASCII"},

		// Loopback.
		{"http://127.0.0.1/", "loopback address (127.0.0.1)"},
		{"http://127.0.0.1:8080/", "loopback"},
		{"http://127.255.255.254/", "loopback"},
		{"http://[::1]/", "loopback address (::1)"},
		{"http://[::1]:9000/", "loopback"},
		{"http://[0:0:0:0:0:0:0:1]/", "loopback"},
		{"http://localhost/", "local machine (localhost)"},
		{"http://LOCALHOST:8080/", "local machine"},
		{"http://localhost./", "local machine"},
		{"http://api.localhost/", "local machine"},
		{"http://a.b.LocalHost/", "local machine"},
		// Numeric notations of 127.0.0.1 that inet_aton and browsers read.
		{"http://2130706433/", "loopback address (2130706433 is 127.0.0.1)"},
		{"http://0177.0.0.1/", "loopback address (0177.0.0.1 is 127.0.0.1)"},
		{"http://0x7f.1/", "loopback address (0x7f.1 is 127.0.0.1)"},
		{"http://0x7F.0.0.1/", "loopback"},
		{"http://127.1/", "loopback address (127.1 is 127.0.0.1)"},
		{"http://127.0.1/", "loopback"},
		{"http://0x7f000001/", "loopback"},
		{"http://017700000001/", "loopback"},
		{"http://127.0.0.1./", "loopback"},
		{"http://%31%32%37.0.0.1/", "does not parse"},
		// Private.
		{"http://10.0.0.5/", "private address (10.0.0.5)"},
		{"http://10.255.255.255/", "private"},
		{"http://172.16.0.1/", "private"},
		{"http://172.31.255.255/", "private"},
		{"http://192.168.1.1/", "private"},
		{"http://012.0.0.5/", "private address (012.0.0.5 is 10.0.0.5)"},
		{"http://167772165/", "private"},
		{"http://[fc00::1]/", "private"},
		{"http://[fd12:3456::1]/", "private"},
		{"http://[fec0::1]/", "private"},
		{"http://[::ffff:10.0.0.5]/", "private"},
		{"http://[::ffff:a00:5]/", "private"},
		{"http://[64:ff9b::10.0.0.5]/", "private"},
		{"http://[64:ff9b::a00:5]/", "private"},
		{"http://[2002:a00:5::1]/", "private"},
		// Link-local and cloud metadata.
		{"http://169.254.169.254/latest/meta-data/", "cloud metadata address (169.254.169.254)"},
		{"http://100.100.100.200/latest/meta-data/", "cloud metadata address (100.100.100.200)"},
		{"http://[fd00:ec2::254]/", "cloud metadata"},
		{"http://[::ffff:169.254.169.254]/", "cloud metadata"},
		{"http://[64:ff9b::169.254.169.254]/", "cloud metadata"},
		{"http://2852039166/", "cloud metadata"},
		{"http://0xa9fea9fe/", "cloud metadata"},
		{"http://0251.0376.0251.0376/", "cloud metadata"},
		{"http://169.254.1.1/", "link-local"},
		{"http://[fe80::1]/", "link-local"},
		{"http://[fe80::1%25eth0]/", "scoped"},
		// Shared address space (CGNAT).
		{"http://100.64.0.1/", "carrier-grade NAT"},
		{"http://100.127.255.255/", "carrier-grade NAT"},
		{"https://100.128.0.1/", ""},
		{"https://100.63.255.255/", ""},
		// Unspecified, multicast, broadcast, reserved.
		{"http://0.0.0.0/", "unspecified"},
		{"http://0/", "unspecified"},
		{"http://0.1.2.3/", "unspecified"},
		{"http://[::]/", "unspecified"},
		{"http://224.0.0.1/", "multicast"},
		{"http://239.255.255.250/", "multicast"},
		{"http://[ff02::1]/", "multicast"},
		{"http://255.255.255.255/", "broadcast"},
		{"http://4294967295/", "broadcast"},
		{"http://240.0.0.1/", "reserved"},
		{"http://192.0.2.1/", "documentation"},
		{"http://198.18.0.1/", "benchmarking"},
		{"http://[2001:db8::1]/", "documentation"},
		{"http://[2001::1]/", "reserved"},
		{"http://[::127.0.0.1]/", "loopback"},
		{"http://[::8.8.8.8]/", "IPv4-compatible"},
		{"http://[100::1]/", "discard"},
		{"http://[64:ff9b:1::1]/", "local NAT64"},
		// Numeric shapes that are not addresses at all.
		{"http://256.0.0.1/", "looks like an IPv4 address"},
		{"http://1.2.3.4.5/", "looks like an IPv4 address"},
		{"http://4294967296/", "looks like an IPv4 address"},
		{"http://08.0.0.1/", "looks like an IPv4 address"},
		{"http://1.2.3.256/", "looks like an IPv4 address"},
		{"http://example.1/", "looks like an IPv4 address"},
		{"http://example.0x1/", "looks like an IPv4 address"},
		// Public, but not in dotted-decimal form: refused, so no resolver
		// down the line gets to interpret it.
		{"https://134744072/", "dotted-decimal form (8.8.8.8)"},
		{"https://8.8.2056/", "dotted-decimal form (8.8.8.8)"},
		{"https://010.8.8.8/", "dotted-decimal form (8.8.8.8)"},
		{"https://8.8.8.8./", "dotted-decimal form"},
	} {
		err := CheckURL(tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckURL(%q) = %v, want accepted", tc.url, err)
		case tc.want != "" && err == nil:
			t.Errorf("CheckURL(%q) accepted, want %q", tc.url, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("CheckURL(%q) = %v, want it to say %q", tc.url, err, tc.want)
		}
	}
}

// TestNotPublicIsMarked: refusals of a place (not of a malformed URL) are
// ErrNotPublic, so callers can say how to allow them.
func TestNotPublicIsMarked(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://10.0.0.5/", "http://localhost/", "http://0x7f.1/", "http://[::1]/"} {
		if err := CheckURL(u); !errors.Is(err, ErrNotPublic) {
			t.Errorf("CheckURL(%q) = %v, want ErrNotPublic", u, err)
		}
	}
	for _, u := range []string{"ftp://example.com/", "https://u@example.com/", "http://256.0.0.1/"} {
		if err := CheckURL(u); err == nil || errors.Is(err, ErrNotPublic) {
			t.Errorf("CheckURL(%q) = %v, want a refusal that is not ErrNotPublic", u, err)
		}
	}
}

func TestClassifyEveryBlockEdge(t *testing.T) {
	t.Parallel()
	// The first and last address of every block is refused; the addresses
	// just outside an IPv4 block that borders public space are accepted.
	for _, s := range specials {
		if s.kind == "" {
			continue
		}
		first := s.prefix.Masked().Addr()
		last := lastAddr(s.prefix)
		for _, ip := range []netip.Addr{first, last} {
			if Classify(ip) == "" {
				t.Errorf("%s (in %s) classified public", ip, s.prefix)
			}
		}
	}
	for _, ip := range []string{"9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255", "128.0.0.0",
		"169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255", "192.169.0.0", "223.255.255.255",
		"1.1.1.1", "114.114.114.114", "2400:3200::1", "2001:4860:4860::8888", "2001:200::1"} {
		if k := Classify(netip.MustParseAddr(ip)); k != "" {
			t.Errorf("%s classified %q, want public", ip, k)
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestParseIPv4MatchesInetAton compares with the notations inet_aton(3)
// documents.
func TestParseIPv4MatchesInetAton(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"1.2.3.4": "1.2.3.4", "1.2.772": "1.2.3.4", "1.131844": "1.2.3.4", "16909060": "1.2.3.4",
		"0x1.0x2.0x3.0x4": "1.2.3.4", "01.02.03.04": "1.2.3.4", "0x01020304": "1.2.3.4", "0100401404": "1.2.3.4",
		"0x": "0.0.0.0", "0": "0.0.0.0",
	} {
		ip, numeric, ok := parseIPv4(in)
		if !numeric || !ok || ip.String() != want {
			t.Errorf("parseIPv4(%q) = %v %v %v, want %s", in, ip, numeric, ok, want)
		}
	}
}

func TestCheckResolved(t *testing.T) {
	t.Parallel()
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "hooks.example.com":
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		case "rebind.example.com":
			return []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("127.0.0.1")}, nil
		case "internal.example.com":
			return []netip.Addr{netip.MustParseAddr("::ffff:10.1.2.3")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	ctx := context.Background()
	for u, want := range map[string]string{
		"https://hooks.example.com/":    "",
		"https://later.example.com/":    "", // does not resolve yet: the dial check guards it
		"https://rebind.example.com/":   "loopback address (rebind.example.com is 127.0.0.1)",
		"https://internal.example.com/": "private address (internal.example.com is ::ffff:10.1.2.3)",
		"https://10.0.0.1/":             "private",
		"ftp://hooks.example.com/":      "http or https",
	} {
		err := CheckResolved(ctx, u, lookup)
		if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckResolved(%q) = %v, want %q", u, err, want)
		}
	}
}

func TestControl(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"8.8.8.8:443": true, "[2001:4860:4860::8888]:443": true,
		"127.0.0.1:80": false, "[::1]:80": false, "10.0.0.1:80": false, "169.254.169.254:80": false,
		"[::ffff:127.0.0.1]:80": false, "[fe80::1%eth0]:80": false, "0.0.0.0:80": false, "nonsense": false,
	} {
		network := "tcp4"
		if strings.HasPrefix(addr, "[") {
			network = "tcp6"
		}
		if err := Control(network, addr, nil); (err == nil) != ok {
			t.Errorf("Control(%s) = %v, want ok=%v", addr, err, ok)
		}
	}
	if Control("udp4", "8.8.8.8:53", nil) == nil {
		t.Error("Control dials udp")
	}
}

// TestClientRefusesRebinding: a name that resolves to loopback when the
// delivery connects is refused by the dialer, whatever was checked before.
// "localhost" stands for a public-looking name whose DNS answer changed.
func TestClientRefusesRebinding(t *testing.T) {
	t.Parallel()
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	for _, target := range []string{srv.URL, "http://localhost:" + u.Port() + "/"} {
		resp, err := NewClient(0, false).Get(target)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s reached the loopback server", target)
		}
		if !errors.Is(err, ErrNotPublic) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("GET %s: %v, want a loopback refusal", target, err)
		}
	}
	if hit {
		t.Error("the server was reached")
	}
	// Allowed for local development.
	resp, err := NewClient(0, true).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	followed := false
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed = true }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	resp, err := NewClient(0, true).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed {
		t.Errorf("status %d, followed %v: want the 307 itself", resp.StatusCode, followed)
	}
}
