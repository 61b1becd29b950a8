// Package jsonbody reads a JSON request body the one strict way every
// hutong API reads one, so that what hutong acts on is exactly what any
// other JSON parser on the way (a proxy, a WAF, an audit log, the client's
// own library) would read from the same bytes.
//
// encoding/json alone is lenient where parsers disagree. It takes the last
// of two equal keys ({"amount":1,"amount":100} is an amount of 100, where
// other parsers take the first or refuse); a struct field matches any
// spelling of its name in any case, so {"amount":1,"AMOUNT":100} is two
// values for one field; a Decoder stops after the first value, so a stray
// "]" or a second object after the body goes unseen; and invalid UTF-8 is
// silently replaced. A body that two parsers read differently is how a
// checked request turns into another one, so this package refuses it:
//
//   - the Content-Type must be application/json (parameters are allowed, a
//     charset only if it is utf-8); see [CheckContentType] for an empty body;
//   - the body is one JSON value in UTF-8, with nothing but whitespace after
//     it;
//   - no object has a key twice, comparing keys after their escapes are
//     decoded ("a" and "\u0061" are the same key), and no two keys of an
//     object fill the same struct field (keys of a map stay case-sensitive);
//   - every key names a field of the target (unknown fields are refused);
//   - every value has its field's type.
//
// A refusal is an [*Error] whose Code a program can switch on and whose
// Message says what to fix, e.g. `the key "amount" appears twice`.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error codes, stable for clients: an API puts them in its error bodies.
const (
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: Content-Type is not application/json
	CodeTooLarge             = "body_too_large"         // 413: the body exceeds the limit
	CodeEmpty                = "empty_body"             // nothing but whitespace where a body is required
	CodeInvalidJSON          = "invalid_json"           // not JSON, not UTF-8, or nested too deeply
	CodeDuplicateKey         = "duplicate_key"          // an object names a key (or a field) twice
	CodeTrailingData         = "trailing_data"          // something after the JSON value
	CodeUnknownField         = "unknown_field"          // a key that is no field of the request
	CodeInvalidType          = "invalid_type"           // a value of the wrong type
)

// MaxDepth is how deeply arrays and objects may nest: encoding/json's own
// limit, so both walks refuse the same documents.
const MaxDepth = 10000

// Error is a refused body.
type Error struct {
	Status  int    // the HTTP status to answer: 400, 413 or 415
	Code    string // one of the Code constants
	Field   string // the field concerned, dotted (buyer.id), when there is one
	Message string // what is wrong, for a person
}

func (e *Error) Error() string { return e.Message }

func refuse(status int, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// CheckContentType accepts a Content-Type of application/json, with any
// parameters but a charset other than utf-8 (JSON is UTF-8, RFC 8259).
// An absent Content-Type is accepted only when the body is empty
// (bodyEmpty): a POST that carries nothing, such as a cancel, need not
// describe it; a body without a type is refused like a body of another type.
func CheckContentType(h http.Header, bodyEmpty bool) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		if bodyEmpty {
			return nil
		}
		return refuse(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "", "Content-Type must be application/json, got none")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return refuse(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "", "Content-Type must be application/json, got %q (%v)", ct, err)
	}
	if mt != "application/json" {
		return refuse(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "", "Content-Type must be application/json, got %s", mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return refuse(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "", "Content-Type must be application/json in UTF-8, got charset %s", cs)
	}
	return nil
}

// ReadAll reads r's body, at most limit bytes; a longer body is an
// [*Error] with status 413. It does not look at the Content-Type: it is for
// code that must see the raw body first (to hash it for idempotency).
func ReadAll(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, refuse(http.StatusRequestEntityTooLarge, CodeTooLarge, "", "the body exceeds %d bytes", limit)
	case err != nil:
		return nil, refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body could not be read: %v", err)
	}
	return body, nil
}

// Read reads a required JSON body of at most limit bytes into v: the
// Content-Type, the size and every rule of [Decode] are checked. A missing
// body is reported as such (empty_body), whatever its Content-Type says.
func Read(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := ReadAll(w, r, limit)
	if err != nil {
		return err
	}
	if err := CheckContentType(r.Header, len(trimSpace(body)) == 0); err != nil {
		return err
	}
	return Decode(body, v)
}

// ReadOptional is [Read] for a body that may be left out: an empty body
// (or only whitespace), with or without a Content-Type, leaves v as it is
// and reports empty. A body that is there is held to every rule.
func ReadOptional(w http.ResponseWriter, r *http.Request, limit int64, v any) (empty bool, err error) {
	body, err := ReadAll(w, r, limit)
	if err != nil {
		return false, err
	}
	empty = len(trimSpace(body)) == 0
	if err := CheckContentType(r.Header, empty); err != nil {
		return empty, err
	}
	if empty {
		return true, nil
	}
	return false, Decode(body, v)
}

// Decode decodes data, which must be exactly one JSON value, into v
// (a pointer), refusing what the package comment lists. Nothing is stored
// into v unless every check but the type checks passed.
func Decode(data []byte, v any) error {
	if len(trimSpace(data)) == 0 {
		return refuse(http.StatusBadRequest, CodeEmpty, "", "the body is empty; send a JSON object")
	}
	if !utf8.Valid(data) {
		return refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body is not valid UTF-8")
	}
	if err := Check(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		if te.Field == "" {
			return refuse(http.StatusBadRequest, CodeInvalidType, "", "the body must be %s", jsonType(te.Type))
		}
		return refuse(http.StatusBadRequest, CodeInvalidType, te.Field, "%s must be %s", te.Field, jsonType(te.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return refuse(http.StatusBadRequest, CodeUnknownField, field, "%s is not a field of this request", field)
	case errors.As(err, &se):
		return refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body is not valid JSON: %v", err)
	default:
		// A field's own UnmarshalJSON refused its value (a time, say).
		return refuse(http.StatusBadRequest, CodeInvalidType, "", "the body is not valid: %v", err)
	}
}

// Check walks data as one JSON value bound for a value of type t (nil for
// any), and reports a syntax error, invalid UTF-8 aside, a duplicate key,
// nesting deeper than [MaxDepth], or data after the value. It stores
// nothing; [Decode] calls it before decoding.
func Check(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := walker{dec: dec}
	if err := w.value(t, 0); err != nil {
		return err
	}
	if rest := trimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return refuse(http.StatusBadRequest, CodeTrailingData, "", "the body has data after its JSON value, at byte %d: %s", dec.InputOffset()+int64(len(data[dec.InputOffset():])-len(rest)), excerpt(rest))
	}
	return nil
}

// walker reads tokens one value at a time, following the target type so
// that keys bound to one struct field are seen as one key. The path to the
// value being read is kept as a stack of segments and spelt out only in an
// error, so a deeply nested body costs no more than its depth.
type walker struct {
	dec  *json.Decoder
	path []segment
}

// segment is a step of a path: an object key, or an array index (key "").
type segment struct {
	key   string
	index int
}

// where spells the current path: buyer.id, items[1].name.
func (w *walker) where() string {
	var b strings.Builder
	for _, s := range w.path {
		switch {
		case s.key == "" && s.index >= 0:
			fmt.Fprintf(&b, "[%d]", s.index)
		case b.Len() > 0:
			b.WriteString("." + s.key)
		default:
			b.WriteString(s.key)
		}
	}
	return b.String()
}

func (w *walker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err == io.EOF {
		return nil, refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body is not valid JSON: it ends before its value does")
	}
	if err != nil {
		return nil, refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body is not valid JSON: %v", err)
	}
	return tok, nil
}

func (w *walker) value(t reflect.Type, depth int) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth+1 > MaxDepth {
		return refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body nests more than %d levels deep", MaxDepth)
	}
	t = target(t)
	switch delim {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			w.path = append(w.path, segment{index: i})
			if err := w.value(elem, depth+1); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
	case '{':
		if err := w.object(t, depth); err != nil {
			return err
		}
	}
	_, err = w.token() // the closing delimiter
	return err
}

// object reads the members of an object, the '{' read.
func (w *walker) object(t reflect.Type, depth int) error {
	var fields map[string]field
	var elem reflect.Type
	intKeys := false
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = structFields(t)
		case reflect.Map:
			elem = t.Elem()
			switch t.Key().Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				intKeys = true
			}
		}
	}
	var seen map[string]string // made at the first key: most objects are small
	for w.dec.More() {
		if seen == nil {
			seen = make(map[string]string, 8)
		}
		tok, err := w.token()
		if err != nil {
			return err
		}
		key := tok.(string)
		id, ft := key, elem
		if intKeys {
			// "1", "01" and "+1" are one key of a map[int]T.
			if n, err := strconv.ParseInt(key, 10, 64); err == nil {
				id = strconv.FormatInt(n, 10)
			} else if n, err := strconv.ParseUint(key, 10, 64); err == nil {
				id = strconv.FormatUint(n, 10)
			}
		}
		var f field
		if fields != nil {
			var known bool
			if f, known = lookup(fields, key); !known {
				where := join(w.where(), key)
				return refuse(http.StatusBadRequest, CodeUnknownField, where, "%s is not a field of this request", where)
			}
			id, ft = f.name, f.typ
		}
		if prev, dup := seen[id]; dup {
			in := w.where()
			where := join(in, key)
			switch {
			case prev == key && in == "":
				return refuse(http.StatusBadRequest, CodeDuplicateKey, where, "the key %q appears twice", key)
			case prev == key:
				return refuse(http.StatusBadRequest, CodeDuplicateKey, where, "the key %q appears twice in %s", key, in)
			case fields == nil:
				return refuse(http.StatusBadRequest, CodeDuplicateKey, where, "the keys %q and %q are the same number", prev, key)
			default:
				return refuse(http.StatusBadRequest, CodeDuplicateKey, where, "the keys %q and %q both set %s (field names are matched without regard to case)", prev, key, join(in, f.name))
			}
		}
		seen[id] = key
		w.path = append(w.path, segment{key: key, index: -1})
		if err := w.value(ft, depth+1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
	}
	return nil
}

// target is the type a JSON value fills: pointers followed; nil (any
// value, keys compared exactly) for interfaces and for types that decode
// themselves.
func target(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
			return nil
		}
		if t.Kind() != reflect.Pointer {
			return t
		}
		t = t.Elem()
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

type field struct {
	name  string
	typ   reflect.Type
	order int // declaration order, depth first: the first of two fold-equal names wins
}

// structFields lists the JSON names of t's fields as encoding/json binds
// them: a tag's name or the Go name, exported fields, fields of embedded
// structs promoted unless a shallower field has the name. A name two
// fields at one depth share is left out, as encoding/json ignores it.
func structFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	depthOf := map[string]int{}
	ambiguous := map[string]bool{}
	var walk func(t reflect.Type, depth int, visited map[reflect.Type]bool)
	walk = func(t reflect.Type, depth int, visited map[reflect.Type]bool) {
		if visited[t] {
			return
		}
		visited[t] = true
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if sf.Anonymous && name == "" {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, depth+1, visited)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if d, ok := depthOf[name]; ok {
				if d == depth {
					ambiguous[name] = true
				}
				if d <= depth {
					continue
				}
			}
			depthOf[name] = depth
			delete(ambiguous, name)
			out[name] = field{name: name, typ: sf.Type, order: len(depthOf)}
		}
	}
	walk(t, 0, map[reflect.Type]bool{})
	for name := range ambiguous {
		delete(out, name)
	}
	return out
}

// lookup finds the field encoding/json fills for key: the exact name,
// else the first name equal to it under Unicode case folding.
func lookup(fields map[string]field, key string) (field, bool) {
	if f, ok := fields[key]; ok {
		return f, true
	}
	var found field
	ok := false
	for name, f := range fields {
		if strings.EqualFold(name, key) && (!ok || f.order < found.order) {
			found, ok = f, true
		}
	}
	return found, ok
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// trimSpace trims JSON's four whitespace characters, and no others.
func trimSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

func excerpt(b []byte) string {
	if len(b) > 20 {
		b = b[:20]
		for !utf8.Valid(b) && len(b) > 0 {
			b = b[:len(b)-1]
		}
		return strconv.Quote(string(b)) + "…"
	}
	return strconv.Quote(string(b))
}

// jsonType names a Go type as the JSON a client should send.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return t.Kind().String()
}
