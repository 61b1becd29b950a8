package alipayapi

import (
	"errors"
	"strings"
	"testing"
)

func TestParseV3Authorization(t *testing.T) {
	t.Parallel()
	const sig = "c2lnbmF0dXJl+/="
	a, err := ParseV3Authorization(V3Scheme + " app_id=2021004100000001,nonce=0d1f-2c,timestamp=1700000000123,sign=" + sig)
	if err != nil {
		t.Fatal(err)
	}
	want := V3Authorization{AppID: "2021004100000001", Nonce: "0d1f-2c", Timestamp: 1700000000123,
		AuthString: "app_id=2021004100000001,nonce=0d1f-2c,timestamp=1700000000123", Sign: sig}
	if a != want {
		t.Fatalf("got %+v\nwant %+v", a, want)
	}
	// The order is the sender's, certificate mode and extra pairs are kept
	// in the signed auth string.
	a, err = ParseV3Authorization(V3Scheme + " timestamp=1,app_cert_sn=abc,app_id=1,nonce=n,biz_tag=x,sign=AA==")
	if err != nil || a.AuthString != "timestamp=1,app_cert_sn=abc,app_id=1,nonce=n,biz_tag=x" || a.AppCertSN != "abc" {
		t.Fatalf("%+v %v", a, err)
	}

	for _, tc := range []struct {
		header, field string
		missing       bool
	}{
		{"", "", true},
		{"WECHATPAY2-SHA256-RSA2048 mchid=\"1\"", "scheme", false},
		{"ALIPAY-SHA256withRSA", "scheme", false},
		{"alipay-sha256withrsa app_id=1,nonce=n,timestamp=1,sign=AA", "scheme", false},
		{V3Scheme + " app_id=1,nonce=n,timestamp=1", "sign", true},
		{V3Scheme + " sign=AA", "app_id", true},
		{V3Scheme + " app_id=1,nonce=n,timestamp=1,sign=", "sign", true},
		{V3Scheme + " app_id=1,nonce=n,timestamp=1,sign=A A", "", false},
		{V3Scheme + " app_id=1,nonce=n,timestamp=1,sign=AA%3D", "sign", false},
		{V3Scheme + " app_id=1,nonce=n,timestamp=1,sign=AA,sign=BB", "sign", false},
		{V3Scheme + " nonce=n,timestamp=1,sign=AA", "app_id", true},
		{V3Scheme + " app_id=1,timestamp=1,sign=AA", "nonce", true},
		{V3Scheme + " app_id=1,nonce=n,sign=AA", "timestamp", true},
		{V3Scheme + " app_id=1,nonce=,timestamp=1,sign=AA", "nonce", true},
		{V3Scheme + " app_id=1,app_id=2,nonce=n,timestamp=1,sign=AA", "app_id", false},
		{V3Scheme + " app_id=x1,nonce=n,timestamp=1,sign=AA", "app_id", false},
		{V3Scheme + " app_id=1,nonce=n,timestamp=-1,sign=AA", "timestamp", false},
		{V3Scheme + " app_id=1,nonce=n,timestamp=99999999999999999999,sign=AA", "timestamp", false},
		{V3Scheme + " app_id=1,nonce=n,timestamp=1e3,sign=AA", "timestamp", false},
		{V3Scheme + " app_id=1,nonce,timestamp=1,sign=AA", "", false},
		{V3Scheme + " App_Id=1,nonce=n,timestamp=1,sign=AA", "", false},
		{V3Scheme + " app_id=1,,nonce=n,timestamp=1,sign=AA", "", false},
		{V3Scheme + " app_id=1,nonce=n\x00,timestamp=1,sign=AA", "", false},
		{V3Scheme + " app_id=1,nonce=" + strings.Repeat("n", 65) + ",timestamp=1,sign=AA", "nonce", false},
		{V3Scheme + " app_id=1,nonce=n,timestamp=1,sign=" + strings.Repeat("A", MaxAuthorizationBytes), "", false},
	} {
		_, err := ParseV3Authorization(tc.header)
		var ae *AuthorizationError
		if !errors.As(err, &ae) || ae.Field != tc.field || ae.Missing != tc.missing || ae.Message == "" {
			t.Errorf("%.80q: %#v, want field %q missing %v", tc.header, err, tc.field, tc.missing)
		}
	}
}

func TestV3SignContent(t *testing.T) {
	t.Parallel()
	got := string(V3SignContent("app_id=1,nonce=n,timestamp=2", "POST", "/v3/alipay/trade/query", []byte(`{"out_trade_no":"A"}`), ""))
	if got != "app_id=1,nonce=n,timestamp=2\nPOST\n/v3/alipay/trade/query\n{\"out_trade_no\":\"A\"}\n" {
		t.Fatalf("%q", got)
	}
	got = string(V3SignContent("a=1", "GET", "/v3/x?b=2", nil, "202409BB"))
	if got != "a=1\nGET\n/v3/x?b=2\n\n202409BB\n" {
		t.Fatalf("%q", got)
	}
	if got := string(V3ResponseSignContent("17", "n", []byte("{}"))); got != "17\nn\n{}\n" {
		t.Fatalf("%q", got)
	}
	for in, want := range map[string]string{
		"isv.invalid-signature": "invalid-signature", "aop.invalid-app-auth-token": "invalid-app-auth-token",
		"isp.unknow-error": "unknow-error", "ACQ.TRADE_NOT_EXIST": "ACQ.TRADE_NOT_EXIST", "": "",
	} {
		if got := V3ErrorCode(in); got != want {
			t.Errorf("V3ErrorCode(%q) = %q", in, got)
		}
	}
}

func FuzzParseV3Authorization(f *testing.F) {
	f.Add(V3Scheme + " app_id=2021004100000001,nonce=5f9f-bb,timestamp=1667804301218,sign=AAAA")
	f.Add(V3Scheme + " app_id=1,app_cert_sn=x,nonce=n,timestamp=1,extra=y,sign=QQ==")
	f.Add(V3Scheme + " sign=,sign=")
	f.Add("ALIPAY-SHA256withRSA app_id=1,nonce=n,timestamp=1,sign=a,sign=b")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseV3Authorization(header)
		if err != nil {
			var ae *AuthorizationError
			if !errors.As(err, &ae) || ae.Message == "" {
				t.Fatalf("%q: an error that is no AuthorizationError: %v", header, err)
			}
			return
		}
		// What parses is the header spelt back exactly, with every required
		// pair and nothing that could be read two ways.
		if V3Scheme+" "+a.AuthString+",sign="+a.Sign != header {
			t.Fatalf("%q does not rebuild from %+v", header, a)
		}
		if a.AppID == "" || a.Nonce == "" || a.Timestamp < 0 || a.Sign == "" {
			t.Fatalf("%q parsed without a required pair: %+v", header, a)
		}
		if strings.ContainsAny(a.AuthString, " \t\r\n") || strings.Contains(a.Sign, ",") {
			t.Fatalf("%q: blanks or commas got through: %+v", header, a)
		}
		again, err := ParseV3Authorization(V3Scheme + " " + a.AuthString + ",sign=" + a.Sign)
		if err != nil || again != a {
			t.Fatalf("re-parse of %q: %+v %v", header, again, err)
		}
	})
}
