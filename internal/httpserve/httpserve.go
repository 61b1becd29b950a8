// Package httpserve runs hutong's HTTP listeners (the gateway, the
// sandbox, the demo marketplace, the metrics listener) with bounds on what
// a client may hold, so that no client can keep a connection, or a
// goroutine, for as long as it likes.
//
// http.Server's zero value waits forever: a client that announces a 4 KB
// body and sends one byte holds its connection and its handler until it
// hangs up, and a few hundred such clients starve a listener that faces
// the internet, as /notify/ does. Config bounds every phase:
//
//   - ReadHeaderTimeout: the request line and headers;
//   - ReadTimeout: the whole request, body included, from its first byte;
//     a stalled body fails the handler's read and the connection is closed;
//   - WriteTimeout: from the end of the headers to the end of the answer, so
//     it bounds a handler's own time too, and must outlast the slowest
//     legitimate handler (one that waits on a wallet);
//   - IdleTimeout: a kept-alive connection between requests;
//   - BodyLimit: the bytes any handler may read from a body, whatever it
//     does itself (form parsing alone would take 10 MB).
//
// A response that is meant to last, a server-sent-event stream, lifts its
// own deadlines with http.NewResponseController(w).SetWriteDeadline(
// time.Time{}) and SetReadDeadline(time.Time{}); only the handlers that do
// so escape the bounds, so the exemption is explicit and greppable. Any
// wrapper of the ResponseWriter between the server and such a handler must
// have an Unwrap method (see [http.ResponseController]).
package httpserve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// The defaults, chosen for hutong's traffic: requests are small JSON or
// form bodies (1 MiB at most) and notifications; the slowest handler waits
// on a wallet, whose calls time out after 30 s.
const (
	// DefaultReadHeaderTimeout: headers are a few hundred bytes.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout: 1 MiB arrives in 15 s over a 70 KB/s link; a
	// wallet's notification is a few KB.
	DefaultReadTimeout = 15 * time.Second
	// DefaultWriteTimeout outlasts a wallet call's 30-second timeout and the
	// database work around it, so an answer a merchant waited for is sent;
	// a client that stops reading is cut off after it.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout keeps a merchant's kept-alive connection for a
	// minute between requests.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultBodyLimit is the merchant API's own bound (api.MaxBodyBytes).
	DefaultBodyLimit = 1 << 20
	// DefaultShutdownGrace is how long requests in flight may finish once
	// the listener is asked to stop.
	DefaultShutdownGrace = 10 * time.Second
)

// Config is a listener's handler and bounds; a zero duration or limit
// takes its default.
type Config struct {
	Handler           http.Handler
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// BodyLimit is the most a handler may read of a request's body: a
	// longer body fails the read (*http.MaxBytesError) and the connection
	// is closed after the answer. Handlers may set tighter limits of their
	// own. BodyLimitFor, when set, overrides it per request (a route that
	// takes uploads).
	BodyLimit    int64
	BodyLimitFor func(*http.Request) int64
	// ShutdownGrace bounds how long Serve waits for requests in flight.
	ShutdownGrace time.Duration
}

// New returns the server for cfg, the defaults filled in.
func New(cfg Config) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return v
	}
	limit := cfg.BodyLimit
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	h := cfg.Handler
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := limit
			if cfg.BodyLimitFor != nil {
				if m := cfg.BodyLimitFor(r); m > 0 {
					n = m
				}
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: def(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       def(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      def(cfg.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       def(cfg.IdleTimeout, DefaultIdleTimeout),
	}
}

// Serve serves cfg on ln until ctx ends, then lets requests in flight
// finish (ShutdownGrace at most). It returns nil after a shutdown asked
// for by ctx.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	srv := New(cfg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		grace := cfg.ShutdownGrace
		if grace <= 0 {
			grace = DefaultShutdownGrace
		}
		shutdown, cancel := context.WithTimeout(context.Background(), grace)
		err = srv.Shutdown(shutdown)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
