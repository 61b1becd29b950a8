package web_test

import (
	"encoding/json"
	"html"
	"io"
)

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
func htmlUnescape(s string) string        { return html.UnescapeString(s) }
