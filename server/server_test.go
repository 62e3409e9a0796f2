package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestServer(t testing.TB, maxUpload int64) *Server {
	t.Helper()
	return newTestServerWith(t, func(c *Config) { c.MaxUpload = maxUpload })
}

// newTestServerWith is newTestServer with a configuration edited by edit.
func newTestServerWith(t testing.TB, edit func(*Config)) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	repo, err := OpenRepo(ctx, t.TempDir(), OpenOptions{Dev: true, Shards: 16, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	cfg := Config{State: repo.State, Blobs: repo.Blobs, Publisher: repo.Publisher, Shards: 16,
		StagingDir: repo.StagingDir(), Log: log, Dev: true}
	edit(&cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// multipartBody builds a write request body from (name, content) parts.
func multipartBody(t *testing.T, parts ...[2]string) (string, *bytes.Buffer) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		w, err := mw.CreateFormFile(p[0], "f")
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p[1])
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestRoutes(t *testing.T) {
	s := newTestServer(t, 1<<20)
	tests := []struct {
		desc, method, url string
		status            int
		body              string
	}{
		{"start page", "GET", "/", 200, "Hallmark repository"},
		{"health", "GET", "/healthz", 200, "ok"},
		{"metrics", "GET", "/metrics", 200, "hallmark_changes_published_total"},
		{"trust summary", "GET", "/metadata/trust.json", 200, "root_keys"},
		{"shard root", "GET", "/metadata/0/1.root.json", 200, "x-hallmark-shard"},
		{"timestamp", "GET", "/metadata/f/timestamp.json", 200, `"_type":"timestamp"`},
		{"missing metadata", "GET", "/metadata/0/99.root.json", 404, ""},
		{"no shard 10 with 16 shards", "GET", "/metadata/10/1.root.json", 404, ""},
		{"encoded traversal", "GET", "/targets/%2e%2e/state.db", 404, ""},
		{"hidden file", "GET", "/metadata/0/.tmp-x", 404, ""},
		{"directory", "GET", "/metadata/0/", 404, ""},
		{"unknown page", "GET", "/nope", 404, ""},
		{"write with GET", "GET", "/api/v1/projects/x/changes", 405, ""},
		{"unknown project view", "GET", "/api/v1/projects/nope", 404, "does not exist"},
		{"bad project name view", "GET", "/api/v1/projects/-x-", 400, "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.url, nil))
			if rec.Code != tt.status {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.url, rec.Code, tt.status, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tt.body) {
				t.Fatalf("%s %s: body does not contain %q: %s", tt.method, tt.url, tt.body, rec.Body)
			}
		})
	}
}

// TestBadWrites: malformed write requests get a clear error and change nothing.
// TestTraversalNeverServesState: no path reaches files outside the blobs.
func TestTraversalNeverServesState(t *testing.T) {
	s := newTestServer(t, 1<<20)
	for _, u := range []string{"/metadata/../state.db", "/metadata/../../state.db", "/targets/../online.secret", "/metadata/%2e%2e/online.secret"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
		if rec.Code == 200 {
			t.Errorf("GET %s = 200: %q", u, rec.Body.String()[:min(40, rec.Body.Len())])
		}
	}
}

func TestBadWrites(t *testing.T) {
	s := newTestServer(t, 4096)
	tests := []struct {
		desc   string
		url    string
		body   func() (string, io.Reader)
		status int
		want   string
	}{
		{desc: "not multipart", url: "/api/v1/projects", body: func() (string, io.Reader) { return "application/json", strings.NewReader("{}") }, status: 415, want: "multipart/form-data"},
		{desc: "no change part", url: "/api/v1/projects", body: func() (string, io.Reader) { return multipartBody(t) }, status: 400, want: "has no"},
		{desc: "file before change", url: "/api/v1/projects", body: func() (string, io.Reader) { return multipartBody(t, [2]string{"p/index.json", "{}"}) }, status: 400, want: "first part must be"},
		{desc: "malformed JSON", url: "/api/v1/projects", body: func() (string, io.Reader) { return multipartBody(t, [2]string{"change", "{"}) }, status: 400, want: "not valid JSON"},
		{desc: "unknown field", url: "/api/v1/projects", body: func() (string, io.Reader) {
			return multipartBody(t, [2]string{"change", `{"project":"p","evil":1}`})
		}, status: 400, want: "unknown field"},
		{desc: "bad name", url: "/api/v1/projects", body: func() (string, io.Reader) {
			return multipartBody(t, [2]string{"change", `{"project":"../etc"}`})
		}, status: 400, want: "not valid"},
		{desc: "reserved name", url: "/api/v1/projects", body: func() (string, io.Reader) {
			return multipartBody(t, [2]string{"change", `{"project":"Targets"}`})
		}, status: 400, want: "reserved"},
		{desc: "create without owners", url: "/api/v1/projects", body: func() (string, io.Reader) {
			return multipartBody(t, [2]string{"change", `{"project":"p"}`})
		}, status: 400, want: "owner keys and threshold"},
		{desc: "path traversal in file name", url: "/api/v1/projects/p/changes", body: func() (string, io.Reader) {
			return multipartBody(t, [2]string{"change", `{}`}, [2]string{"p/../../x", "x"})
		}, status: 400, want: "target path"},
		{desc: "file of another project", url: "/api/v1/projects/p/changes", body: func() (string, io.Reader) {
			return multipartBody(t, [2]string{"change", `{}`}, [2]string{"q/1.0.0/x", "x"})
		}, status: 400, want: "outside project p"},
		{desc: "malformed metadata", url: "/api/v1/projects/p/changes", body: func() (string, io.Reader) {
			return multipartBody(t, [2]string{"change", `{"releases_role":{"signed":1}}`})
		}, status: 400, want: "releases_role"},
		{desc: "unknown project", url: "/api/v1/projects/p/changes", body: func() (string, io.Reader) {
			return multipartBody(t, [2]string{"change", `{"releases_role":{"signed":{"_type":"targets","spec_version":"1.0.31","version":2,"expires":"2030-01-01T00:00:00Z","targets":{}},"signatures":[]}}`})
		}, status: 404, want: "does not exist"},
		{desc: "too large", url: "/api/v1/projects/p/changes", body: func() (string, io.Reader) {
			return multipartBody(t, [2]string{"change", `{}`}, [2]string{"p/1.0.0/x", strings.Repeat("x", 8192)})
		}, status: 413, want: "larger than the server's limit"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ct, body := tt.body()
			req := httptest.NewRequest("POST", tt.url, body)
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("POST %s = %d %s; want %d containing %q", tt.url, rec.Code, rec.Body, tt.status, tt.want)
			}
			if !strings.Contains(rec.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("error is not JSON: %q", rec.Header().Get("Content-Type"))
			}
		})
	}
	// Nothing was published: every shard's snapshot is still version 1.
	batches, published, _, _, _, _, _ := s.cfg.Publisher.Snapshot()
	if published != 0 {
		t.Fatalf("published %d changes (in %d batches) from bad requests", published, batches)
	}
	if _, err := s.cfg.State.Project(context.Background(), "p"); err == nil {
		t.Fatal("a bad request created project p")
	}
	for _, shard := range []string{"0", "1", "f"} {
		rf, err := s.cfg.State.Role(context.Background(), shard, "snapshot")
		if err != nil || rf.Version != 1 {
			t.Fatalf("shard %s snapshot version %d (%v); want 1", shard, rf.Version, err)
		}
	}
}
