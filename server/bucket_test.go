package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"hallmark.dev/hallmark/internal/s3test"
	"hallmark.dev/hallmark/internal/testenv"
	"hallmark.dev/hallmark/store/s3blobs"
)

// A download from a bucket whose client leaves while the server reads the
// object is no store error: it is neither logged as one, nor counted in
// hallmark_store_errors_total, nor answered 500 (a benchmark saw hundreds
// of such ERROR lines from wrk closing its connections). A real failure of
// the bucket still is.
func TestClientLeavingDuringABucketReadIsNoError(t *testing.T) {
	// A gateway of its own: the test stops it.
	g, err := s3test.Start(context.Background())
	testenv.NeedTool(t, "versitygw (an S3 server)", s3test.Install, !errors.Is(err, s3test.ErrMissing))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			g.Stop()
		}
	})
	for _, kv := range g.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	b, err := g.NewBucket(context.Background(), "repo")
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := s3blobs.Open(context.Background(), b.URL)
	if err != nil {
		t.Fatal(err)
	}
	const path = "targets/demo/1.0.0/0123abcd.demo-1.0.0.tar.gz"
	if err := bucket.Put(context.Background(), path, strings.NewReader("demo")); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s := newTestServerWith(t, func(c *Config) {
		c.Blobs = newNotifyingBlobs(bucket)
		c.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})

	gone, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/"+path, nil).WithContext(gone))
	if rec.Code == 500 || strings.Contains(logs.String(), "level=ERROR") || testMetric(t, s, `hallmark_store_errors_total{op="open",store="blobs"}`) != "" {
		t.Fatalf("a client that left: answer %d, store errors %q, log:\n%s", rec.Code, testMetric(t, s, `hallmark_store_errors_total{op="open",store="blobs"}`), logs.String())
	}

	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/"+path, nil))
	if rec.Code != 200 || rec.Body.String() != "demo" {
		t.Fatalf("GET = %d %q", rec.Code, rec.Body)
	}

	// The bucket itself failing is still an error, logged and counted.
	g.Stop()
	stopped = true
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/"+path, nil))
	if rec.Code != 500 || !strings.Contains(logs.String(), "failed to open blob") || testMetric(t, s, `hallmark_store_errors_total{op="open",store="blobs"}`) != "1" {
		t.Fatalf("a bucket that is down: answer %d, store errors %q, log:\n%s", rec.Code, testMetric(t, s, `hallmark_store_errors_total{op="open",store="blobs"}`), logs.String())
	}
}
