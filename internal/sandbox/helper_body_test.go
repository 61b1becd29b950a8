package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hutong-pay/hutong/internal/sandbox/sandboxtest"
)

// TestHelperRefusesAmbiguousBodies: the helper API reads bodies with the
// gateway's strict decoder, so a knob given twice or a body with data after
// it is refused, naming the problem, and changes nothing.
func TestHelperRefusesAmbiguousBodies(t *testing.T) {
	e := sandboxtest.Start(t)
	for body, want := range map[string]string{
		`{"wallet":"wechatpay","notify_drop_rate":1,"notify_drop_rate":0}`: `the key "notify_drop_rate" appears twice`,
		`{"wallet":"wechatpay","notify_drop_rate":1}]`:                     `data after its JSON value`,
		`{"wallet":"wechatpay","notify_drop_rate":1} {}`:                   `data after its JSON value`,
		`{"wallet":"wechatpay","notify_drop_rat":1}`:                       `notify_drop_rat is not a field`,
	} {
		req, _ := http.NewRequest("POST", e.URL+"/sandbox/v1/faults", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct{ Code, Message string }
		json.Unmarshal(raw, &got)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got.Message, want) {
			t.Errorf("%s: %d %s, want 400 naming %q", body, resp.StatusCode, raw, want)
		}
	}
	var all struct {
		Data []struct {
			Wallet         string  `json:"wallet"`
			NotifyDropRate float64 `json:"notify_drop_rate"`
		} `json:"data"`
	}
	e.Helper("GET", "/sandbox/v1/faults", nil, &all)
	for _, f := range all.Data {
		if f.NotifyDropRate != 0 {
			t.Fatalf("a refused body changed the faults: %+v", all.Data)
		}
	}
}
