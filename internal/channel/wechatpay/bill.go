package wechatpay

import (
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/wechatpay-apiv3/wechatpay-go/core"

	"github.com/hutong-pay/hutong/internal/recon"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
)

// billApplication is the answer of GET /v3/bill/tradebill.
type billApplication struct {
	HashType    string `json:"hash_type"`
	HashValue   string `json:"hash_value"`
	DownloadURL string `json:"download_url"`
}

// check validates the application's fields before they are used.
func (a billApplication) check() error {
	switch {
	case a.DownloadURL == "":
		return fmt.Errorf("wechatpay: the bill application answered no download_url")
	case a.HashType != "SHA1":
		return fmt.Errorf("wechatpay: the bill application's hash_type is %q, not SHA1", a.HashType)
	case len(a.HashValue) != 2*sha1.Size || strings.Trim(strings.ToLower(a.HashValue), "0123456789abcdef") != "":
		return fmt.Errorf("wechatpay: the bill application's hash_value %q is not a SHA1 in hex", a.HashValue)
	}
	return nil
}

// DownloadBill implements channel.BillDownloader: apply for the day's
// trade bill (all rows, gzip), then download it.
//
// The application's answer is signed and verified as any other; the file's
// download is not signed by the platform (its request is; wechatpay-go's
// FAQ "如何下载账单": 请求需签名但应答不签名), so it is fetched with the
// same credentials but no answer validator, and the file is checked
// instead against the hash_value (SHA1 of the uncompressed file) of the
// signed application. The file is written to w as it arrives; a file whose
// hash does not match is an error, and the caller must discard what w got.
func (c *Connector) DownloadBill(ctx context.Context, day string, w io.Writer) error {
	q := url.Values{"bill_date": {day}, "bill_type": {"ALL"}, "tar_type": {"GZIP"}}
	res, err := c.client.Get(ctx, api+"/v3/bill/tradebill?"+q.Encode())
	if err != nil {
		return walletError(err)
	}
	var a billApplication
	err = json.NewDecoder(io.LimitReader(res.Response.Body, 1<<20)).Decode(&a)
	res.Response.Body.Close()
	if err != nil {
		return fmt.Errorf("wechatpay: the bill application's answer is not JSON: %w", err)
	}
	if err := a.check(); err != nil {
		return err
	}
	res, err = c.fileClient.Get(ctx, a.DownloadURL)
	if err != nil {
		return walletError(err)
	}
	defer res.Response.Body.Close()
	// Copy the gzip file to w while hashing what it unpacks to.
	tee := io.TeeReader(res.Response.Body, w)
	zr, err := gzip.NewReader(tee)
	if err != nil {
		return fmt.Errorf("wechatpay: the bill file is not gzip: %w", err)
	}
	h := sha1.New()
	if _, err := io.Copy(h, zr); err != nil {
		return fmt.Errorf("wechatpay: reading the bill file: %w", err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // anything after the gzip stream still reaches w
		return fmt.Errorf("wechatpay: reading the bill file: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, a.HashValue) {
		return fmt.Errorf("wechatpay: the bill file's SHA1 %s is not the hash_value %s of its application", got, a.HashValue)
	}
	return nil
}

// unvalidatedClient is client with the same credentials but no answer
// validator, for the one answer the platform does not sign: a bill file.
func unvalidatedClient(client *core.Client) *core.Client {
	return core.NewClientWithValidator(client, &validators.NullValidator{})
}

// ReadBill implements channel.BillDownloader: the trade bill's CSV.
func (c *Connector) ReadBill(file *io.SectionReader, opts ...recon.Option) (recon.RowSource, error) {
	return recon.NewWeChatTradeBill(file, opts...)
}
