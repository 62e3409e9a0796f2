package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// laneServer serves s on a real listener through s.Listener, with handler
// answering what the fast lane hands over (nil: s itself).
func laneServer(t *testing.T, s *Server, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(context.Background())
	if handler != nil {
		hs.Handler = handler
	}
	go hs.Serve(s.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// exchange sends raw requests on one connection and reads n answers.
func exchange(t *testing.T, addr, raw string, n int, heads []bool) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for i := range n {
		method := "GET"
		if heads != nil && heads[i] {
			method = "HEAD"
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
	return out
}

// handedOver answers every request the fast lane hands to net/http, so a
// test knows who answered.
var handedOver = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Answered-By", "net/http")
	io.WriteString(w, "handed over")
})

const laneFile = "/metadata/0/1.root.json"

// TestFastLaneAnswersOnlyPlainRequests: the lane answers plain GET and
// HEAD requests of files in memory, and hands everything else to net/http
// — in particular every request whose framing net/http might read
// otherwise (a body, chunked encoding, a bare LF, a folded header), and
// every path the router would clean or unescape.
func TestFastLaneAnswersOnlyPlainRequests(t *testing.T) {
	s := newTestServer(t, 1<<20)
	get(s, laneFile) // held in memory from now on
	addr := laneServer(t, s, handedOver)
	const h = "Host: x\r\n"
	tests := []struct {
		desc, raw string
		lane      bool
	}{
		{"plain GET", "GET " + laneFile + " HTTP/1.1\r\n" + h + "User-Agent: t\r\n\r\n", true},
		{"HEAD", "HEAD " + laneFile + " HTTP/1.1\r\n" + h + "\r\n", true},
		{"revalidation", "GET " + laneFile + " HTTP/1.1\r\n" + h + "If-None-Match: \"x\"\r\n\r\n", true},
		{"not in memory", "GET /metadata/0/2.root.json HTTP/1.1\r\n" + h + "\r\n", false},
		{"POST", "POST " + laneFile + " HTTP/1.1\r\n" + h + "Content-Length: 0\r\n\r\n", false},
		{"query", "GET " + laneFile + "?a=b HTTP/1.1\r\n" + h + "\r\n", false},
		{"escaped", "GET /metadata/0/1%2eroot.json HTTP/1.1\r\n" + h + "\r\n", false},
		{"dot segment", "GET /metadata/0/../0/1.root.json HTTP/1.1\r\n" + h + "\r\n", false},
		{"double slash", "GET /metadata//0/1.root.json HTTP/1.1\r\n" + h + "\r\n", false},
		{"absolute form", "GET http://x" + laneFile + " HTTP/1.1\r\n" + h + "\r\n", false},
		{"HTTP/1.0", "GET " + laneFile + " HTTP/1.0\r\n" + h + "\r\n", false},
		{"no Host", "GET " + laneFile + " HTTP/1.1\r\n\r\n", false},
		{"two Hosts", "GET " + laneFile + " HTTP/1.1\r\n" + h + h + "\r\n", false},
		{"a body", "GET " + laneFile + " HTTP/1.1\r\n" + h + "Content-Length: 3\r\n\r\nabc", false},
		{"chunked", "GET " + laneFile + " HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"Connection", "GET " + laneFile + " HTTP/1.1\r\n" + h + "Connection: close\r\n\r\n", false},
		{"Expect", "GET " + laneFile + " HTTP/1.1\r\n" + h + "Expect: 100-continue\r\n\r\n", false},
		{"Upgrade", "GET " + laneFile + " HTTP/1.1\r\n" + h + "Upgrade: h2c\r\n\r\n", false},
		{"folded header", "GET " + laneFile + " HTTP/1.1\r\n" + h + "X-A: 1\r\n  2\r\n\r\n", false},
		{"bare LF in a header", "GET " + laneFile + " HTTP/1.1\r\n" + h + "X-A: 1\nContent-Length: 3\r\n\r\nabc", false},
		{"space before the colon", "GET " + laneFile + " HTTP/1.1\r\n" + h + "Content-Length : 3\r\n\r\nabc", false},
		{"two revalidations", "GET " + laneFile + " HTTP/1.1\r\n" + h + "If-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tt.raw)
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: strings.Fields(tt.raw)[0]})
			if err != nil && !tt.lane {
				return // net/http closed the connection on it: not the lane
			}
			// The lane answers 200 and 304 only; net/http refuses a
			// malformed request (400) before any handler.
			lane := err == nil && resp.Header.Get("X-Answered-By") == "" && (resp.StatusCode == 200 || resp.StatusCode == 304)
			if lane != tt.lane {
				t.Fatalf("answered by the lane: %v, want %v (%v)", lane, tt.lane, err)
			}
		})
	}
}

// TestFastLaneAnswersAsTheHandler: what the lane answers is what the
// server's handler answers (status, headers but Date, body), including
// revalidations, HEAD and pipelined requests, and a connection that
// continues on net/http after the lane handed it over.
func TestFastLaneAnswersAsTheHandler(t *testing.T) {
	s := newTestServer(t, 1<<20)
	first := get(s, laneFile)
	etag, mod := first.Header().Get("Etag"), first.Header().Get("Last-Modified")
	addr := laneServer(t, s, nil)
	reqs := []struct {
		method string
		hdr    []string
	}{
		{"GET", nil},
		{"HEAD", nil},
		{"GET", []string{"If-None-Match", etag}},
		{"GET", []string{"If-None-Match", `"other"`}},
		{"GET", []string{"If-Modified-Since", mod}},
		{"GET", []string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}},
		{"POST", nil}, // handed over: net/http answers this and the rest
		{"GET", nil},
	}
	var raw strings.Builder
	var heads []bool
	for _, r := range reqs {
		raw.WriteString(r.method + " " + laneFile + " HTTP/1.1\r\nHost: x\r\n")
		for i := 0; i < len(r.hdr); i += 2 {
			raw.WriteString(r.hdr[i] + ": " + r.hdr[i+1] + "\r\n")
		}
		if r.method == "POST" {
			raw.WriteString("Content-Length: 0\r\n")
		}
		raw.WriteString("\r\n")
		heads = append(heads, r.method == "HEAD")
	}
	got := exchange(t, addr, raw.String(), len(reqs), heads)
	for i, r := range reqs {
		req := httptest.NewRequest(r.method, laneFile, nil)
		for j := 0; j < len(r.hdr); j += 2 {
			req.Header.Set(r.hdr[j], r.hdr[j+1])
		}
		want := httptest.NewRecorder()
		s.ServeHTTP(want, req)
		body, _ := io.ReadAll(got[i].Body)
		if got[i].StatusCode != want.Code || string(body) != want.Body.String() {
			t.Errorf("request %d (%s %v): %d %.40q, handler %d %.40q", i, r.method, r.hdr, got[i].StatusCode, body, want.Code, want.Body)
		}
		for k := range want.Header() {
			if got[i].Header.Get(k) != want.Header().Get(k) {
				t.Errorf("request %d (%s %v): %s = %q, handler %q", i, r.method, r.hdr, k, got[i].Header.Get(k), want.Header().Get(k))
			}
		}
		if got[i].Header.Get("Date") == "" {
			t.Errorf("request %d: no Date", i)
		}
	}
	// Counted like the handler's answers.
	if v := testMetric(t, s, `hallmark_http_requests_total{code="304",route="GET /metadata/"}`); v != "4" {
		t.Errorf("304s counted: %q, want 4 (2 over the network, 2 in process)", v)
	}
}

// TestFastLaneServesChangedFilesAsStored: the lane checks freshness as the
// handler does: a file changed through the store, or removed, is not
// answered from memory.
func TestFastLaneServesChangedFilesAsStored(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.FileRecheck = time.Hour })
	addr := laneServer(t, s, nil)
	const path = "targets/demo/1.0.0/0123abcd.demo-1.0.0.tar.gz"
	ctx := context.Background()
	fetch := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	s.cfg.Blobs.Put(ctx, path, strings.NewReader("one"))
	for range 2 {
		if code, body := fetch(); code != 200 || body != "one" {
			t.Fatalf("GET = %d %q", code, body)
		}
	}
	s.cfg.Blobs.Put(ctx, path, strings.NewReader("two"))
	if code, body := fetch(); code != 200 || body != "two" {
		t.Fatalf("after a Put: %d %q", code, body)
	}
	s.blocked.mu.Lock()
	s.blocked.m = map[string]string{"demo": "malware"}
	s.blocked.mu.Unlock()
	if code, _ := fetch(); code != http.StatusGone {
		t.Fatalf("a blocked project's file: %d, want 410", code)
	}
	s.blocked.mu.Lock()
	s.blocked.m = nil
	s.blocked.mu.Unlock()
	s.cfg.Blobs.Delete(ctx, path)
	if code, _ := fetch(); code != http.StatusNotFound {
		t.Fatalf("a removed file: %d, want 404", code)
	}
}

// TestFastLaneClosesOnShutdown: an idle connection on the lane is closed
// when the server shuts down.
func TestFastLaneClosesOnShutdown(t *testing.T) {
	s := newTestServer(t, 1<<20)
	get(s, laneFile)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(context.Background())
	go hs.Serve(s.Listener(ln))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET "+laneFile+" HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if err := hs.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after shutdown the idle connection reads %v, want EOF", err)
	}
}

// TestFastLaneTimesOutSlowHeads: a head that does not arrive within the
// header timeout closes the connection, on the first request and on a
// kept-alive connection whose idle timeout is much longer.
func TestFastLaneTimesOutSlowHeads(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) {
		c.Limits = Limits{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: time.Hour}
	})
	get(s, laneFile)
	addr := laneServer(t, s, nil)
	for _, answeredFirst := range []int{0, 1} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		for range answeredFirst {
			io.WriteString(c, "GET "+laneFile+" HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
		}
		io.WriteString(c, "GET "+laneFile+" HTTP/1.1\r\nHo")
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("after %d answers, a head cut short: read %v, want the connection closed (EOF)", answeredFirst, err)
		}
	}
}
