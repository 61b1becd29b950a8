package wechatpay

import (
	"encoding/hex"
	"encoding/json"
	"testing"
)

// FuzzBillApplication: whatever a bill application answers, check accepts
// it only with a download_url and a SHA1 in hex, which is what the file is
// then held to.
func FuzzBillApplication(f *testing.F) {
	f.Add(`{"hash_type":"SHA1","hash_value":"79bb0f6d8f7c8dd0f4a1e4d6b5a4a0c3d2e1f0a9","download_url":"https://api.mch.weixin.qq.com/v3/billdownload/file?token=x"}`)
	f.Add(`{"hash_type":"SHA1","hash_value":"79BB0F6D8F7C8DD0F4A1E4D6B5A4A0C3D2E1F0A9","download_url":"u"}`)
	f.Add(`{"hash_type":"MD5","hash_value":"79bb0f6d8f7c8dd0f4a1e4d6b5a4a0c3","download_url":"u"}`)
	f.Add(`{"hash_type":"SHA1","hash_value":"zz","download_url":""}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, body string) {
		var a billApplication
		if json.Unmarshal([]byte(body), &a) != nil {
			return
		}
		if a.check() != nil {
			return
		}
		sum, err := hex.DecodeString(a.HashValue)
		if a.DownloadURL == "" || a.HashType != "SHA1" || err != nil || len(sum) != 20 {
			t.Fatalf("accepted %+v", a)
		}
	})
}
