package server

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzLaneRequestMatchesNetHTTP: every request head the fast lane accepts
// is read by net/http as the same request — a GET or HEAD of the same path,
// HTTP/1.1, one Host, the same conditional headers, a Range, If-Range,
// If-Match or If-Unmodified-Since header exactly when net/http sees one
// (the lane hands such a request for a large file over), no body, and
// nothing after the head consumed — so the lane never answers a request
// that the server's handler would read differently (a smuggled body,
// another path, a second request hidden in the first, a Range request).
func FuzzLaneRequestMatchesNetHTTP(f *testing.F) {
	for _, seed := range []string{
		"GET /metadata/3/timestamp.json HTTP/1.1\r\nHost: x\r\n",
		"HEAD /targets/hello/1.0/hello-1.0.tar.gz HTTP/1.1\r\nHost: repo.example\r\nUser-Agent: pip\r\n",
		"GET /metadata/0/1.snapshot.json HTTP/1.1\r\nhost:x\r\nIf-None-Match: \"abc\"\r\n",
		"GET /metadata/0/1.snapshot.json HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT\r\n",
		"GET /metadata/0/timestamp.json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n",
		"GET /metadata/0/timestamp.json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n",
		"GET /metadata/0/timestamp.json HTTP/1.1\r\nHost: x\r\n folded\r\n",
		"GET /metadata/0/../trust.json HTTP/1.1\r\nHost: x\r\n",
		"GET /metadata/0/%74imestamp.json HTTP/1.1\r\nHost: x\r\n",
		"GET /metadata/0/timestamp.json HTTP/1.0\r\nHost: x\r\n",
		"GET /metadata/0/timestamp.json HTTP/1.1\r\nHost: a\r\nHost: b\r\n",
		"GET /metadata/0/timestamp.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
		"GET /metadata/0/timestamp.json HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n",
		// Large files: the lane hands a ranged or conditional request for
		// one to net/http, so it must see these headers as net/http does.
		"GET /targets/big/1.0/feed.big-1.0.tar.gz HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n",
		"GET /targets/big/1.0/feed.big-1.0.tar.gz HTTP/1.1\r\nHost: x\r\nrange:bytes=5-\r\nIf-Range: Mon, 02 Jan 2006 15:04:05 GMT\r\n",
		"HEAD /targets/big/1.0/feed.big-1.0.tar.gz HTTP/1.1\r\nHost: x\r\nIf-Match: \"a\"\r\n",
		"GET /targets/big/1.0/feed.big-1.0.tar.gz HTTP/1.1\r\nHost: x\r\nIF-UNMODIFIED-SINCE: Mon, 02 Jan 2006 15:04:05 GMT\r\n",
		"GET /targets/big/1.0/feed.big-1.0.tar.gz HTTP/1.1\r\nHost: x\r\nRange :bytes=0-1\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		// What the lane parses: the bytes before the first empty line,
		// through the last header line's CRLF.
		if !bytes.HasSuffix(head, []byte("\r\n")) || bytes.Contains(head, []byte("\r\n\r\n")) {
			return
		}
		r, ok := parseLaneRequest(head)
		if !ok {
			return
		}
		const next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
		br := bufio.NewReader(bytes.NewReader(append(append(bytes.Clone(head), "\r\n"...), next...)))
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("the lane accepts %q; net/http refuses it: %v", head, err)
		}
		wantMethod := "GET"
		if r.head {
			wantMethod = "HEAD"
		}
		switch {
		case req.Method != wantMethod:
			t.Fatalf("%q: the lane reads %s, net/http %s", head, wantMethod, req.Method)
		case req.URL.Path != "/"+string(r.path) || req.RequestURI != "/"+string(r.path):
			t.Fatalf("%q: the lane reads path %q, net/http %q (%q)", head, r.path, req.URL.Path, req.RequestURI)
		case req.ProtoMajor != 1 || req.ProtoMinor != 1:
			t.Fatalf("%q: net/http reads %s", head, req.Proto)
		case req.Close:
			t.Fatalf("%q: net/http closes the connection after it; the lane keeps it", head)
		case req.ContentLength != 0 || len(req.TransferEncoding) != 0:
			t.Fatalf("%q: net/http reads a body (length %d, %v)", head, req.ContentLength, req.TransferEncoding)
		case !httpguts.ValidHostHeader(req.Host):
			t.Fatalf("%q: net/http's server refuses host %q", head, req.Host)
		}
		if r.hasINM != (len(req.Header.Values("If-None-Match")) > 0) || r.hasINM && req.Header.Get("If-None-Match") != string(r.ifNoneMatch) {
			t.Fatalf("%q: If-None-Match: the lane reads %q, net/http %q", head, r.ifNoneMatch, req.Header.Values("If-None-Match"))
		}
		if r.hasIM != (len(req.Header.Values("If-Modified-Since")) > 0) || r.hasIM && req.Header.Get("If-Modified-Since") != string(r.ifModSince) {
			t.Fatalf("%q: If-Modified-Since: the lane reads %q, net/http %q", head, r.ifModSince, req.Header.Values("If-Modified-Since"))
		}
		ranged := false
		for _, k := range []string{"Range", "If-Range", "If-Match", "If-Unmodified-Since"} {
			ranged = ranged || len(req.Header.Values(k)) > 0
		}
		if r.ranged != ranged {
			t.Fatalf("%q: a Range or conditional header for large files: the lane reads %v, net/http %v", head, r.ranged, ranged)
		}
		if body, _ := io.ReadAll(req.Body); len(body) != 0 {
			t.Fatalf("%q: net/http reads a body %q", head, body)
		}
		if rest, _ := io.ReadAll(br); string(rest) != next {
			t.Fatalf("%q: after the head net/http leaves %q, not the next request", head, rest)
		}
	})
}
