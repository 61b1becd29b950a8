package wechatpay

import "os"

// tempDir is a folder for state shared across fuzz inputs, which outlive any
// one *testing.T.
func tempDir() (string, error) { return os.MkdirTemp("", "hutong-wechatpay-fuzz-") }
