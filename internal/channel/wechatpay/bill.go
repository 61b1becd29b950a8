package wechatpay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
)

// DownloadBill implements channel.BillDownloader: apply for the day's
// trade bill (all rows, gzip), then download it.
func (c *Connector) DownloadBill(ctx context.Context, day string, w io.Writer) error {
	q := url.Values{"bill_date": {day}, "bill_type": {"ALL"}, "tar_type": {"GZIP"}}
	res, err := c.client.Get(ctx, "https://api.mch.weixin.qq.com/v3/bill/tradebill?"+q.Encode())
	if err != nil {
		return walletError(err)
	}
	var a struct {
		DownloadURL string `json:"download_url"`
	}
	err = json.NewDecoder(res.Response.Body).Decode(&a)
	res.Response.Body.Close()
	if err != nil || a.DownloadURL == "" {
		return fmt.Errorf("wechatpay: the bill application answered no download_url")
	}
	res, err = c.client.Get(ctx, a.DownloadURL)
	if err != nil {
		return walletError(err)
	}
	defer res.Response.Body.Close()
	_, err = io.Copy(w, res.Response.Body)
	return err
}
