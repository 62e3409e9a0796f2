package server

import (
	"bytes"
	"mime/multipart"
	"net/http/httptest"
	"os"
	"testing"
)

// Fuzz targets for what anyone can post to the server: write requests
// (multipart uploads carrying a change request), co-signatures and
// ceremonies. Whatever arrives, the answer is a 4xx with a message (a 5xx
// would be the server failing on bad input), nothing is published, and
// nothing staged stays behind. Seed corpora: testdata/fuzz/<target>/.

func publishedSoFar(s *Server) int64 {
	_, published, _, _, _, _, _ := s.cfg.Publisher.Snapshot()
	return published
}

// checkUnchanged fails unless this input (s had published before changes
// until it) published nothing and left no staged upload. Counting per input
// keeps go test's minimization of a failing input meaningful.
func checkUnchanged(t *testing.T, s *Server, before int64, status int, body string) {
	t.Helper()
	if status < 400 || status >= 500 {
		t.Fatalf("answered %d to bad input: %s", status, body)
	}
	if n := publishedSoFar(s) - before; n != 0 {
		t.Fatalf("bad input published %d changes: %s", n, body)
	}
	if n := s.stagedMem.Load(); n != 0 {
		t.Fatalf("%d bytes of staging memory still held after the request", n)
	}
	if entries, _ := os.ReadDir(s.cfg.StagingDir); len(entries) != 0 {
		t.Fatalf("%d staged files left after the request", len(entries))
	}
}

func FuzzWriteRequest(f *testing.F) {
	role := `{"signed":{"_type":"targets","spec_version":"1.0.31","version":2,"expires":"2030-01-01T00:00:00Z","targets":{"p/1.0.0/x":{"length":1,"hashes":{"sha256":"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}}}},"signatures":[]}`
	f.Add(true, []byte(`{"project":"p","owners":{"keys":{},"keyids":[],"threshold":1}}`), "p/1.0.0/x", []byte("x"))
	f.Add(false, []byte(`{"project":"p","releases_role":`+role+`}`), "p/1.0.0/x", []byte("x"))
	f.Add(false, []byte(`{"releases_role":`+role+`,"owners_role":`+role+`}`), "p/index.json", []byte(`{"project":"p","releases":[]}`))
	f.Add(false, []byte(`{}`), "p/../../x", []byte("x"))
	s := newTestServer(f, 1<<20)
	f.Fuzz(func(t *testing.T, create bool, change []byte, path string, file []byte) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		w, _ := mw.CreateFormFile("change", "change.json")
		w.Write(change)
		if w, err := mw.CreateFormFile(path, "f"); err == nil {
			w.Write(file)
		}
		mw.Close()
		url := "/api/v1/projects/p/changes"
		if create {
			url = "/api/v1/projects"
		}
		req := httptest.NewRequest("POST", url, &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.RemoteAddr = "192.0.2.1:1234"
		before := publishedSoFar(s)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code == 429 {
			return // the creation rate limit; not a verdict on the input
		}
		checkUnchanged(t, s, before, rec.Code, rec.Body.String())
	})
}

func FuzzSignaturesRequest(f *testing.F) {
	f.Add([]byte(`{"releases_role":[{"keyid":"ab","sig":"cd"}]}`))
	f.Add([]byte(`{"owners_role":[]}`))
	f.Add([]byte(`{"x":1}`))
	s := newTestServer(f, 1<<20)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := publishedSoFar(s)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/projects/p/pending/0123456789abcdef/signatures", bytes.NewReader(body)))
		checkUnchanged(t, s, before, rec.Code, rec.Body.String())
	})
}

func FuzzCeremonyRequest(f *testing.F) {
	f.Add([]byte(`{"format":"hallmark-ceremony-v1","kind":"claim","shards":16,"changes":[{"shard":"0","claimed":{"signed":{"_type":"targets","spec_version":"1.0.31","version":2,"expires":"2030-01-01T00:00:00Z","targets":{}},"signatures":[]}}]}`))
	f.Add([]byte(`{"format":"hallmark-ceremony-v1","kind":"init","shards":16,"changes":[{"shard":"0"}]}`))
	f.Add([]byte(`{"format":"hallmark-ceremony-v1","kind":"rotate","shards":16,"changes":[{"shard":"0","root":{"signed":{"_type":"root"},"signatures":[]}}]}`))
	s := newTestServer(f, 1<<20)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := publishedSoFar(s)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/admin/ceremonies", bytes.NewReader(body)))
		checkUnchanged(t, s, before, rec.Code, rec.Body.String())
	})
}
