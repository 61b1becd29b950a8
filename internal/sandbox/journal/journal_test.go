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
	if err := j.Put("order", "b", rec{7}); err != nil {
		t.Fatal(err)
	}
	if err := j.Put("refund", "a", rec{9}); err != nil {
		t.Fatal(err)
	}
	if err := j.Delete("order", "b"); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Put("order", "c", rec{1}); err == nil {
		t.Fatal("wrote to a closed journal")
	}

	j, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var r rec
	if ok, err := j.Get("order", "a", &r); err != nil || !ok || r.N != 4 {
		t.Fatalf("order a = %v %v %v, want the last write", ok, r, err)
	}
	if ok, err := j.Get("order", "b", &r); err != nil || ok {
		t.Fatalf("deleted record came back: %v %v", ok, err)
	}
	var keys []string
	if err := j.Each("order", func(k string, _ json.RawMessage) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a" {
		t.Fatalf("keys %v", keys)
	}
	// Opening compacted the file to one line per live record.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("compacted journal has %d lines:\n%s", n, b)
	}
}

func TestTornLastLineIsIgnored(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Put("k", "a", rec{1}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The process died mid-write.
	if _, err := f.WriteString(`{"k":"k","id":"b","v":{"N":`); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	j, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("a torn last line must not stop the sandbox: %v", err)
	}
	defer j.Close()
	var r rec
	if ok, err := j.Get("k", "b", &r); err != nil || ok {
		t.Fatalf("the torn record was applied: %v %v", ok, err)
	}
	if ok, err := j.Get("k", "a", &r); err != nil || !ok || r.N != 1 {
		t.Fatalf("lost a complete record: %v %v %v", ok, r, err)
	}
}

func TestCorruptionInTheMiddleIsAnError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	if err := os.WriteFile(path, []byte("{\"k\":\"k\",\"id\":\"a\",\"v\":1}\nnot json\n{\"k\":\"k\",\"id\":\"b\",\"v\":2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("corruption: %v", err)
	}
}
