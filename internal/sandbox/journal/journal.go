// Package journal is the sandbox's persistence: a keyed record store kept in
// memory by its users and made durable as an append-only file of JSON lines,
// one line per write.
//
// The sandbox is a simulator, not a ledger: what it needs is that a stopped
// and restarted sandbox finds its orders, refunds and pending notifications
// again. A line is appended (and the file synced) before the write returns,
// so a record written survives the process being killed; a torn last line
// (the process died mid-write) is ignored on the next open. Opening compacts
// the file to one line per live record.
package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Journal is a durable map of (kind, key) → JSON value.
type Journal struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	records map[string]map[string]json.RawMessage
	sync    bool
}

type line struct {
	Kind   string          `json:"k"`
	Key    string          `json:"id"`
	Value  json.RawMessage `json:"v,omitempty"`
	Delete bool            `json:"del,omitempty"`
}

// Options tune durability.
type Options struct {
	// NoSync skips fsync after each write: a killed process still keeps
	// everything (the OS has the bytes), a crashed machine may not. Tests and
	// benchmarks use it.
	NoSync bool
}

// Open reads the journal at path (creating it if absent), compacts it and
// keeps it open for appends.
func Open(path string, opts Options) (*Journal, error) {
	j := &Journal{path: path, records: map[string]map[string]json.RawMessage{}, sync: !opts.NoSync}
	if err := j.load(); err != nil {
		return nil, err
	}
	if err := j.compact(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	j.f = f
	return j, nil
}

func (j *Journal) load() error {
	data, err := os.ReadFile(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: read %s: %w", j.path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		raw := sc.Bytes()
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			// Only the last line may be torn; anything else is corruption
			// that must not be silently skipped.
			if !bytes.HasSuffix(data, []byte("\n")) && bytes.HasSuffix(data, raw) {
				break
			}
			return fmt.Errorf("journal: %s line %d is not valid: %w", j.path, n, err)
		}
		j.apply(l)
	}
	return sc.Err()
}

func (j *Journal) apply(l line) {
	m := j.records[l.Kind]
	if l.Delete {
		delete(m, l.Key)
		return
	}
	if m == nil {
		m = map[string]json.RawMessage{}
		j.records[l.Kind] = m
	}
	m[l.Key] = l.Value
}

func (j *Journal) compact() error {
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("journal: compact: %w", err)
	}
	w := bufio.NewWriter(f)
	kinds := make([]string, 0, len(j.records))
	for k := range j.records {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		keys := make([]string, 0, len(j.records[kind]))
		for k := range j.records[kind] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			b, err := json.Marshal(line{Kind: kind, Key: key, Value: j.records[kind][key]})
			if err != nil {
				f.Close()
				return err
			}
			w.Write(b)
			w.WriteByte('\n')
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("journal: compact: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal: compact: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return fmt.Errorf("journal: compact: %w", err)
	}
	// The rename is durable once the folder is synced.
	d, err := os.Open(filepath.Dir(j.path))
	if err != nil {
		return fmt.Errorf("journal: compact: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: compact: %w", err)
	}
	return nil
}

// Put stores v (marshalled to JSON) under kind and key.
func (j *Journal) Put(kind, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("journal: encode %s %s: %w", kind, key, err)
	}
	return j.write(line{Kind: kind, Key: key, Value: raw})
}

// Delete removes the record under kind and key.
func (j *Journal) Delete(kind, key string) error {
	return j.write(line{Kind: kind, Key: key, Delete: true})
}

func (j *Journal) write(l line) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal: closed")
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal: append: %w", err)
	}
	if j.sync {
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("journal: sync: %w", err)
		}
	}
	j.apply(l)
	return nil
}

// Get decodes the record under kind and key into v; it reports whether the
// record exists.
func (j *Journal) Get(kind, key string, v any) (bool, error) {
	j.mu.Lock()
	raw, ok := j.records[kind][key]
	j.mu.Unlock()
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

// Each calls fn for every record of kind, in key order. The values are the
// raw JSON; fn decodes what it needs.
func (j *Journal) Each(kind string, fn func(key string, raw json.RawMessage) error) error {
	j.mu.Lock()
	m := j.records[kind]
	keys := make([]string, 0, len(m))
	vals := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		keys = append(keys, k)
		vals[k] = v
	}
	j.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(k, vals[k]); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the file. Further writes fail.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
