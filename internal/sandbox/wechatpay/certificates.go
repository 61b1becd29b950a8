package wechatpay

import (
	"net/http"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

type certificateJSON struct {
	SerialNo           string               `json:"serial_no"`
	EffectiveTime      string               `json:"effective_time"`
	ExpireTime         string               `json:"expire_time"`
	EncryptCertificate wechatpayv3.Resource `json:"encrypt_certificate"`
}

// certificates lists the platform certificates, each sealed under the
// merchant's APIv3 key, which is how the SDKs' automatic download gets them.
func (s *Simulator) certificates(c *call) reply {
	res, err := wechatpayv3.Seal(s.creds.APIv3Key, "certificate", "", []byte(s.creds.PlatformCertificate))
	if err != nil {
		return fail(http.StatusInternalServerError, wechatpayv3.CodeSystemError, "系统错误")
	}
	return answer(map[string][]certificateJSON{"data": {{
		SerialNo:           s.keys.platformSerial,
		EffectiveTime:      chinatime.RFC3339(s.keys.platformCert.NotBefore),
		ExpireTime:         chinatime.RFC3339(s.keys.platformCert.NotAfter),
		EncryptCertificate: res,
	}}})
}
