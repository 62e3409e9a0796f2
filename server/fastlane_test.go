package server

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
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

// Large files: published files over maxCachedFile, which the lane sends
// from disk with sendfile.
const (
	laneBig        = "/targets/demo/1.0.0/feed.demo-1.0.0.tar.gz"
	laneBigMeta    = "/metadata/0/7.demo.releases.json" // a releases role of 200 KiB
	laneBigEpoch   = "/targets/demo/1.0.0/0e0c.demo-1.0.0-epoch.tar.gz"
	laneBigBlocked = "/targets/evil/1.0.0/feed.evil-1.0.0.tar.gz"
	laneBigRole    = "/metadata/0/7.evil.releases.json" // the blocked project's role
	laneBigDots    = "/targets/demo/1.0.0/feed.demo..tar.gz"
)

// largeContent returns n bytes of pseudo-random content, different for
// each seed.
func largeContent(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// putLargeFiles stores the large files the tests ask for, and blocks the
// project evil.
func putLargeFiles(t *testing.T, s *Server) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i, p := range []string{laneBig, laneBigMeta, laneBigEpoch, laneBigBlocked, laneBigRole, laneBigDots} {
		files[p] = largeContent(200<<10+i, uint64(i))
		if err := s.cfg.Blobs.Put(context.Background(), p[1:], bytes.NewReader(files[p])); err != nil {
			t.Fatal(err)
		}
	}
	epoch := time.Unix(0, 0)
	if err := os.Chtimes(filepath.Join(blobRoot(s), laneBigEpoch), epoch, epoch); err != nil {
		t.Fatal(err)
	}
	s.blocked.mu.Lock()
	s.blocked.m = map[string]string{"evil": "malware"}
	s.blocked.mu.Unlock()
	return files
}

// TestFastLaneAnswersLargeFilesAsTheHandler: a plain GET or HEAD of a file
// too large for memory is answered by the lane, with the handler's status,
// headers (every one, and no other but Date) and body; every request
// http.ServeContent would answer otherwise (Range, the conditional
// headers), a blocked project's file, a missing file, a directory, a name
// the handler refuses and a small file not yet in memory go to the handler.
func TestFastLaneAnswersLargeFilesAsTheHandler(t *testing.T) {
	s := newTestServer(t, 1<<20)
	files := putLargeFiles(t, s)
	var handed atomic.Int32
	addr := laneServer(t, s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handed.Add(1)
		s.ServeHTTP(w, r)
	}))
	info, err := os.Stat(filepath.Join(blobRoot(s), laneBig))
	if err != nil {
		t.Fatal(err)
	}
	mod := info.ModTime().UTC().Format(http.TimeFormat)
	const old = "Mon, 02 Jan 2006 15:04:05 GMT"
	tests := []struct {
		desc, method, path string
		hdr                []string
		lane               bool
	}{
		{"GET", "GET", laneBig, nil, true},
		{"HEAD", "HEAD", laneBig, nil, true},
		{"GET of metadata", "GET", laneBigMeta, nil, true},
		{"GET of a file modified at the Unix epoch: no Last-Modified", "GET", laneBigEpoch, nil, true},
		{"Range", "GET", laneBig, []string{"Range", "bytes=100-199"}, false},
		{"Range past the end", "GET", laneBig, []string{"Range", "bytes=999999999-"}, false},
		{"HEAD with a Range", "HEAD", laneBig, []string{"Range", "bytes=0-9"}, false},
		{"If-Range that holds", "GET", laneBig, []string{"Range", "bytes=0-9", "If-Range", mod}, false},
		{"If-Range that fails", "GET", laneBig, []string{"Range", "bytes=0-9", "If-Range", old}, false},
		{"If-Range alone", "GET", laneBig, []string{"If-Range", mod}, false},
		{"If-Modified-Since now", "GET", laneBig, []string{"If-Modified-Since", mod}, false},
		{"If-Modified-Since long ago", "GET", laneBig, []string{"If-Modified-Since", old}, false},
		{"If-None-Match *", "GET", laneBig, []string{"If-None-Match", "*"}, false},
		{"If-None-Match another", "GET", laneBig, []string{"If-None-Match", `"other"`}, false},
		{"If-Match", "GET", laneBig, []string{"If-Match", `"other"`}, false},
		{"If-Unmodified-Since long ago", "GET", laneBig, []string{"If-Unmodified-Since", old}, false},
		{"a blocked project's file", "GET", laneBigBlocked, nil, false},
		{"a blocked project's role", "GET", laneBigRole, nil, false},
		{"missing", "GET", "/targets/demo/1.0.0/beef.demo-1.0.0.tar.gz", nil, false},
		{"a directory", "GET", "/targets/demo/1.0.0", nil, false},
		{"a name with ..", "GET", laneBigDots, nil, false},
		{"a small file not in memory yet", "GET", laneFile, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var raw strings.Builder
			raw.WriteString(tt.method + " " + tt.path + " HTTP/1.1\r\nHost: x\r\n")
			for i := 0; i < len(tt.hdr); i += 2 {
				raw.WriteString(tt.hdr[i] + ": " + tt.hdr[i+1] + "\r\n")
			}
			raw.WriteString("\r\n")
			before := handed.Load()
			got := exchange(t, addr, raw.String(), 1, []bool{tt.method == "HEAD"})[0]
			if lane := handed.Load() == before; lane != tt.lane {
				t.Errorf("answered by the lane: %v, want %v", lane, tt.lane)
			}

			req := httptest.NewRequest(tt.method, tt.path, nil)
			for i := 0; i < len(tt.hdr); i += 2 {
				req.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			want := httptest.NewRecorder()
			s.ServeHTTP(want, req)
			body, _ := io.ReadAll(got.Body)
			if got.StatusCode != want.Code || !bytes.Equal(body, want.Body.Bytes()) {
				t.Fatalf("%d, %d bytes %.20q; handler %d, %d bytes %.20q", got.StatusCode, len(body), body, want.Code, want.Body.Len(), want.Body)
			}
			if tt.lane && tt.method == "GET" && !bytes.Equal(body, files[tt.path]) {
				t.Fatalf("the body is not the file")
			}
			for k := range want.Header() {
				if got.Header.Get(k) != want.Header().Get(k) {
					t.Errorf("%s = %q, handler %q", k, got.Header.Get(k), want.Header().Get(k))
				}
			}
			for k := range got.Header {
				// net/http adds Date, and a Content-Length to a short
				// answer whose handler set none.
				added := k == "Date" || k == "Content-Length" && !tt.lane && got.Header.Get(k) == strconv.Itoa(len(body))
				if _, ok := want.Header()[k]; !ok && !added {
					t.Errorf("%s = %q, which the handler does not send", k, got.Header.Get(k))
				}
			}
		})
	}
	if v := testMetric(t, s, `hallmark_http_requests_total{code="200",route="GET /metadata/"}`); v == "" {
		t.Errorf("the lane's answers of large metadata are not counted")
	}
}

// rawHead sends one request on a new connection and returns the answer's
// head as sent, without its Date line, and its body.
func rawHead(t *testing.T, addr, method, path string) (string, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, method+" "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	var head strings.Builder
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the head: %v (%q so far)", err, head.String())
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if !strings.HasPrefix(line, "Date: ") {
			head.WriteString(line)
		}
		if line == "\r\n" {
			break
		}
	}
	if method == "HEAD" {
		length = 0
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return head.String(), body
}

// TestFastLaneSendsNetHTTPsHeadForLargeFiles: the head the lane writes for
// a large file is byte for byte the one net/http writes (but the Date
// line), header order included.
func TestFastLaneSendsNetHTTPsHeadForLargeFiles(t *testing.T) {
	s := newTestServer(t, 1<<20)
	putLargeFiles(t, s)
	lane := laneServer(t, s, handedOver)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plain := s.HTTPServer(context.Background()) // net/http alone, no lane
	go plain.Serve(ln)
	t.Cleanup(func() { plain.Close() })
	for _, p := range []string{laneBig, laneBigMeta, laneBigEpoch} {
		for _, method := range []string{"GET", "HEAD"} {
			gotHead, gotBody := rawHead(t, lane, method, p)
			wantHead, wantBody := rawHead(t, ln.Addr().String(), method, p)
			if gotHead != wantHead || !bytes.Equal(gotBody, wantBody) {
				t.Errorf("%s %s: the lane sends\n%s(%d bytes)\nnet/http\n%s(%d bytes)", method, p, gotHead, len(gotBody), wantHead, len(wantBody))
			}
		}
	}
}

// TestFastLaneSendsLargeFiles: the lane answers a GET of a large file over
// a TCP connection (with sendfile; bench/serve-compare.sh measures it
// against nginx) and it arrives whole, its head as the handler's, and a
// HEAD gets the head alone, the connection staying usable after both.
func TestFastLaneSendsLargeFiles(t *testing.T) {
	s := newTestServer(t, 1<<20)
	files := putLargeFiles(t, s)
	addr := laneServer(t, s, handedOver)
	got := exchange(t, addr, "GET "+laneBig+" HTTP/1.1\r\nHost: x\r\n\r\nHEAD "+laneBig+" HTTP/1.1\r\nHost: x\r\n\r\nGET "+laneBig+" HTTP/1.1\r\nHost: x\r\n\r\n", 3, []bool{false, true, false})
	for i, r := range got {
		body, _ := io.ReadAll(r.Body)
		want := files[laneBig]
		if i == 1 {
			want = nil
		}
		if r.StatusCode != http.StatusOK || r.Header.Get("X-Answered-By") != "" || !bytes.Equal(body, want) ||
			r.Header.Get("Content-Length") != strconv.Itoa(len(files[laneBig])) {
			t.Fatalf("answer %d = %d, %d bytes, Content-Length %s, answered by %q; want the file from the lane",
				i, r.StatusCode, len(body), r.Header.Get("Content-Length"), r.Header.Get("X-Answered-By"))
		}
	}
}

// TestFastLaneServesLargeFilesAsOnDisk: the lane opens a large file on
// each request, so a file replaced behind the server's back (renamed onto
// its name, rewritten in place) is served as it is on disk, and a removed
// one goes to the handler.
func TestFastLaneServesLargeFilesAsOnDisk(t *testing.T) {
	s := newTestServer(t, 1<<20)
	putLargeFiles(t, s)
	addr := laneServer(t, s, handedOver)
	name := filepath.Join(blobRoot(s), laneBig)
	steps := []struct {
		desc   string
		change func() []byte // what the file holds after it, nil: removed
	}{
		{"renamed onto its name", func() []byte {
			b := largeContent(300<<10, 10)
			if err := os.WriteFile(name+".new", b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(name+".new", name); err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"rewritten in place, shorter", func() []byte {
			b := largeContent(100<<10, 11)
			if err := os.WriteFile(name, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"removed", func() []byte {
			if err := os.Remove(name); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
	}
	raw := "GET " + laneBig + " HTTP/1.1\r\nHost: x\r\n\r\n"
	exchange(t, addr, raw, 1, nil)
	for _, step := range steps {
		want := step.change()
		got := exchange(t, addr, raw, 1, nil)[0]
		body, _ := io.ReadAll(got.Body)
		if want == nil {
			if got.Header.Get("X-Answered-By") == "" {
				t.Errorf("%s: answered by the lane (%d), want handed over", step.desc, got.StatusCode)
			}
			continue
		}
		if got.Header.Get("X-Answered-By") != "" || !bytes.Equal(body, want) || got.ContentLength != int64(len(want)) {
			t.Errorf("%s: %d bytes (Content-Length %d, answered by %q), want the %d bytes on disk from the lane",
				step.desc, len(body), got.ContentLength, got.Header.Get("X-Answered-By"), len(want))
		}
	}
}

// TestFastLaneKeepsTheRequestLimitForLargeFiles: a client at its limit of
// requests in progress gets the handler's 429 for a large file too.
func TestFastLaneKeepsTheRequestLimitForLargeFiles(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.Limits = Limits{MaxRequestsPerClient: 1} })
	putLargeFiles(t, s)
	addr := laneServer(t, s, nil)
	raw := "GET " + laneBig + " HTTP/1.1\r\nHost: x\r\n\r\n"
	release, ok := s.inflight.acquire("127.0.0.1", 1) // a request in progress
	if !ok {
		t.Fatal("the limit is taken already")
	}
	if got := exchange(t, addr, raw, 1, nil)[0]; got.StatusCode != http.StatusTooManyRequests {
		t.Errorf("at the limit: %d, want 429", got.StatusCode)
	}
	release()
	if got := exchange(t, addr, raw, 1, nil)[0]; got.StatusCode != http.StatusOK {
		t.Errorf("under the limit: %d, want 200", got.StatusCode)
	}
}
