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
		req, err := http.NewRequest("POST", e.URL+"/sandbox/v1/faults", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Code, Message string }
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Errorf("%s: the refusal is not a JSON error: %v\n%s", body, err, raw)
		}
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
	if st := e.Helper("GET", "/sandbox/v1/faults", nil, &all); st != http.StatusOK {
		t.Fatalf("reading the faults: status %d", st)
	}
	for _, f := range all.Data {
		if f.NotifyDropRate != 0 {
			t.Fatalf("a refused body changed the faults: %+v", all.Data)
		}
	}
}
