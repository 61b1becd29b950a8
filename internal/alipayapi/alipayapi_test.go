package alipayapi

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestSignContent(t *testing.T) {
	t.Parallel()
	p := url.Values{
		"sign": {"xyz"}, "sign_type": {"RSA2"}, "app_id": {"2021"}, "biz_content": {`{"a":"b c&d"}`},
		"empty": {""}, "method": {"alipay.trade.query"},
	}
	if got := RequestSignContent(p); got != `app_id=2021&biz_content={"a":"b c&d"}&method=alipay.trade.query&sign_type=RSA2` {
		t.Fatalf("request content %q", got)
	}
	if got := NotifySignContent(p); got != `app_id=2021&biz_content={"a":"b c&d"}&method=alipay.trade.query` {
		t.Fatalf("notify content %q", got)
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	sig, err := Sign(key, []byte("a=1"))
	if err != nil {
		t.Fatal(err)
	}
	if Verify(&key.PublicKey, []byte("a=1"), sig) != nil {
		t.Fatal("own signature")
	}
	if err := Verify(&key.PublicKey, []byte("a=2"), sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a signature over other bytes: %v", err)
	}
	if err := Verify(&key.PublicKey, []byte("a=1"), "!!"); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a signature that is not base64: %v", err)
	}
	if ResponseKey("alipay.trade.precreate") != "alipay_trade_precreate_response" {
		t.Fatal(ResponseKey("alipay.trade.precreate"))
	}
}

func TestParseParams(t *testing.T) {
	t.Parallel()
	p, err := ParseParams("app_id=1&method=alipay.trade.query", []byte("biz_content=%7B%22a%22%3A1%7D&sign=a%2Bb%3D&x=a+b"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Get("biz_content") != `{"a":1}` || p.Get("sign") != "a+b=" || p.Get("x") != "a b" || p.Get("app_id") != "1" {
		t.Fatalf("parsed %v", p)
	}
	for _, tc := range []struct{ q, body, want string }{
		{"a=1", "a=2", "more than once"},
		{"a=1&a=1", "", "more than once"},
		{"%zz=1", "", "URL encoding"},
		{"a=%zz", "", "URL encoding"},
		{"a b=1", "", "character"},
		{"=1", "", "empty name"},
		{"a=%ff", "", "UTF-8"},
		{strings.Repeat("a", 65) + "=1", "", "longer"},
	} {
		if _, err := ParseParams(tc.q, []byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: %v, want %q", tc.q, tc.body, err, tc.want)
		}
	}
	if _, err := ParseParams("", make([]byte, MaxParamsBytes+1)); err == nil {
		t.Error("accepted more than the limit")
	}
}

func TestYuan(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int64{"0.01": 1, "1": 100, "1.5": 150, "12.34": 1234, "100000000": MaxAmount, "100000000.00": MaxAmount, "0.10": 10} {
		got, err := ParseYuan(s)
		if err != nil || got != want {
			t.Errorf("ParseYuan(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "0.00", "0.001", "1.", ".5", "-1", "1e2", "01.00", "100000000.01", " 1", "1,00", "１"} {
		if _, err := ParseYuan(s); err == nil {
			t.Errorf("ParseYuan(%q) accepted", s)
		}
	}
	for fen, want := range map[int64]string{1: "0.01", 100: "1.00", 1234: "12.34", -150: "-1.50", 0: "0.00"} {
		if got := FormatYuan(fen); got != want {
			t.Errorf("FormatYuan(%d) = %q", fen, got)
		}
	}
}

func FuzzParseParams(f *testing.F) {
	f.Add("app_id=1&method=alipay.trade.query", "biz_content=%7B%7D&sign=a%2Bb")
	f.Add("a=1&&b=", "")
	f.Add("%", "=")
	f.Fuzz(func(t *testing.T, query, body string) {
		p, err := ParseParams(query, []byte(body))
		if err != nil {
			return
		}
		// What parses has one value per name, and re-encoding parses back
		// to the same set.
		for k, vs := range p {
			if len(vs) != 1 || checkName(k) != nil {
				t.Fatalf("%q: %v", k, vs)
			}
		}
		again, err := ParseParams(p.Encode(), nil)
		if err != nil || again.Encode() != p.Encode() {
			t.Fatalf("re-parse of %q: %v", p.Encode(), err)
		}
	})
}

func FuzzSignContent(f *testing.F) {
	f.Add("app_id", "2021", "sign", "x", "biz_content", `{"a":"b"}`)
	f.Add("b", "", "a", "1", "sign_type", "RSA2")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		p := url.Values{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			p.Set(kv[0], kv[1])
		}
		got := RequestSignContent(p)
		// Independent of insertion order, never includes sign, and every
		// non-empty parameter appears as k=v.
		q := url.Values{}
		for _, kv := range [][2]string{{k3, v3}, {k2, v2}, {k1, v1}} {
			if _, ok := q[kv[0]]; !ok {
				q.Set(kv[0], p.Get(kv[0]))
			}
		}
		if RequestSignContent(q) != got {
			t.Fatalf("order changes the content: %q", got)
		}
		for k, vs := range p {
			if k == "sign" || vs[0] == "" {
				continue
			}
			if !strings.Contains(got, k+"="+vs[0]) {
				t.Fatalf("%q lacks %s=%s", got, k, vs[0])
			}
		}
		if _, ok := p["sign"]; ok && p.Get("sign") != "" && strings.HasPrefix(got, "sign=") {
			t.Fatalf("sign is in %q", got)
		}
	})
}

func FuzzParseYuan(f *testing.F) {
	for _, s := range []string{"0.01", "12.3", "100000000", "1.999", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, err := ParseYuan(s)
		if err != nil {
			return
		}
		if fen < 1 || fen > MaxAmount {
			t.Fatalf("%q → %d out of range", s, fen)
		}
		back, err := ParseYuan(FormatYuan(fen))
		if err != nil || back != fen {
			t.Fatalf("%q → %d → %q → %d", s, fen, FormatYuan(fen), back)
		}
	})
}
