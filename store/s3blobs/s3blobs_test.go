package s3blobs_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"hallmark.dev/hallmark/internal/s3test"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/s3blobs"
	"hallmark.dev/hallmark/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}

var ctx = context.Background()

// open returns a store on a new bucket of the shared gateway.
func open(t *testing.T, prefix string) (*s3blobs.Bucket, s3test.Bucket) {
	t.Helper()
	g := s3test.Need(t)
	for _, kv := range g.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	b := s3test.NewBucket(t, prefix)
	s, err := s3blobs.Open(ctx, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	return s, b
}

// The shared suite of every blob store, on an S3 bucket.
func TestBlobSuite(t *testing.T) {
	storetest.RunBlobs(t, storetest.BlobBackend{New: func(t *testing.T) store.Blobs {
		s, _ := open(t, "repo/v1")
		return s
	}})
}

// Blobs are objects below the prefix, with the headers the server would
// send, so the bucket or a CDN can serve them directly: immutable names
// for a year, the names every publication rewrites revalidated.
func TestObjectsCarryTheServedHeaders(t *testing.T) {
	s, b := open(t, "repo")
	paths := []string{
		layout.MetadataBlobPath("a", "timestamp.json"),
		layout.MetadataBlobPath("a", layout.MetadataFile("snapshot", 3)),
		"targets/" + layout.TargetBlobPath("demo/1.0.0/demo.tar.gz", "ab12"),
	}
	g := s3test.Need(t)
	client, err := minio.New(strings.TrimPrefix(g.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: s3test.Region})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if err := s.Put(ctx, p, strings.NewReader("bytes of "+p)); err != nil {
			t.Fatal(err)
		}
		info, err := client.StatObject(ctx, b.Name, "repo/"+p, minio.StatObjectOptions{})
		if err != nil {
			t.Fatalf("object repo/%s: %v", p, err)
		}
		cache, ct := layout.ServedHeaders(p)
		if got := info.Metadata.Get("Cache-Control"); got != cache {
			t.Errorf("%s: Cache-Control %q; want %q", p, got, cache)
		}
		if info.ContentType != ct {
			t.Errorf("%s: Content-Type %q; want %q", p, info.ContentType, ct)
		}
		// The posix backend keeps the object as a file below the prefix.
		if data, err := os.ReadFile(filepath.Join(b.Dir, filepath.FromSlash(p))); err != nil || string(data) != "bytes of "+p {
			t.Errorf("file of %s: %q, %v", p, data, err)
		}
	}
}

func TestBadBucketURLsAreRefusedSayingWhy(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://bucket/x", "want s3://BUCKET"},
		{"s3:///prefix", "want s3://BUCKET"},
		{"s3://bucket/a/../b", "invalid prefix"},
		{"s3://bucket/p?endpoint=ftp://host", "invalid endpoint"},
		{"s3://bucket/p?endpoint=http://host/path", "invalid endpoint"},
		{"s3://bucket/p?regoin=eu", `unknown parameter "regoin"`},
		{"s3://key:secret@bucket/p", "want s3://BUCKET"},
	}
	for _, tt := range tests {
		if _, err := s3blobs.ParseURL(tt.url); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURL(%q) = %v; want an error containing %q", tt.url, err, tt.want)
		}
	}
	c, err := s3blobs.ParseURL("s3://bucket/a/b/?endpoint=http://127.0.0.1:9000&region=eu-west-1")
	if err != nil || c.Bucket != "bucket" || c.Prefix != "a/b/" || c.Endpoint.Host != "127.0.0.1:9000" || c.Region != "eu-west-1" {
		t.Errorf("ParseURL = %+v, %v", c, err)
	}
}

func TestOpenOfAMissingBucketSaysSo(t *testing.T) {
	_, b := open(t, "")
	_, err := s3blobs.Open(ctx, strings.Replace(b.URL, b.Name, "no-such-bucket", 1))
	if err == nil || !strings.Contains(err.Error(), "bucket no-such-bucket does not exist") {
		t.Errorf("Open of a missing bucket: %v", err)
	}
}

// The objects are served to downloaders as they are: no transfer
// framing of the upload may stay on them.
func TestObjectsHaveNoContentEncoding(t *testing.T) {
	s, b := open(t, "")
	const p = "metadata/0/timestamp.json"
	if err := s.Put(ctx, p, strings.NewReader(`{"signed":{}}`)); err != nil {
		t.Fatal(err)
	}
	g := s3test.Need(t)
	client, err := minio.New(strings.TrimPrefix(g.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: s3test.Region})
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.StatObject(ctx, b.Name, p, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if enc := info.Metadata.Get("Content-Encoding"); enc != "" {
		t.Errorf("object %s is served with Content-Encoding %q", p, enc)
	}
}

// A reader of a name that is rewritten meanwhile — timestamp.json, at every
// publication — gets one whole version, old or new, and no error: the
// server answers its clients from what Open returns.
func TestReadsWhileRewrittenGetOneWholeVersion(t *testing.T) {
	s, _ := open(t, "repo/v1")
	const name = "metadata/0/timestamp.json"
	version := func(i int) []byte { return []byte(strings.Repeat(string(rune('a'+i%26)), 300+i%7)) }
	if err := s.Put(ctx, name, bytes.NewReader(version(0))); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Put(ctx, name, bytes.NewReader(version(i))); err != nil {
				done <- err
				return
			}
		}
	}()
	reads, failures := 0, 0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		b, err := s.Open(ctx, name)
		if err != nil {
			t.Errorf("read %d: open: %v", reads, err)
			failures++
			continue
		}
		data, err := io.ReadAll(b)
		b.Close()
		reads++
		switch {
		case err != nil:
			t.Errorf("read %d: %v", reads, err)
			failures++
		case int64(len(data)) != b.Size():
			t.Errorf("read %d: %d bytes, Size says %d", reads, len(data), b.Size())
		case len(data) == 0 || !bytes.Equal(data, bytes.Repeat(data[:1], len(data))):
			t.Errorf("read %d: a mix of versions: %q", reads, data)
		}
		if failures > 5 {
			break
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads while the object was rewritten", reads)
}
