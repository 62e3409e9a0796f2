package server

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkServeCachedMetadata measures the handler alone (no network):
// the answer to a metadata file the server holds in memory.
func BenchmarkServeCachedMetadata(b *testing.B) {
	s := newTestServer(b, 1<<20)
	const path = "/metadata/0/1.root.json"
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != 200 {
		b.Fatal(rec.Code)
	}
	req := httptest.NewRequest("GET", path, nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
	}
}
