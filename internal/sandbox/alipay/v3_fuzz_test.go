package alipay

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/hutong-pay/hutong/internal/alipayapi"
)

// FuzzV3Body: a v3 body is accepted only as one JSON object whose fields
// read back the same, and an amount read from it converts to fen exactly
// or not at all.
func FuzzV3Body(f *testing.F) {
	f.Add(`{"out_trade_no":"A1","total_amount":"0.01","subject":"豆浆","notify_url":"http://127.0.0.1/n"}`)
	f.Add(`{"total_amount":12.5}`)
	f.Add(`{"total_amount":1e2,"total_amount":"1"}`)
	f.Add(`{"a":{"b":[1,2,{"c":null}]}}  `)
	f.Add(`null`)
	f.Add(`{"a":"\ud800"}`)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := parseV3Body([]byte(body))
		if err != nil {
			if m != nil {
				t.Fatalf("%q: refused but returned %v", body, m)
			}
			return
		}
		if m == nil {
			t.Fatalf("%q: accepted without an object", body)
		}
		for k, raw := range m {
			if !json.Valid(raw) {
				t.Fatalf("%q: field %q is not JSON: %s", body, k, raw)
			}
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseV3Body(b)
		if err != nil || !slices.Equal(slices.Sorted(maps.Keys(again)), slices.Sorted(maps.Keys(m))) {
			t.Fatalf("%q re-encoded as %s: %v", body, b, err)
		}
		c := &call{biz: m}
		if amount, ok := c.bizString("total_amount"); ok {
			if fen, err := alipayapi.ParseYuan(amount); err == nil {
				if back, err := alipayapi.ParseYuan(alipayapi.FormatYuan(fen)); err != nil || back != fen {
					t.Fatalf("%q: %q is %d fen, which reads back as %d", body, amount, fen, back)
				}
			}
		}
	})
}

// FuzzV3Query: a v3 GET's query is accepted with one value per name, each
// read back as the string sent.
func FuzzV3Query(f *testing.F) {
	f.Add("bill_type=trade&bill_date=2024-09-05")
	f.Add("a=%E4%B8%AD&b=")
	f.Add("a=1&a=2")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, q string) {
		m, err := parseV3Query(q)
		if err != nil {
			return
		}
		p, err := alipayapi.ParseParams(q, nil)
		if err != nil {
			t.Fatalf("%q: accepted here, refused by ParseParams: %v", q, err)
		}
		c := &call{biz: m}
		for k, vs := range p {
			if got, ok := c.bizString(k); !ok || got != vs[0] {
				t.Fatalf("%q: %s reads %q, sent %q", q, k, got, vs[0])
			}
		}
	})
}
