package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// get asks s for path through its handler, with header pairs.
func get(s *Server, path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// eventually asks for path until the answer is want (a body, or "404"),
// for up to ten seconds; it reports the last answer otherwise.
func eventually(t *testing.T, s *Server, path, want, after string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		rec := get(s, path)
		got = rec.Body.String()
		if rec.Code == http.StatusNotFound {
			got = "404"
		}
		if got == want {
			return
		}
	}
	t.Fatalf("after %s the server still serves %q; want %q", after, got, want)
}

func blobRoot(s *Server) string { return s.local.root }

// TestServedMetadataIsNeverStale: the server answers metadata from memory,
// but never with a copy older than the stored file once it changed:
// through the blob store (the publisher, a repair) at once, and behind the
// server's back (a restore from backup, an operator's rsync, an attacker,
// another server on the same directory) from the next request on: each
// request acts on the kernel's queued reports first. FileRecheck is an
// hour here, so no periodic stat explains a pass.
func TestServedMetadataIsNeverStale(t *testing.T) {
	const path = "/metadata/0/timestamp.json"
	changes := []struct {
		name   string
		change func(t *testing.T, root, file string) (want string)
	}{
		{"rewritten in place, same size, old times put back", func(t *testing.T, root, file string) string {
			st, _ := os.Stat(file)
			data, _ := os.ReadFile(file)
			data[len(data)-2] ^= 1 // inside the JSON, same length
			f, err := os.OpenFile(file, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt(data, 0)
			f.Close()
			os.Chtimes(file, st.ModTime(), st.ModTime())
			return string(data)
		}},
		{"renamed onto (rsync, mv), old times kept", func(t *testing.T, root, file string) string {
			st, _ := os.Stat(file)
			tmp := filepath.Join(filepath.Dir(file), "restore.tmp")
			if err := os.WriteFile(tmp, []byte(`{"restored":1}`), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(tmp, st.ModTime(), st.ModTime())
			if err := os.Rename(tmp, file); err != nil {
				t.Fatal(err)
			}
			return `{"restored":1}`
		}},
		{"deleted", func(t *testing.T, root, file string) string {
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			return "404"
		}},
		{"its directory swapped for a restored copy", func(t *testing.T, root, file string) string {
			dir := filepath.Dir(file)
			restored := dir + ".restored"
			copyDir(t, dir, restored)
			os.WriteFile(filepath.Join(restored, "timestamp.json"), []byte(`{"from":"backup"}`), 0o644)
			if err := os.Rename(dir, dir+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(restored, dir); err != nil {
				t.Fatal(err)
			}
			return `{"from":"backup"}`
		}},
		{"a directory above it swapped", func(t *testing.T, root, file string) string {
			md := filepath.Join(root, "metadata")
			copyDir(t, md, md+".restored")
			os.WriteFile(filepath.Join(md+".restored", "0", "timestamp.json"), []byte(`{"whole":"tree"}`), 0o644)
			if err := os.Rename(md, md+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(md+".restored", md); err != nil {
				t.Fatal(err)
			}
			return `{"whole":"tree"}`
		}},
	}
	for _, mode := range []string{"watched", "not watched"} {
		for _, tc := range changes {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				testChangeSeen(t, mode == "watched", path, tc.change)
			})
		}
	}

	// Through the blob store (as the publisher and a repair write): at
	// once, without waiting for the kernel.
	s := newTestServerWith(t, func(c *Config) { c.FileRecheck = time.Hour })
	get(s, path)
	if err := s.cfg.Blobs.Put(context.Background(), path[1:], strings.NewReader(`{"v":"two"}`)); err != nil {
		t.Fatal(err)
	}
	if got := get(s, path).Body.String(); got != `{"v":"two"}` {
		t.Fatalf("after a Put the server still serves %q", got)
	}
}

// testChangeSeen caches path, changes its file with change, and checks the
// server serves what change says at the next request: watched, through
// the kernel's report; when the server cannot watch, through a stat on
// every request.
func testChangeSeen(t *testing.T, watched bool, path string, change func(t *testing.T, root, file string) string) {
	s := newTestServerWith(t, func(c *Config) { c.FileRecheck = time.Hour })
	if !watched {
		s.local.close() // as when the kernel refuses more watches
	}
	first := get(s, path)
	if first.Code != 200 || !strings.Contains(first.Body.String(), `"timestamp"`) {
		t.Fatalf("GET %s = %d %s", path, first.Code, first.Body)
	}
	if again := get(s, path); again.Body.String() != first.Body.String() {
		t.Fatal("a second read differs")
	}
	if _, ok := s.files.get(path[1:]); !ok {
		t.Fatal("the file is not held in memory")
	}
	if rec := get(s, path, "If-None-Match", first.Header().Get("Etag")); rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation with the ETag = %d; want 304", rec.Code)
	}
	want := change(t, blobRoot(s), filepath.Join(blobRoot(s), "metadata", "0", "timestamp.json"))
	// At once: watched, the request acts on the kernel's queued reports
	// before it answers; unwatched, it makes a stat.
	rec := get(s, path)
	if got := rec.Body.String(); got != want && !(want == "404" && rec.Code == http.StatusNotFound) {
		t.Fatalf("watched %v: the server still serves %q after the change; want %q", watched, got, want)
	}
}

// TestUnreportedChangesAreServedWithinFileRecheck: a change the kernel does
// not report (a write through mmap; likewise another machine writing over
// NFS) is caught by the stat the server makes once every FileRecheck; with
// a negative FileRecheck, by the stat on every request, at once.
func TestUnreportedChangesAreServedWithinFileRecheck(t *testing.T) {
	const path = "/metadata/0/timestamp.json"
	for _, tc := range []struct {
		name    string
		recheck time.Duration
	}{{"a stat every 50ms", 50 * time.Millisecond}, {"a stat on every request", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServerWith(t, func(c *Config) { c.FileRecheck = tc.recheck })
			before := get(s, path).Body.String()
			file := filepath.Join(blobRoot(s), "metadata", "0", "timestamp.json")
			want := writeThroughMmap(t, file)
			if want == before {
				t.Fatal("the write changed nothing")
			}
			if tc.recheck < 0 {
				if got := get(s, path).Body.String(); got != want {
					t.Fatalf("with a stat on every request the server still serves %q", got)
				}
				return
			}
			eventually(t, s, path, want, "a write through mmap")
		})
	}
}

// writeThroughMmap flips a byte of file through a shared mapping (no
// inotify event; the kernel still updates the file's times) and returns
// the new content.
func writeThroughMmap(t *testing.T, file string) string {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	time.Sleep(10 * time.Millisecond) // a new modification time, even on a coarse clock
	m, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	m[len(m)-2] ^= 1
	want := string(m)
	if err := syscall.Munmap(m); err != nil {
		t.Fatal(err)
	}
	return want
}

// copyDir copies the regular files of a directory tree.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Small target files are answered from memory too, but a removed file and
// a blocked project's files stop being served at once.
func TestCachedTargetsStopOnRemovalAndBlock(t *testing.T) {
	s := newTestServer(t, 1<<20)
	ctx := context.Background()
	const path = "targets/demo/1.0.0/0123abcd.demo-1.0.0.tar.gz"
	if err := s.cfg.Blobs.Put(ctx, path, strings.NewReader("release bytes")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if rec := get(s, "/"+path); rec.Code != 200 || rec.Body.String() != "release bytes" || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Fatalf("GET = %d %q %v", rec.Code, rec.Body, rec.Header())
		}
	}
	if _, ok := s.files.get(path); !ok {
		t.Fatal("the target file was not cached")
	}

	s.blocked.mu.Lock()
	s.blocked.m = map[string]string{"demo": "malware"}
	s.blocked.mu.Unlock()
	if rec := get(s, "/"+path); rec.Code != http.StatusGone {
		t.Errorf("GET of a blocked project's cached file = %d; want 410", rec.Code)
	}
	s.blocked.mu.Lock()
	s.blocked.m = nil
	s.blocked.mu.Unlock()

	if err := s.cfg.Blobs.Delete(ctx, path); err != nil {
		t.Fatal(err)
	}
	if rec := get(s, "/"+path); rec.Code != http.StatusNotFound {
		t.Errorf("GET of a removed file = %d; want 404", rec.Code)
	}
}

// TestLargeFilesAreSentWithSendfile: a file too large for memory reaches
// the connection's ReadFrom (sendfile) through every writer the server
// puts in between, and arrives whole over a real connection.
func TestLargeFilesAreSentWithSendfile(t *testing.T) {
	s := newTestServer(t, 1<<20)
	const path = "targets/demo/1.0.0/feed.demo-1.0.0.tar.gz"
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	if err := s.cfg.Blobs.Put(context.Background(), path, strings.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	w := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	s.ServeHTTP(w, httptest.NewRequest("GET", "/"+path, nil))
	if w.Code != 200 || w.Body.Len() != len(big) {
		t.Fatalf("GET = %d, %d bytes", w.Code, w.Body.Len())
	}
	if _, ok := w.from.(syscall.Conn); !ok {
		t.Fatalf("the file reached ReadFrom as %T, not as a file the kernel can send", w.from)
	}

	// Over the network, through the connection limits.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(context.Background())
	go hs.Serve(s.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	resp, err := http.Get("http://" + ln.Addr().String() + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != big {
		t.Fatalf("over the network: %d bytes, want %d", len(body), len(big))
	}
}

// readFromRecorder is a ResponseRecorder with net/http's ReadFrom, which
// remembers what it was handed.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	from io.Reader
}

func (w *readFromRecorder) ReadFrom(r io.Reader) (int64, error) {
	w.from = r
	if lr, ok := r.(*io.LimitedReader); ok {
		w.from = lr.R
	}
	return io.Copy(w.ResponseRecorder, r)
}

// TestLimitedConnKeepsReadFrom: the connection limiter's wrapper hands
// ReadFrom to the TCP connection (net/http sends files with sendfile only
// through it).
func TestLimitedConnKeepsReadFrom(t *testing.T) {
	under := &readFromConn{}
	var c net.Conn = &limitedConn{Conn: under, release: func() {}}
	rf, ok := c.(io.ReaderFrom)
	if !ok {
		t.Fatal("the limited connection has no ReadFrom")
	}
	f, err := os.Open(filepath.Join("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rf.ReadFrom(f)
	if under.from != f {
		t.Fatalf("the TCP connection's ReadFrom got %v, want the file", under.from)
	}
}

type readFromConn struct {
	net.Conn
	from io.Reader
}

func (c *readFromConn) ReadFrom(r io.Reader) (int64, error) {
	c.from = r
	return 0, nil
}
