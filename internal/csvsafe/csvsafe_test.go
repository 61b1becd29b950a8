package csvsafe

import (
	"bytes"
	"encoding/csv"
	"errors"
	"testing"
	"time"
)

func TestText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`=HYPERLINK("http://x")`: `'=HYPERLINK("http://x")`,
		"+1":                     "'+1",
		"@SUM(A1)":               "'@SUM(A1)",
		"-2+3":                   "'-2+3",
		"\t=1":                   "'\t=1",
		"\r=1":                   "'\r=1",
		"=":                      "'=",
		"":                       "",
		"ORDER-1":                "ORDER-1",
		"a=1":                    "a=1",
		"'=1":                    "'=1",
		"很好":                     "很好",
		" =1":                    " =1",
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := w.Write(Text(in), Int(-100), Int(0), Time(time.Date(2024, 9, 1, 8, 0, 0, 0, time.UTC)), Empty); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		rec, err := csv.NewReader(&buf).Read()
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if rec[0] != want {
			t.Errorf("Text(%q) written %q, want %q", in, rec[0], want)
		}
		if rec[1] != "-100" || rec[2] != "0" || rec[3] != "2024-09-01T08:00:00Z" || rec[4] != "" {
			t.Errorf("typed cells written %q", rec[1:])
		}
	}
}

func TestHeader(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Header("id", "-amount"); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "id,'-amount\n" {
		t.Errorf("header %q", got)
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("gone") }

func TestErrorSticks(t *testing.T) {
	t.Parallel()
	w := NewWriter(failing{})
	// The first row only fills the buffer; the failure shows at Flush.
	if err := w.Write(Text("a")); err != nil {
		t.Fatalf("the first row failed before it was flushed: %v", err)
	}
	if err := w.Flush(); err == nil {
		t.Fatal("Flush to a failing writer: no error")
	}
	if err := w.Write(Text("b")); err == nil {
		t.Fatal("Write after an error: no error")
	}
}

// FuzzText: no cell written through the text path reads back starting
// with a character a spreadsheet takes for a formula, and the cell is the
// original text or the original behind one quote.
func FuzzText(f *testing.F) {
	for _, s := range []string{"=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "plain", "", "\"=1\"", "'=1", "a,b\n=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := w.Write(Text(s), Text(s)); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(&buf)
		r.FieldsPerRecord = 2
		rec, err := r.Read()
		if err != nil {
			// encoding/csv cannot read back some texts it writes (a lone \r
			// becomes \n): check the written cell instead.
			got := Neutralise(s)
			if got != "" && Dangerous(got[0]) {
				t.Fatalf("Text(%q) written as %q", s, got)
			}
			return
		}
		for _, cell := range rec {
			if cell != "" && Dangerous(cell[0]) {
				t.Fatalf("Text(%q) read back as %q", s, cell)
			}
			if cell != s && cell != "'"+s && Neutralise(s) == s {
				// csv normalises \r\n to \n inside quoted fields.
				if !bytes.Contains([]byte(s), []byte("\r")) {
					t.Fatalf("Text(%q) read back as %q", s, cell)
				}
			}
		}
	})
}
