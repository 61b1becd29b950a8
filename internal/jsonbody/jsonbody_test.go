package jsonbody_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hutong-pay/hutong/internal/jsonbody"
)

type buyer struct {
	ID     string `json:"id"`
	Region string `json:"region_code,omitempty"`
}

type Embedded struct {
	Note string `json:"note"`
}

type request struct {
	Embedded
	Amount   int64             `json:"amount"`
	Currency string            `json:"currency"`
	Buyer    buyer             `json:"buyer"`
	Items    []buyer           `json:"items"`
	Metadata map[string]string `json:"metadata"`
	Counts   map[int]int       `json:"counts"`
	At       *time.Time        `json:"at"`
	Free     any               `json:"free"`
	Skipped  string            `json:"-"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body, code, field, msg string
	}{
		{`{"amount":1,"currency":"CNY"}`, "", "", ""},
		{" \r\n\t{\"amount\":1} \r\n\t", "", "", ""},
		{`{"metadata":{"Color":"red","color":"blue"}}`, "", "", ""}, // map keys are case-sensitive
		{`{"free":{"a":1,"A":2}}`, "", "", ""},
		{`{"note":"embedded field"}`, "", "", ""},
		{`{"amount":1,"amount":2}`, "duplicate_key", "amount", `the key "amount" appears twice`},
		{`{"amount":1,"\u0061mount":2}`, "duplicate_key", "amount", `the key "amount" appears twice`},
		{`{"amount":1,"Amount":2}`, "duplicate_key", "Amount", `the keys "amount" and "Amount" both set amount`},
		{`{"buyer":{"id":"a","id":"b"}}`, "duplicate_key", "buyer.id", `the key "id" appears twice in buyer`},
		{`{"buyer":{"id":"a","ID":"b"}}`, "duplicate_key", "buyer.ID", `both set buyer.id`},
		{`{"items":[{"id":"a"},{"id":"a","id":"b"}]}`, "duplicate_key", "items[1].id", `the key "id" appears twice in items[1]`},
		{`{"metadata":{"k":"1","k":"2"}}`, "duplicate_key", "metadata.k", `the key "k" appears twice in metadata`},
		{`{"free":{"x":{"y":1,"y":2}}}`, "duplicate_key", "free.x.y", `appears twice`},
		{`{"counts":{"1":1,"01":2}}`, "duplicate_key", "counts.01", `the keys "1" and "01" are the same number`},
		{`{"note":"a","note":"b"}`, "duplicate_key", "note", `appears twice`},
		{`{"amount":1}]`, "trailing_data", "", `data after its JSON value, at byte 12: "]"`},
		{`{"amount":1}}`, "trailing_data", "", `"}"`},
		{`{"amount":1} {"amount":2}`, "trailing_data", "", `after its JSON value`},
		{`{"amount":1} x`, "trailing_data", "", ``},
		{"{\"amount\":1}\u00a0", "trailing_data", "", ``}, // not JSON whitespace
		{`{"amount":1`, "invalid_json", "", `ends before its value does`},
		{`{"amount":1,}`, "invalid_json", "", `not valid JSON`},
		{"{\"currency\":\"\xff\"}", "invalid_json", "", `not valid UTF-8`},
		{"", "empty_body", "", `the body is empty`},
		{" \n", "empty_body", "", ``},
		{`{"amont":1}`, "unknown_field", "amont", `amont is not a field of this request`},
		{`{"Skipped":"x"}`, "unknown_field", "Skipped", ``},
		{`{"buyer":{"name":"x"}}`, "unknown_field", "buyer.name", `buyer.name is not a field of this request`},
		{`{"amount":"1"}`, "invalid_type", "amount", `amount must be an integer`},
		{`{"buyer":{"id":1}}`, "invalid_type", "buyer.id", `buyer.id must be a string`},
		{`[]`, "invalid_type", "", `the body must be an object`},
		{`{"at":"yesterday"}`, "invalid_type", "", `not valid`},
		{strings.Repeat("[", jsonbody.MaxDepth+1), "invalid_json", "", `nests more than`},
	} {
		var v request
		err := jsonbody.Decode([]byte(tc.body), &v)
		if tc.code == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.body, err)
			}
			continue
		}
		var e *jsonbody.Error
		if !errors.As(err, &e) {
			t.Errorf("%q: %v, want a *jsonbody.Error %s", tc.body, err, tc.code)
			continue
		}
		if e.Code != tc.code || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) || e.Status != http.StatusBadRequest {
			t.Errorf("%q: %d %s field %q %q, want %s field %q containing %q", tc.body, e.Status, e.Code, e.Field, e.Message, tc.code, tc.field, tc.msg)
		}
	}
}

// A refused body stores nothing, even where encoding/json would have
// filled fields before reaching the duplicate.
func TestRefusedBodyStoresNothing(t *testing.T) {
	t.Parallel()
	var v request
	if err := jsonbody.Decode([]byte(`{"amount":5,"currency":"CNY","amount":7}`), &v); err == nil {
		t.Fatal("accepted")
	}
	if !reflect.DeepEqual(v, request{}) {
		t.Fatalf("stored %+v", v)
	}
}

func TestCheckContentType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ct    string
		empty bool
		want  string // "" accepted, else part of the message
	}{
		{"application/json", false, ""},
		{"application/json; charset=utf-8", false, ""},
		{"Application/JSON; charset=UTF-8", false, ""},
		{"application/json; profile=x", false, ""},
		{"", true, ""},
		{"application/json", true, ""},
		{"", false, "Content-Type must be application/json, got none"},
		{"text/plain", false, "Content-Type must be application/json, got text/plain"},
		{"text/plain", true, "got text/plain"},
		{"application/x-www-form-urlencoded", false, "got application/x-www-form-urlencoded"},
		{"application/json; charset=latin1", false, "charset latin1"},
		{"application/merge-patch+json", false, "got application/merge-patch+json"},
		{"application/json;;", false, "got \"application/json;;\""},
	} {
		h := http.Header{}
		if tc.ct != "" {
			h.Set("Content-Type", tc.ct)
		}
		err := jsonbody.CheckContentType(h, tc.empty)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q (empty %v): %v", tc.ct, tc.empty, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q (empty %v): %v, want %q", tc.ct, tc.empty, err, tc.want)
		case err != nil && err.(*jsonbody.Error).Status != http.StatusUnsupportedMediaType:
			t.Errorf("%q: status %d", tc.ct, err.(*jsonbody.Error).Status)
		}
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	read := func(ct, body string, optional bool) (request, bool, error) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		var v request
		if optional {
			empty, err := jsonbody.ReadOptional(httptest.NewRecorder(), r, 64, &v)
			return v, empty, err
		}
		return v, false, jsonbody.Read(httptest.NewRecorder(), r, 64, &v)
	}
	if v, _, err := read("application/json", `{"amount":3}`, false); err != nil || v.Amount != 3 {
		t.Errorf("read: %v %+v", err, v)
	}
	if _, _, err := read("text/plain", `{"amount":3}`, false); err == nil || err.(*jsonbody.Error).Code != "unsupported_media_type" {
		t.Errorf("text/plain: %v", err)
	}
	if _, _, err := read("", `{"amount":3}`, true); err == nil || err.(*jsonbody.Error).Code != "unsupported_media_type" {
		t.Errorf("an optional body without a type: %v", err)
	}
	if _, empty, err := read("", "", true); err != nil || !empty {
		t.Errorf("an empty optional body without a type: %v %v", empty, err)
	}
	if _, _, err := read("", "", false); err == nil || err.(*jsonbody.Error).Code != "empty_body" {
		t.Errorf("an empty required body without a type: %v", err)
	}
	if _, _, err := read("text/plain", "", false); err == nil || err.(*jsonbody.Error).Code != "unsupported_media_type" {
		t.Errorf("an empty required body of another type: %v", err)
	}
	if _, _, err := read("application/json", "", false); err == nil || err.(*jsonbody.Error).Code != "empty_body" {
		t.Errorf("an empty required body: %v", err)
	}
	if _, _, err := read("application/json", `{"currency":"`+strings.Repeat("x", 64)+`"}`, false); err == nil || err.(*jsonbody.Error).Status != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the limit: %v", err)
	}
}

// FuzzDecode: Decode never panics; its duplicate-key finding agrees with
// an independent parser (for a target of any type, keys compare exactly);
// it accepts only what json.Valid accepts; and what it accepts decodes to
// what encoding/json alone decodes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"b":1,"b":2}}`, `[{"a":1},{"a":1}]`, `{"a":1}]`,
		`{"a":1} {}`, `{"a":[1,{"x":"y","X":"y"}]}`, `"s"`, `1`, `null`, `{"amount":1,"Amount":2}`,
		`{"buyer":{"id":"x","Id":"y"}}`, `{"counts":{"1":1,"+1":2}}`, `{"metadata":{"\ud800":"","\udfff":""}}`,
		"{\"a\":\"\xff\"}", `[[[[`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var anything any
		err := jsonbody.Decode(data, &anything)
		var e *jsonbody.Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("%q: %T %v", data, err, err)
		}
		if err == nil && !json.Valid(data) {
			t.Fatalf("%q: accepted, but not valid JSON", data)
		}
		if json.Valid(data) && utf8.Valid(data) {
			dup := refDuplicate(t, data)
			if dup != (e != nil && e.Code == jsonbody.CodeDuplicateKey) {
				t.Fatalf("%q: reference finds a duplicate %v, Decode says %v", data, dup, err)
			}
			if !dup && err != nil {
				t.Fatalf("%q: valid JSON without duplicates refused: %v", data, err)
			}
		}
		if err == nil {
			var plain any
			if uerr := json.Unmarshal(data, &plain); uerr != nil || !reflect.DeepEqual(plain, anything) {
				t.Fatalf("%q: Decode %#v, encoding/json %#v (%v)", data, anything, plain, uerr)
			}
		}
		// A struct target: never a panic, only *Error; an accepted body
		// decodes as encoding/json decodes it.
		var v request
		err = jsonbody.Decode(data, &v)
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("%q: %T %v", data, err, err)
		}
		if err == nil {
			var plain request
			if uerr := json.Unmarshal(data, &plain); uerr != nil || !reflect.DeepEqual(plain, v) {
				t.Fatalf("%q: Decode %+v, encoding/json %+v (%v)", data, v, plain, uerr)
			}
		}
	})
}

// refDuplicate is the reference: a recursive-descent reader of valid JSON,
// written apart from Decode's token walk, that reports whether any object
// has a key twice (keys compared after decoding their escapes).
func refDuplicate(t *testing.T, data []byte) bool {
	p := refParser{s: data}
	dup := p.value()
	if p.failed {
		t.Fatalf("%q: the reference could not read valid JSON at %d", data, p.i)
	}
	return dup
}

type refParser struct {
	s      []byte
	i      int
	failed bool
}

func (p *refParser) ws() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *refParser) value() (dup bool) {
	p.ws()
	if p.i >= len(p.s) {
		p.failed = true
		return false
	}
	switch p.s[p.i] {
	case '{':
		p.i++
		seen := map[string]bool{}
		for {
			p.ws()
			if p.s[p.i] == '}' {
				p.i++
				return dup
			}
			if p.s[p.i] == ',' {
				p.i++
				p.ws()
			}
			key := p.str()
			if seen[key] {
				dup = true
			}
			seen[key] = true
			p.ws()
			p.i++ // ':'
			if p.value() {
				dup = true
			}
		}
	case '[':
		p.i++
		for {
			p.ws()
			if p.s[p.i] == ']' {
				p.i++
				return dup
			}
			if p.s[p.i] == ',' {
				p.i++
			}
			if p.value() {
				dup = true
			}
		}
	case '"':
		p.str()
	default:
		for p.i < len(p.s) && strings.IndexByte(",]} \t\r\n", p.s[p.i]) < 0 {
			p.i++
		}
	}
	return false
}

// str reads a string literal and returns it decoded.
func (p *refParser) str() string {
	start := p.i
	p.i++
	for p.s[p.i] != '"' {
		if p.s[p.i] == '\\' {
			p.i++
		}
		p.i++
	}
	p.i++
	var s string
	if err := json.Unmarshal(p.s[start:p.i], &s); err != nil {
		p.failed = true
	}
	return s
}
