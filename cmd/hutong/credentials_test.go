package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRefusesCredentialsWithoutIdentities: credentials that leave out
// an identity the gateway compares wallet messages with (an Alipay app's
// seller_id, a WeChat Pay account's appid) stop serve before it listens,
// naming each missing field.
func TestServeRefusesCredentialsWithoutIdentities(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := map[string]map[string]string{
		"wechatpay": {"mchid": "1900000001", "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A72", "merchant_private_key": "k",
			"apiv3_key": "0123456789abcdef0123456789abcdef", "platform_public_key_id": "PUB_KEY_ID_0114232134912410000000000000", "platform_public_key": "p"},
		"alipay": {"app_id": "9021000122671080", "app_private_key": "k", "alipay_public_key": "p"},
	}
	raw, _ := json.Marshal(creds)
	path := filepath.Join(dir, "credentials.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"serve", "--credentials", path, "--database", "sqlite:" + filepath.Join(dir, "hutong.db"), "--addr", "127.0.0.1:0"}, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started without the wallets' identities")
	}
	for _, field := range []string{"wechatpay.appid", "alipay.seller_id"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("the refusal does not name %s: %v", field, err)
		}
	}
}
