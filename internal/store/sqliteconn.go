package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// SQLite connections do two things here that the driver does not.
//
// Writers queue in the process. SQLite lets one writer at a time hold its
// lock; a writer that finds it taken waits in busy_timeout, which sleeps
// and retries with growing sleeps (up to 100 ms each), so under load a
// waiting writer misses the moment the lock frees and the tail latency is
// hundreds of milliseconds while the median is a few. So every write
// transaction, and every write outside one, first takes the database's one
// writer slot in the process (a channel, FIFO enough, handed over at
// once); reads, which WAL lets run beside the writer, take nothing.
// busy_timeout still covers another process writing the same file.
//
// Statements are prepared once per connection and kept.
//
// hutong runs the same few hundred statements over and over, and
// modernc.org/sqlite prepares a statement again for every Exec and Query
// made without one: in a CPU profile of the gateway on SQLite under load,
// 16 % of its CPU went to preparing (sqlite3LockAndPrepare). The driver
// keeps the compiled statement of a driver.Stmt across executions, so this
// wrapper keeps a driver.Stmt per query text on each connection and runs
// every Exec and Query through it. database/sql uses a connection from one
// goroutine at a time, so the cache needs no lock. PostgreSQL needs none of
// this: pgx caches prepared statements per connection itself.

// stmtCacheLimit bounds a connection's cache; queries built with a
// varying number of placeholders could otherwise grow it without end.
const stmtCacheLimit = 512

// writerWait is how long a writer waits for the writer slot, as long as
// busy_timeout lets it wait for another process's lock.
var writerWait = 10 * time.Second

// sqliteConnector opens SQLite connections that keep their statements and
// queue their writes on one slot per database.
type sqliteConnector struct {
	dsn    string
	driver driver.Driver
	writer chan struct{} // capacity 1: holding it is being the writer
}

func newSQLiteConnector(dsn string, d driver.Driver) *sqliteConnector {
	return &sqliteConnector{dsn: dsn, driver: d, writer: make(chan struct{}, 1)}
}

func (c *sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn, c.writer)
}

func (c *sqliteConnector) Driver() driver.Driver { return c.driver }

// ErrWriterBusy is a write that waited writerWait for the writer slot: a
// transaction held it that long, or a caller holding it wrote through a
// second connection of the pool.
var ErrWriterBusy = errors.New("store: sqlite: no write slot within " + writerWait.String())

// acquire takes the writer slot, giving back a function that releases it
// once.
func acquire(ctx context.Context, writer chan struct{}) (release func(), err error) {
	select {
	case writer <- struct{}{}:
	default:
		t := time.NewTimer(writerWait)
		defer t.Stop()
		select {
		case writer <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("store: sqlite: waiting to write: %w", ctx.Err())
		case <-t.C:
			return nil, ErrWriterBusy
		}
	}
	var once sync.Once
	return func() { once.Do(func() { <-writer }) }, nil
}

// reads says a statement outside a transaction only reads, and so needs
// no writer slot.
func reads(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// baseConn is what the wrapper needs of the driver's connection.
type baseConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
}

func newCachingConn(conn driver.Conn, writer chan struct{}) (*cachingConn, error) {
	base, ok := conn.(baseConn)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("store: the SQLite driver's connection lacks the context methods the statement cache needs")
	}
	return &cachingConn{base: base, stmts: map[string]*cachedStmt{}, writer: writer}, nil
}

type cachingConn struct {
	base   baseConn
	stmts  map[string]*cachedStmt
	writer chan struct{}
	// inTx says a transaction holds the writer slot for this connection.
	inTx bool
}

// gate takes the writer slot for one statement outside a transaction,
// unless it only reads; release is never nil.
func (c *cachingConn) gate(ctx context.Context, query string) (release func(), err error) {
	if c.inTx || reads(query) {
		return func() {}, nil
	}
	return acquire(ctx, c.writer)
}

// cachedStmt is a kept statement; open says a Query's rows are still
// reading it, when a second use must take a statement of its own.
type cachedStmt struct {
	stmt driver.Stmt
	open bool
}

// cacheable says whether query is one statement worth keeping: a script
// of several (migrations) runs as the driver runs it.
func cacheable(query string) bool {
	return !strings.Contains(strings.TrimRight(strings.TrimSpace(query), ";"), ";")
}

// take returns the kept statement for query, preparing it if need be;
// owned says the caller got a statement of its own (the kept one is in
// use) and must close it.
func (c *cachingConn) take(ctx context.Context, query string) (cs *cachedStmt, owned bool, err error) {
	if cs, ok := c.stmts[query]; ok && !cs.open {
		return cs, false, nil
	}
	s, err := c.base.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	cs = &cachedStmt{stmt: s}
	if _, ok := c.stmts[query]; ok {
		return cs, true, nil
	}
	if len(c.stmts) >= stmtCacheLimit {
		c.evict()
	}
	c.stmts[query] = cs
	return cs, false, nil
}

// evict closes every kept statement not in use.
func (c *cachingConn) evict() {
	for q, cs := range c.stmts {
		if !cs.open {
			_ = cs.stmt.Close()
			delete(c.stmts, q)
		}
	}
}

// drop forgets a kept statement after an error, which may have left it in
// a state no later use should inherit.
func (c *cachingConn) drop(query string, cs *cachedStmt) {
	if c.stmts[query] == cs {
		delete(c.stmts, query)
	}
	_ = cs.stmt.Close()
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	release, err := c.gate(ctx, query)
	if err != nil {
		return nil, err
	}
	defer release()
	if !cacheable(query) {
		return c.base.ExecContext(ctx, query, args)
	}
	cs, owned, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	ex, ok := cs.stmt.(driver.StmtExecContext)
	if !ok {
		c.drop(query, cs)
		return c.base.ExecContext(ctx, query, args)
	}
	res, err := ex.ExecContext(ctx, args)
	if owned {
		_ = cs.stmt.Close()
	} else if err != nil {
		c.drop(query, cs)
	}
	return res, err
}

// QueryContext runs a query; one that writes (RETURNING) outside a
// transaction holds the writer slot until its rows are closed.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	release, err := c.gate(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := c.query(ctx, query, args)
	if err != nil {
		release()
		return nil, err
	}
	return &cachedRows{Rows: rows, done: release}, nil
}

func (c *cachingConn) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if !cacheable(query) {
		return c.base.QueryContext(ctx, query, args)
	}
	cs, owned, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	qc, ok := cs.stmt.(driver.StmtQueryContext)
	if !ok {
		c.drop(query, cs)
		return c.base.QueryContext(ctx, query, args)
	}
	rows, err := qc.QueryContext(ctx, args)
	if err != nil {
		if owned {
			_ = cs.stmt.Close()
		} else {
			c.drop(query, cs)
		}
		return nil, err
	}
	cs.open = true
	return &cachedRows{Rows: rows, done: func() {
		cs.open = false
		if owned {
			_ = cs.stmt.Close()
		}
	}}, nil
}

// cachedRows gives the statement back when its rows are closed.
type cachedRows struct {
	driver.Rows
	done func()
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.done != nil {
		r.done()
		r.done = nil
	}
	return err
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.base.Prepare(query) }

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.base.PrepareContext(ctx, query)
}

func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx takes the writer slot for the transaction's life: hutong's
// SQLite transactions are IMMEDIATE, so each one is a writer from its
// BEGIN.
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	release, err := acquire(ctx, c.writer)
	if err != nil {
		return nil, err
	}
	tx, err := c.base.BeginTx(ctx, opts)
	if err != nil {
		release()
		return nil, err
	}
	c.inTx = true
	return &writerTx{Tx: tx, end: func() { c.inTx = false; release() }}, nil
}

// writerTx gives the writer slot back when the transaction ends.
type writerTx struct {
	driver.Tx
	end func()
}

func (t *writerTx) Commit() error {
	defer t.end()
	return t.Tx.Commit()
}

func (t *writerTx) Rollback() error {
	defer t.end()
	return t.Tx.Rollback()
}

func (c *cachingConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.stmt.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.base.Close())
	return errors.Join(errs...)
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.base.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.base.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.base.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}
