// Package wechatpayv3 holds the wire-level primitives of the WeChat Pay API v3
// that both ends of a conversation need: the Authorization header, the
// messages that are signed, SHA256-with-RSA signatures, the AEAD_AES_256_GCM
// envelope of notifications and certificates, and the error body.
//
// It does no I/O. The sandbox (internal/sandbox/wechatpay) uses it to verify
// merchants' requests and to sign its answers; hutong's own connector uses it
// the other way round.
//
// The signed messages are, byte for byte:
//
//	request:               METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n
//	response, notification: TIMESTAMP\nNONCE\nBODY\n
package wechatpayv3
