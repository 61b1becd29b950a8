package httpserve_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hutong-pay/hutong/internal/httpserve"
)

// short are bounds small enough for a test.
func short(h http.Handler) httpserve.Config {
	return httpserve.Config{Handler: h, ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, BodyLimit: 1024}
}

func serve(t *testing.T, cfg httpserve.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpserve.Serve(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// stalled sends a request that announces a body it never finishes and
// returns how long the server took to close the connection.
func stalled(t *testing.T, addr, path string) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{", path); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// Until the server closes: an end or a reset is the server hanging up,
	// while our own deadline passing means it never did.
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the server kept the stalled connection: %v", err)
	}
	return time.Since(start)
}

func TestStalledBodyIsCutOff(t *testing.T) {
	t.Parallel()
	addr := serve(t, short(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := io.WriteString(w, "ok"); err != nil {
			t.Errorf("answering: %v", err)
		}
	})))
	if d := stalled(t, addr, "/"); d > 2*time.Second {
		t.Fatalf("the stalled connection was held %v", d)
	}
	res, err := http.Get("http://" + addr + "/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("after: %v %v", err, res)
	}
	res.Body.Close()
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	cfg := short(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "too big", http.StatusRequestEntityTooLarge)
			return
		}
		if _, err := io.WriteString(w, "ok"); err != nil {
			t.Errorf("answering: %v", err)
		}
	}))
	cfg.BodyLimitFor = func(r *http.Request) int64 {
		if r.URL.Path == "/upload" {
			return 4096
		}
		return 0
	}
	addr := serve(t, cfg)
	for path, want := range map[string]int{"/": 413, "/upload": 200} {
		res, err := http.Post("http://"+addr+path, "text/plain", strings.NewReader(strings.Repeat("x", 2000)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, res.StatusCode, want)
		}
	}
}

// A stream that lifts its deadlines outlives ReadTimeout and WriteTimeout;
// one that does not is cut off at WriteTimeout. This is what a handler of
// server-sent events must do.
func TestStreamLiftsItsDeadlines(t *testing.T) {
	t.Parallel()
	stream := func(lift bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if lift {
				rc := http.NewResponseController(w)
				if err := rc.SetWriteDeadline(time.Time{}); err != nil {
					t.Error(err)
				}
				if err := rc.SetReadDeadline(time.Time{}); err != nil {
					t.Error(err)
				}
			}
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 8 {
				if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
					return
				}
				http.NewResponseController(w).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(150 * time.Millisecond):
				}
			}
		})
	}
	for _, lift := range []bool{true, false} {
		addr := serve(t, short(stream(lift)))
		res, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				n++
			}
		}
		res.Body.Close()
		// 8 events take 1.2 s, four times the timeouts.
		if lift && n != 8 {
			t.Errorf("a stream with its deadlines lifted got %d of 8 events", n)
		}
		if !lift && n >= 8 {
			t.Errorf("a stream under WriteTimeout got all %d events", n)
		}
	}
}
