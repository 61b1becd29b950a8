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
//   - every value has its field's type: the message names the field by its
//     path (items[1].amount) and says what was sent instead ("got an
//     array"); an integer field is told apart from a number that is not
//     whole ("12.5") and from one out of the field's range ("1e20"), and a
//     number too large for the float64 that a float field or an any holds
//     ("1e400") is out of range too;
//   - every field tagged `required:"…"` is there and not null (the tag's
//     value, if any, says what to send).
//
// A field tagged `unit:"fen"` names its unit in messages ("must be a whole
// number of fen").
//
// A refusal is an [*Error] whose Code a program can switch on and whose
// Message says what to fix, e.g. `the key "amount" appears twice`.
package jsonbody

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"slices"
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
	CodeInvalidType          = "invalid_type"           // a value of the wrong type, or a number that is not whole where an integer belongs
	CodeOutOfRange           = "out_of_range"           // a whole number too large or too small for its field, or a number too large for any float
	CodeMissingField         = "missing_field"          // a required field is absent or null
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
	if err := w.value(t, nil, 0); err != nil {
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
	// null is whether the value last read was null: a required field
	// that is null is missing.
	null bool
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

func (w *walker) value(t reflect.Type, f *field, depth int) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	w.null = tok == nil
	t = target(t)
	if err := w.checkType(t, f, tok); err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth+1 > MaxDepth {
		return refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body nests more than %d levels deep", MaxDepth)
	}
	switch delim {
	case '[':
		var elem reflect.Type
		switch {
		case anyValue(t):
			elem = t // an array in an any is []any
		case t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			w.path = append(w.path, segment{index: i})
			if err := w.value(elem, nil, depth+1); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
	case '{':
		if err := w.object(t, depth); err != nil {
			return err
		}
	}
	w.null = false
	_, err = w.token() // the closing delimiter
	return err
}

// object reads the members of an object, the '{' read.
func (w *walker) object(t reflect.Type, depth int) error {
	var fields map[string]field
	var elem reflect.Type
	intKeys := false
	if anyValue(t) {
		elem = t // an object in an any is a map[string]any
	} else if t != nil {
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
	var seen map[string]string  // made at the first key: most objects are small
	var present map[string]bool // fields given a value other than null
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
		var fp *field
		if fields != nil {
			fp = &f
		}
		if err := w.value(ft, fp, depth+1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		if fields != nil && !w.null {
			if present == nil {
				present = map[string]bool{}
			}
			present[f.name] = true
		}
	}
	return w.required(fields, present)
}

// required refuses the first required field of an object (in declaration
// order) that was absent or null.
func (w *walker) required(fields map[string]field, present map[string]bool) error {
	var missing *field
	for _, f := range fields {
		if f.required && !present[f.name] && (missing == nil || f.order < missing.order) {
			missing = &f
		}
	}
	if missing == nil {
		return nil
	}
	where := join(w.where(), missing.name)
	if missing.hint != "" {
		return refuse(http.StatusBadRequest, CodeMissingField, where, "%s is required: %s", where, missing.hint)
	}
	return refuse(http.StatusBadRequest, CodeMissingField, where, "%s is required", where)
}

// target is the type a JSON value fills: pointers followed; nil (any
// value, keys compared exactly) for types that decode themselves. An
// interface stays: what fills it is any value too, but encoding/json
// makes its numbers float64s, which not every JSON number fits.
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

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

type field struct {
	name  string
	typ   reflect.Type
	order int // declaration order, depth first: the first of two fold-equal names wins
	// quoted is the ",string" option: the value comes as a string.
	quoted bool
	// required, hint and unit are the `required:"hint"` and `unit:"…"`
	// tags.
	required   bool
	hint, unit string
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
			name, opts, _ := strings.Cut(tag, ",")
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
			hint, required := sf.Tag.Lookup("required")
			out[name] = field{name: name, typ: sf.Type, order: len(depthOf), quoted: slices.Contains(strings.Split(opts, ","), "string"),
				required: required, hint: hint, unit: sf.Tag.Get("unit")}
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

// checkType refuses a value that cannot fill a field of type t (a target,
// nil for any value), as encoding/json would, but with a message that
// names the field by its path and says what was sent. Null fills anything
// but the body itself (encoding/json leaves the field as it was).
func (w *walker) checkType(t reflect.Type, f *field, tok json.Token) error {
	if n, ok := tok.(json.Number); ok && (anyValue(t) || (t != nil && (t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64))) && (f == nil || !f.quoted) {
		return checkFloat(w.where(), string(n), t)
	}
	if t == nil || t.Kind() == reflect.Interface || (f != nil && f.quoted) {
		return nil
	}
	where := w.where()
	unit := ""
	if f != nil {
		unit = f.unit
	}
	if tok == nil {
		if where == "" && (t.Kind() == reflect.Struct || t.Kind() == reflect.Map) {
			return refuse(http.StatusBadRequest, CodeInvalidType, "", "the request body must be a JSON object, got null")
		}
		return nil
	}
	if _, ok := tok.(string); ok && (t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)) {
		return nil // a string goes to the type's UnmarshalText
	}
	var fits bool
	switch t.Kind() {
	case reflect.String:
		_, fits = tok.(string)
	case reflect.Bool:
		_, fits = tok.(bool)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n, ok := tok.(json.Number); ok {
			return checkInteger(where, unit, string(n), t)
		}
	case reflect.Float32, reflect.Float64:
		_, fits = tok.(json.Number)
	case reflect.Struct, reflect.Map:
		fits = tok == json.Delim('{')
	case reflect.Slice:
		_, isString := tok.(string)
		fits = tok == json.Delim('[') || (isString && t.Elem().Kind() == reflect.Uint8) // []byte takes base64
	case reflect.Array:
		fits = tok == json.Delim('[')
	default:
		return nil // left to encoding/json
	}
	if fits {
		return nil
	}
	want := jsonType(t)
	if unit != "" && want == "an integer" {
		want = "a whole number of " + unit
	}
	if where == "" {
		return refuse(http.StatusBadRequest, CodeInvalidType, "", "the request body must be %s, got %s", strings.Replace(want, "an object", "a JSON object", 1), describe(tok))
	}
	return refuse(http.StatusBadRequest, CodeInvalidType, where, "%s must be %s, got %s", where, want, describe(tok))
}

// anyValue is whether t is an empty interface, which encoding/json fills
// with whatever the JSON holds: maps, slices, strings, float64s.
func anyValue(t reflect.Type) bool {
	return t != nil && t.Kind() == reflect.Interface && t.NumMethod() == 0
}

// checkFloat checks a JSON number bound for a float field, or for an any
// (which encoding/json fills with a float64): JSON puts no bound on a
// number, and one whose size is beyond the float's largest ("1e400", or
// 400 digits) cannot be held. encoding/json refuses it saying only that a
// number was wanted, so it is told apart here.
func checkFloat(where, n string, t reflect.Type) error {
	bits := 64
	if t.Kind() == reflect.Float32 {
		bits = 32
	}
	if _, err := strconv.ParseFloat(n, bits); err == nil {
		return nil
	}
	// The only error ParseFloat has for a valid JSON number is ErrRange,
	// and only for one too large: one too small to hold rounds to zero.
	name := where
	if name == "" {
		name = "the request body"
	}
	shown := n
	if len(shown) > 24 {
		shown = shown[:24] + "…"
	}
	largest := strconv.FormatFloat(math.MaxFloat64, 'g', -1, 64)
	if bits == 32 {
		largest = strconv.FormatFloat(math.MaxFloat32, 'g', -1, 32)
	}
	if strings.HasPrefix(n, "-") {
		return refuse(http.StatusBadRequest, CodeOutOfRange, where, "%s is out of range: %s is less than -%s, the smallest number accepted", name, shown, largest)
	}
	return refuse(http.StatusBadRequest, CodeOutOfRange, where, "%s is out of range: %s is more than %s, the largest number accepted", name, shown, largest)
}

// describe names what a token is, for "got …".
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		if len(v) > 20 || !utf8.ValidString(v) {
			return "a string"
		}
		return "the string " + strconv.Quote(v)
	case json.Number:
		if len(v) > 24 {
			return "the number " + string(v[:24]) + "…"
		}
		return "the number " + string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return "null"
}

// checkInteger checks a JSON number bound for an integer field of type t:
// a number that is not whole ("12.5"), one outside the field's range
// ("1e20" for an int64), and a whole one in range written with a fraction
// or an exponent ("1e2", which encoding/json refuses too) each get their
// own message.
func checkInteger(where, unit, n string, t reflect.Type) error {
	unsigned := t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64
	var err error
	if unsigned {
		_, err = strconv.ParseUint(n, 10, t.Bits())
	} else {
		_, err = strconv.ParseInt(n, 10, t.Bits())
	}
	if err == nil {
		return nil
	}
	name := where
	if name == "" {
		name = "the request body"
	}
	of, ofUnit := "", ""
	if unit != "" {
		of, ofUnit = " "+unit, " of "+unit
	}
	shown := n
	if len(shown) > 24 {
		shown = shown[:24] + "…"
	}
	neg, digits, exp := numberParts(n)
	if digits != "" && exp < 0 {
		return refuse(http.StatusBadRequest, CodeInvalidType, where, "%s must be a whole number%s, got %s", name, ofUnit, shown)
	}
	var lo, hi string
	if unsigned {
		lo, hi = "0", strconv.FormatUint(1<<t.Bits()-1, 10)
	} else {
		lo, hi = strconv.FormatInt(-1<<(t.Bits()-1), 10), strconv.FormatInt(1<<(t.Bits()-1)-1, 10)
	}
	// A whole number: it fits if it has at most 20 digits and parses.
	fits := digits == ""
	if !fits && int64(len(digits))+exp <= 20 && !(unsigned && neg) {
		plain := digits + strings.Repeat("0", int(exp))
		if neg {
			plain = "-" + plain
		}
		if unsigned {
			_, err = strconv.ParseUint(plain, 10, t.Bits())
		} else {
			_, err = strconv.ParseInt(plain, 10, t.Bits())
		}
		fits = err == nil
	}
	switch {
	case fits:
		return refuse(http.StatusBadRequest, CodeInvalidType, where, "%s must be written as a plain whole number%s (digits only, no decimal point or exponent), got %s", name, ofUnit, shown)
	case neg:
		return refuse(http.StatusBadRequest, CodeOutOfRange, where, "%s is out of range: %s is less than %s%s, the smallest accepted", name, shown, lo, of)
	default:
		return refuse(http.StatusBadRequest, CodeOutOfRange, where, "%s is out of range: %s is more than %s%s, the largest accepted", name, shown, hi, of)
	}
}

// numberParts reads a JSON number as ±digits × 10^exp, digits without
// leading or trailing zeros ("" for zero). An exponent too large to read
// is clamped: the number is then far out of any range, or far from whole.
func numberParts(n string) (neg bool, digits string, exp int64) {
	neg = strings.HasPrefix(n, "-")
	n = strings.TrimPrefix(n, "-")
	mant, e, hasExp := strings.Cut(strings.ToLower(n), "e")
	if hasExp {
		v, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			v = 1 << 40
			if strings.HasPrefix(e, "-") {
				v = -v
			}
		}
		exp = max(min(v, 1<<40), -1<<40)
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits = strings.TrimLeft(intPart+frac, "0")
	exp -= int64(len(frac))
	for strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		exp++
	}
	return neg, digits, exp
}
