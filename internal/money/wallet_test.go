package money_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/chinatime"
	"github.com/hutong-pay/hutong/internal/gatewaytest"
	"github.com/hutong-pay/hutong/internal/sandbox/notify"
	"github.com/hutong-pay/hutong/internal/wechatpayv3"
)

// walletMessages sends notifications signed by the sandbox's wallets to
// the gateway.
type walletMessages struct {
	t *testing.T
	e *gatewaytest.Env
	n int
}

// wechat sends a WeChat Pay notification whose resource is res, sealed
// under the merchant's APIv3 key, and reports whether it was accepted.
func (w *walletMessages) wechat(eventType, originalType string, res map[string]any) bool {
	w.t.Helper()
	plain, err := json.Marshal(res)
	if err != nil {
		w.t.Fatal(err)
	}
	creds := w.e.Sandbox.Credentials()
	sealed, err := wechatpayv3.Seal(creds.APIv3Key, originalType, originalType, plain)
	if err != nil {
		w.t.Fatal(err)
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
		w.t.Fatal(err)
	}
	status, _ := w.send(req)
	return status == http.StatusNoContent
}

func (w *walletMessages) send(req *http.Request) (int, string) {
	w.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(bytes.TrimSpace(b))
}
