package sandboxkeys

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

func TestPEMRoundTrip(t *testing.T) {
	t.Parallel()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKey(PrivatePEM(k))
	if err != nil || !back.Equal(k) {
		t.Fatalf("private key: %v", err)
	}
	pub, err := ParsePublicKey(PublicPEM(&k.PublicKey))
	if err != nil || !pub.Equal(&k.PublicKey) {
		t.Fatalf("public key: %v", err)
	}
	if _, err := ParsePrivateKey("nope"); err == nil {
		t.Fatal("parsed garbage")
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	type p struct{ A string }
	tk := Token{Key: []byte("k")}
	tok := tk.Sign(p{"x"})
	var got p
	if !tk.Open(tok, &got) || got.A != "x" {
		t.Fatal("own token")
	}
	for _, bad := range []string{tok + "x", "x" + tok, "", ".", tok[:len(tok)-2]} {
		if (Token{Key: []byte("k")}).Open(bad, &got) {
			t.Errorf("opened %q", bad)
		}
	}
	if (Token{Key: []byte("other")}).Open(tok, &got) {
		t.Fatal("opened with another key")
	}
	if d := Digits(40); len(d) != 40 {
		t.Fatal(d)
	}
}
