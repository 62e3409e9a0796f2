package server

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The fast lane answers the request that is most of a repository's
// traffic — a GET or HEAD of a published file held in memory, on an
// HTTP/1.1 keep-alive connection — straight on the connection: one read,
// one write, no goroutine but the connection's. net/http spends about as
// much again on such a request (a background read per request, header
// maps, two buffered writers), which kept the server at 0.7× nginx on small
// files however little the handler did.
//
// The lane reads each request's head and answers it only if the head is
// plain: the request line "GET|HEAD /metadata/...|/targets/... HTTP/1.1"
// with a path of unreserved characters (no escapes, no query, no dot
// segments), one Host header, and no header that asks for more
// (Content-Length, Transfer-Encoding, Expect, Upgrade, Connection), every
// line well formed. A published file too large for memory, in a local blob
// directory, it answers too when the request has no Range or conditional
// header: the headers in one write, the body with sendfile (see
// laneSendFile). At the first request it does not answer — any other
// request, a file not fresh, a blocked project, a client over its request
// limit — it hands the connection, with every byte it has read and not
// answered, to net/http, which serves the connection from then on. So
// nothing the lane does not understand exactly is ever answered by it, and
// every answer it gives is the one the server's handler gives.

// laneBuf bounds a request head the lane reads; a longer one goes to
// net/http.
const laneBuf = 4096

// laneListener accepts connections within the limits, runs the fast lane
// on each, and gives net/http (through Accept) the connections the lane
// handed over.
type laneListener struct {
	*limitListener
	s       *Server
	start   sync.Once
	handoff chan net.Conn
	err     chan error
	done    chan struct{}
	close   sync.Once

	mu    sync.Mutex
	lanes map[net.Conn]struct{}
}

func (l *laneListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.handoff:
		return c, nil
	case err := <-l.err:
		l.err <- err // every later Accept gets it too
		return nil, err
	}
}

func (l *laneListener) acceptLoop() {
	for {
		c, err := l.limitListener.Accept()
		if err != nil {
			l.err <- err
			return
		}
		go l.s.lane(c, l)
	}
}

// Close stops accepting, and closes the lanes' idle connections (a
// request in progress is answered first).
func (l *laneListener) Close() error {
	err := l.limitListener.Close()
	l.close.Do(func() {
		close(l.done)
		l.mu.Lock()
		for c := range l.lanes {
			c.SetReadDeadline(time.Now())
		}
		l.mu.Unlock()
	})
	return err
}

func (l *laneListener) track(c net.Conn, on bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on {
		select {
		case <-l.done:
			return false
		default:
		}
		l.lanes[c] = struct{}{}
	} else {
		delete(l.lanes, c)
	}
	return true
}

// lane serves a connection's requests while they are plain requests for
// files in memory, then hands it to net/http.
func (s *Server) lane(c net.Conn, l *laneListener) {
	if !l.track(c, true) {
		c.Close()
		return
	}
	buf := make([]byte, 0, laneBuf)
	handover := func() {
		l.track(c, false)
		c.SetReadDeadline(time.Time{})
		select {
		case l.handoff <- &prefixConn{Conn: c, prefix: buf}:
		case <-l.done:
			c.Close()
		}
	}
	lim := s.cfg.Limits
	client := hostOf(c.RemoteAddr().String())
	for first := true; ; first = false {
		// Wait for a request (idle), then for the rest of its head.
		wait := lim.IdleTimeout
		if first || len(buf) > 0 {
			wait = lim.ReadHeaderTimeout
		}
		c.SetReadDeadline(time.Now().Add(wait))
		end := -1
		for {
			if end = bytes.Index(buf, []byte("\r\n\r\n")); end >= 0 || len(buf) == cap(buf) {
				break
			}
			if len(buf) > 0 && wait != lim.ReadHeaderTimeout {
				// A head has begun: the rest of it comes within the header
				// timeout (set only when a head takes more than one read).
				wait = lim.ReadHeaderTimeout
				c.SetReadDeadline(time.Now().Add(wait))
			}
			n, err := c.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				// An idle connection closed or timed out, or a head cut
				// short: net/http closes these too.
				l.track(c, false)
				c.Close()
				return
			}
		}
		if end < 0 {
			handover()
			return
		}
		head := buf[:end+2] // through the last header line's CRLF
		req, ok := parseLaneRequest(head)
		if !ok || !s.laneAnswer(c, req, client) {
			handover()
			return
		}
		buf = buf[:copy(buf, buf[end+4:])]
		select {
		case <-l.done:
			l.track(c, false)
			c.Close()
			return
		default:
		}
	}
}

// laneRequest is what the lane needs of a plain request.
type laneRequest struct {
	head          bool   // HEAD, not GET
	path          []byte // without the leading "/"
	ifNoneMatch   []byte
	ifModSince    []byte
	hasINM, hasIM bool
	// ranged is set by a Range, If-Range, If-Match or If-Unmodified-Since
	// header: files in memory ignore them (as serveCached does), but
	// http.ServeContent, which answers larger files, honours them.
	ranged bool
}

// parseLaneRequest parses a request head (the request line and header
// lines, each ending in CRLF); ok is false unless the lane may answer it.
func parseLaneRequest(head []byte) (r laneRequest, ok bool) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	switch {
	case bytes.HasPrefix(line, []byte("GET /")):
		line = line[4:]
	case bytes.HasPrefix(line, []byte("HEAD /")):
		r.head, line = true, line[5:]
	default:
		return r, false
	}
	target, proto, found := bytes.Cut(line, []byte(" "))
	if !found || string(proto) != "HTTP/1.1" || !plainPath(target) {
		return r, false
	}
	r.path = target[1:]
	hosts := 0
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || len(name) == 0 || !isToken(name) || !plainValue(value) {
			return r, false
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "host"):
			// net/http's server refuses a malformed host with 400.
			if !httpguts.ValidHostHeader(string(value)) {
				return r, false
			}
			hosts++
		case asciiEqualFold(name, "if-none-match"):
			if r.hasINM {
				return r, false
			}
			r.ifNoneMatch, r.hasINM = value, true
		case asciiEqualFold(name, "if-modified-since"):
			if r.hasIM {
				return r, false
			}
			r.ifModSince, r.hasIM = value, true
		case asciiEqualFold(name, "range"), asciiEqualFold(name, "if-range"),
			asciiEqualFold(name, "if-match"), asciiEqualFold(name, "if-unmodified-since"):
			r.ranged = true
		case asciiEqualFold(name, "content-length"), asciiEqualFold(name, "transfer-encoding"),
			asciiEqualFold(name, "expect"), asciiEqualFold(name, "upgrade"), asciiEqualFold(name, "connection"):
			return r, false
		}
	}
	return r, hosts == 1
}

// plainPath reports whether a request target is a path below /metadata/
// or /targets/ of unreserved characters only, with no empty or dot
// segment: exactly a key of the file cache.
func plainPath(p []byte) bool {
	if !bytes.HasPrefix(p, []byte("/metadata/")) && !bytes.HasPrefix(p, []byte("/targets/")) {
		return false
	}
	for i := 1; i < len(p); i++ {
		switch b := p[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '_', b == '~', b == '+':
		case b == '.':
			if p[i-1] == '/' {
				return false // a dot segment, or a hidden name
			}
		case b == '/':
			if p[i-1] == '/' || i == len(p)-1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// plainValue reports whether a header value has no control character but
// tab (so no bare CR or LF: a line split elsewhere than net/http splits it).
func plainValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// laneAnswer answers a plain request from memory, as serveFromMemory and
// serveCached would, or a file not in memory with laneSendFile; it reports
// false, having written nothing, when the server's handler must answer
// instead.
func (s *Server) laneAnswer(c net.Conn, req laneRequest, client string) bool {
	now := time.Now()
	path := string(req.path)
	f, ok := s.files.get(path)
	if !ok {
		return s.laneSendFile(c, req, path, client, now)
	}
	if f.project != "" {
		if _, blocked := s.blocked.get(f.project); blocked {
			return false
		}
	}
	if !s.fresh(path, f, now) {
		return false
	}
	done, ok := s.laneAdmit(client)
	if !ok {
		return false
	}
	defer done()
	m := s.metrics

	status := http.StatusOK
	switch {
	case req.hasINM:
		if bytes.Contains(req.ifNoneMatch, []byte(f.etag)) {
			status = http.StatusNotModified
		}
	case req.hasIM:
		if t, err := http.ParseTime(string(req.ifModSince)); err == nil && !f.mod.Truncate(time.Second).After(t) {
			status = http.StatusNotModified
		}
	}
	bp := laneOut.Get().(*[]byte)
	out := f.appendResponse((*bp)[:0], status, req.head, httpDate(now))
	_, err := c.Write(out)
	if cap(out) <= 128<<10 {
		*bp = out
		laneOut.Put(bp)
	}
	m.observe(laneRoute(path), status, now)
	if err != nil {
		c.Close() // the handover then fails on the closed connection, as net/http would
	}
	return true
}

// laneAdmit counts an answer of the lane in its client's requests in
// progress and in the server's; done ends it. ok is false, with nothing
// counted, when the client is at its limit (the handler then answers 429).
func (s *Server) laneAdmit(client string) (done func(), ok bool) {
	release, ok := s.inflight.acquire(client, s.cfg.Limits.MaxRequestsPerClient)
	if !ok {
		return nil, false
	}
	s.metrics.inFlight.Inc()
	return func() {
		s.metrics.inFlight.Dec()
		release()
	}, true
}

// laneRoute is the route the handler's metrics count a lane answer under.
func laneRoute(path string) string {
	if strings.HasPrefix(path, "metadata/") {
		return "GET /metadata/"
	}
	return "GET /targets/"
}

var laneOut = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendResponse appends the answer to a request for f: the status line,
// the headers net/http would send (Date last), and the body for a GET 200.
func (f *cachedFile) appendResponse(out []byte, status int, head bool, date string) []byte {
	if status == http.StatusNotModified {
		out = append(out, "HTTP/1.1 304 Not Modified\r\n"...)
	} else {
		out = append(out, "HTTP/1.1 200 OK\r\n"...)
	}
	for _, k := range [...]string{"Cache-Control", "Content-Length", "Content-Type", "Etag", "Last-Modified"} {
		if status == http.StatusNotModified && k == "Content-Length" {
			continue
		}
		out = append(out, k...)
		out = append(out, ": "...)
		out = append(out, f.header[k][0]...)
		out = append(out, "\r\n"...)
	}
	out = append(out, "Date: "...)
	out = append(out, date...)
	out = append(out, "\r\n\r\n"...)
	if status == http.StatusOK && !head {
		out = append(out, f.data...)
	}
	return out
}

// httpDate formats now for the Date header, once a second.
func httpDate(now time.Time) string {
	sec := now.Unix()
	if d := cachedDate.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &dateText{sec: sec, text: now.UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	sec  int64
	text string
}

var cachedDate atomic.Pointer[dateText]

// prefixConn is a connection handed to net/http with the bytes the lane
// read from it and did not answer.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// ReadFrom keeps the connection's sendfile (see limitedConn.ReadFrom).
func (c *prefixConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// observe counts an answered request of route with status that started
// at start.
func (m *metrics) observe(route string, status int, start time.Time) {
	key := routeCode{route, status}
	v, ok := m.series.Load(key)
	if !ok {
		v, _ = m.series.LoadOrStore(key, routeSeries{
			requests: m.requests.WithLabelValues(key.route, strconv.Itoa(key.code)),
			latency:  m.latency.WithLabelValues(key.route),
		})
	}
	rs := v.(routeSeries)
	rs.requests.Inc()
	rs.latency.Observe(time.Since(start).Seconds())
}
