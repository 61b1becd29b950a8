package wechatpay_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/channel"
	"github.com/hutong-pay/hutong/internal/channel/wechatpay"
	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxkeys"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// tamper is a transport that changes one byte of every bill file on its
// way (the file's answer is unsigned, so only its hash can tell).
type tamper struct {
	next    http.RoundTripper
	enabled atomic.Bool
}

func (tp *tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := tp.next.RoundTrip(r)
	if err != nil || !tp.enabled.Load() || !strings.HasSuffix(r.URL.Path, "/v3/billdownload/file") || res.StatusCode != http.StatusOK {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	plain = bytes.Replace(plain, []byte("`SUCCESS"), []byte("`REFUND!"), 1)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(plain); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(&buf)
	res.ContentLength = int64(buf.Len())
	res.Header.Del("Content-Length")
	return res, nil
}

// TestDownloadBillChecksTheHash: the connector downloads the (unsigned)
// bill file and accepts it only if it matches the signed application's
// SHA1; a file changed on the way is refused.
func TestDownloadBillChecksTheHash(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	hc := e.HTTPClient()
	tp := &tamper{next: hc.Transport}
	if tp.next == nil {
		tp.next = http.DefaultTransport
	}
	hc.Transport = tp
	c := e.Credentials()
	key, err := sandboxkeys.ParsePrivateKey(c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sandboxkeys.ParsePublicKey(c.PlatformPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := wechatpay.New(ctx, wechatpay.Config{
		MchID: c.MchID, AppID: c.AppID, MerchantSerialNo: c.MerchantSerialNo, MerchantPrivateKey: key,
		APIv3Key: c.APIv3Key, PlatformPublicKeyID: c.PlatformPublicKeyID, PlatformPublicKey: pub, HTTPClient: hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := channel.Prepay{OutTradeNo: no("B"), Method: channel.WeChatNative, Amount: 2468, Description: "账单测试", NotifyURL: "https://gw.example/notify/wechatpay/main"}
	a, err := conn.Prepay(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	e.Pay(a.QRCode, "")
	day := chinatime.Date(time.Now())

	var file bytes.Buffer
	if err := conn.DownloadBill(ctx, day, &file); err != nil {
		t.Fatalf("download: %v", err)
	}
	zr, err := gzip.NewReader(&file)
	if err != nil {
		t.Fatalf("the connector did not write the gzip file: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(plain, []byte("`"+p.OutTradeNo)) || !bytes.Contains(plain, []byte("`24.68")) {
		t.Fatalf("the bill lacks the payment:\n%s", plain)
	}

	tp.enabled.Store(true)
	err = conn.DownloadBill(ctx, day, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SHA1") {
		t.Fatalf("a file changed on the way was accepted: %v", err)
	}
}
