package wechatpay

import (
	"strings"
	"testing"
)

func TestParseAccessToken(t *testing.T) {
	if id, err := parseAccessToken([]byte(`{"access_token":"x","expires_in":7200,"openid":"o_abc-123","scope":"snsapi_base"}`)); err != nil || id != "o_abc-123" {
		t.Fatalf("parse = %q, %v", id, err)
	}
	for _, body := range []string{`{"errcode":40029,"errmsg":"invalid code"}`, `{"openid":""}`, `{"openid":"has space"}`, `not json`, `{"openid":"` + strings.Repeat("a", 65) + `"}`} {
		if id, err := parseAccessToken([]byte(body)); err == nil {
			t.Errorf("parse(%s) = %q, want an error", body, id)
		}
	}
}

func FuzzParseAccessToken(f *testing.F) {
	f.Add([]byte(`{"openid":"o_abc"}`))
	f.Add([]byte(`{"errcode":40163,"errmsg":"code been used"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := parseAccessToken(body)
		if err == nil && !openIDPattern.MatchString(id) {
			t.Fatalf("accepted openid %q", id)
		}
	})
}
