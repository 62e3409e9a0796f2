package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServedMetadataIsNeverStale: the server answers metadata from memory,
// but never with a copy older than the stored file, whether the file was
// rewritten through the blob store or behind the server's back.
func TestServedMetadataIsNeverStale(t *testing.T) {
	s := newTestServer(t, 1<<20)
	const path = "/metadata/0/timestamp.json"
	get := func(hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	first := get()
	if first.Code != 200 || !strings.Contains(first.Body.String(), `"timestamp"`) {
		t.Fatalf("GET %s = %d %s", path, first.Code, first.Body)
	}
	if again := get(); again.Body.String() != first.Body.String() {
		t.Fatal("a second read differs")
	}
	if rec := get("If-None-Match", first.Header().Get("Etag")); rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation with the ETag = %d; want 304", rec.Code)
	}

	// Through the blob store (as the publisher writes).
	if err := s.cfg.Blobs.Put(context.Background(), strings.TrimPrefix(path, "/"), strings.NewReader(`{"v":"two"}`)); err != nil {
		t.Fatal(err)
	}
	if got := get().Body.String(); got != `{"v":"two"}` {
		t.Fatalf("after a Put the server still serves %q", got)
	}
	// Behind the server's back (a restore from backup, an operator's fix).
	file := filepath.Join(s.cfg.Blobs.(*notifyingBlobs).Blobs.(interface{ Root() string }).Root(), "metadata", "0", "timestamp.json")
	if err := os.WriteFile(file, []byte(`{"v":"three!"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(file, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	if got := get().Body.String(); got != `{"v":"three!"}` {
		t.Fatalf("after the file changed on disk the server still serves %q", got)
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
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/"+path, nil))
		return rec
	}
	for range 2 {
		if rec := get(); rec.Code != 200 || rec.Body.String() != "release bytes" || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Fatalf("GET = %d %q %v", rec.Code, rec.Body, rec.Header())
		}
	}
	if _, ok := s.files.get(path); !ok {
		t.Fatal("the target file was not cached")
	}

	s.blocked.mu.Lock()
	s.blocked.m = map[string]string{"demo": "malware"}
	s.blocked.mu.Unlock()
	if rec := get(); rec.Code != http.StatusGone {
		t.Errorf("GET of a blocked project's cached file = %d; want 410", rec.Code)
	}
	s.blocked.mu.Lock()
	s.blocked.m = nil
	s.blocked.mu.Unlock()

	if err := s.cfg.Blobs.Delete(ctx, path); err != nil {
		t.Fatal(err)
	}
	if rec := get(); rec.Code != http.StatusNotFound {
		t.Errorf("GET of a removed file = %d; want 404", rec.Code)
	}
}
