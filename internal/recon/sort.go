package recon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// SortOptions bound SortRows' memory.
type SortOptions struct {
	// ChunkBytes is how much encoded row data is sorted in memory at once;
	// a larger input is sorted in chunks spilled to temporary files, then
	// merged. 0 means DefaultChunkBytes. A row takes about 90–130 bytes
	// encoded, so 8 MiB is roughly 75,000 rows. The Go heap peaks at about
	// 2.5 times ChunkBytes per sort running (slice growth, then garbage
	// collection at GOGC=100).
	ChunkBytes int
	// TempDir holds the chunk files; "" is os.TempDir().
	TempDir string
	// MaxFanIn is how many files are merged at once; more chunks are first
	// merged into larger files. 0 means 64.
	MaxFanIn int
}

// DefaultChunkBytes is the in-memory chunk of SortRows. Measured on a
// million-row bill (BenchmarkReconcileMillion, 2 cores), 8 MiB chunks
// reconcile as fast as larger ones (parsing, not merging, is the cost)
// with a heap peak near 50 MB for both sides together; 32 MiB peaks near
// 200 MB, and sorting wholly in memory near 490 MB.
const DefaultChunkBytes = 8 << 20

// SortedRows is a RowSource in key order (CompareKey). Close it to remove
// its temporary files; reading it to io.EOF also does.
type SortedRows struct {
	// in memory (the input fit in one chunk)
	mem   *chunk
	memAt int
	// on disk
	files   []string // chunk files, in input order; open only while merged
	cursors []*cursor
	heap    []*cursor
	dec     decoder
	spilled int
	w       *bufio.Writer
	err     error
}

// Spilled is how many chunk files the sort wrote (0: it sorted in memory).
func (s *SortedRows) Spilled() int { return s.spilled }

// SortRows reads src to its end and returns its rows in key order, stably
// (rows with equal keys keep their order). Memory is bounded by
// opts.ChunkBytes whatever the input's size: rows are encoded compactly
// (their key first, so comparing two rows is one bytes.Compare), a full
// chunk is sorted and written to a temporary file, and the files are then
// merged. An input that fits in one chunk never touches the disk.
func SortRows(ctx context.Context, src RowSource, opts SortOptions) (*SortedRows, error) {
	if opts.ChunkBytes <= 0 {
		opts.ChunkBytes = DefaultChunkBytes
	}
	if opts.MaxFanIn < 2 {
		opts.MaxFanIn = 64
	}
	s := &SortedRows{}
	c := &chunk{}
	var n int64
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		if n++; n&4095 == 0 && ctx.Err() != nil {
			s.Close()
			return nil, ctx.Err()
		}
		if err := c.add(&r); err != nil {
			s.Close()
			return nil, err
		}
		if len(c.data) >= opts.ChunkBytes {
			if err := s.spill(c, opts.TempDir); err != nil {
				s.Close()
				return nil, err
			}
			c.reset()
		}
	}
	if len(s.files) == 0 {
		c.sort()
		s.mem = c
		return s, nil
	}
	if len(c.index) > 0 {
		if err := s.spill(c, opts.TempDir); err != nil {
			s.Close()
			return nil, err
		}
	}
	c = nil
	for len(s.files) > opts.MaxFanIn {
		if err := s.mergeRound(ctx, opts); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.openCursors(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Next returns the rows in key order, then io.EOF.
func (s *SortedRows) Next() (Row, error) {
	if s.err != nil {
		return Row{}, s.err
	}
	if s.mem != nil {
		if s.memAt == len(s.mem.index) {
			s.mem = nil
			s.err = io.EOF
			return Row{}, io.EOF
		}
		e := s.mem.index[s.memAt]
		s.memAt++
		return s.dec.decode(s.mem.data[e.start:e.start+e.klen], s.mem.data[e.start+e.klen:e.end])
	}
	if len(s.heap) == 0 {
		s.err = io.EOF
		s.Close()
		return Row{}, io.EOF
	}
	top := s.heap[0]
	row, err := s.dec.decode(top.key, top.rest)
	if err != nil {
		s.err = err
		return Row{}, err
	}
	if err := top.advance(); err != nil {
		if !errors.Is(err, io.EOF) {
			s.err = err
			return Row{}, err
		}
		heapPop(&s.heap)
	} else {
		heapFix(s.heap, 0)
	}
	return row, nil
}

// Close removes the temporary files.
func (s *SortedRows) Close() error {
	var first error
	for _, c := range s.cursors {
		c.f.Close()
	}
	for _, name := range s.files {
		if err := os.Remove(name); err != nil && first == nil && !errors.Is(err, os.ErrNotExist) {
			first = err
		}
	}
	s.files, s.cursors, s.heap, s.mem = nil, nil, nil, nil
	if s.err == nil {
		s.err = errors.New("recon: sorted rows closed")
	}
	return first
}

func (s *SortedRows) spill(c *chunk, dir string) error {
	c.sort()
	f, err := os.CreateTemp(dir, "hutong-recon-*.chunk")
	if err != nil {
		return fmt.Errorf("recon: sort: %w", err)
	}
	s.files = append(s.files, f.Name())
	s.spilled++
	w := s.writer(f)
	var hdr [2 * binary.MaxVarintLen64]byte
	for _, e := range c.index {
		n := binary.PutUvarint(hdr[:], uint64(e.klen))
		n += binary.PutUvarint(hdr[n:], uint64(e.end-e.start-e.klen))
		w.Write(hdr[:n])
		w.Write(c.data[e.start:e.end])
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("recon: sort: writing %s: %w", f.Name(), err)
	}
	return nil
}

// mergeRound merges consecutive groups of MaxFanIn files, each into one
// file in its group's place, so that the files stay in input order and the
// sort stays stable.
func (s *SortedRows) mergeRound(ctx context.Context, opts SortOptions) error {
	var next []string
	for i := 0; i < len(s.files); i += opts.MaxFanIn {
		group := s.files[i:min(i+opts.MaxFanIn, len(s.files))]
		if len(group) == 1 {
			next = append(next, group[0])
			continue
		}
		out, err := s.mergeGroup(ctx, group, opts.TempDir)
		if err != nil {
			s.files = append(next, s.files[i:]...) // for Close
			return err
		}
		for _, name := range group {
			os.Remove(name)
		}
		next = append(next, out)
	}
	s.files = next
	return nil
}

// mergeGroup merges sorted files into a new one and returns its name.
func (s *SortedRows) mergeGroup(ctx context.Context, group []string, dir string) (_ string, err error) {
	out, err := os.CreateTemp(dir, "hutong-recon-*.chunk")
	if err != nil {
		return "", fmt.Errorf("recon: sort: %w", err)
	}
	var hp []*cursor
	defer func() {
		for _, c := range hp {
			c.f.Close()
		}
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("recon: sort: writing %s: %w", out.Name(), cerr)
		}
		if err != nil {
			os.Remove(out.Name())
		}
	}()
	for i, name := range group {
		c, err := openCursor(name, i)
		if err != nil {
			return "", err
		}
		if c != nil {
			hp = append(hp, c)
		}
	}
	heapInit(hp)
	w := s.writer(out)
	var hdr [2 * binary.MaxVarintLen64]byte
	for n := 0; len(hp) > 0; n++ {
		if n&4095 == 0 && ctx.Err() != nil {
			return "", ctx.Err()
		}
		c := hp[0]
		k := binary.PutUvarint(hdr[:], uint64(len(c.key)))
		k += binary.PutUvarint(hdr[k:], uint64(len(c.rest)))
		w.Write(hdr[:k])
		w.Write(c.key)
		w.Write(c.rest)
		if err := c.advance(); err != nil {
			if !errors.Is(err, io.EOF) {
				return "", err
			}
			c.f.Close()
			heapPop(&hp)
		} else {
			heapFix(hp, 0)
		}
	}
	if err := w.Flush(); err != nil {
		return "", fmt.Errorf("recon: sort: writing %s: %w", out.Name(), err)
	}
	return out.Name(), nil
}

// writer is one buffered writer reused for every file written.
func (s *SortedRows) writer(f *os.File) *bufio.Writer {
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, 256<<10)
	} else {
		s.w.Reset(f)
	}
	return s.w
}

func (s *SortedRows) openCursors() error {
	for i, name := range s.files {
		c, err := openCursor(name, i)
		if err != nil {
			return err
		}
		if c != nil {
			s.cursors = append(s.cursors, c)
		}
	}
	s.heap = slices.Clone(s.cursors)
	heapInit(s.heap)
	return nil
}

// chunk is rows encoded back to back, and an index sorted by key.
type chunk struct {
	data  []byte
	index []entry
}

type entry struct{ start, klen, end uint32 }

func (c *chunk) reset() { c.data, c.index = c.data[:0], c.index[:0] }

func (c *chunk) add(r *Row) error {
	start := len(c.data)
	if start > 1<<31 {
		return errors.New("recon: sort chunk over 2 GiB; lower ChunkBytes")
	}
	var klen int
	var err error
	c.data, klen, err = encodeRow(c.data, r)
	if err != nil {
		c.data = c.data[:start]
		return err
	}
	c.index = append(c.index, entry{uint32(start), uint32(klen), uint32(len(c.data))})
	return nil
}

func (c *chunk) sort() {
	d := c.data
	slices.SortFunc(c.index, func(a, b entry) int {
		if x := bytes.Compare(d[a.start:a.start+a.klen], d[b.start:b.start+b.klen]); x != 0 {
			return x
		}
		return int(a.start) - int(b.start) // stable: input order
	})
}

// A row is encoded as its key, whose bytewise order is CompareKey's
// (kind byte, out_trade_no, 0, out_refund_no, 0; the numbers hold no NUL),
// then the rest: uvarint-prefixed transaction id, refund id, status,
// merchant, channel; varint amount, fee, Unix seconds; uvarint nanoseconds.
func encodeRow(dst []byte, r *Row) ([]byte, int, error) {
	start := len(dst)
	switch r.Kind {
	case KindPayment:
		dst = append(dst, 'p')
	case KindRefund:
		dst = append(dst, 'r')
	default:
		return dst, 0, fmt.Errorf("recon: row %s: kind %q is neither %q nor %q", r.Key(), r.Kind, KindPayment, KindRefund)
	}
	if bytes.IndexByte([]byte(r.OutTradeNo), 0) >= 0 || bytes.IndexByte([]byte(r.OutRefundNo), 0) >= 0 {
		return dst, 0, fmt.Errorf("recon: row %q: a key holds a NUL byte", r.Key())
	}
	dst = append(dst, r.OutTradeNo...)
	dst = append(dst, 0)
	dst = append(dst, r.OutRefundNo...)
	dst = append(dst, 0)
	klen := len(dst) - start
	for _, s := range [...]string{r.TransactionID, r.RefundID, r.Status, r.Merchant, r.Channel} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendVarint(dst, r.Amount)
	dst = binary.AppendVarint(dst, r.Fee)
	dst = binary.AppendVarint(dst, r.At.Unix())
	dst = binary.AppendUvarint(dst, uint64(r.At.Nanosecond()))
	return dst, klen, nil
}

// decoder turns encoded rows back into Rows with one allocation for the
// numbers; statuses, merchants and channels are interned.
type decoder struct {
	buf    []byte
	intern interner
}

var errCorrupt = errors.New("recon: sort: corrupt chunk file")

func (d *decoder) decode(key, rest []byte) (Row, error) {
	if d.intern == nil {
		d.intern = interner{}
	}
	var r Row
	if len(key) < 3 {
		return r, errCorrupt
	}
	switch key[0] {
	case 'p':
		r.Kind = KindPayment
	case 'r':
		r.Kind = KindRefund
	default:
		return r, errCorrupt
	}
	k := key[1 : len(key)-1]
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return r, errCorrupt
	}
	otn, orn := k[:i], k[i+1:]
	var strs [5][]byte
	for j := range strs {
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return r, errCorrupt
		}
		strs[j] = rest[w : w+int(n)]
		rest = rest[w+int(n):]
	}
	var nums [3]int64
	for j := range nums {
		v, w := binary.Varint(rest)
		if w <= 0 {
			return r, errCorrupt
		}
		nums[j], rest = v, rest[w:]
	}
	nsec, w := binary.Uvarint(rest)
	if w <= 0 || w != len(rest) || nsec >= 1e9 {
		return r, errCorrupt
	}
	b := append(d.buf[:0], otn...)
	b = append(b, orn...)
	b = append(b, strs[0]...)
	b = append(b, strs[1]...)
	d.buf = b
	s := string(b)
	a, c, e := len(otn), len(otn)+len(orn), len(otn)+len(orn)+len(strs[0])
	r.OutTradeNo, r.OutRefundNo, r.TransactionID, r.RefundID = s[:a], s[a:c], s[c:e], s[e:]
	r.Status, r.Merchant, r.Channel = d.intern.get(strs[2]), d.intern.get(strs[3]), d.intern.get(strs[4])
	r.Amount, r.Fee = nums[0], nums[1]
	if nums[2] != zeroUnix || nsec != 0 {
		r.At = time.Unix(nums[2], int64(nsec)).UTC()
	}
	return r, nil
}

// zeroUnix is time.Time{}.Unix(): a zero At stays zero.
var zeroUnix = time.Time{}.Unix()

// cursor reads one sorted chunk file.
type cursor struct {
	f         *os.File
	r         *bufio.Reader
	id        int
	key, rest []byte
	buf       []byte
}

// openCursor opens a chunk file at its first row; nil if it is empty.
func openCursor(name string, id int) (*cursor, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("recon: sort: %w", err)
	}
	c := &cursor{f: f, r: bufio.NewReaderSize(f, 64<<10), id: id}
	if err := c.advance(); err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	return c, nil
}

func (c *cursor) advance() error {
	kl, err := binary.ReadUvarint(c.r)
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	if err != nil {
		return errCorrupt
	}
	rl, err := binary.ReadUvarint(c.r)
	if err != nil || kl > maxLine || rl > maxLine {
		return errCorrupt
	}
	n := int(kl + rl)
	if cap(c.buf) < n {
		c.buf = make([]byte, n, 2*n)
	}
	c.buf = c.buf[:n]
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		return errCorrupt
	}
	c.key, c.rest = c.buf[:kl], c.buf[kl:]
	return nil
}

// A min-heap of cursors by (key, id): equal keys come out in chunk order,
// so the sort is stable.
func less(a, b *cursor) bool {
	if x := bytes.Compare(a.key, b.key); x != 0 {
		return x < 0
	}
	return a.id < b.id
}

func heapInit(h []*cursor) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		heapFix(h, i)
	}
}

func heapFix(h []*cursor, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func heapPop(h *[]*cursor) {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	heapFix(*h, 0)
}
