package journal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type rec struct{ N int }

func TestPutGetDeleteAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := j.Put("order", "a", rec{i}); err != nil {
			t.Fatal(err)
		}
	}
	j.Put("order", "b", rec{7})
	j.Put("refund", "a", rec{9})
	j.Delete("order", "b")
	j.Close()
	if err := j.Put("order", "c", rec{1}); err == nil {
		t.Fatal("wrote to a closed journal")
	}

	j, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var r rec
	if ok, _ := j.Get("order", "a", &r); !ok || r.N != 4 {
		t.Fatalf("order a = %v %v, want the last write", ok, r)
	}
	if ok, _ := j.Get("order", "b", &r); ok {
		t.Fatal("deleted record came back")
	}
	var keys []string
	j.Each("order", func(k string, _ json.RawMessage) error { keys = append(keys, k); return nil })
	if strings.Join(keys, ",") != "a" {
		t.Fatalf("keys %v", keys)
	}
	// Opening compacted the file to one line per live record.
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("compacted journal has %d lines:\n%s", n, b)
	}
}

func TestTornLastLineIsIgnored(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j, _ := Open(path, Options{NoSync: true})
	j.Put("k", "a", rec{1})
	j.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"k":"k","id":"b","v":{"N":`) // the process died mid-write
	f.Close()
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("a torn last line must not stop the sandbox: %v", err)
	}
	defer j.Close()
	var r rec
	if ok, _ := j.Get("k", "b", &r); ok {
		t.Fatal("the torn record was applied")
	}
	if ok, _ := j.Get("k", "a", &r); !ok || r.N != 1 {
		t.Fatal("lost a complete record")
	}
}

func TestCorruptionInTheMiddleIsAnError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	os.WriteFile(path, []byte("{\"k\":\"k\",\"id\":\"a\",\"v\":1}\nnot json\n{\"k\":\"k\",\"id\":\"b\",\"v\":2}\n"), 0o600)
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("corruption: %v", err)
	}
}
