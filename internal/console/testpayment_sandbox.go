package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// SandboxBuyer is a wallet sandbox's test buyer, who pays a wallet's
// payment code when asked. The console is handed one when the gateway's
// wallet accounts point at a sandbox (hutong demo, hutong serve
// --wallet-sandbox, the tests); with real wallets there is none, and a
// test payment is paid by scanning its code with a real wallet's app.
type SandboxBuyer interface {
	// Pay makes the test buyer pay code at wallet (the payment's channel):
	// a WeChat Pay code_url or an Alipay qr_code. The sandbox then
	// notifies the gateway as the wallet would. A refusal by the sandbox
	// is a *SandboxRefusal; any other error is a failure to reach it.
	Pay(ctx context.Context, wallet, code string) error
}

// SandboxRefusal is the sandbox declining to pay: its answer's status, and
// the helper API's error code ("order_paid", "order_closed",
// "insufficient_balance", "unknown_code", …) and message.
type SandboxRefusal struct {
	Status  int
	Code    string
	Message string
}

func (e *SandboxRefusal) Error() string {
	return fmt.Sprintf("the sandbox refused to pay (%d %s): %s", e.Status, e.Code, e.Message)
}

// SandboxHelper is the test buyer of the sandbox at baseURL (such as
// http://127.0.0.1:8090), reached through its helper API: POST
// /sandbox/v1/pay as JSON, which is what the helper accepts from a
// program. The sandbox pays as its default user.
func SandboxHelper(baseURL string) SandboxBuyer {
	return &sandboxHelper{url: strings.TrimRight(baseURL, "/") + "/sandbox/v1/pay", hc: &http.Client{Timeout: sandboxTimeout}}
}

// sandboxTimeout bounds one request to the sandbox, so a stalled sandbox
// cannot hold a console request past the gateway's write timeout.
const sandboxTimeout = 10 * time.Second

type sandboxHelper struct {
	url string
	hc  *http.Client
}

func (s *sandboxHelper) Pay(ctx context.Context, wallet, code string) error {
	body, err := json.Marshal(map[string]string{"wallet": wallet, "code": code})
	if err != nil {
		return fmt.Errorf("sandbox pay: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sandbox pay: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox pay: %w", err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("sandbox pay: reading the answer: %w", err)
	}
	if res.StatusCode == http.StatusOK {
		return nil
	}
	refusal := &SandboxRefusal{Status: res.StatusCode}
	var e struct{ Code, Message string }
	if json.Unmarshal(answer, &e) != nil || e.Code == "" {
		refusal.Code, refusal.Message = "unreadable", strings.TrimSpace(string(answer))
		return refusal
	}
	refusal.Code, refusal.Message = e.Code, e.Message
	return refusal
}

// sandboxRefusalText says in the console's words why the sandbox did not
// pay.
func sandboxRefusalText(err error) string {
	r, ok := errors.AsType[*SandboxRefusal](err)
	if !ok {
		return "沙箱暂时联系不上：" + err.Error()
	}
	switch r.Code {
	case "order_paid":
		return "钱包沙箱说这笔订单已经付过了。"
	case "order_closed":
		return "钱包沙箱说这笔订单已关闭，不能再付；请新建一笔测试支付。"
	case "insufficient_balance":
		return "沙箱测试买家的余额不够：" + r.Message
	case "unknown_code":
		return "钱包沙箱不认识这笔订单的码（网关连接的可能不是这个沙箱）：" + r.Message
	}
	return fmt.Sprintf("钱包沙箱拒绝付款（%s）：%s", r.Code, r.Message)
}
