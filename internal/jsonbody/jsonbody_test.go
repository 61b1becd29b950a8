package jsonbody_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
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

type strictRequest struct {
	Amount int64  `json:"amount" required:"a whole number of fen, at least 1" unit:"fen"`
	Buyer  buyer  `json:"buyer"`
	Note   string `json:"note" required:""`
	Quoted int64  `json:"quoted,string"`
}

// TestRequired: a field tagged required is refused when absent or null,
// naming it by its path and saying what to send.
func TestRequired(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, field, msg string }{
		{`{"note":"x"}`, "amount", "amount is required: a whole number of fen, at least 1"},
		{`{"amount":null,"note":"x"}`, "amount", "amount is required: a whole number of fen, at least 1"},
		{`{"amount":0}`, "note", "note is required"},
		{`{}`, "amount", "amount is required: a whole number of fen, at least 1"},
		{`{"amount":1,"note":"","quoted":"12"}`, "", ""},
		{`{"amount":0,"note":"x","quoted":"12"}`, "", ""}, // present: 0 is for the caller's own rules
	} {
		var v strictRequest
		err := jsonbody.Decode([]byte(tc.body), &v)
		var e *jsonbody.Error
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.body, err)
		case tc.field != "" && (!errors.As(err, &e) || e.Code != jsonbody.CodeMissingField || e.Field != tc.field || e.Message != tc.msg):
			t.Errorf("%s: %#v, want missing_field %s %q", tc.body, err, tc.field, tc.msg)
		}
	}
}

type Embedded struct {
	Note string `json:"note"`
}

type request struct {
	Embedded
	Amount   int64             `json:"amount" unit:"fen"`
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
		{`{"amount":"1"}`, "invalid_type", "amount", `amount must be a whole number of fen, got the string "1"`},
		{`{"buyer":{"id":1}}`, "invalid_type", "buyer.id", `buyer.id must be a string, got the number 1`},
		{`[]`, "invalid_type", "", `the request body must be a JSON object, got an array`},
		{`"pay"`, "invalid_type", "", `the request body must be a JSON object, got the string "pay"`},
		{`12`, "invalid_type", "", `the request body must be a JSON object, got the number 12`},
		{`true`, "invalid_type", "", `the request body must be a JSON object, got true`},
		{`null`, "invalid_type", "", `the request body must be a JSON object, got null`},
		{`{"buyer":[]}`, "invalid_type", "buyer", `buyer must be an object, got an array`},
		{`{"items":{}}`, "invalid_type", "items", `items must be an array, got an object`},
		{`{"items":[{"id":"a"},{"id":2}]}`, "invalid_type", "items[1].id", `items[1].id must be a string, got the number 2`},
		{`{"metadata":{"color":1}}`, "invalid_type", "metadata.color", `metadata.color must be a string, got the number 1`},
		{`{"counts":{"1":1.5}}`, "invalid_type", "counts.1", `counts.1 must be a whole number, got 1.5`},
		{`{"amount":12.5}`, "invalid_type", "amount", `amount must be a whole number of fen, got 12.5`},
		{`{"amount":1e-2}`, "invalid_type", "amount", `amount must be a whole number of fen, got 1e-2`},
		{`{"amount":1e20}`, "out_of_range", "amount", `amount is out of range: 1e20 is more than 9223372036854775807 fen`},
		{`{"amount":9223372036854775808}`, "out_of_range", "amount", `more than 9223372036854775807 fen`},
		{`{"amount":-1e30}`, "out_of_range", "amount", `less than -9223372036854775808 fen`},
		{`{"amount":1e999999999999999999999}`, "out_of_range", "amount", `is out of range`},
		{`{"amount":1e-999999999999999999999}`, "invalid_type", "amount", `must be a whole number of fen`},
		{`{"amount":1e2}`, "invalid_type", "amount", `must be written as a plain whole number of fen`},
		{`{"amount":100.0}`, "invalid_type", "amount", `must be written as a plain whole number of fen`},
		{`{"amount":9223372036854775807}`, "", "", ""},
		{`{"amount":-9223372036854775808}`, "", "", ""},
		{`{"amount":null,"buyer":null,"items":null}`, "", "", ""}, // null leaves a field as it is
		{`{"at":"yesterday"}`, "invalid_type", "", `not valid`},
		{`{"at":"2024-09-01T00:00:00Z"}`, "", "", ""},
		{`{"free":` + strings.Repeat("[", jsonbody.MaxDepth), "invalid_json", "", `nests more than`},
		{`{"free":1e400}`, "out_of_range", "free", `free is out of range: 1e400 is more than 1.7976931348623157e+308, the largest number accepted`},
		{`{"free":{"x":[1,-1e400]}}`, "out_of_range", "free.x[1]", `free.x[1] is out of range: -1e400 is less than -1.7976931348623157e+308`},
		{`{"free":1e308}`, "", "", ""},
		{`{"free":1e-400}`, "", "", ""}, // rounds to 0, as encoding/json reads it
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

// TestDecodeNumberBeyondFloat: a JSON number too large for a float64 (or
// a float32 field) is refused as out of range, naming where it is and the
// largest accepted, wherever encoding/json would make a float of it: a
// float field, an any, the body itself decoded into an any. encoding/json
// alone would say only that a number was wanted, which the body is.
func TestDecodeNumberBeyondFloat(t *testing.T) {
	t.Parallel()
	big := "2" + strings.Repeat("0", 320)
	type floats struct {
		Share  float64            `json:"share"`
		Small  float32            `json:"small"`
		Ratios map[string]float64 `json:"ratios"`
	}
	for _, tc := range []struct {
		body  string
		into  any
		field string
		msg   string
	}{
		{big, new(any), "", "the request body is out of range: 200000000000000000000000… is more than 1.7976931348623157e+308, the largest number accepted"},
		{"[" + big + "]", new([]any), "[0]", "[0] is out of range"},
		{`{"share":-` + big + `}`, new(floats), "share", "share is out of range: -20000000000000000000000… is less than -1.7976931348623157e+308, the smallest number accepted"},
		{`{"small":1e39}`, new(floats), "small", "small is out of range: 1e39 is more than 3.4028235e+38, the largest number accepted"},
		{`{"ratios":{"a":1e309}}`, new(floats), "ratios.a", "ratios.a is out of range"},
	} {
		err := jsonbody.Decode([]byte(tc.body), tc.into)
		var e *jsonbody.Error
		if !errors.As(err, &e) || e.Code != jsonbody.CodeOutOfRange || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%.40q: %v, want out_of_range at %q saying %q", tc.body, err, tc.field, tc.msg)
		}
		if json.Unmarshal([]byte(tc.body), tc.into) == nil {
			t.Errorf("%.40q: encoding/json decodes it: not out of range after all", tc.body)
		}
	}
	var v floats
	if err := jsonbody.Decode([]byte(`{"share":1.7976931348623157e308,"small":3.4e38,"ratios":{"a":-1e-400}}`), &v); err != nil {
		t.Errorf("the largest floats, and one that rounds to 0: %v", err)
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
		case err != nil && errStatus(err) != http.StatusUnsupportedMediaType:
			t.Errorf("%q: status %d", tc.ct, errStatus(err))
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
	if _, _, err := read("text/plain", `{"amount":3}`, false); err == nil || errCode(err) != "unsupported_media_type" {
		t.Errorf("text/plain: %v", err)
	}
	if _, _, err := read("", `{"amount":3}`, true); err == nil || errCode(err) != "unsupported_media_type" {
		t.Errorf("an optional body without a type: %v", err)
	}
	if _, empty, err := read("", "", true); err != nil || !empty {
		t.Errorf("an empty optional body without a type: %v %v", empty, err)
	}
	if _, _, err := read("", "", false); err == nil || errCode(err) != "empty_body" {
		t.Errorf("an empty required body without a type: %v", err)
	}
	if _, _, err := read("text/plain", "", false); err == nil || errCode(err) != "unsupported_media_type" {
		t.Errorf("an empty required body of another type: %v", err)
	}
	if _, _, err := read("application/json", "", false); err == nil || errCode(err) != "empty_body" {
		t.Errorf("an empty required body: %v", err)
	}
	if _, _, err := read("application/json", `{"currency":"`+strings.Repeat("x", 64)+`"}`, false); err == nil || errStatus(err) != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the limit: %v", err)
	}
}

// FuzzDecode: Decode never panics; its duplicate-key finding agrees with
// an independent parser (for a target of any type, keys compare exactly);
// it accepts only what json.Valid accepts, and refuses valid JSON only
// for a duplicate or a number beyond a float64; and what it accepts
// decodes to what encoding/json alone decodes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"b":1,"b":2}}`, `[{"a":1},{"a":1}]`, `{"a":1}]`,
		`{"a":1} {}`, `{"a":[1,{"x":"y","X":"y"}]}`, `"s"`, `1`, `null`, `{"amount":1,"Amount":2}`,
		`{"buyer":{"id":"x","Id":"y"}}`, `{"counts":{"1":1,"+1":2}}`, `{"metadata":{"\ud800":"","\udfff":""}}`,
		"{\"a\":\"\xff\"}", `[[[[`, ``,
		`{"amount":1e20}`, `{"amount":12.5}`, `{"amount":-0.0}`, `{"amount":1E+2}`, `{"items":[{"id":3}]}`,
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
			// JSON bounds no number, but an any holds numbers as float64s:
			// one beyond them is refused as out of range, exactly when
			// encoding/json cannot decode it either.
			var plain any
			beyond := json.Unmarshal(data, &plain) != nil
			if !dup && err != nil && (!beyond || e.Code != jsonbody.CodeOutOfRange) {
				t.Fatalf("%q: valid JSON without duplicates refused: %v", data, err)
			}
			if !dup && err == nil && beyond {
				t.Fatalf("%q: accepted, but encoding/json cannot decode it", data)
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

// FuzzIntegerField: a JSON number bound for an int64 field is accepted
// exactly when encoding/json accepts it, and a refusal says the truth about
// its value, computed apart with math/big: "out of range" only for a whole
// number outside int64, "a whole number" only for one with a fraction,
// "written as a plain whole number" only for a whole one in range.
func FuzzIntegerField(f *testing.F) {
	for _, s := range []string{"0", "-0", "12", "12.5", "1e2", "1E+2", "100.0", "1e20", "-1e30", "9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "-9223372036854775809", "0.5e1", "5e-1", "0e999", "1e-400", "123456789012345678901234567890e-10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, n string) {
		body := []byte(`{"amount":` + n + `}`)
		var probe any
		if json.Unmarshal([]byte(n), &probe) != nil {
			return
		}
		if _, ok := probe.(float64); !ok || !json.Valid(body) {
			return
		}
		var v, plain request
		err := jsonbody.Decode(body, &v)
		uerr := json.Unmarshal(body, &plain)
		if (err == nil) != (uerr == nil) {
			t.Fatalf("%s: Decode %v, encoding/json %v", n, err, uerr)
		}
		if err == nil {
			return
		}
		var e *jsonbody.Error
		if !errors.As(err, &e) || e.Field != "amount" {
			t.Fatalf("%s: %#v", n, err)
		}
		// The reference, for exponents small enough to compute.
		n = strings.Trim(n, " \t\r\n")
		mant, exp, _ := strings.Cut(strings.ToLower(n), "e")
		if x, perr := strconv.Atoi(strings.TrimPrefix(exp, "+")); exp != "" && (perr != nil || x > 400 || x < -400) || len(mant) > 400 {
			return
		}
		r, ok := new(big.Rat).SetString(n)
		if !ok {
			t.Fatalf("%s: math/big cannot read it", n)
		}
		whole := r.IsInt()
		inRange := whole && r.Num().IsInt64()
		switch {
		case strings.Contains(e.Message, "out of range"):
			if !whole || inRange || e.Code != jsonbody.CodeOutOfRange {
				t.Fatalf("%s: %q, but whole %v, in range %v", n, e.Message, whole, inRange)
			}
		case strings.Contains(e.Message, "plain whole number"):
			if !inRange {
				t.Fatalf("%s: %q, but whole %v, in range %v", n, e.Message, whole, inRange)
			}
		case strings.Contains(e.Message, "must be a whole number"):
			if whole {
				t.Fatalf("%s: %q, but it is whole", n, e.Message)
			}
		default:
			t.Fatalf("%s: unexpected refusal %q", n, e.Message)
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

// errCode and errStatus read err as the *jsonbody.Error a handler answers
// with; any other error has code "" and status 0, so a check fails rather
// than panics.
func errCode(err error) string {
	var e *jsonbody.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func errStatus(err error) int {
	var e *jsonbody.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
