package wechatpay_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// TestBillFileIsNotSigned: the platform signs the bill application but not
// the file's download. A validating wechatpay-go client therefore refuses
// the file; the FAQ's way (option.WithoutValidator, here as a copy of the
// client with NullValidator) reads it, and the file matches the signed
// application's hash_value, whether plain or gzip.
func TestBillFileIsNotSigned(t *testing.T) {
	t.Parallel()
	e := sandboxtest.Start(t)
	client := publicKeyClient(t, e)
	_, code := nativePrepay(t, client, e, "https://merchant.example/n", 4321)
	e.Pay(code, "")
	today := chinatime.Date(time.Now())

	for _, gz := range []bool{false, true} {
		query := "bill_date=" + today + "&bill_type=ALL"
		if gz {
			query += "&tar_type=GZIP"
		}
		// The application is signed: the validating client accepts it.
		a, err := applyBill(t, client, query)
		if err != nil {
			t.Fatalf("gzip %v: the signed application: %v", gz, err)
		}

		// The validating client refuses the unsigned file.
		res, err := client.Get(ctx, a.DownloadURL)
		if err == nil {
			t.Fatalf("gzip %v: a validating client accepted the bill file", gz)
		}
		var ae *core.APIError
		if errors.As(err, &ae) {
			t.Fatalf("gzip %v: the file's download failed as an API error, not for want of a signature: %v", gz, err)
		}
		if res == nil || res.Response == nil || res.Response.StatusCode != http.StatusOK {
			t.Fatalf("gzip %v: the download answered %v", gz, res)
		}
		for _, h := range []string{wechatpayv3.HeaderSignature, wechatpayv3.HeaderSerial, wechatpayv3.HeaderNonce, wechatpayv3.HeaderTimestamp} {
			if v := res.Response.Header.Get(h); v != "" {
				t.Fatalf("gzip %v: the bill file came with %s: %s", gz, h, v)
			}
		}
		if res.Response.Header.Get(wechatpayv3.HeaderRequestID) == "" {
			t.Fatalf("gzip %v: the bill file came without Request-ID", gz)
		}

		// The FAQ's way: the same credentials, no answer validation, and the
		// file checked against the application's hash.
		c := e.Credentials()
		plain, err := core.NewClient(ctx,
			option.WithHTTPClient(e.HTTPClient()),
			option.WithMerchantCredential(c.MchID, c.MerchantSerialNo, mustPrivateKey(t, c.MerchantPrivateKey)),
			option.WithoutValidator(),
		)
		if err != nil {
			t.Fatal(err)
		}
		res, err = plain.Get(ctx, a.DownloadURL)
		if err != nil {
			t.Fatalf("gzip %v: download without validation: %v", gz, err)
		}
		body, err := io.ReadAll(res.Response.Body)
		res.Response.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("gzip: %v", err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		sum := sha1.Sum(body)
		if a.HashType != "SHA1" || hex.EncodeToString(sum[:]) != a.HashValue {
			t.Fatalf("gzip %v: the file's SHA1 %x is not the application's %s %s", gz, sum, a.HashType, a.HashValue)
		}
		if !bytes.Contains(body, []byte("`43.21")) {
			t.Fatalf("gzip %v: the bill lacks the payment:\n%s", gz, body)
		}
	}

	// Errors of the download are still signed answers: a bad token is an
	// API error the validating client reads.
	_, err := core.NewClientWithValidator(client, &validators.NullValidator{}).Get(ctx, "https://api.mch.weixin.qq.com/v3/billdownload/file?token=nope")
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)
}

// TestBillLinkLasts30Seconds: a download_url works for 30 s, as the
// platform documents; after that the application must be made again.
func TestBillLinkLasts30Seconds(t *testing.T) {
	t.Parallel()
	var clock sandboxClock
	clock.set(time.Now())
	e := sandboxtest.Start(t, sandboxtest.WithNow(clock.now))
	client := publicKeyClient(t, e)
	_, code := nativePrepay(t, client, e, "https://merchant.example/n", 100)
	e.Pay(code, "")
	a, err := applyBill(t, client, "bill_date="+chinatime.Date(clock.now()))
	if err != nil {
		t.Fatal(err)
	}
	files := core.NewClientWithValidator(client, &validators.NullValidator{})
	clock.add(30 * time.Second)
	if _, err := files.Get(ctx, a.DownloadURL); err != nil {
		t.Fatalf("the link at 30 s: %v", err)
	}
	clock.add(2 * time.Second)
	_, err = files.Get(ctx, a.DownloadURL)
	wantAPIError(t, err, http.StatusBadRequest, wechatpayv3.CodeInvalidRequest)
}

// sandboxClock is a clock a test moves by hand.
type sandboxClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *sandboxClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *sandboxClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *sandboxClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
