package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// Limits bounds what one client, and all clients together, may hold of the
// server: connections, requests in flight, and the time a request may take
// to arrive. The zero value of a field means its default (DefaultLimits).
type Limits struct {
	// ReadHeaderTimeout is how long a client has to send a request's
	// headers; the connection is closed after it.
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may sit idle.
	IdleTimeout time.Duration
	// BodyGrace is how long a request body may take before MinBodyRate
	// applies: a body must have arrived at MinBodyRate bytes a second, on
	// average, counted from BodyGrace after the headers.
	BodyGrace time.Duration
	// MinBodyRate is the slowest average rate, in bytes a second, at
	// which a request body may arrive; slower clients get 408.
	MinBodyRate int64
	// MaxHeaderBytes bounds a request's headers (431 beyond).
	MaxHeaderBytes int
	// MaxConns bounds the open connections of all clients together; a
	// connection beyond it gets 503 and is closed.
	MaxConns int
	// MaxConnsPerClient bounds the open connections of one client address;
	// a connection beyond it gets 429 and is closed.
	MaxConnsPerClient int
	// MaxRequestsPerClient bounds the requests of one client address in
	// progress at once; a request beyond it gets 429.
	MaxRequestsPerClient int
}

// DefaultLimits returns the limits a server uses unless told otherwise.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout:    10 * time.Second,
		IdleTimeout:          60 * time.Second,
		BodyGrace:            10 * time.Second,
		MinBodyRate:          1024,
		MaxHeaderBytes:       64 << 10,
		MaxConns:             4096,
		MaxConnsPerClient:    256,
		MaxRequestsPerClient: 64,
	}
}

// Check reports a limit that makes no sense (a negative one); zero means
// the default.
func (l Limits) Check() error {
	for _, c := range []struct {
		name string
		bad  bool
	}{
		{"the header timeout", l.ReadHeaderTimeout < 0}, {"the idle timeout", l.IdleTimeout < 0},
		{"the body grace period", l.BodyGrace < 0}, {"the minimum body rate", l.MinBodyRate < 0},
		{"the header size limit", l.MaxHeaderBytes < 0}, {"the connection limit", l.MaxConns < 0},
		{"the per-client connection limit", l.MaxConnsPerClient < 0}, {"the per-client request limit", l.MaxRequestsPerClient < 0},
	} {
		if c.bad {
			return fmt.Errorf("%s is negative; give a positive value, or 0 for the default", c.name)
		}
	}
	return nil
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.BodyGrace <= 0 {
		l.BodyGrace = d.BodyGrace
	}
	if l.MinBodyRate <= 0 {
		l.MinBodyRate = d.MinBodyRate
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	if l.MaxConnsPerClient <= 0 {
		l.MaxConnsPerClient = d.MaxConnsPerClient
	}
	if l.MaxRequestsPerClient <= 0 {
		l.MaxRequestsPerClient = d.MaxRequestsPerClient
	}
	return l
}

// HTTPServer returns an http.Server that serves s with s's timeouts and
// header limit; base is the context of every request. Serve it on
// s.Listener(ln), which applies the connection limits.
func (s *Server) HTTPServer(base context.Context) *http.Server {
	l := s.cfg.Limits
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
	}
}

// Listener wraps ln so that it holds at most Limits.MaxConns connections,
// and Limits.MaxConnsPerClient of one client address. A connection beyond
// a limit is answered with 503 (server full) or 429 (client over its
// share) and closed.
//
// Plain requests for files held in memory are answered on the connection
// itself (see the fast lane in fastlane.go); net/http gets the connection
// at its first other request.
func (s *Server) Listener(ln net.Listener) net.Listener {
	limited := &limitListener{Listener: ln, s: s, perClient: map[string]int{}, refusing: make(chan struct{}, 64)}
	return &laneListener{limitListener: limited, s: s, handoff: make(chan net.Conn), err: make(chan error, 1),
		done: make(chan struct{}), lanes: map[net.Conn]struct{}{}}
}

type limitListener struct {
	net.Listener
	s         *Server
	mu        sync.Mutex
	total     int
	perClient map[string]int
	refusing  chan struct{} // bounds the goroutines answering refused connections
}

// Accept returns the next connection within the limits, refusing the
// others as it goes.
func (l *limitListener) Accept() (net.Conn, error) {
	lim := l.s.cfg.Limits
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr().String())
		l.mu.Lock()
		status := 0
		switch {
		case l.total >= lim.MaxConns:
			status = http.StatusServiceUnavailable
		case l.perClient[ip] >= lim.MaxConnsPerClient:
			status = http.StatusTooManyRequests
		default:
			l.total++
			l.perClient[ip]++
		}
		l.mu.Unlock()
		if status == 0 {
			return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		l.s.metrics.refusedConn(status)
		select {
		case l.refusing <- struct{}{}:
			go func() {
				defer func() { <-l.refusing }()
				refuseConn(c, status)
			}()
		default:
			c.Close() // too many refusals at once to answer each
		}
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perClient[ip]--; l.perClient[ip] <= 0 {
		delete(l.perClient, ip)
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// ReadFrom passes on the TCP connection's ReadFrom, which sends a file
// with sendfile: net/http uses it only if the connection has it.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// refuseConn answers a connection the server will not serve with status,
// then closes it. It reads the request's head first (for a second at
// most): an answer that arrives before the request confuses clients (Go's
// own sees an "unsolicited response" and fails the request), and a
// connection closed with unread data is reset, losing the answer.
func refuseConn(c net.Conn, status int) {
	defer c.Close()
	msg := "too many connections from your address; close idle connections or try again later\n"
	if status == http.StatusServiceUnavailable {
		msg = "the server has too many connections; try again later\n"
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	br := bufio.NewReaderSize(io.LimitReader(c, 64<<10), 4096)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil || len(bytes.TrimSpace(line)) == 0 {
			break
		}
	}
	c.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(msg), msg)
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// inFlight counts the requests in progress per client address.
type inFlight struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire counts a request of client, unless client has max in progress
// already; release undoes it.
func (f *inFlight) acquire(client string, max int) (release func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[string]int{}
	}
	if f.n[client] >= max {
		return nil, false
	}
	f.n[client]++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.n[client]--; f.n[client] <= 0 {
			delete(f.n, client)
		}
	}, true
}

// limitRequest applies the per-client request limit and the minimum body
// rate to r; it reports whether the request may go on, having answered it
// otherwise. The caller calls release when the request is done.
func (s *Server) limitRequest(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	lim := s.cfg.Limits
	release, ok = s.inflight.acquire(clientIP(r), lim.MaxRequestsPerClient)
	if !ok {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "too_many_requests",
			fmt.Sprintf("your address has %d requests in progress already, the server's limit", lim.MaxRequestsPerClient),
			"wait for them to finish, or send fewer requests at once")
		return nil, false
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		r.Body = newMinRateBody(w, r.Body, lim.BodyGrace, lim.MinBodyRate)
	}
	return release, true
}

// SlowBodyError is the error reading a request body that arrives slower
// than the server's minimum rate.
type SlowBodyError struct {
	Rate  int64
	Grace time.Duration
}

func (e *SlowBodyError) Error() string {
	return fmt.Sprintf("the request body arrived slower than %d bytes a second (after %s)", e.Rate, e.Grace)
}

// Unwrap makes a SlowBodyError an os.ErrDeadlineExceeded.
func (e *SlowBodyError) Unwrap() error { return os.ErrDeadlineExceeded }

// minRateBody moves the connection's read deadline along as a request body
// arrives: a body of n bytes must have arrived by grace + n/rate after the
// request started. Without it, a body sent a byte a second holds its
// connection, goroutine and staging file for as long as the client likes.
type minRateBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	start    time.Time
	grace    time.Duration
	rate     int64
	n        int64
	deadline time.Time
	off      bool // the connection does not support deadlines
}

func newMinRateBody(w http.ResponseWriter, body io.ReadCloser, grace time.Duration, rate int64) *minRateBody {
	b := &minRateBody{ReadCloser: body, rc: http.NewResponseController(w), start: time.Now(), grace: grace, rate: rate}
	b.deadline = b.start.Add(grace)
	if err := b.rc.SetReadDeadline(b.deadline); err != nil {
		b.off = true
	}
	return b
}

func (b *minRateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case b.off:
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, &SlowBodyError{Rate: b.rate, Grace: b.grace}
	case err == io.EOF:
		// The server reads the connection in the background from now
		// on, to notice a client that goes away: no deadline then.
		b.rc.SetReadDeadline(time.Time{})
		b.off = true
	default:
		// Move the deadline at most once a second: it costs a timer update.
		d := b.start.Add(b.grace + time.Duration(float64(b.n)/float64(b.rate)*float64(time.Second)))
		if d.Sub(b.deadline) >= time.Second {
			b.deadline = d
			b.rc.SetReadDeadline(d)
		}
	}
	return n, err
}

// writeBodyError answers a request whose body could not be read because it
// was larger than limit (413, with hint) or too slow (408); it reports
// whether err was one of those.
func (s *Server) writeBodyError(w http.ResponseWriter, err error, limit int64, hint string) bool {
	var tooBig *http.MaxBytesError
	var slow *SlowBodyError
	switch {
	case errors.As(err, &tooBig):
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the request is larger than the server's limit of %d bytes", limit), hint)
		return true
	case errors.As(err, &slow):
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, "too_slow", slow.Error(), "send the request again over a faster connection; the server needs at least "+strconv.FormatInt(slow.Rate, 10)+" bytes a second")
		return true
	}
	return false
}
