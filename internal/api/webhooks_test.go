package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/api"
	"github.com/hutong-pay/hutong/internal/gateway"
	"github.com/hutong-pay/hutong/internal/merchant"
	"github.com/hutong-pay/hutong/internal/store/storetest"
	"github.com/hutong-pay/hutong/internal/webhooks"
)

// TestWebhookEndpointRefusesPrivateAddresses: through the API, an endpoint
// on a non-public address is a 400 naming the address, the parameter and
// the flag that allows it, and no endpoint is listed afterwards.
func TestWebhookEndpointRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	svc := &gateway.Service{DB: db}
	srv := httptest.NewServer((&api.Server{Svc: svc}).Handler())
	defer srv.Close()
	ctx := context.Background()
	m, err := svc.MerchantService().Create(ctx, merchant.Merchant{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := svc.MerchantService().CreateKey(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+"/v1/webhook_endpoints", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Error struct{ Message, Param string }
			Data  []webhooks.Endpoint
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if method == "GET" {
			return res.StatusCode, strings.Repeat("x", len(out.Data))
		}
		return res.StatusCode, out.Error.Param + ": " + out.Error.Message
	}
	for u, says := range map[string]string{
		"http://169.254.169.254/latest/meta-data/": "url: points to the cloud metadata address (169.254.169.254); hutong delivers webhooks only to public addresses unless started with --webhook-allow-private",
		"http://[::1]:8080/":                       "loopback address (::1)",
		"http://0x7f.1/":                           "loopback address (0x7f.1 is 127.0.0.1)",
	} {
		st, msg := call("POST", `{"url":"`+u+`"}`)
		if st != http.StatusBadRequest || !strings.Contains(msg, says) {
			t.Errorf("POST %s: %d %q, want 400 saying %q", u, st, msg, says)
		}
	}
	if _, n := call("GET", ""); n != "" {
		t.Fatalf("%d endpoints stored by refused requests", len(n))
	}
}
