package alipay

import (
	"context"
	"fmt"
	"io"
	"net/http"

	alipaysdk "github.com/smartwalle/alipay/v3"

	"github.com/hutong-pay/hutong/internal/recon"
)

// DownloadBill implements channel.BillDownloader: ask for the day's trade
// bill URL of the app's own merchant, then download the zip.
func (c *Connector) DownloadBill(ctx context.Context, day string, w io.Writer) error {
	return c.downloadBill(ctx, day, "", w)
}

// DownloadMerchantBill implements channel.MerchantBillDownloader: the
// trade bill of the merchant that authorized the app with appAuthToken,
// which holds the trades made for it (and the app's own bill does not).
func (c *Connector) DownloadMerchantBill(ctx context.Context, day, appAuthToken string, w io.Writer) error {
	if appAuthToken == "" {
		return fmt.Errorf("alipay: a merchant's bill needs its app_auth_token")
	}
	return c.downloadBill(ctx, day, appAuthToken, w)
}

func (c *Connector) downloadBill(ctx context.Context, day, appAuthToken string, w io.Writer) error {
	res, err := c.client.BillDownloadURLQuery(alipaysdk.BillDownloadURLQuery{BillType: "trade", BillDate: day, AppAuthToken: appAuthToken})
	var sdkRes alipaysdk.Error
	if res != nil {
		sdkRes = res.Error
	}
	if err := check(sdkRes, err); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, res.BillDownloadURL, nil)
	if err != nil {
		return err
	}
	hc := c.cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("alipay: bill download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("alipay: bill download: %s", resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// ReadBill implements channel.BillDownloader: the zip of GBK CSVs.
func (c *Connector) ReadBill(file *io.SectionReader, opts ...recon.Option) (recon.RowSource, error) {
	return recon.NewAlipayBill(file, file.Size(), opts...)
}
