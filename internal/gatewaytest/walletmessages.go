package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// WalletMessages sends the gateway notifications signed by the sandbox's
// wallets with their own keys, exactly as the wallets sign theirs: each
// passes the signature check, so only what it names can refuse it.
type WalletMessages struct {
	e *Env
	n int
}

// WalletMessages is a sender of wallet notifications to e's gateway.
func (e *Env) WalletMessages() *WalletMessages { return &WalletMessages{e: e} }

// WeChat sends a WeChat Pay notification whose resource is res, sealed
// under the merchant's APIv3 key, and reports whether it was accepted.
func (w *WalletMessages) WeChat(eventType, originalType string, res map[string]any) bool {
	w.e.T.Helper()
	plain, err := json.Marshal(res)
	if err != nil {
		w.e.T.Fatal(err)
	}
	creds := w.e.Sandbox.Credentials()
	sealed, err := wechatpayv3.Seal(creds.APIv3Key, originalType, originalType, plain)
	if err != nil {
		w.e.T.Fatal(err)
	}
	w.n++
	body, _ := json.Marshal(map[string]any{
		"id": fmt.Sprintf("EV-%d-%d", time.Now().UnixNano(), w.n), "create_time": chinatime.RFC3339(time.Now()), "resource_type": "encrypt-resource",
		"event_type": eventType, "summary": "test", "resource": sealed,
	})
	req, err := w.e.Sandbox.Sandbox().WeChatPay().Prepare(context.Background(), &notify.Notification{
		URL: w.e.URL + "/notify/wechatpay/main", ContentType: "application/json", Body: string(body),
	})
	if err != nil {
		w.e.T.Fatal(err)
	}
	status, _ := w.send(req)
	return status == http.StatusNoContent
}

// Alipay sends an Alipay notification form and reports whether it was
// accepted.
func (w *WalletMessages) Alipay(form url.Values) bool {
	w.e.T.Helper()
	w.n++
	form.Set("notify_id", fmt.Sprintf("2026120200222%d%d", time.Now().UnixNano()%1e9, w.n))
	req, err := w.e.Sandbox.Sandbox().Alipay().Prepare(context.Background(), &notify.Notification{
		URL: w.e.URL + "/notify/alipay/main", ContentType: "application/x-www-form-urlencoded; charset=utf-8", Body: form.Encode(),
	})
	if err != nil {
		w.e.T.Fatal(err)
	}
	_, body := w.send(req)
	return body == "success"
}

func (w *WalletMessages) send(req *http.Request) (int, string) {
	w.e.T.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.e.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(bytes.TrimSpace(b))
}
