package wechatpayv3

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	good := `WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="abc",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",signature="c2ln"`
	a, err := ParseAuthorization(good)
	if err != nil {
		t.Fatal(err)
	}
	want := Authorization{MchID: "1900000001", NonceStr: "abc", Timestamp: 1554208460, SerialNo: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", Signature: "c2ln"}
	if a != want {
		t.Fatalf("got %+v", a)
	}
	back, err := ParseAuthorization(a.String())
	if err != nil || back != a {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	// Spaces after commas, as some SDKs write them, are accepted.
	if _, err := ParseAuthorization(strings.ReplaceAll(good, `",`, `", `)); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ header, wantErr string }{
		{"", "missing"},
		{`Bearer x`, "scheme"},
		{`WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",timestamp="1",serial_no="s"`, "signature is missing"},
		{`WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="a",timestamp="1",serial_no="s",signature="x"`, "twice"},
		{`WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="a",timestamp="1",serial_no="s",signature="x"`, "quoted"},
		{`WECHATPAY2-SHA256-RSA2048 mchid="1,nonce_str="a"`, "separated"},
		{`WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",timestamp="soon",serial_no="s",signature="x"`, "timestamp"},
		{`WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",timestamp="1",serial_no="s",signature="x",extra="y"`, "unknown"},
		{`WECHATPAY2-SHA256-RSA2048 mchid="",nonce_str="a",timestamp="1",serial_no="s",signature="x"`, "empty"},
		{`WECHATPAY2-SHA256-RSA2048 mchid="1",`, "ends with a comma"},
		{`WECHATPAY2-SHA256-RSA2048 mchid="1`, "closing quote"},
		{`WECHATPAY2-SHA256-RSA2048 ` + strings.Repeat("x", 5000), "longer"},
	} {
		if _, err := ParseAuthorization(tc.header); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%.60q: error %v, want one mentioning %q", tc.header, err, tc.wantErr)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="abc",timestamp="1554208460",serial_no="1DDE",signature="c2ln"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1", nonce_str="a"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 =""`)
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseAuthorization(header)
		if err != nil {
			return
		}
		// Whatever parses has every parameter and renders to a header
		// that parses to the same thing.
		if a.MchID == "" || a.NonceStr == "" || a.SerialNo == "" || a.Signature == "" || a.Timestamp <= 0 {
			t.Fatalf("parsed an incomplete header: %+v", a)
		}
		if strings.ContainsAny(a.MchID+a.NonceStr+a.SerialNo+a.Signature, `"`) {
			t.Fatalf("a value holds a quote: %+v", a)
		}
		b, err := ParseAuthorization(a.String())
		if err != nil || b != a {
			t.Fatalf("round trip of %+v: %+v %v", a, b, err)
		}
	})
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	msg := RequestMessage("POST", "/v3/pay/transactions/native?x=1", 1554208460, "nonce", []byte(`{"a":1}`))
	if string(msg) != "POST\n/v3/pay/transactions/native?x=1\n1554208460\nnonce\n{\"a\":1}\n" {
		t.Fatalf("request message %q", msg)
	}
	if got := string(ResponseMessage(1554208460, "n", nil)); got != "1554208460\nn\n\n" {
		t.Fatalf("response message %q", got)
	}
	sig, err := Sign(key, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(&key.PublicKey, msg, sig); err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte{}, msg...)
	tampered[len(tampered)-3] = '2'
	if err := Verify(&key.PublicKey, tampered, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered message: %v", err)
	}
	if err := Verify(&key.PublicKey, msg, "not base64!"); err == nil {
		t.Fatal("accepted a non-base64 signature")
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := RandomString(APIv3KeyLen)
	r, err := Seal(key, "transaction", "transaction", []byte(`{"out_trade_no":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Nonce) != 12 || r.Algorithm != AEADAlgorithm {
		t.Fatalf("resource %+v", r)
	}
	pt, err := Open(key, r)
	if err != nil || string(pt) != `{"out_trade_no":"1"}` {
		t.Fatalf("open: %q %v", pt, err)
	}
	r.AssociatedData = "refund"
	if _, err := Open(key, r); err == nil {
		t.Fatal("opened with the wrong associated data")
	}
	if _, err := Open(RandomString(APIv3KeyLen), r); err == nil {
		t.Fatal("opened with another key")
	}
	if _, err := Seal("short", "", "", nil); err == nil {
		t.Fatal("sealed with a short key")
	}
}

func TestRandomString(t *testing.T) {
	t.Parallel()
	s := RandomString(1000)
	if len(s) != 1000 || strings.Trim(s, alphanumeric) != "" {
		t.Fatalf("RandomString: %q", s)
	}
}
